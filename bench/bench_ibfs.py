"""IBFS vs BK vs PyMaxflow on issue 15's real pictures, by thread CPU time, one process.

Same energies as ``bench_exact.py --pictures`` (seeded per picture), float64 unrounded;
the IBFS and BK masks are asserted identical for every energy; the three solvers run
interleaved, ``repeats`` times each, and medians of the calling thread's CPU time are
compared (robust to the load of a shared machine). Usage::

    NUMBA_NUM_THREADS=1 python bench/bench_ibfs.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from energies import PICTURES, grey_picture, picture_energy  # noqa: E402
from ersm.solvers.backends.maxflow import pymaxflow_mincut_map  # noqa: E402
from ersm.solvers.kernels.bk import grid_mincut_batch  # noqa: E402
from ersm.solvers.kernels.ibfs import ibfs_mincut_batch  # noqa: E402

SOLVERS = {
    "bk": grid_mincut_batch,
    "ibfs": ibfs_mincut_batch,
    "maxflow": lambda u, p: pymaxflow_mincut_map(u[0], p[0]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pictures", default=",".join(PICTURES))
    args = parser.parse_args()
    print(f"load before {os.getloadavg()}")
    print("| picture | bk | ibfs | maxflow | bk / ibfs | maxflow / ibfs | maxflow / bk |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for name in args.pictures.split(","):
        grey = grey_picture(name)[None]
        for conn in (4, 8):
            unary, pairwise = (np.ascontiguousarray(a, dtype=np.float64) for a in
                               picture_energy(grey, conn, seed=PICTURES.index(name)).numpy())
            assert np.array_equal(SOLVERS["bk"](unary, pairwise),
                                  SOLVERS["ibfs"](unary, pairwise)), (name, conn)
            times: dict[str, list[float]] = {k: [] for k in SOLVERS}
            for _ in range(args.repeats):
                for key, solve in SOLVERS.items():
                    t0 = time.thread_time()
                    solve(unary, pairwise)
                    times[key].append(time.thread_time() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            ratios.append(med["bk"] / med["ibfs"])
            print(f"| {name} {conn}-conn | " + " | ".join(f"{1e3 * med[k]:.1f} ms" for k in SOLVERS)
                  + f" | {med['bk'] / med['ibfs']:.2f}x | {med['maxflow'] / med['ibfs']:.2f}x "
                  f"| {med['maxflow'] / med['bk']:.2f}x |", flush=True)
    print(f"bk / ibfs: median {statistics.median(ratios):.2f}x, min {min(ratios):.2f}x, "
          f"max {max(ratios):.2f}x; load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
