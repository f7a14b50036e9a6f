"""Multi-label Potts: ``ersm.solve(potts)`` (α-expansion on our BK cut) vs gco-wrapper.

Energies from real pictures (scikit-image ``astronaut``, ``chelsea``, ``coffee`` by
default; ``--pictures`` takes any ``skimage.data`` picture, grey ones as RGB) resized
to ``S × S``: unaries are squared colour distances to ``L`` k-means centres
(scikit-learn ``KMeans``, ``n_init=1``, seed 0) divided by their mean, pairwise weights
``ersm.contrast_weights(picture, gamma)`` (4-connectivity). Both are rounded to multiples
of ``2^-10`` so that GCO's power-of-two int32 scaling is lossless: both solvers minimise
the very same energy, and both labellings are scored by ``PottsEnergy.energy``.

The default ``schedule="adaptive"`` follows GCO's visiting order, so the plain labels
should be GCO's own (the summary counts them). Timed per energy, interleaved, median of
``--repeats``: *ours* = the whole
``ersm.solve(energy)`` call on one thread (validation, start labels, all moves, energy);
*gco* = the whole ``ersm.solve(energy, backend="gco")`` call and *gco core* = the part
spent inside GCO (graph set-up and ``expansion(-1)``, without the Python-side edge list).
The ratio is gco core / ours (the strictest one). ``--polish`` adds (default ``both``)
or selects the ``polish="fusion"`` option (columns ``fusion s``, ``core/fus``,
``E fus - E gco``). Usage::

    python bench/bench_potts.py                  # writes bench/results/potts.json
    python bench/bench_potts.py --polish none    # plain expansion only
    python bench/bench_potts.py --clock cpu      # thread CPU time (a shared machine)
    python bench/bench_potts.py --quick          # 128², 2 repeats (smoke)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np

import ersm
from ersm.core.parallel import set_num_threads

HERE = Path(__file__).parent
PICTURES = ("astronaut", "chelsea", "coffee")
STEP = 2.0**-10


def picture(name: str, size: int) -> np.ndarray:
    """``(size, size, 3)`` float64 RGB in ``[0, 1]`` (grey pictures as RGB, alpha dropped)."""
    from skimage import color, data, transform

    image = getattr(data, name)()
    image = color.gray2rgb(image) if image.ndim == 2 else image[..., :3]
    return transform.resize(image, (size, size), anti_aliasing=True).astype(np.float64)


def kmeans_unary(image: np.ndarray, labels: int, seed: int = 0) -> np.ndarray:
    """``(L, H, W)`` squared colour distance to each k-means centre, divided by the mean."""
    from sklearn.cluster import KMeans

    h, w, c = image.shape
    colours = image.reshape(-1, c)
    centres = KMeans(labels, n_init=1, random_state=seed).fit(colours).cluster_centers_
    dist = ((colours[:, None, :] - centres[None]) ** 2).sum(-1)
    return (dist / dist.mean()).T.reshape(labels, h, w)


def picture_energy(name: str, size: int, labels: int, gamma: float) -> ersm.PottsEnergy:
    """The benchmark energy of one picture (values on the ``2^-10`` grid)."""
    image = picture(name, size)
    unary = np.round(kmeans_unary(image, labels) / STEP) * STEP
    weights = ersm.contrast_weights(image, gamma=gamma, channels_last=True)
    return ersm.PottsEnergy(unary[None], (np.round(weights / STEP) * STEP)[None])


CLOCK = {"clock": time.perf_counter}
"""The clock of both sides: wall (default) or this thread's CPU time (``--clock cpu``)."""


def use_clock(name: str) -> None:
    """Time ours and GCO's core with ``time.perf_counter`` ("wall") or
    ``time.thread_time`` ("cpu": steadier on a shared machine; both solvers are
    single-threaded here)."""
    import types

    from ersm.solvers.backends import potts_gco

    clock = time.thread_time if name == "cpu" else time.perf_counter
    CLOCK["clock"] = clock
    potts_gco.time = types.SimpleNamespace(perf_counter=clock)  # GCO's core timer


def time_once(fn):
    clock = CLOCK["clock"]
    start = clock()
    out = fn()
    return clock() - start, out


def run_case(energy: ersm.PottsEnergy, repeats: int, polish: str = "both") -> dict:
    ours_t, gco_t, core_t, fusion_t = [], [], [], []
    ours = gco = fusion = None
    for _ in range(repeats):
        if polish != "fusion":
            t, ours = time_once(lambda: ersm.solve(energy))
            ours_t.append(t)
        if polish != "none":
            t, fusion = time_once(lambda: ersm.solve(energy, polish="fusion"))
            fusion_t.append(t)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a lossy gco scaling would be a different energy
            t, gco = time_once(lambda: ersm.solve(energy, backend="gco"))
        gco_t.append(t)
        core_t.append(float(gco.gco_seconds[0]))
    gco_s, core_s = statistics.median(gco_t), statistics.median(core_t)
    case = {"gco_s": gco_s, "gco_core_s": core_s, "energy_gco": float(gco.energy[0]),
            "load": os.getloadavg()[0]}
    for prefix, times, result in (("", ours_t, ours), ("fusion_", fusion_t, fusion)):
        if result is None:
            continue
        seconds = statistics.median(times)
        case.update({
            f"{prefix or 'ours_'}s": seconds, f"{prefix}ratio_core": core_s / seconds,
            f"{prefix}ratio_total": gco_s / seconds,
            f"{prefix}energy{'' if prefix else '_ours'}": float(result.energy[0]),
            f"{prefix}energy_gap": float(result.energy[0] - gco.energy[0]),
            f"{prefix}same_labels": bool(np.array_equal(result.labels, gco.labels)),
            f"{prefix}moves": int(result.moves[0]), f"{prefix}cycles": float(result.cycles[0]),
            f"{prefix}converged": bool(result.converged[0])})
    return case


def row(case: dict, width: int = 10) -> str:
    """One table line: the columns of whichever variants ran (picture names ``width`` wide)."""
    line = f"{case['picture']:<{width}} {case['size']:>4} {case['labels']:>2} "
    if "ours_s" in case:
        line += f"{case['ours_s']:>8.3f} "
    line += f"{case['gco_s']:>8.3f} {case['gco_core_s']:>8.3f} "
    if "ours_s" in case:
        line += f"{case['ratio_core']:>8.2f}x {case['energy_gap']:>15.4f} {case['moves']:>5} "
    if "fusion_s" in case:
        line += (f"{case['fusion_s']:>8.3f} {case['fusion_ratio_core']:>8.2f}x "
                 f"{case['fusion_energy_gap']:>14.4f}")
    return line


def summary(cases: list[dict], prefix: str, name: str) -> str:
    """How many cases meet the targets: energy <= gco's, gco core / ours >= 2."""
    gaps = [c[f"{prefix}energy_gap"] for c in cases]
    ratios = [c[f"{prefix}ratio_core"] for c in cases]
    lower = sum(g < 0 for g in gaps)
    equal = sum(g == 0 for g in gaps)
    same = sum(c[f"{prefix}same_labels"] for c in cases)
    return (f"{name}: energy lower/equal/higher than gco {lower}/{equal}/"
            f"{len(gaps) - lower - equal} (gco's very labels in {same}); >= 2x gco core in "
            f"{sum(r >= 2 for r in ratios)} of {len(ratios)} (median "
            f"{statistics.median(ratios):.2f}x)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--labels", type=int, nargs="+", default=[3, 8])
    parser.add_argument("--pictures", nargs="+", default=list(PICTURES))
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--polish", choices=("both", "none", "fusion"), default="both",
                        help="time plain expansion, polish='fusion', or both (default)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall clock (default) or thread CPU time for both sides")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "potts.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.pictures = [128], 2, args.pictures[:1]
    set_num_threads(1)  # GCO is single-threaded
    use_clock(args.clock)
    ersm.solve(picture_energy(args.pictures[0], 32, 3, args.gamma))  # compile / load the kernels
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "python": platform.python_version(), "date": str(date.today()),
               "threads": 1, "gamma": args.gamma, "repeats": args.repeats,
               "polish": args.polish, "clock": args.clock,
               "load_average_start": os.getloadavg(), "cases": []}
    width = max(10, *map(len, args.pictures))
    header = f"{'picture':<{width}} {'S':>4} {'L':>2} "
    header += f"{'ours s':>8} " if args.polish != "fusion" else ""
    header += f"{'gco s':>8} {'core s':>8} "
    if args.polish != "fusion":
        header += f"{'core/ours':>9} {'E ours - E gco':>15} {'moves':>5} "
    if args.polish != "none":
        header += f"{'fusion s':>8} {'core/fus':>9} {'E fus - E gco':>14}"
    print(header.rstrip())
    for size in args.sizes:
        for labels in args.labels:
            for name in args.pictures:
                energy = picture_energy(name, size, labels, args.gamma)
                case = {"picture": name, "size": size, "labels": labels,
                        **run_case(energy, args.repeats, args.polish)}
                results["cases"].append(case)
                print(row(case, width).rstrip(), flush=True)
    for prefix, variant in (("", "none"), ("fusion_", "fusion")):
        if args.polish in (variant, "both"):
            print(summary(results["cases"], prefix, "plain" if prefix == "" else "fusion"))
    results["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
