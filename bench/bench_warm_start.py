"""Warm-started ``graphcut`` (dynamic graph cuts) vs cold solves on energy sequences.

Sequences of 20 energies of one shape, solved one after the other:

* ``lambda_sweep``: the pairwise weights scaled by 20 values ``λ`` (geometric, 0.1 → 10,
  every weight changes by 27 % per step);
* ``train_sigma=s``: "training steps", θ perturbed by Gaussian noise of std ``s`` each
  step (θ itself has std ≈ 1.6, mean weight ≈ 0.7), weights fixed;
* ``unrelated``: a different image-like energy every step (the worst case for a warm
  start: a new batch, nothing in common but the shape).

*cold* solves every energy from scratch (``ersm.solve(e)``); *warm* solves the first
cold with ``keep_state=True`` and every further one with ``warm_start=`` the previous
state (``ersm.solve(e, keep_state=True, warm_start=prev)``, state copies included). The
``kernel`` columns time the bare kernels on host arrays: ``grid_mincut_batch`` vs
``grid_mincut_batch_warm(..., inplace=True)`` (no validation, energy evaluation or state
copies). Totals are medians over ``--repeats`` runs of the whole sequence; warm and
cold masks are checked to have equal energies first. Usage::

    python bench/bench_warm_start.py            # writes bench/results/warm_start.json
    python bench/bench_warm_start.py --quick    # small sizes, 2 repeats (smoke)
    python bench/bench_warm_start.py --connectivity 4 8 --threads 1 --out /tmp/ws.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import ersm  # noqa: E402
from energies import image_like_energy  # noqa: E402
from ersm.solvers.kernels.bk import grid_mincut_batch, grid_mincut_batch_warm  # noqa: E402

HERE = Path(__file__).parent
STEPS = 20


def sequences(base: ersm.GridEnergy, seed: int = 0) -> dict[str, list[ersm.GridEnergy]]:
    u, p = base.numpy()
    conn = base.connectivity
    out = {"lambda_sweep": [ersm.GridEnergy(u, lam * p, conn)
                            for lam in np.geomspace(0.1, 10.0, STEPS)]}
    for sigma in (0.01, 0.1, 1.0):
        rng = np.random.default_rng(seed)
        seq, theta = [], u.copy()
        for _ in range(STEPS):
            seq.append(ersm.GridEnergy(theta.copy(), p, conn))
            theta = theta + sigma * rng.normal(size=theta.shape)
        out[f"train_sigma={sigma:g}"] = seq
    # worst case: every step an unrelated energy (e.g. a new batch of images)
    b, size = base.batch_size, base.height
    out["unrelated"] = [image_like_energy(b, size, conn, seed=seed + 100 + t)
                        for t in range(STEPS)]
    return out


def run_cold(seq):
    return [ersm.solve(e).mask for e in seq]


def run_warm(seq):
    masks, state = [], None
    for e in seq:
        r = ersm.solve(e, keep_state=True, warm_start=state)
        masks.append(r.mask)
        state = r.state
    return masks


def run_kernel_cold(arrays):
    return [grid_mincut_batch(u, p) for u, p in arrays]


def run_kernel_warm(arrays):
    masks = []
    mask, res, tr = grid_mincut_batch_warm(*arrays[0])
    masks.append(mask)
    for (u0, p0), (u, p) in zip(arrays[:-1], arrays[1:]):
        mask, res, tr = grid_mincut_batch_warm(u, p, (u0, p0, res, tr), inplace=True)
        masks.append(mask)
    return masks


def median_time(fn, arg, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def check(seq, cold_masks, warm_masks) -> int:
    """Equal energies (up to rounding); returns how many masks are bit-identical."""
    same = 0
    for e, mc, mw in zip(seq, cold_masks, warm_masks):
        ec, ew = e.energy(mc), e.energy(mw)
        scale = np.abs(e.numpy()[0]).sum(axis=(1, 2)) + e.numpy()[1].sum(axis=(1, 2, 3))
        assert np.all(np.abs(ec - ew) <= 1e-10 * scale), (ec, ew)
        same += int(np.array_equal(mc, mw))
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--connectivity", type=int, nargs="+", default=[4], choices=(4, 8))
    ap.add_argument("--threads", type=int, default=None,
                    help="Numba threads for the batch-parallel kernels (default: all cores)")
    ap.add_argument("--out", default=str(HERE / "results" / "warm_start.json"))
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    repeats = 2 if args.quick else args.repeats
    shapes = [(8, 28), (1, 128)] if args.quick else [(64, 56), (1, 512)]

    # compile everything once
    for conn in args.connectivity:
        warm_up = image_like_energy(2, 8, conn)
        for fn in (run_cold, run_warm):
            fn(sequences(warm_up)["lambda_sweep"][:2])
        for fn in (run_kernel_cold, run_kernel_warm):
            fn([e.numpy() for e in sequences(warm_up)["lambda_sweep"][:2]])
        ersm.solve(ersm.GridEnergy(*warm_up.select(0).numpy()), keep_state=True)

    rows = []
    for conn, (batch, size) in [(c, s) for c in args.connectivity for s in shapes]:
        base = image_like_energy(batch, size, conn, seed=1)
        for name, seq in sequences(base).items():
            arrays = [e.numpy() for e in seq]
            same = check(seq, run_cold(seq), run_warm(seq))
            check(seq, run_kernel_cold(arrays), run_kernel_warm(arrays))
            row = {
                "sequence": name, "batch": batch, "size": size,
                "connectivity": conn, "steps": len(seq),
                "identical_masks": same,
                "cold_s": median_time(run_cold, seq, repeats),
                "warm_s": median_time(run_warm, seq, repeats),
                "kernel_cold_s": median_time(run_kernel_cold, arrays, repeats),
                "kernel_warm_inplace_s": median_time(run_kernel_warm, arrays, repeats),
            }
            row["speedup"] = row["cold_s"] / row["warm_s"]
            row["kernel_speedup"] = row["kernel_cold_s"] / row["kernel_warm_inplace_s"]
            rows.append(row)
            print(f"{batch}x{size}^2 {conn}-conn {name}: cold {row['cold_s'] * 1e3:.1f} ms, "
                  f"warm {row['warm_s'] * 1e3:.1f} ms", file=sys.stderr)

    print(f"\n{STEPS}-step sequences, total time per sequence (median of {repeats}), "
          f"{numba.get_num_threads()} Numba threads\n")
    print("| shape | conn | sequence | cold (ms) | warm (ms) | speedup | kernel cold (ms) "
          "| kernel warm in place (ms) | kernel speedup | identical masks |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['batch']}×{r['size']}² | {r['connectivity']} | {r['sequence']} | "
              f"{r['cold_s'] * 1e3:.1f} | {r['warm_s'] * 1e3:.1f} | {r['speedup']:.2f}× | "
              f"{r['kernel_cold_s'] * 1e3:.1f} | {r['kernel_warm_inplace_s'] * 1e3:.1f} | {r['kernel_speedup']:.2f}× | "
              f"{r['identical_masks']}/{r['steps']} |")

    if not args.quick or args.out != str(HERE / "results" / "warm_start.json"):
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(),
            "numba": numba.__version__,
            "numba_threads": numba.get_num_threads(),
            "date": str(date.today()),
            "load_average": list(os.getloadavg()),
            "repeats": repeats,
            "command": " ".join(["python"] + sys.argv),
            "results": rows,
        }
        Path(args.out).write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
