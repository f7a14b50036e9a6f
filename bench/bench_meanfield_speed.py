"""Mean-field speed: Numba vs NumPy vs torch CPU on the same work (and CuPy on a GPU).

Every implementation runs the same sweeps (``tol=0``) on the same energies; results are
checked against the NumPy reference before timing. Reports medians of repeats (wall
clock and process CPU time — this machine is shared, so CPU time is the steadier one)
with 1 and 2 threads, ratios to torch, a dense-CRF reference point when ``pydensecrf``
(``pip install pydensecrf2``) is importable, and — only with a usable GPU and cupy —
the CuPy kernels against torch CUDA and the exact CPU cut, with their effective memory
bandwidth. Usage::

    python bench/bench_meanfield_speed.py            # writes bench/results/meanfield_speed.json
    python bench/bench_meanfield_speed.py --quick    # few repeats (smoke)
    python bench/bench_meanfield_speed.py --gpu-only # a device machine: only the GPU table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numba
import numpy as np
import torch

import ersm
from ersm.solvers.kernels.meanfield._common import check_options
from ersm.solvers.kernels.meanfield.cupy_kernel import FUSED_MAX_TOKENS, cupy_available
from ersm.solvers.kernels.meanfield.numba_kernel import meanfield_numba
from ersm.solvers.kernels.meanfield.numpy_reference import meanfield_numpy
from ersm.solvers.kernels.meanfield.torch_impl import meanfield_torch
from ersm.testing import random_grid_energy

HERE = Path(__file__).parent
IMPLS = ("numba", "torch", "numpy")


def _timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Median wall and CPU seconds of ``repeats`` calls (after one warm-up call)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {"wall_s": statistics.median(wall), "cpu_s": statistics.median(cpu),
            "wall_min_s": min(wall)}


def _runners(unary: np.ndarray, pairwise: np.ndarray, options) -> dict[str, Callable[[], Any]]:
    q0 = np.full(unary.shape, 0.5, unary.dtype)
    tu, tp, tq = (torch.from_numpy(a) for a in (unary, pairwise, q0))

    def run_torch() -> np.ndarray:
        with torch.no_grad():
            return meanfield_torch(tu, tp, tq, options)[0].numpy()

    return {"numba": lambda: meanfield_numba(unary, pairwise, q0, options)[0],
            "torch": run_torch,
            "numpy": lambda: meanfield_numpy(unary, pairwise, q0, options)[0]}


def cpu_case(batch: int, size: int, connectivity: int, dtype: type, schedule: str,
             iters: int, repeats: int, threads: int) -> dict:
    """Time every CPU implementation on one workload with ``threads`` threads."""
    os.environ["ERSM_NUM_THREADS"] = str(threads)  # ersm's batch thread pool (not Numba's)
    torch.set_num_threads(threads)
    unary, pairwise = (a.astype(dtype) for a in
                       random_grid_energy(batch, size, size, connectivity, seed=size).numpy())
    options = check_options(iters, 1.0, 1.0, 0.0, schedule)
    runners = _runners(unary, pairwise, options)
    want = runners["numpy"]()
    tol = 1e-5 if dtype == np.float32 else 1e-10
    for name in ("numba", "torch"):
        np.testing.assert_allclose(runners[name](), want, atol=tol, err_msg=name)
    times = {name: _timed(runners[name], repeats if name != "numpy" else max(1, repeats // 3))
             for name in IMPLS}
    updates = batch * size * size * iters
    return {"batch": batch, "size": size, "connectivity": connectivity,
            "dtype": np.dtype(dtype).name, "schedule": schedule, "iters": iters,
            "threads": threads, "times": times,
            "ns_per_token_update_cpu": {n: t["cpu_s"] / updates * 1e9 for n, t in times.items()},
            "numba_speedup_vs_torch": {k: times["torch"][k] / times["numba"][k]
                                       for k in ("wall_s", "cpu_s")}}


def densecrf_case(batch: int, size: int, iters: int, repeats: int) -> dict | None:
    """Seconds per iteration of pydensecrf (a *dense* CRF, permutohedral filtering) on the
    same number of maps and tokens, single-threaded; None if it is not installed."""
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    unaries = rng.uniform(0.1, 2.0, (batch, 2, size * size)).astype(np.float32)
    image = (rng.uniform(0, 255, (size, size, 3))).astype(np.uint8)

    def run() -> None:
        for u in unaries:
            crf = dcrf.DenseCRF2D(size, size, 2)
            crf.setUnaryEnergy(np.ascontiguousarray(u))
            crf.addPairwiseGaussian(sxy=3, compat=3)
            crf.addPairwiseBilateral(sxy=20, srgb=13, rgbim=image, compat=5)
            crf.inference(iters)

    times = _timed(run, repeats)
    return {"batch": batch, "size": size, "iters": iters, "times": times,
            "s_per_iteration_cpu": times["cpu_s"] / iters}


GPU_CASES = ((4096, 28), (256, 112), (8, 1024))


def _gpu_timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of ``repeats`` synchronised calls (after one warm-up call)."""
    import cupy

    fn()
    cupy.cuda.Device().synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        cupy.cuda.Device().synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gpu_cases(repeats: int, iters: int = 30) -> list[dict]:
    """CuPy kernels vs torch CUDA (same sweeps) vs the exact CPU graph cut, and the CuPy
    kernels' effective bandwidth; ``[]`` without cupy and a GPU.

    ``per_sweep_gb_s``: the bytes a sweep must move if every sweep went through global
    memory (θ, K weights, q read and written) times the sweeps, over the time. The fused
    and tiled kernels touch global memory less often, so this *effective* figure may
    exceed the peak; ``compulsory_gb_s`` counts every array once per call.
    """
    if not cupy_available():
        return []
    import cupy
    import torch

    from ersm.solvers.kernels.meanfield.cupy_kernel import meanfield_cupy, plan_tiles
    from ersm.solvers.kernels.meanfield.torch_impl import meanfield_torch

    attrs = cupy.cuda.Device().attributes
    peak = 2 * attrs["MemoryClockRate"] * 1e3 * attrs["GlobalMemoryBusWidth"] / 8
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    rows = []
    for batch, size in GPU_CASES:
        energy = random_grid_energy(batch, size, size, 4, seed=1)
        exact_s = _timed(lambda: ersm.solve(energy, backend="graphcut"), 1)["wall_s"]
        for dtype in (np.float32, np.float64):
            for schedule in ("parallel", "checkerboard"):
                u, p = (cupy.asarray(a.astype(dtype)) for a in energy.numpy())
                q0 = cupy.full(u.shape, 0.5, dtype)
                tu, tp, tq = (torch.from_dlpack(a) for a in (u, p, q0))
                options = check_options(iters, 1.0, 1.0, 0.0, schedule)

                def run_cupy() -> Any:
                    return meanfield_cupy(u, p, q0, options)[0]

                def run_torch() -> Any:
                    with torch.no_grad():
                        return meanfield_torch(tu, tp, tq, options)[0]

                np.testing.assert_allclose(cupy.asnumpy(run_cupy()), run_torch().cpu().numpy(),
                                           atol=1e-4 if dtype == np.float32 else 1e-10)
                cupy_s, torch_s = _gpu_timed(run_cupy, repeats), _gpu_timed(run_torch, repeats)
                item, tokens = np.dtype(dtype).itemsize, batch * size * size
                per_sweep = tokens * item * (1 + 2 + 2) * iters
                path = ("fused" if size * size <= FUSED_MAX_TOKENS else
                        str(plan_tiles(2, item, schedule)))
                rows.append({"device": name, "batch": batch, "size": size,
                             "dtype": np.dtype(dtype).name, "schedule": schedule,
                             "iters": iters, "path": path, "cupy_s": cupy_s, "torch_s": torch_s,
                             "exact_cpu_s": exact_s, "cupy_vs_torch": torch_s / cupy_s,
                             "cupy_vs_exact_cpu": exact_s / cupy_s,
                             "compulsory_gb_s": tokens * item * 5 / cupy_s / 1e9,
                             "per_sweep_gb_s": per_sweep / cupy_s / 1e9, "peak_gb_s": peak / 1e9,
                             "per_sweep_fraction_of_peak": per_sweep / cupy_s / peak})
                print(rows[-1])
    return rows


def render_markdown(results: dict) -> str:
    """Markdown tables for bench/RESULTS.md."""
    lines = [f"machine: {results['machine']}; load average at start "
             f"{results['load_average']}", "",
             "workload | threads | numba | torch | numpy | torch/numba (cpu) | torch/numba (wall)",
             "---|---|---|---|---|---|---"]
    for r in results["cpu"]:
        t = r["times"]
        cells = [f"{t[n]['cpu_s'] * 1e3:.1f} ms" for n in IMPLS]
        lines.append(f"{r['batch']}x{r['size']}² {r['connectivity']}-conn {r['dtype']} "
                     f"{r['schedule']} x{r['iters']} | {r['threads']} | " + " | ".join(cells)
                     + f" | {r['numba_speedup_vs_torch']['cpu_s']:.2f}x"
                     + f" | {r['numba_speedup_vs_torch']['wall_s']:.2f}x")
    if results["densecrf"]:
        d = results["densecrf"]
        lines.append(f"\npydensecrf (dense CRF, not the same model): "
                     f"{d['s_per_iteration_cpu'] * 1e3:.2f} ms per iteration for "
                     f"{d['batch']}x{d['size']}², 1 thread (amortised over {d['iters']} "
                     "iterations, per-map setup included)")
    if results["gpu"]:
        lines += ["", f"GPU: {results['gpu'][0]['device']}, peak "
                  f"{results['gpu'][0]['peak_gb_s']:.0f} GB/s, 4-conn, "
                  f"{results['gpu'][0]['iters']} sweeps", "",
                  "workload | path | cupy | torch CUDA | cupy/torch | exact CPU / cupy | "
                  "effective GB/s (% of peak)", "---|---|---|---|---|---|---"]
    for g in results["gpu"]:
        lines.append(f"{g['batch']}x{g['size']}² {g['dtype']} {g['schedule']} | {g['path']} | "
                     f"{g['cupy_s'] * 1e3:.2f} ms | {g['torch_s'] * 1e3:.2f} ms | "
                     f"{g['cupy_vs_torch']:.1f}x | {g['cupy_vs_exact_cpu']:.0f}x | "
                     f"{g['per_sweep_gb_s']:.0f} ({100 * g['per_sweep_fraction_of_peak']:.0f}%)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU tables")
    parser.add_argument("--out", default=str(HERE / "results" / "meanfield_speed.json"))
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    cores = os.cpu_count() or 1
    results = {"machine": f"{platform.processor() or platform.machine()}, {cores} cores",
               "python": platform.python_version(), "numba": numba.__version__,
               "torch": torch.__version__, "date": str(date.today()),
               "load_average": [round(x, 2) for x in os.getloadavg()], "repeats": repeats,
               "cpu": [], "densecrf": None, "gpu": []}
    for threads in [] if args.gpu_only else sorted({1, min(2, cores)}):
        for dtype in (np.float32, np.float64):
            for schedule in ("parallel", "checkerboard"):
                for connectivity in (4, 8):
                    results["cpu"].append(cpu_case(256, 28, connectivity, dtype, schedule, 30,
                                                   repeats, threads))
                    print(render_markdown({**results, "cpu": results["cpu"][-1:]}).splitlines()[-1])
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    if not args.gpu_only:
        results["densecrf"] = densecrf_case(256, 28, 30, max(1, repeats // 3))
    results["gpu"] = gpu_cases(repeats)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(render_markdown(results))


if __name__ == "__main__":
    main()
