"""Forward cost of the exact-forward differentiable backends at the solver boundary.

Times ``ersm.solve(GridEnergy(u, w), backend=b)`` for ``ste`` and ``perturbed`` (and
``graphcut`` as the floor) on CPU torch tensors that require grad, the call the MRF layer
makes on every forward: batch 8, 14×14 tokens, 8-connected cosine-like weights. The mask
is checked against ``graphcut`` before timing. Usage::

    python bench/bench_native_forward.py [--repeats 200] [--dtype float32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ersm  # noqa: E402
from ersm.energy.offsets import valid_edge_mask  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--backends", nargs="+", default=["graphcut", "ste", "perturbed"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtype = getattr(torch, args.dtype)
    rng = np.random.default_rng(0)
    unary = torch.tensor(rng.normal(0, 1, (8, 14, 14)), dtype=dtype, requires_grad=True)
    pairwise = torch.tensor(rng.uniform(0, 0.5, (8, 4, 14, 14)), dtype=dtype)
    pairwise = pairwise * torch.from_numpy(valid_edge_mask(14, 14, 8)).to(dtype)
    reference = ersm.solve(ersm.GridEnergy(unary.detach(), pairwise)).mask
    timings: dict[str, list[float]] = {b: [] for b in args.backends}
    for backend in args.backends:  # warm-up (Numba compile) and check
        got = ersm.solve(ersm.GridEnergy(unary, pairwise), backend=backend).mask
        assert torch.equal(got, reference), backend
    for _ in range(args.repeats):
        for backend in args.backends:
            start = time.perf_counter()
            ersm.solve(ersm.GridEnergy(unary, pairwise), backend=backend)
            timings[backend].append(time.perf_counter() - start)
    for backend, values in timings.items():
        print(f"{backend:10s} forward median {1e6 * statistics.median(values):8.1f} us")


if __name__ == "__main__":
    main()
