"""Old vs new BK kernel side by side in one process, by thread CPU time (issue 15).

Wall clocks on a shared machine are noisy; the CPU time of the calling thread is not
(much). A frozen copy of an older ``ersm/solvers/kernels/bk.py`` is imported under another
name next to the installed one; both solve the same energies (real pictures, 64 real
crops, 1024² blobs), masks are asserted identical, and the two run interleaved. Usage::

    git show e5b499e:ersm/solvers/kernels/bk.py > /tmp/bk_old.py
    NUMBA_NUM_THREADS=1 python bench/bench_kernel_ab.py /tmp/bk_old.py --repeats 7

Prints, per energy, the minimum and median CPU time of each kernel and old / new.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from energies import (PICTURES, grey_picture, image_like_energy, picture_crops,  # noqa: E402
                      picture_energy)
from ersm.solvers.kernels import bk as bk_new  # noqa: E402


def _load(path: str):
    """Import the kernel file ``path`` as a module named after the file (registered, so
    that Numba's cache next to the file finds it again in a later run; the name must
    not clash with an installed module)."""
    name = Path(path).stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _arrays(energy) -> tuple[np.ndarray, np.ndarray]:
    unary, pairwise = energy.numpy()
    return (np.ascontiguousarray(unary, dtype=np.float64),
            np.ascontiguousarray(pairwise, dtype=np.float64))


def energies(which: str):
    """``(label, unary (B,H,W), pairwise (B,K,H,W))`` of the chosen set."""
    if which in ("all", "pictures"):
        for name in PICTURES:
            grey = grey_picture(name)[None]
            for conn in (4, 8):
                yield f"{name} {conn}-conn", *_arrays(picture_energy(grey, conn))
    if which in ("all", "crops"):
        for size in (28, 56):
            crops = picture_crops(64, size)
            for conn in (4, 8):
                yield f"64 crops {size}² {conn}-conn", *_arrays(picture_energy(crops, conn))
    if which in ("all", "blobs"):
        for conn in (4, 8):
            yield f"1024² blobs {conn}-conn", *_arrays(image_like_energy(1, 1024, conn, seed=0))


def _cpu(fn, unary, pairwise) -> float:
    t0 = time.thread_time()
    fn(unary, pairwise)
    return time.thread_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="path of the old bk.py")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--set", default="all", choices=["all", "pictures", "crops", "blobs"])
    args = parser.parse_args()
    old = _load(args.old)
    print(f"load before {os.getloadavg()}")
    ratios = []
    for label, unary, pairwise in energies(args.set):
        want = old.grid_mincut_batch(unary, pairwise)
        assert np.array_equal(want, bk_new.grid_mincut_batch(unary, pairwise)), label
        t_old, t_new = [], []
        for _ in range(args.repeats):
            t_old.append(_cpu(old.grid_mincut_batch, unary, pairwise))
            t_new.append(_cpu(bk_new.grid_mincut_batch, unary, pairwise))
        ratio = min(t_old) / min(t_new)
        ratios.append(ratio)
        print(f"| {label} | {1e3 * min(t_old):.1f} / {1e3 * statistics.median(t_old):.1f} ms "
              f"| {1e3 * min(t_new):.1f} / {1e3 * statistics.median(t_new):.1f} ms "
              f"| {ratio:.3f} | {statistics.median(t_old) / statistics.median(t_new):.3f} |",
              flush=True)
    print(f"geometric mean old / new (min): {np.exp(np.mean(np.log(ratios))):.3f}; "
          f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
