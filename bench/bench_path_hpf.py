"""The keep-cost path beside the only peer that computes one: Hochbaum's parametric
pseudoflow (PyPI ``pseudoflow``, HPF; non-commercial licence, ``[ref]`` extra).

Same real-picture energies as ``bench/bench_path.py``; both on one thread. HPF gets its
arc list as a flat array (the networkx graph its ``hpf()`` wants is built in Python and
would cost more than the solve), and only its C solve is timed. Its thresholds are
compared with ``ersm.solve_path`` on every map before timing; where they differ by more
than 1e-9, a graph cut at the midpoint of the two values decides the worst token (the
bench stops if the cut disagrees with the path) and the table counts HPF's tokens off. Usage::

    python bench/bench_path_hpf.py    # a table; bench/results/path_hpf.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import ersm  # noqa: E402
from bench_path import picture_energy  # noqa: E402
from ersm.core.optional import importable  # noqa: E402
from ersm.core.parallel import set_num_threads  # noqa: E402
from ersm.energy.offsets import OFFSETS  # noqa: E402

HERE = Path(__file__).parent


def hpf_arcs(theta: np.ndarray, pairwise: np.ndarray) -> tuple[int, np.ndarray, float]:
    """HPF's input for one map: ``(nodes, arcs (m, 4) [from, to, const, mult], range R)``.

    Source side = kept: ``i -> t`` costs ``θ_i + M − μ`` with ``μ = −λ``, ``s -> i``
    costs ``M`` (as the oracle test in tests/solvers/test_path.py builds it).
    """
    H, W = theta.shape
    n = H * W
    R = float(np.abs(theta).max() + 2 * pairwise.shape[0] * pairwise.max() + 1)
    M = R + float(np.abs(theta).max()) + 1
    ids = np.arange(1, n + 1).reshape(H, W)
    blocks = [np.stack([np.zeros(n), ids.ravel(), np.full(n, M), np.zeros(n)], 1),
              np.stack([ids.ravel(), np.full(n, n + 1), theta.ravel() + M, -np.ones(n)], 1)]
    ys, xs = np.mgrid[0:H, 0:W]
    for k in range(pairwise.shape[0]):
        dy, dx = OFFSETS[k]
        ok = (ys + dy >= 0) & (ys + dy < H) & (xs + dx >= 0) & (xs + dx < W)
        a, b, w = ids[ok], ids[ys[ok] + dy, xs[ok] + dx], pairwise[k][ok]
        zero = np.zeros(len(a))
        blocks += [np.stack([a, b, w, zero], 1), np.stack([b, a, w, zero], 1)]
    return n + 2, np.ascontiguousarray(np.concatenate(blocks)), R


def hpf_solve(nodes: int, arcs: np.ndarray, R: float) -> tuple[float, np.ndarray]:
    """Run HPF's C solver: ``(seconds, thresholds (nodes − 2,))`` (NaN: outside ±R)."""
    from pseudoflow.python import hpf as lib

    c_in = lib._create_c_input({i: i for i in range(nodes)}, 0, nodes - 1,
                               arcs.ravel().tolist(), [-R, R], False)
    c_out = lib._create_c_output()
    t0 = time.perf_counter()
    lib._solve(c_in, c_out)
    seconds = time.perf_counter() - t0
    k = c_out["numBreakpoints"].value
    mu = np.ctypeslib.as_array(c_out["breakpoints"], shape=(k,)).copy()
    cuts = np.ctypeslib.as_array(c_out["cuts"], shape=(k, nodes)).copy()[:, 1:-1]
    lib._cleanup(c_out)
    first = np.where(cuts.any(0), cuts.argmax(0), -1)  # first breakpoint on the source side
    thresholds = np.where(first > 0, -mu[np.maximum(first - 1, 0)], np.nan)
    return seconds, thresholds


def run_case(batch: int, size: int, connectivity: int, repeats: int) -> dict:
    energy = picture_energy(batch, size, connectivity)
    unary, pairwise = energy.numpy()
    path = ersm.solve_path(energy)
    inputs = [hpf_arcs(unary[b], pairwise[b]) for b in range(batch)]
    worst, wrong = 0.0, 0  # HPF's thresholds beside ours; where they differ, a cut decides
    for b, args in enumerate(inputs):
        got = hpf_solve(*args)[1]
        want = path.thresholds[b].ravel()
        diff = np.where(np.isnan(got), 0.0, np.abs(got - want))
        worst = max(worst, float(diff.max()))
        if diff.max() > 1e-9:
            i = int(diff.argmax())
            lam = 0.5 * (got[i] + want[i])
            cut = ersm.solve(ersm.GridEnergy(unary[b] + lam, pairwise[b], connectivity))
            if bool(np.asarray(cut.mask).ravel()[i]) != bool(want[i] >= lam):
                raise AssertionError(f"map {b}: the cut at {lam!r} disagrees with the path")
            wrong += int((diff > 1e-9).sum())
    t_ours, t_hpf = [], []
    for _ in range(repeats):  # interleaved
        t0 = time.perf_counter()
        ersm.solve_path(energy)
        t_ours.append(time.perf_counter() - t0)
        t_hpf.append(sum(hpf_solve(*args)[0] for args in inputs))
    ours, hpf = statistics.median(t_ours), statistics.median(t_hpf)
    return {"batch": batch, "size": size, "connectivity": connectivity, "repeats": repeats,
            "path_s": ours, "hpf_s": hpf, "hpf_per_path": hpf / ours,
            "breakpoints_per_sample": float(np.mean([len(b) for b in path.breakpoints])),
            "max_threshold_difference": worst, "hpf_tokens_off_by_1e-9": wrong,
            "tokens": batch * size * size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "path_hpf.json")
    args = parser.parse_args()
    if not importable("pseudoflow"):
        sys.exit("pseudoflow is not installed (pip install -e '.[ref]')")
    set_num_threads(1)
    ersm.solve_path(picture_energy(2, 16, 4)), ersm.solve_path(picture_energy(2, 16, 8))
    rows = []
    print("| batch, conn | ersm.solve_path | HPF (C solve only) | HPF ÷ ours "
          "| breakpoints / map | HPF off (max |Δ|, tokens) |")
    print("|---|---|---|---|---|---|")
    for batch, size, conn in [(8, 28, 4), (8, 28, 8), (8, 56, 4), (8, 56, 8), (1, 128, 4)]:
        row = run_case(batch, size, conn, args.repeats)
        rows.append(row)
        print(f"| {batch}×{size}², {conn} | {row['path_s'] * 1e3:.1f} ms | "
              f"{row['hpf_s'] * 1e3:.1f} ms | {row['hpf_per_path']:.1f}× | "
              f"{row['breakpoints_per_sample']:.0f} | {row['max_threshold_difference']:.1e}, "
              f"{row['hpf_tokens_off_by_1e-9']} of {row['tokens']} |",
              flush=True)
    meta = {"command": " ".join(["python", "bench/bench_path_hpf.py", *sys.argv[1:]]),
            "date": str(date.today()), "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "threads": 1,
            "load": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
