"""Differentiable backends: forward/backward time, memory, and inverse-problem convergence.

For every backend, image-like energies (``bench/energies.py``) at B = 64 on 28×28 and
56×56 as float32 torch tensors requiring grad; loss ``Σ (q − target)²``:

* forward time: ``ersm.solve(...)``; backward time: ``loss.backward()`` (medians);
* memory, two numbers: ``saved`` = bytes of the distinct tensor storages autograd keeps
  for the backward pass (``torch.autograd.graph.saved_tensors_hooks``, deterministic,
  inputs included), and ``peak`` = peak
  resident-set-size growth during one forward + backward, sampled every 0.2 ms from
  ``/proc/self/statm`` by a thread (CPU) or ``torch.cuda.max_memory_allocated`` (CUDA);
  each case runs in a fresh subprocess, after a warm-up and ``malloc_trim``;
* the inverse problem of the tests (fit unaries from zeros so the mask is a 16×16
  disc): steps and seconds to IoU ≥ 0.95.

Writes ``bench/results/differentiable.json`` and prints markdown tables. Usage::

    python bench/bench_differentiable.py                 # full run
    python bench/bench_differentiable.py --quick         # 28x28 only, 1 repeat
    python bench/bench_differentiable.py --device cuda   # GPU (skipped without one)
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import ersm  # noqa: E402
from energies import image_like_energy  # noqa: E402
from ersm.solvers.differentiable.inverse import fit_unaries  # noqa: E402

HERE = Path(__file__).parent
BATCH = 64
CASES: dict[str, tuple[str, dict]] = {  # label -> (backend, options)
    "graphcut (no grad)": ("graphcut", {}),
    "meanfield unrolled (torch autograd), 50 it": ("meanfield", {"iters": 50, "tol": 0.0,
                                                                 "impl": "torch"}),
    "meanfield unrolled (Numba backward), 50 it": ("meanfield", {"iters": 50, "tol": 0.0,
                                                                 "impl": "numba"}),
    "meanfield_implicit, 50 it": ("meanfield_implicit", {"iters": 50, "tol": 0.0}),
    "ste sigmoid": ("ste", {}),
    "ste meanfield": ("ste", {"surrogate": "meanfield"}),
    "perturbed S=8": ("perturbed", {"samples": 8, "seed": 0}),
    "tv, 200 it": ("tv", {"iters": 200}),
}
INVERSE: dict[str, tuple[str, dict, float]] = {  # label -> (backend, options, Adam lr)
    "meanfield unrolled": ("meanfield", {"iters": 30}, 0.2),
    "meanfield_implicit": ("meanfield_implicit", {}, 0.2),
    "ste sigmoid": ("ste", {}, 0.2),
    "ste meanfield": ("ste", {"surrogate": "meanfield"}, 0.05),
    "perturbed S=8": ("perturbed", {"seed": 0}, 0.2),
    "tv (smoothing 2, 100 it)": ("tv", {"iters": 100, "smoothing": 2.0}, 0.3),
    "tv (default: smoothing 0.1, 200 it)": ("tv", {}, 0.3),
}


# -- one case, in its own process ------------------------------------------------------
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakRss:
    """Samples the resident set size in a thread while the ``with`` block runs."""

    def __enter__(self) -> "_PeakRss":
        self.base = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.0002)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _inputs(size: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    energy = image_like_energy(BATCH, size, seed=size)
    unary, pairwise = (torch.from_numpy(a).float().to(device) for a in energy.numpy())
    target = torch.from_numpy(ersm.solve(energy).mask).float().to(device)
    return unary, pairwise, target


def _step(backend: str, options: dict, unary, pairwise, target) -> tuple[float, float]:
    """One forward + backward; returns their times (s)."""
    u, p = unary.detach().requires_grad_(), pairwise.detach().requires_grad_()
    sync = torch.cuda.synchronize if u.is_cuda else (lambda: None)
    t0 = time.perf_counter()
    q = ersm.solve(ersm.GridEnergy(u, p), backend=backend, **options).q
    sync()
    t1 = time.perf_counter()
    if q is not None and q.requires_grad:
        ((q - target) ** 2).sum().backward()
    sync()
    return t1 - t0, time.perf_counter() - t1


def _saved_bytes(backend: str, options: dict, unary, pairwise) -> int:
    """Bytes of the distinct storages autograd keeps for backward (inputs included)."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    u, p = unary.detach().requires_grad_(), pairwise.detach().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        ersm.solve(ersm.GridEnergy(u, p), backend=backend, **options)
    return sum(storages.values())


def run_case(label: str, size: int, device: str, repeats: int) -> dict:
    backend, options = CASES[label]
    unary, pairwise, target = _inputs(size, device)
    _step(backend, options, unary, pairwise, target)  # warm-up: JIT, caches
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        _step(backend, options, unary, pairwise, target)
        peak = torch.cuda.max_memory_allocated() - base
    else:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with _PeakRss() as rss:
            _step(backend, options, unary, pairwise, target)
        peak = rss.peak - rss.base
    times = [_step(backend, options, unary, pairwise, target) for _ in range(repeats)]
    return {
        "label": label, "backend": backend, "options": options, "size": size,
        "batch": BATCH, "device": device,
        "forward_s": statistics.median(t[0] for t in times),
        "backward_s": statistics.median(t[1] for t in times),
        "forward_min_s": min(t[0] for t in times),
        "backward_min_s": min(t[1] for t in times),
        "peak_mib": peak / 2**20,
        "saved_mib": _saved_bytes(backend, options, unary, pairwise) / 2**20,
    }


def _in_subprocess(label: str, size: int, device: str, repeats: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--case", label, str(size), "--device", device,
           "--repeats", str(repeats), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- inverse problem -------------------------------------------------------------------
def _disc(size: int = 16, radius: float = 5.0) -> torch.Tensor:
    y, x = np.mgrid[:size, :size]
    c = (size - 1) / 2
    return torch.from_numpy((y - c) ** 2 + (x - c) ** 2 <= radius**2)[None]


def inverse_table(budget: int) -> list[dict]:
    pairwise = torch.from_numpy(ersm.constant_weights(16, 16, 0.5, batch_size=1))
    rows = []
    for label, (backend, options, lr) in INVERSE.items():
        t0 = time.perf_counter()
        fit = fit_unaries(_disc(), pairwise, backend, lr=lr, budget=budget, **options)
        rows.append({"label": label, "backend": backend, "options": options, "lr": lr,
                     "steps_to_iou_0.95": fit.steps, "final_iou": fit.iou,
                     "seconds": time.perf_counter() - t0})
    return rows


# -- report ----------------------------------------------------------------------------
def _markdown(cases: list[dict], inverse: list[dict]) -> str:
    lines = ["| backend | size | forward ms, median (min) | backward ms, median (min) "
             "| peak MiB | saved MiB |", "|---|---|---:|---:|---:|---:|"]
    for c in cases:
        lines.append(f"| {c['label']} | {c['batch']}×{c['size']}² "
                     f"| {c['forward_s'] * 1e3:.1f} ({c['forward_min_s'] * 1e3:.1f}) "
                     f"| {c['backward_s'] * 1e3:.1f} ({c['backward_min_s'] * 1e3:.1f}) "
                     f"| {c['peak_mib']:.1f} | {c['saved_mib']:.1f} |")
    lines += ["", "| inverse problem (16×16 disc) | Adam lr | steps to IoU ≥ 0.95 | final IoU "
              "| seconds |", "|---|---:|---:|---:|---:|"]
    for r in inverse:
        steps = r["steps_to_iou_0.95"] if r["steps_to_iou_0.95"] is not None else "not reached"
        lines.append(f"| {r['label']} | {r['lr']} | {steps} | {r['final_iou']:.3f} | "
                     f"{r['seconds']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="28x28 only, 1 repeat")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--budget", type=int, default=200, help="inverse-problem steps")
    parser.add_argument("--case", nargs=2, metavar=("LABEL", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.device, args.repeats)))
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: GPU benchmark skipped")
        return
    sizes, repeats = ([28], 1) if args.quick else ([28, 56], args.repeats)
    cases = [_in_subprocess(label, size, args.device, repeats, args.threads)
             for size in sizes for label in CASES]
    inverse = inverse_table(args.budget)
    report = {
        "date": str(date.today()), "machine": platform.platform(),
        "cpu_count": os.cpu_count(), "torch_threads": args.threads,
        "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)),
        "torch": torch.__version__, "device": args.device, "repeats": repeats,
        "memory": "peak = sampled RSS growth (CPU) or max_memory_allocated (CUDA); "
                  "saved = distinct storages kept by autograd for backward (saved_tensors_hooks)",
        "cases": cases, "inverse_problem": inverse,
    }
    if not args.quick:
        out = HERE / "results" / "differentiable.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=1))
    print(_markdown(cases, inverse))


if __name__ == "__main__":
    main()
