"""``ersm data synth``: write a synthetic dataset from the command line.

The data generators are imported only when the command runs (they need torch, which the
rest of the command line does not import at start-up). Wire into a top-level parser with
:func:`add_data_parser` (adds the ``data`` command and its subcommands) or, given an
existing ``data`` subparsers object, :func:`add_synth_parser`. Each subcommand sets
``run`` on the namespace; call ``args.run(args)``.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``data`` and its subcommands (``synth``)."""
    add_data_parser(subparsers)


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def add_synth_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``synth`` to ``subparsers`` (those of the ``data`` command); returns its parser."""
    parser = subparsers.add_parser(
        "synth", help="write a seeded synthetic dataset (image folder layout, exact masks)",
        description="Write shapes or digits in clutter with exact object masks and a background "
                    "tint that matches the class in a fraction P of the train images.")
    parser.add_argument("--out", required=True,
                        help="output folder (must be empty unless --overwrite)")
    parser.add_argument("--n", type=int, required=True, help="number of images, train + test")
    parser.add_argument("--seed", type=int, required=True,
                        help="random seed (same seed, same files)")
    parser.add_argument("--spurious", type=_probability, default=0.0,
                        help="share P of train images given their class's background tint; "
                             "the rest draw it uniformly (default 0: independent of the class)")
    parser.add_argument("--colour", choices=("random", "class"), default="random",
                        help="shapes: object hue random (default) or fixed by the class")
    parser.add_argument("--texture", choices=("random", "class"), default="random",
                        help="shapes: object texture random (default: with --colour random "
                             "only the outline tells the class) or fixed by the class")
    parser.add_argument("--kind", choices=("shapes", "digits"), default="shapes",
                        help="default: shapes")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--test-fraction", type=float, default=0.25,
                        help="share of images in test (default 0.25)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier synthetic dataset in --out")
    parser.set_defaults(run=run_synth_cli)
    return parser


def add_data_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``data`` command (with ``synth``) to a top-level ``subparsers``."""
    parser = subparsers.add_parser("data", help="datasets: synthetic data generation")
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    add_synth_parser(commands)
    return parser


def run_synth_cli(args: argparse.Namespace) -> int:
    """Run ``ersm data synth`` with parsed ``args``; prints a one-line summary.

    Returns:
        exit status 0.
    """
    from ..data.synth import make_digits_in_clutter, make_synthetic_dataset

    options = ({"colour": args.colour, "texture": args.texture} if args.kind == "shapes"
               else {})
    make = make_synthetic_dataset if args.kind == "shapes" else make_digits_in_clutter
    meta = make(args.out, n=args.n, seed=args.seed, spurious=args.spurious, size=args.size,
                test_fraction=args.test_fraction, overwrite=args.overwrite, **options)
    print(f"wrote {meta['n_train']} train + {meta['n_test']} test {meta['kind']} images "
          f"({len(meta['classes'])} classes, {meta['size']}px, "
          f"spurious={meta['spurious']}) to {args.out}")
    return 0


__all__ = ["add_data_parser", "add_parser", "add_synth_parser", "run_synth_cli"]
