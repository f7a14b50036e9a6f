"""Energy of a keep-mask (``mask_energy_numpy``, what ``ersm.solve`` reports) on 1 and 2
threads: random masks, medians of repeats, ns per term (tokens plus edges). Usage::

    python bench/bench_energy_sum.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from ersm.core.parallel import set_num_threads
from ersm.energy.potts_sum import mask_energy_numpy

SHAPES = ((1, 1024, 1024, 2), (1, 512, 512, 4), (64, 28, 28, 2), (64, 56, 56, 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"load {os.getloadavg()[0]:.2f}")
    print("| B×H×W, K | 1 thread | 2 threads | ns / term (1 thread) |\n|---|---|---|---|")
    for B, H, W, K in SHAPES:
        unary, pairwise = rng.normal(size=(B, H, W)), rng.random((B, K, H, W))
        mask = rng.random((B, H, W)) < 0.5
        ms = []
        for threads in (1, 2):
            set_num_threads(threads)
            mask_energy_numpy(unary, pairwise, mask)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                mask_energy_numpy(unary, pairwise, mask)
                times.append(time.perf_counter() - t0)
            ms.append(statistics.median(times) * 1e3)
        set_num_threads(None)
        terms = B * H * W * (1 + K)
        print(f"| {B}×{H}×{W}, {K} | {ms[0]:.2f} ms | {ms[1]:.2f} ms | {ms[0] * 1e6 / terms:.2f} |")


if __name__ == "__main__":
    main()
