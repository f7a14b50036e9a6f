"""How far is rounded mean-field from the exact optimum? Energy gap and mask disagreement.

Two sets of energies, each solved exactly by ``graphcut``:

* ``random``: i.i.d. θ ~ N(0, 1), w ~ U(0, 1) on 28×28 grids;
* ``image``: 64×64 crops of scikit-image sample pictures (camera, coins, astronaut,
  chelsea, coffee). Ground truth = the picture thresholded at its Otsu level; unaries
  ``θ = −(2·GT − 1)·a + noise`` (a = 1, noise σ = 1.5: a quarter of the tokens point the
  wrong way), contrast-sensitive weights from the crop's colours (γ = 1.5).

For every schedule, temperature (0.05, 0.1, 0.25, 0.5, 1.0) and iteration count: relative
gap ``(E_meanfield − E*) / |E*|`` and Hamming disagreement with the exact mask, as median
and 90th percentile over the maps. Also draws ``bench/energy_vs_time.png`` (gap of the
summed energy of the image set vs ``ersm.solve`` wall time). Usage::

    python bench/bench_meanfield_gap.py          # writes bench/results/meanfield_gap.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402
from skimage.color import rgb2gray  # noqa: E402
from skimage.filters import threshold_otsu  # noqa: E402

import ersm  # noqa: E402
from ersm.testing import random_grid_energy  # noqa: E402

HERE = Path(__file__).parent
PICTURES = ("camera", "coins", "astronaut", "chelsea", "coffee")
TEMPERATURES = (0.05, 0.1, 0.25, 0.5, 1.0)
ITERS = (5, 10, 20, 50)
SCHEDULES = {"checkerboard": dict(schedule="checkerboard"),
             "parallel": dict(schedule="parallel"),
             "parallel, damping 0.5": dict(schedule="parallel", damping=0.5)}


def image_energies(crops_per_picture: int = 16, size: int = 64, noise: float = 1.5,
                   gamma: float = 1.5, seed: int = 0) -> ersm.GridEnergy:
    """Noisy-ground-truth segmentation energies from sample-picture crops (see module doc)."""
    rng = np.random.default_rng(seed)
    unaries, weights = [], []
    for name in PICTURES:
        picture = getattr(data, name)().astype(np.float64) / 255.0
        gray = rgb2gray(picture) if picture.ndim == 3 else picture
        truth = gray > threshold_otsu(gray)
        colour = picture if picture.ndim == 3 else picture[..., None]
        for _ in range(crops_per_picture):
            y = rng.integers(0, gray.shape[0] - size)
            x = rng.integers(0, gray.shape[1] - size)
            gt = truth[y:y + size, x:x + size]
            unaries.append(-(2.0 * gt - 1.0) + noise * rng.normal(size=gt.shape))
            crop = np.moveaxis(colour[y:y + size, x:x + size], -1, 0)
            weights.append(ersm.contrast_weights(crop, gamma=gamma))
    return ersm.GridEnergy(np.stack(unaries), np.stack(weights))


def random_energies() -> ersm.GridEnergy:
    return random_grid_energy(80, 28, 28, 4, seed=1, pairwise_scale=1.0)


def _percentiles(values: np.ndarray) -> dict[str, float]:
    return {"median": float(np.median(values)), "p90": float(np.percentile(values, 90))}


def gap_table(energy: ersm.GridEnergy, exact: ersm.SolveResult) -> list[dict]:
    """Gap and Hamming distribution for every schedule × temperature × iteration count."""
    rows = []
    scale = np.abs(exact.energy)
    for label, schedule in SCHEDULES.items():
        for temperature in TEMPERATURES:
            for iters in ITERS:
                got = ersm.solve(energy, backend="meanfield", iters=iters, tol=0.0,
                                 temperature=temperature, **schedule)
                gap = (got.energy - exact.energy) / scale
                hamming = 100 * (got.mask != exact.mask).mean(axis=(1, 2))
                rows.append({"schedule": label, "temperature": temperature, "iters": iters,
                             "relative_gap": _percentiles(gap),
                             "hamming_percent": _percentiles(hamming)})
    return rows


def _best_seconds(fn, repeats: int = 5) -> float:
    """Fastest of ``repeats`` calls after a warm-up (the machine may be shared)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(min(times))


def energy_vs_time(energy: ersm.GridEnergy, path: Path, temperatures=(0.25, 1.0),
                   iters=(1, 2, 3, 5, 7, 10, 15, 20, 30, 50)) -> dict:
    """Gap of the summed energy vs ``ersm.solve`` wall time (fastest of 5, end to end:
    validation, energy and free-energy evaluation included): exact cut as a vertical
    line, mean-field per schedule and temperature as one point per iteration count."""
    exact_s = _best_seconds(lambda: ersm.solve(energy, backend="graphcut"))
    exact_e = float(ersm.solve(energy, backend="graphcut").energy.sum())
    curves = {}
    for label, schedule in SCHEDULES.items():
        for temperature in temperatures:
            points = []
            for k in iters:
                def run(k=k):
                    return ersm.solve(energy, backend="meanfield", iters=k, tol=0.0,
                                      temperature=temperature, **schedule)
                gap = (float(run().energy.sum()) - exact_e) / abs(exact_e)
                points.append((k, _best_seconds(run), gap))
            curves[f"{label}, T={temperature}"] = points
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, points in curves.items():
        _, seconds, gaps = zip(*points)
        ax.plot(np.array(seconds) * 1e3, 100 * np.maximum(gaps, 1e-4), marker=".", lw=1,
                label=f"mean-field {name}")
    ax.axvline(exact_s * 1e3, color="k", ls="--", lw=1, label="exact graph cut (gap 0)")
    ax.set(xscale="log", yscale="log", xlabel="ersm.solve wall time for the batch (ms)",
           ylabel="energy gap to the optimum (%, summed)",
           title=f"{energy.batch_size} image-derived energies, {energy.height}x{energy.width}"
                 f", 1 to {max(iters)} iterations")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    return {"exact_seconds": exact_s, "exact_energy": exact_e,
            "curves": {k: [dict(iters=i, seconds=s, gap=g) for i, s, g in v]
                       for k, v in curves.items()}}


def render_markdown(results: dict) -> str:
    lines = []
    for name, rows in results["gap"].items():
        lines += [f"\n{name} ({results['sizes'][name]}) | T | iters | gap median | gap p90 | "
                  "Hamming % median | p90", "---|---|---|---|---|---|---"]
        for r in rows:
            g, h = r["relative_gap"], r["hamming_percent"]
            lines.append(f"{r['schedule']} | {r['temperature']} | {r['iters']} | "
                         f"{100 * g['median']:.2f}% | {100 * g['p90']:.2f}% | "
                         f"{h['median']:.2f} | {h['p90']:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "results" / "meanfield_gap.json"))
    parser.add_argument("--png", default=str(HERE / "energy_vs_time.png"))
    args = parser.parse_args()
    sets = {"image": image_energies(), "random": random_energies()}
    results = {"sizes": {k: f"{e.batch_size} maps {e.height}x{e.width}" for k, e in sets.items()},
               "gap": {}}
    for name, energy in sets.items():
        exact = ersm.solve(energy, backend="graphcut")
        results["gap"][name] = gap_table(energy, exact)
    results["energy_vs_time"] = energy_vs_time(sets["image"], Path(args.png))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(render_markdown(results))


if __name__ == "__main__":
    main()
