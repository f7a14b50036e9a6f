"""Keep-cost path (``ersm.solve_path``) time ÷ one graph cut, on real-picture energies.

Energies: scikit-image sample pictures (camera, coins, moon, text, page, astronaut,
coffee, chelsea; grey, random crops resized to the grid), unary ``θ = −2·(I − Otsu(I))``
plus Gaussian noise, contrast weights. The path is checked before timing: its mask at
λ = 0 has the energy of the graph cut. Reports medians of repeats, breakpoints and cuts
per sample, the total size of the contracted cuts (padded boxes and tokens) and how many
of those tokens were in cuts that only confirmed a breakpoint (where the time goes), and
on one thread the floor: only the confirming cuts, the exact answer given
(``bench/path_floor.py``), ÷ one cut.
Usage::

    python bench/bench_path.py            # full run, writes bench/results/path.json
    python bench/bench_path.py --quick    # small sizes, few repeats (smoke)
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
from ersm.core.parallel import set_num_threads  # noqa: E402
from ersm.solvers.path.kernel import path_thresholds_batch  # noqa: E402
from path_floor import confirm_only, confirm_only_state  # noqa: E402

HERE = Path(__file__).parent
PICTURES = ("camera", "coins", "moon", "text", "page", "astronaut", "coffee", "chelsea")


def _pictures() -> list[np.ndarray]:
    from skimage import color, data

    out = []
    for name in PICTURES:
        img = getattr(data, name)()
        if img.ndim == 3:
            img = color.rgb2gray(img[..., :3])
        out.append(np.asarray(img, dtype=np.float64) / (255.0 if img.max() > 1 else 1.0))
    return out


def picture_energy(batch: int, size: int, connectivity: int, seed: int = 0,
                   noise: float = 0.3, gamma: float = 0.5) -> ersm.GridEnergy:
    """``batch`` picture crops of ``size × size``: Otsu-centred unaries, contrast weights."""
    from skimage.filters import threshold_otsu
    from skimage.transform import resize

    rng = np.random.default_rng(seed)
    pictures = _pictures()
    images = np.empty((batch, size, size))
    for b in range(batch):
        pic = pictures[b % len(pictures)]
        h, w = pic.shape
        side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = pic[y:y + side, x:x + side]
        images[b] = resize(crop, (size, size), anti_aliasing=True)
    unary = np.stack([-2.0 * (im - threshold_otsu(im)) for im in images])
    unary += noise * rng.normal(size=unary.shape)
    pairwise = ersm.contrast_weights(images[:, None], gamma=gamma, connectivity=connectivity)
    return ersm.GridEnergy(unary, pairwise, connectivity)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_case(batch: int, size: int, connectivity: int, repeats: int) -> dict:
    energy = picture_energy(batch, size, connectivity)
    unary, pairwise = energy.numpy()
    cut = ersm.solve(energy)
    path = ersm.solve_path(energy)
    got = energy.energy(path.mask_at(0.0))
    scale = np.abs(unary).sum((1, 2)) + pairwise.sum((1, 2, 3)) + 1.0
    if not np.all(np.abs(got - cut.energy) <= 1e-12 * scale):
        raise AssertionError(f"path mask at 0 is not optimal: {got - cut.energy}")
    t_cut = _median_time(lambda: ersm.solve(energy), repeats)
    t_path = _median_time(lambda: ersm.solve_path(energy), repeats)
    # the first subproblem is a full-grid cut at λ* = mean(−θ): the hardest λ
    lam0 = -unary.mean(axis=(1, 2))[:, None, None]
    t_first = _median_time(lambda: ersm.solve(ersm.GridEnergy(unary + lam0, pairwise)), repeats)
    # one thread: the path, our cut and the floor (only the confirming cuts, the exact
    # thresholds given: what certifying every plateau with one cut costs at least)
    states = [confirm_only_state(unary[b], pairwise[b], path.thresholds[b])
              for b in range(batch)]
    for b, state in enumerate(states):
        if not np.array_equal(confirm_only(state)[0], path.thresholds[b].ravel()):
            raise AssertionError("the confirming cuts do not reproduce the thresholds")
    set_num_threads(1)
    try:
        t_path_1 = _median_time(lambda: ersm.solve_path(energy), repeats)
        t_cut_1 = _median_time(lambda: ersm.solve(energy), repeats)
        t_floor_1 = _median_time(lambda: [confirm_only(state) for state in states], repeats)
    finally:
        set_num_threads(None)
    one_thread = {"path_1_thread_s": t_path_1, "cut_1_thread_s": t_cut_1,
                  "confirm_only_1_thread_s": t_floor_1,
                  "confirm_only_per_cut_1_thread": t_floor_1 / t_cut_1,
                  "path_per_confirm_only_1_thread": t_path_1 / t_floor_1}
    # the reference BK (Kolmogorov's code in PyMaxflow, one thread, as its users call it)
    # beside our path on one thread: the unit KBR 2007's "a handful of cuts" is counted in
    reference = {}
    if "maxflow" in ersm.solvers.available():
        t_ref = _median_time(lambda: ersm.solve(energy, backend="maxflow"), repeats)
        reference = {"pymaxflow_cut_s": t_ref,
                     "path_1_thread_per_pymaxflow_cut": t_path_1 / t_ref}
    _, stats = path_thresholds_batch(unary, pairwise)
    n = size * size
    bps = [len(b) for b in path.breakpoints]
    return {
        "batch": batch, "size": size, "connectivity": connectivity, "repeats": repeats,
        "cut_s": t_cut, "path_s": t_path, "ratio": t_path / t_cut,
        "first_cut_at_mean_s": t_first,
        "breakpoints_per_sample": float(np.mean(bps)),
        "cuts_per_sample": float(stats[:, 0].mean()),
        "cut_area_per_token": float(stats[:, 1].mean() / n),
        "cut_tokens_per_token": float(stats[:, 2].mean() / n),
        "confirm_tokens_per_token": float(stats[:, 3].mean() / n),
        **one_thread, **reference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "path.json")
    args = parser.parse_args()
    cases = [(64, 28, 4), (64, 28, 8), (64, 56, 4), (64, 56, 8), (1, 512, 4), (1, 512, 8)]
    if args.quick:
        cases = [(8, 28, 4), (8, 28, 8), (1, 96, 4)]
    warm = picture_energy(2, 16, 4)
    ersm.solve(warm), ersm.solve_path(warm)  # compile
    ersm.solve_path(picture_energy(2, 16, 8))
    rows = []
    for batch, size, conn in cases:
        repeats = 3 if args.quick else (5 if size < 512 else 3)
        row = run_case(batch, size, conn, repeats)
        rows.append(row)
        print(f"{batch}x{size}^2 {conn}-conn: cut {row['cut_s'] * 1e3:.1f} ms, path "
              f"{row['path_s'] * 1e3:.1f} ms, ratio {row['ratio']:.1f}x; "
              f"{row['breakpoints_per_sample']:.0f} breakpoints, "
              f"{row['cuts_per_sample']:.0f} cuts, cut area {row['cut_area_per_token']:.1f}n, "
              f"tokens cut {row['cut_tokens_per_token']:.2f}n "
              f"({row['confirm_tokens_per_token']:.2f}n in confirming cuts); "
              f"first cut at mean λ {row['first_cut_at_mean_s'] * 1e3:.1f} ms", flush=True)
        print(f"    one thread: floor (only the confirming cuts, answer given) "
              f"{row['confirm_only_1_thread_s'] * 1e3:.1f} ms = "
              f"{row['confirm_only_per_cut_1_thread']:.2f}x our cut "
              f"({row['cut_1_thread_s'] * 1e3:.1f} ms); path = "
              f"{row['path_per_confirm_only_1_thread']:.2f}x the floor", flush=True)
        if "pymaxflow_cut_s" in row:
            print(f"    one thread: path {row['path_1_thread_s'] * 1e3:.1f} ms ÷ PyMaxflow cut "
                  f"{row['pymaxflow_cut_s'] * 1e3:.1f} ms = "
                  f"{row['path_1_thread_per_pymaxflow_cut']:.2f}x", flush=True)
    meta = {
        "command": " ".join(["python", "bench/bench_path.py", *sys.argv[1:]]),
        "date": str(date.today()), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "threads": ersm.core.parallel.num_threads(),
        "load": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
