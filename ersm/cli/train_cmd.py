"""``ersm train``: train a classifier with or without a mask layer (resumable, ``torchrun``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from .errors import one_line

HELP = """Train a classifier (backbone, optional mask layer, pooling, linear) on an image
dataset. RUN gets config.json, checkpoint.pt (atomic, every epoch) and metrics.jsonl (one
line per epoch). --resume continues from the checkpoint after a kill; the run's saved
settings are used and only --epochs (to extend the run), --workers, --device and --threads
may change. Under torchrun every process trains a shard (DistributedDataParallel)."""

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train``."""
    p = subparsers.add_parser("train", help="train a classifier with a mask layer",
                              description=HELP)
    p.add_argument("--data", metavar="DIR", help="dataset root (required unless --resume)")
    p.add_argument("--out", "-o", required=True, metavar="RUN", help="run directory")
    p.add_argument("--model", choices=("baseline", "ersm", "mrf"),
                   help="baseline (no layer), ersm (the paper's layer), mrf (solved MRF layer); "
                        "default: baseline")
    p.add_argument("--backbone", help="small, resnet18, resnet50, tv:<name>, timm:<name> "
                                      "(default: small)")
    p.add_argument("--backend", "-b", help="solver backend of the mrf layer (default: ste with "
                                       "--keep-ratio and then --temperature 4, meanfield "
                                       "without)")
    p.add_argument("--epochs", type=int, help="total epochs (default: 10)")
    p.add_argument("--batch-size", type=int, help="images per step and process (default: 32)")
    p.add_argument("--lr", type=float, help="peak AdamW learning rate (default: 1e-3)")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay (default: 1e-2)")
    p.add_argument("--image-size", type=int, help="square input side in pixels (default: 64)")
    p.add_argument("--patch-size", type=int, help="mask-layer token side in feature cells")
    p.add_argument("--pairwise", choices=("cosine", "contrast", "learned"),
                   help="pairwise weights of the mrf layer (default: cosine)")
    p.add_argument("--keep-ratio", type=float, help="mrf layer: target fraction of kept tokens "
                                                    "(keep cost adapted by dual ascent)")
    p.add_argument("--keep-cost", type=float, help="mrf layer: keep cost added to every unary "
                                                   "(start value with --keep-ratio; default 0)")
    p.add_argument("--budget", choices=("dual", "loss"),
                   help="mrf layer: how training meets --keep-ratio: dual (dual ascent on the "
                        "keep cost, default) or loss (DynamicViT's (mean gate - r)^2 penalty)")
    p.add_argument("--budget-weight", type=float,
                   help="mrf layer: weight of the --budget loss penalty (default: 2)")
    p.add_argument("--budget-warmup", type=float, metavar="SHARE",
                   help="mrf layer: share of the training steps over which the kept share "
                        "falls from 1 to --keep-ratio (default: 0.3)")
    p.add_argument("--unary-weight", type=float, help="mask layer: unary scale (lambda)")
    p.add_argument("--pairwise-weight", type=float, help="mask layer: pairwise scale (gamma)")
    p.add_argument("--temperature", type=float, help="mask layer: temperature T")
    p.add_argument("--stages", type=int, help="ResNet stages to keep (1-4)")
    p.add_argument("--weights", metavar="PATH", help="local backbone checkpoint")
    p.add_argument("--freeze", action="store_true", default=None, help="freeze the backbone")
    p.add_argument("--seed", type=int, help="random seed (default: 0)")
    p.add_argument("--workers", type=int, dest="num_workers", help="DataLoader workers "
                                                                   "(default: 0)")
    p.add_argument("--device", help="auto (default), cpu or cuda")
    p.add_argument("--threads", type=int, help="torch CPU threads per process")
    p.add_argument("--recipe", help="named settings that fill in what is not given: paper "
                                    "(the ERSM paper's training: ersm layer, frozen backbone, "
                                    "AdamW wd 1e-4, per-epoch cosine, 20 epochs)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def given_config(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~ersm.train.TrainConfig` fields set on the command line (``out`` and the
    recipe apart: :func:`ersm.jobs.train_run` takes those)."""
    fields = ("data", "model", "backbone", "backend", "epochs", "batch_size", "lr",
              "weight_decay", "image_size", "weights", "freeze", "seed", "num_workers", "device",
              "budget_warmup")
    given = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    options = ("patch_size", "pairwise", "keep_ratio", "keep_cost", "budget", "budget_weight",
               "unary_weight", "pairwise_weight", "temperature")
    layer = {key: getattr(args, key) for key in options if getattr(args, key) is not None}
    if layer:
        given["layer_kwargs"] = layer
    if args.stages is not None:
        given["backbone_kwargs"] = {"stages": args.stages}
    return given


def run(args: argparse.Namespace) -> int:
    """Run ``ersm train`` (:func:`ersm.jobs.train_run`); 0 on success, 2 on bad arguments."""
    from ..jobs.train_run import train_run

    try:
        outcome = train_run(given_config(args), args.out, resume=args.resume,
                            recipe=getattr(args, "recipe", None), threads=args.threads,
                            progress=not args.quiet)
    except (ValueError, OSError, ImportError) as exc:
        print(f"ersm train: error: {one_line(exc)}", file=sys.stderr)
        return 2
    if outcome.history and os.environ.get("RANK", "0") == "0":
        print(outcome.summary())
    return 0
