"""``ersm evaluate``: every metric of a trained run, as metrics.json, report.md and figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from .errors import one_line
from ..solvers.defaults import DEFAULT_EXACT

HELP = """Evaluate a trained run on a split: accuracy; deletion and insertion AUCs (feature and
pixel removal) for the energy, magnitude, random, Grad-CAM, solved-mask and exact keep-cost
path rankings (plus Captum's with --attributions); IoU and
pointing game against the dataset's object masks; sparsity; occlusion and ROI tests; cost.
Writes REPORT/metrics.json, REPORT/report.md and PNG figures."""


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``evaluate`` and ``compare`` (→ :class:`~ersm.evaluation.EvalSettings`)."""
    p.add_argument("--data", required=True, metavar="DIR", help="dataset root")
    p.add_argument("--split", default="test", choices=("train", "test"), help="default: test")
    p.add_argument("--backend", "-b", default=DEFAULT_EXACT,
                   help="exact solver of the discrete masks (default: graphcut)")
    p.add_argument("--modes", type=_names, default=("feature", "pixel"),
                   help="removal modes, comma-separated (default: feature,pixel)")
    p.add_argument("--seeds", type=int, default=3, help="random orders averaged (default: 3)")
    p.add_argument("--steps", type=int, default=16, help="points per curve minus one (default: 16)")
    p.add_argument("--limit", type=int, help="evaluate N images spread evenly over the split")
    p.add_argument("--batch-size", type=int, default=32, help="images per batch (default: 32)")
    p.add_argument("--feature-fill", choices=("zero", "mean"), default="zero",
                   help="removed feature tokens become (default: zero)")
    p.add_argument("--pixel-fill", choices=("blur", "mean", "zero"), default="blur",
                   help="removed pixels become (default: blur)")
    p.add_argument("--attributions", type=_names, default=(),
                   help="extra rankings from Captum, comma-separated, from "
                        "integrated_gradients,saliency,occlusion (pip install 'ersm[captum]')")
    p.add_argument("--keep-ratio", type=float, metavar="R",
                   help="solved masks of about R*h*w tokens per image (default: the run's "
                        "own --keep-ratio, if any)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~ersm.evaluation.EvalSettings` fields of parsed arguments."""
    return {"split": args.split, "backend": args.backend, "modes": args.modes,
            "seeds": args.seeds, "steps": args.steps, "limit": args.limit,
            "batch_size": args.batch_size, "feature_fill": args.feature_fill,
            "pixel_fill": args.pixel_fill, "device": args.device,
            "attributions": args.attributions, "keep_ratio": args.keep_ratio}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``evaluate``."""
    p = subparsers.add_parser("evaluate", help="evaluate a trained run (faithfulness, "
                                               "localization, occlusion, cost)", description=HELP)
    p.add_argument("--run", required=True, dest="run_dir", metavar="RUN",
                   help="training run directory")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="REPORT",
                   help="report directory")
    p.add_argument("--baseline", metavar="RUN", help="a baseline run; its accuracy is reported")
    add_settings_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ersm evaluate`` (:func:`ersm.jobs.evaluate.evaluate`); 0 on success, 2 on bad
    arguments or data."""
    from ..jobs.evaluate import evaluate, evaluate_summary

    try:
        result = evaluate(args.run_dir, args.data, args.out, settings_from_args(args),
                          baseline=args.baseline, threads=args.threads, progress=not args.quiet)
    except (ValueError, OSError, ImportError) as exc:
        print(f"ersm evaluate: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(evaluate_summary(result, args.out))
    return 0
