"""Exact solvers side by side on the same energies: ersm graphcut vs PyMaxflow, gco, scipy.

Every solver gets the same energies; optimal energies are asserted equal before timing.
Reports medians of repeats and throughput ratios. Usage::

    python bench/bench_exact.py                 # full run, writes bench/results/exact.json
    python bench/bench_exact.py --quick         # small sizes, few repeats (smoke)
    python bench/bench_exact.py --pictures      # real pictures (issue 15), bench/results/exact_pictures.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))
import ersm  # noqa: E402
from energies import (PICTURES, grey_picture, image_like_energy, picture_crops,  # noqa: E402
                      picture_energy)
from ersm.core.parallel import set_num_threads  # noqa: E402
from ersm.energy.offsets import valid_edge_mask  # noqa: E402
from ersm.solvers.backends.maxflow import pymaxflow_mincut_map  # noqa: E402

HERE = Path(__file__).parent
QUANTUM = 2.0**-8
"""Energies are rounded to multiples of 1/256 so scipy and GCO (int32) see them exactly."""


def _median_time(fn, repeats: int, first: float) -> float:
    """Median of ``repeats`` timings (3 for solvers whose first run took over 2 s)."""
    times = []
    for _ in range(min(repeats, 3) if first > 2.0 else repeats):
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
        if not agree[name]:
            raise AssertionError(f"{name} energy differs from graphcut: {got - want}")
    return agree


def _case(energy, solvers, repeats: int) -> dict:
    masks, times = {}, {}
    for name, fn in solvers.items():
        if "procs" in name and energy.batch_size < 2:
            times[name] = "n/a (one map)"
            continue
        try:
            t0 = time.perf_counter()
            masks[name] = fn(energy)
            first = time.perf_counter() - t0
        except Exception as exc:  # e.g. scipy refuses energies beyond int32
            times[name] = f"n/a ({type(exc).__name__})"
            continue
        times[name] = _median_time(lambda: fn(energy), repeats, first)
    agree = _check_equal_energy(energy, masks)
    return {"seconds": times, "energy_equal": agree}


def _peak_rss_mb(backend: str, size: int, connectivity: int) -> float:
    """Peak RSS increase (MB) of the backend's solver for one map, in a fresh process.

    The energy is built here and handed over as a file, and the child calls the backend
    directly (no validation or energy evaluation), so the increase is the solver's own
    working memory (graph, residuals, queues) plus its output mask.
    """
    energy = image_like_energy(1, size, connectivity, seed=9, quantum=QUANTUM)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "energy.npz"
        unary, pairwise = energy.numpy()
        np.savez(path, unary=unary, pairwise=pairwise)
        code = f"""
import numpy as np
from ersm.solvers.registry import get_backend

def status_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

run = get_backend({backend!r}).run
arrays = np.load({str(path)!r})
unary, pairwise = arrays["unary"], arrays["pairwise"]
run(np.zeros((1, 4, 4)), np.zeros((1, {connectivity // 2}, 4, 4)))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak-RSS counter VmHWM to the current RSS
base = status_kb("VmRSS")
run(unary, pairwise)
print((status_kb("VmHWM") - base) / 1024)
"""
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _interleaved_medians(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each callable, timed round-robin so load drifts hit all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def _graphcut(threads: int):
    def solve(energy):
        set_num_threads(threads)
        try:
            return ersm.solve(energy, backend="graphcut").mask
        finally:
            set_num_threads(None)
    return solve


def _maxflow_loop(energy) -> np.ndarray:
    unary, pairwise = energy.numpy()
    return np.stack([pymaxflow_mincut_map(u, p) for u, p in zip(unary, pairwise)])


def _edges(energy) -> int:
    """In-grid edges of the whole batch."""
    _, height, width = energy.unary.shape
    return energy.batch_size * int(valid_edge_mask(height, width, energy.connectivity).sum())


def _picture_case(label: str, energy, solvers: dict, repeats: int) -> dict:
    """Time ``solvers`` on ``energy`` after asserting equal optimal energies."""
    masks = {name: fn(energy) for name, fn in solvers.items()}
    _check_equal_energy(energy, masks)
    seconds = _interleaved_medians({n: (lambda f=f: f(energy)) for n, f in solvers.items()},
                                   repeats)
    edges = _edges(energy)
    return {"case": label, "shape": list(energy.unary.shape), "connectivity": energy.connectivity,
            "edges": edges, "seconds": seconds,
            "ns_per_edge": {n: s * 1e9 / edges for n, s in seconds.items()},
            "load": os.getloadavg()[0]}


def run_pictures(repeats: int, quick: bool = False) -> dict:
    """Issue 15's real-picture set: full pictures one thread each, 64 crops, 1024² threads
    (and two 1024² maps, one per thread: what two threads give on this machine)."""
    results = {"machine": f"{platform.processor() or platform.machine()}, "
                          f"{os.cpu_count()} cores",
               "date": str(date.today()), "repeats": repeats,
               "load_average_start": os.getloadavg(), "single": [], "batch": [], "threads": []}
    one = {"graphcut": _graphcut(1), "maxflow": _maxflow_loop}
    for name in PICTURES[:2] if quick else PICTURES:
        grey = grey_picture(name)[None]
        for conn in (4, 8):
            energy = picture_energy(grey, conn, seed=PICTURES.index(name))
            results["single"].append(_picture_case(name, energy, one, repeats))
    both = {"graphcut": _graphcut(1), "graphcut 2 threads": _graphcut(2),
            "maxflow": _maxflow_loop}
    for size in (28, 56):
        for conn in (4, 8):
            energy = picture_energy(picture_crops(64, size, seed=size), conn, seed=size)
            results["batch"].append(_picture_case(f"64 crops {size}²", energy, both, repeats))
    threads = {"graphcut": _graphcut(1), "graphcut 2 threads": _graphcut(2)}
    for conn in (4, 8):
        size = 256 if quick else 1024
        energy = image_like_energy(1, size, conn, seed=size + conn)
        results["threads"].append(_picture_case(f"{size}² blobs", energy, threads, repeats))
        # the machine's own ceiling: two such maps, one per thread (no seam, no join)
        energy = image_like_energy(2, size, conn, seed=size + conn)
        results["threads"].append(_picture_case(f"ceiling: 2 × {size}² blobs, a map per thread",
                                                energy, threads, repeats))
    results["load_average_end"] = os.getloadavg()
    return results


_RATIOS = (("maxflow", "graphcut"), ("maxflow", "graphcut 2 threads"),
           ("graphcut", "graphcut 2 threads"))


def render_pictures(results: dict) -> str:
    """Markdown tables of :func:`run_pictures` (ratios > 1: the second solver faster)."""
    lines = []
    for kind in ("single", "batch", "threads"):
        rows = results[kind]
        names = list(rows[0]["seconds"])
        pairs = [(n, m) for n, m in _RATIOS if n in names and m in names]
        lines.append(f"\n| {kind} | " + " | ".join(names) + " | "
                     + " | ".join(f"{n} / {m}" for n, m in pairs)
                     + " | ns/edge (" + ", ".join(names) + ") | load |")
        lines.append("|" + "---|" * (3 + len(names) + len(pairs)))
        for r in rows:
            secs = r["seconds"]
            shape = "×".join(str(s) for s in r["shape"])
            lines.append(f"| {r['case']} {shape} {r['connectivity']}-conn | "
                         + " | ".join(f"{secs[n] * 1e3:.1f} ms" for n in names) + " | "
                         + " | ".join(f"{secs[n] / secs[m]:.2f}x" for n, m in pairs) + " | "
                         + ", ".join(f"{r['ns_per_edge'][n]:.1f}" for n in names)
                         + f" | {r['load']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repeat")
    parser.add_argument("--pictures", action="store_true", help="issue 15's real-picture set")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.pictures:
        ersm.solve(image_like_energy(2, 8, 4), backend="graphcut")  # compile once
        ersm.solve(image_like_energy(2, 8, 8), backend="graphcut")
        results = run_pictures(1 if args.quick else args.repeats, args.quick)
        out = Path(args.out or HERE / "results" / "exact_pictures.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
        print(render_pictures(results))
        return
    args.out = args.out or str(HERE / "results" / "exact.json")
    repeats = 1 if args.quick else args.repeats
    batch_sizes = [14, 28] if args.quick else [14, 28, 56, 112]
    single_sizes = [128] if args.quick else [256, 512, 1024]
    workers = os.cpu_count() or 1
    ersm.solve(image_like_energy(2, 8, 4), backend="graphcut")  # compile once
    ersm.solve(image_like_energy(2, 8, 8), backend="graphcut")
    results = {"machine": f"{platform.processor() or platform.machine()}, {workers} cores",
               "python": platform.python_version(), "date": str(date.today()),
               "repeats": repeats, "batch": [], "single": [], "memory_mb": [],
               "load_average_start": os.getloadavg()}
    cases = [("batch", 64, s, c) for s in batch_sizes for c in (4, 8)]
    cases += [("single", 1, s, c) for s in single_sizes for c in (4, 8)]
    with ProcessPoolExecutor(workers) as pool:
        solvers = _solvers(pool, workers)
        _pymaxflow_pool(pool, *image_like_energy(workers, 8, 4).numpy(), workers)  # warm pool
        for kind, batch, size, conn in tqdm(cases, desc="exact bench"):
            energy = image_like_energy(batch, size, conn, seed=size + conn, quantum=QUANTUM)
            row = {"batch": batch, "size": size, "connectivity": conn}
            row.update(_case(energy, solvers, repeats))
            results[kind].append(row)
    for size in single_sizes:
        for conn in (4, 8):
            for backend in [b for b in ("graphcut", "maxflow", "gco") if b in ersm.solvers.available()]:
                results["memory_mb"].append({"backend": backend, "size": size, "connectivity": conn,
                                             "peak_rss_mb": _peak_rss_mb(backend, size, conn)})
    results["load_average_end"] = os.getloadavg()
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
        lines.append("|".join(["---"] * (2 * len(names))))
        for r in rows:
            secs = r["seconds"]
            base = secs["graphcut"]
            cells = [f"{v * 1e3:.1f} ms" if isinstance(v, float) else v for v in secs.values()]
            ratios = [f"{secs[n] / base:.2f}x" if isinstance(secs[n], float) else "n/a"
                      for n in names[1:]]
            lines.append(f"{r['batch']}x{r['size']}² {r['connectivity']}-conn | "
                         + " | ".join(cells) + " | " + " | ".join(ratios))
    if results["memory_mb"]:
        lines.append("\nmemory: peak RSS increase of the solver for one map (MB)\n")
        lines.append("map | " + " | ".join(sorted({m["backend"] for m in results["memory_mb"]})))
        by_case: dict = {}
        for m in results["memory_mb"]:
            by_case.setdefault((m["size"], m["connectivity"]), {})[m["backend"]] = m["peak_rss_mb"]
        for (size, conn), row in by_case.items():
            lines.append(f"{size}² {conn}-conn | " + " | ".join(f"{row[b]:.1f}" for b in sorted(row)))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
