"""``ersm solve`` on many small files: ``--workers 2`` against ``--workers 1`` (whole process).

Writes N random 4-connected energies of S² (``ersm.testing.random_grid_energy``) once, then
runs ``python -m ersm solve DIR -o OUT -q --workers W`` in turn for W = 1 and 2 (A B A B …,
fresh OUT each time, so every file is solved), and prints the wall-time medians, the
median of the pairwise ratios, the CPU time (user + sys) of each setting and the load
average before and after, and, as a yardstick of the parallelism the machine gives this
process at the time, the speed-up of a pure-Python busy loop on 2 processes over 1 (measured
before each pair; on a shared machine with autogroup scheduling, ``/proc/sys/kernel/
sched_autogroup_enabled``, a session's processes share one group's CPU, so that number can
be ~1x when another session saturates the cores). Local pools fork warm workers on Linux; ``ERSM_START_METHOD=spawn``
(or ``forkserver``) measures the other start methods. Target (issue 14.10): workers 2 ≥ 1.2× faster than 1 on
2000 files of 28² on 2 cores. Usage::

    python bench/bench_solve_files.py                 # 2000 files of 28², 3 pairs
    python bench/bench_solve_files.py --n 200 --repeats 1   # smoke
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from ersm.io import save_energy
from ersm.testing import random_grid_energy


def write_inputs(directory: Path, n: int, size: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        save_energy(directory / f"e{i:05d}.npz",
                    random_grid_energy(batch=1, height=size, width=size, seed=i))


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def spin_speedup(n: int = 5_000_000) -> float:
    """Wall time of two busy loops in this process ÷ the same two on 2 processes."""
    from concurrent.futures import ProcessPoolExecutor

    start = time.perf_counter()
    _spin(n), _spin(n)
    serial = time.perf_counter() - start
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, [1, 1]))  # started
        start = time.perf_counter()
        list(pool.map(_spin, [n, n]))
        return serial / (time.perf_counter() - start)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(inputs: Path, out: Path, workers: int, backend: str) -> tuple[float, float]:
    """``(wall s, CPU s)`` of one whole ``ersm solve`` process (its workers included)."""
    shutil.rmtree(out, ignore_errors=True)
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "ersm", "solve", str(inputs), "-o", str(out), "-q",
                    "--workers", str(workers), "--backend", backend], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="graphcut")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-solve-"))
    try:
        write_inputs(root / "in", args.n, args.size)
        run_once(root / "in", root / "warm", 1, args.backend)  # Numba cache warm
        load_before = os.getloadavg()
        times: dict[int, list[float]] = {1: [], 2: []}
        cpu: dict[int, list[float]] = {1: [], 2: []}
        spins = []
        for _ in range(args.repeats):
            spins.append(spin_speedup())
            for workers in (1, 2):
                wall, used = run_once(root / "in", root / f"out{workers}", workers, args.backend)
                times[workers].append(wall)
                cpu[workers].append(used)
        ratios = [a / b for a, b in zip(times[1], times[2])]
        print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs, load (1/5/15 min) before "
              f"{' '.join(f'{x:.1f}' for x in load_before)}, after "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"{args.n} files of {args.size}², backend {args.backend}, {args.repeats} pairs, "
              f"start method {os.environ.get('ERSM_START_METHOD') or 'default'}")
        for workers, values in times.items():
            print(f"--workers {workers}: median {statistics.median(values):.2f} s "
                  f"({', '.join(f'{v:.2f}' for v in values)}), CPU median "
                  f"{statistics.median(cpu[workers]):.2f} s")
        print(f"speed-up workers 2 / 1: median {statistics.median(ratios):.2f}x "
              f"({', '.join(f'{r:.2f}' for r in ratios)}); busy-loop yardstick 2 / 1: median "
              f"{statistics.median(spins):.2f}x ({', '.join(f'{r:.2f}' for r in spins)})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
