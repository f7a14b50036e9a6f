"""Exact solvers side by side on the same energies: ersm graphcut vs PyMaxflow, gco, scipy.

Every solver gets the same energies; optimal energies are asserted equal before timing.
Reports medians of repeats and throughput ratios. Usage::

    python bench/bench_exact.py                 # full run, writes bench/results/exact.json
    python bench/bench_exact.py --quick         # small sizes, few repeats (smoke)
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
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))
import ersm  # noqa: E402
from energies import image_like_energy  # noqa: E402
from ersm.solvers.pymaxflow import pymaxflow_mincut_map  # noqa: E402

HERE = Path(__file__).parent


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _pymaxflow_chunk(args: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    unary, pairwise = args
    return np.stack([pymaxflow_mincut_map(u, p) for u, p in zip(unary, pairwise)])


def _pymaxflow_pool(pool: ProcessPoolExecutor, unary: np.ndarray, pairwise: np.ndarray,
                    workers: int) -> np.ndarray:
    chunks = [(u, p) for u, p in zip(np.array_split(unary, workers), np.array_split(pairwise, workers))]
    return np.concatenate(list(pool.map(_pymaxflow_chunk, chunks)))


def _solvers(pool, workers):
    have_maxflow = "maxflow" in ersm.solvers.available()
    have_gco = "gco" in ersm.solvers.available()
    out = {"graphcut": lambda e: ersm.solve(e, backend="graphcut").mask}
    if have_maxflow:
        out["maxflow"] = lambda e: ersm.solve(e, backend="maxflow").mask
        out[f"maxflow x{workers} procs"] = lambda e: _pymaxflow_pool(pool, *e.numpy(), workers)
    if have_gco:
        out["gco"] = lambda e: ersm.solve(e, backend="gco").mask
    out["scipy"] = lambda e: ersm.solve(e, backend="scipy").mask
    return out


def _check_equal_energy(energy, masks: dict[str, np.ndarray]) -> dict[str, bool]:
    want = energy.energy(masks["graphcut"])
    scale = np.abs(energy.numpy()[0]).sum((1, 2)) + 1.0
    agree = {}
    for name, mask in masks.items():
        got = energy.energy(mask)
        agree[name] = bool(np.all(np.abs(got - want) <= 1e-9 * scale))
        if name != "gco" and not agree[name]:  # gco quantises non-dyadic floats
            raise AssertionError(f"{name} energy differs from graphcut: {got - want}")
    return agree


def _case(energy, solvers, repeats: int) -> dict:
    masks, times = {}, {}
    for name, fn in solvers.items():
        try:
            masks[name] = fn(energy)
        except Exception as exc:  # e.g. scipy refuses non-dyadic floats
            times[name] = f"n/a ({type(exc).__name__})"
            continue
        times[name] = _median_time(lambda: fn(energy), repeats)
    agree = _check_equal_energy(energy, masks)
    return {"seconds": times, "energy_equal": agree}


def _peak_rss_mb(backend: str, size: int, connectivity: int) -> float:
    """Peak RSS increase (MB) for solving one map, measured in a fresh process."""
    code = f"""
import resource, sys, numpy as np
sys.path.insert(0, {str(HERE)!r})
import ersm
from energies import image_like_energy
e = image_like_energy(1, {size}, {connectivity}, seed=9)
small = image_like_energy(1, 4, {connectivity}, seed=9)
ersm.solve(small, backend={backend!r})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ersm.solve(e, backend={backend!r})
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "results" / "exact.json"))
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    batch_sizes = [14, 28] if args.quick else [14, 28, 56, 112]
    single_sizes = [128] if args.quick else [256, 512, 1024]
    workers = os.cpu_count() or 1
    ersm.solve(image_like_energy(2, 8, 4), backend="graphcut")  # compile once
    ersm.solve(image_like_energy(2, 8, 8), backend="graphcut")
    results = {"machine": f"{platform.processor() or platform.machine()}, {workers} cores",
               "python": platform.python_version(), "date": str(date.today()),
               "repeats": repeats, "batch": [], "single": [], "memory_mb": []}
    cases = [("batch", 64, s, c) for s in batch_sizes for c in (4, 8)]
    cases += [("single", 1, s, c) for s in single_sizes for c in (4, 8)]
    with ProcessPoolExecutor(workers) as pool:
        solvers = _solvers(pool, workers)
        _pymaxflow_pool(pool, *image_like_energy(workers, 8, 4).numpy(), workers)  # warm pool
        for kind, batch, size, conn in tqdm(cases, desc="exact bench"):
            energy = image_like_energy(batch, size, conn, seed=size + conn)
            row = {"batch": batch, "size": size, "connectivity": conn}
            row.update(_case(energy, solvers, repeats))
            results[kind].append(row)
    for size in single_sizes:
        for backend in [b for b in ("graphcut", "maxflow") if b in ersm.solvers.available()]:
            results["memory_mb"].append({"backend": backend, "size": size,
                                         "peak_rss_mb": _peak_rss_mb(backend, size, 4)})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(render_markdown(results))


def render_markdown(results: dict) -> str:
    """Markdown tables (seconds and ratios vs graphcut) for bench/RESULTS.md."""
    lines = []
    for kind in ("batch", "single"):
        rows = results[kind]
        if not rows:
            continue
        names = list(rows[0]["seconds"])
        lines.append(f"\n{kind} | " + " | ".join(names) + " | " +
                     " | ".join(f"{n} / graphcut" for n in names[1:]))
        lines.append("|".join(["---"] * (1 + 2 * len(names))))
        for r in rows:
            secs = r["seconds"]
            base = secs["graphcut"]
            cells = [f"{v * 1e3:.1f} ms" if isinstance(v, float) else v for v in secs.values()]
            ratios = [f"{secs[n] / base:.2f}x" if isinstance(secs[n], float) else "n/a"
                      for n in names[1:]]
            lines.append(f"{r['batch']}x{r['size']}² {r['connectivity']}-conn | "
                         + " | ".join(cells) + " | " + " | ".join(ratios))
    if results["memory_mb"]:
        lines.append("\nmemory (peak RSS increase for one 4-conn map)")
        for m in results["memory_mb"]:
            lines.append(f"- {m['backend']} {m['size']}²: {m['peak_rss_mb']:.1f} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
