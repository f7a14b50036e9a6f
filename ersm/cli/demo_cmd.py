"""``ersm demo``: a picture segmented by a graph cut, then masks in a classifier, evaluated."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from .errors import one_line
from ..solvers.defaults import DEFAULT_EXACT

HELP = """Without --quick (a few minutes on two CPU cores): segment a scikit-image photo with
an exact contrast-sensitive graph cut, then generate a synthetic spurious-background dataset,
train a baseline, an ERSM-layer and an MRF-layer classifier, solve their masks with the graph
cut, evaluate and compare them, and write OUT/report.md. With --quick (about a second): only
the photo (mask.png, overlay.png, demo.json)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    from ..jobs.demo import IMAGES

    p = subparsers.add_parser("demo", help="segment a photo, then train, solve and evaluate "
                                           "mask layers (--quick: the photo only)",
                              description=HELP)
    p.add_argument("--out", "-o", type=Path, default=Path("ersm-demo"), metavar="DIR",
                   help="output directory (default: ersm-demo)")
    p.add_argument("--quick", action="store_true", help="only segment the photo (seconds)")
    p.add_argument("--image", choices=sorted(IMAGES), default="coffee", help="photo (default: coffee)")
    p.add_argument("--size", type=int, default=192, help="longer side in pixels (default: 192)")
    p.add_argument("--gamma", type=float, default=5.0, help="pairwise strength (default: 5)")
    p.add_argument("--backend", "-b", default=DEFAULT_EXACT, help=f"solver backend (default: {DEFAULT_EXACT})")
    p.add_argument("--n", type=int, default=800,
                   help="story: synthetic images, train + test (default: 800)")
    p.add_argument("--epochs", type=int, default=10, help="story: epochs per model (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="story: data and training seed")
    p.add_argument("--keep-ratio", type=float, default=0.15,
                   help="story: keep budget of the MRF layer and of the solved masks "
                        "(default: 0.15)")
    p.add_argument("--threads", type=int, help="story: torch CPU threads")
    p.add_argument("--quiet", "-q", action="store_true", help="story: no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ersm demo``; 0 on success, 2 on bad arguments."""
    from ..jobs.demo import run_demo, run_story
    from ..jobs.threads import set_torch_threads

    try:
        if args.quick:
            result = run_demo(args.out, image=args.image, size=args.size, gamma=args.gamma,
                              backend=args.backend, show=partial(print, flush=True))
        else:
            set_torch_threads(args.threads)
            result = run_story(args.out, n=args.n, epochs=args.epochs, seed=args.seed,
                               image=args.image, size=args.size, gamma=args.gamma,
                               backend=args.backend, progress=not args.quiet,
                               keep_ratio=args.keep_ratio)
    except (ValueError, ImportError) as exc:
        print(f"ersm demo: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0
