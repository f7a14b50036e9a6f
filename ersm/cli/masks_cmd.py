"""``ersm masks``: export a trained run's learned and solved token masks to an ``.npz``."""

from __future__ import annotations

import argparse
import sys
from .errors import one_line

HELP = """Run a trained model (ersm or mrf) over a dataset split and write, per image, its
token unaries and pairwise weights, the learned keep probabilities and the mask solved
with --backend (default graphcut, exact), plus labels and predictions, to one .npz file
(written atomically)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``masks``."""
    p = subparsers.add_parser("masks", help="export learned and solved masks of a trained run",
                              description=HELP)
    p.add_argument("--run", required=True, dest="run_dir", metavar="RUN",
                   help="training run directory")
    p.add_argument("--data", required=True, metavar="DIR", help="dataset root")
    p.add_argument("--split", choices=("train", "test"), default="test",
                   help="dataset split (default: test)")
    p.add_argument("--out", "-o", required=True, metavar="FILE.npz", help="output file")
    p.add_argument("--backend", "-b", help="solver of the discrete masks (default: graphcut)")
    p.add_argument("--batch-size", type=int, default=32, help="images per pass (default: 32)")
    p.add_argument("--pairwise-weight", type=float,
                   help="Potts weight of the ersm layer's implied MRF (default: the layer's)")
    p.add_argument("--keep-ratio", type=float, metavar="R",
                   help="exact masks of about R*h*w tokens per image (default: the run's own "
                        "--keep-ratio, if any)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ersm masks``; 0 on success, 2 on bad arguments or inputs."""
    from ..jobs.export import export_masks, summarize_masks

    try:
        arrays = export_masks(args.run_dir, args.data, args.split, args.out, backend=args.backend,
                              batch_size=args.batch_size, pairwise_weight=args.pairwise_weight,
                              keep_ratio=args.keep_ratio)
        summary = summarize_masks(arrays, args.data)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"ersm masks: error: {one_line(exc)}", file=sys.stderr)
        return 2
    n, h, w = arrays["mask"].shape
    agree = float(((arrays["keep_prob"] > 0.5) == arrays["mask"]).mean()) if n else float("nan")
    print(f"wrote {n} masks ({h}x{w} tokens) to {args.out}; learned and solved masks agree on "
          f"{100 * agree:.1f}% of tokens")
    shown = ", ".join(f"{key} {value:.3f}" for key, value in summary.items() if key != "images")
    print(f"{args.split}: {shown}")
    return 0
