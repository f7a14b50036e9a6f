"""``ersm demo``: segment a built-in photo with a contrast-sensitive graph cut."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    from ..jobs.demo import IMAGES

    p = subparsers.add_parser(
        "demo", help="segment a built-in photo (offline, about a second)",
        description="Segment a scikit-image photo with colour unaries and contrast-sensitive "
                    "pairwise weights; writes mask.png, overlay.png and demo.json.")
    p.add_argument("--out", "-o", type=Path, default=Path("ersm-demo"), metavar="DIR",
                   help="output directory (default: ersm-demo)")
    p.add_argument("--image", choices=sorted(IMAGES), default="coffee", help="photo (default: coffee)")
    p.add_argument("--size", type=int, default=192, help="longer side in pixels (default: 192)")
    p.add_argument("--gamma", type=float, default=5.0, help="pairwise strength (default: 5)")
    p.add_argument("--backend", "-b", default="graphcut", help="solver backend (default: graphcut)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ersm demo``; 0 on success, 2 on bad arguments."""
    from ..jobs.demo import run_demo

    try:
        result = run_demo(args.out, image=args.image, size=args.size, gamma=args.gamma,
                          backend=args.backend)
    except (ValueError, ImportError) as exc:
        print(f"ersm demo: error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0
