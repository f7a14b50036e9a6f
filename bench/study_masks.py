"""Issue 13 study: budgeted mask layers on shapes whose colour and background carry no class.

Trains (``ersm train``, one subprocess per run, ``--jobs`` at a time) and evaluates
(:func:`ersm.train.export_masks` at every keep ratio, exact ``graphcut`` budget masks):

- ``mrf`` (EnergyMaskLayer, trained with its default budgeted backend ``ste``) at keep
  ratios r ∈ RATIOS, seeds SEEDS;
- the pairwise ablation γ = 0 at r = 0.15;
- ``meanfield`` (both seeds) and ``perturbed`` training backends at r = 0.15;
- the budget loss (DynamicViT's ``(mean gate − r)²``) instead of dual ascent at r = 0.15;
- the paper layer (``ersm``, trained at its defaults: it has no budget), evaluated at
  every r by its top-r tokens and by the MRF its quantities imply, solved at r;
- the baseline (accuracy only);
- spurious data (P = 0.9): baseline and ``mrf`` at r = 0.15, with accuracy on test images
  whose background tint is not their class's.

Writes ``OUT/study.json`` (every number), figures ``OUT/*.png`` and prints a Markdown
summary. Runs that already have ``metrics.jsonl`` with all epochs are not retrained.

    python bench/study_masks.py --out /tmp/study --epochs 10 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

RATIOS = (0.1, 0.15, 0.25, 0.5)
EPOCHS = [10]  # set from --epochs: runs with fewer finished epochs are not evaluated
SEEDS = (0, 1)


def mrf_args(ratio: float, *extra: str, backend: str = "ste") -> list[str]:
    """``ersm train`` arguments of an MRF-layer run at keep ratio ``ratio`` (``ste`` at
    ``T = 1``, as the sweep was run; the default since is ``T = 4``: the ``T4`` runs)."""
    return ["--model", "mrf", "--backend", backend, "--keep-ratio", str(ratio), *extra]


def runs_of(seeds: tuple[int, ...]) -> dict[str, dict]:
    """Run name → (data, model, extra CLI args, ratio evaluated)."""
    runs: dict[str, dict] = {}
    for s in seeds:
        runs[f"baseline-s{s}"] = {"data": "clean", "args": ["--model", "baseline"], "seed": s}
        runs[f"ersm-s{s}"] = {"data": "clean", "args": ["--model", "ersm"], "seed": s,
                              "ratios": RATIOS}
        for r in RATIOS:
            runs[f"mrf-r{r}-s{s}"] = {"data": "clean", "seed": s, "ratios": (r,),
                                      "args": mrf_args(r)}
    variants = {"mrf-gamma0-r0.15-s0": mrf_args(0.15, "--pairwise-weight", "0"),
                "mrf-meanfield-r0.15-s0": mrf_args(0.15, backend="meanfield"),
                "mrf-meanfield-r0.15-s1": mrf_args(0.15, backend="meanfield"),
                "mrf-perturbed-r0.15-s0": mrf_args(0.15, backend="perturbed"),
                "mrf-loss-r0.15-s0": mrf_args(0.15, "--budget", "loss"),
                "mrf-T4-r0.15-s0": mrf_args(0.15, "--temperature", "4"),
                "mrf-T4-r0.15-s1": mrf_args(0.15, "--temperature", "4")}
    for name, args in variants.items():
        runs[name] = {"data": "clean", "seed": int(name[-1]), "ratios": (0.15,), "args": args}
    runs["baseline-P0.9-s0"] = {"data": "spurious", "seed": 0, "args": ["--model", "baseline"]}
    runs["mrf-r0.15-P0.9-s0"] = {"data": "spurious", "seed": 0, "ratios": (0.15,),
                                 "args": mrf_args(0.15)}
    return runs


def make_data(out: Path, n: int, test: int) -> dict[str, Path]:
    from ersm.data import make_synthetic_dataset

    paths = {"clean": out / "data-P0", "spurious": out / "data-P0.9"}
    for name, spurious in (("clean", 0.0), ("spurious", 0.9)):
        if not (paths[name] / "meta.json").is_file():
            make_synthetic_dataset(paths[name], n=n, seed=0, spurious=spurious,
                                   test_fraction=test / n, overwrite=True)
    return paths


def finished(run: Path, epochs: int) -> bool:
    metrics = run / "metrics.jsonl"
    return metrics.is_file() and len(metrics.read_text().splitlines()) >= epochs


FIRST = ("mrf-r0.15-s0", "baseline-s0", "ersm-s0", "mrf-meanfield-r0.15-s0",
         "mrf-gamma0-r0.15-s0", "mrf-r0.15-s1", "mrf-perturbed-r0.15-s0", "mrf-loss-r0.15-s0",
         "mrf-r0.1-s0", "mrf-r0.25-s0", "mrf-r0.5-s0", "baseline-P0.9-s0", "mrf-r0.15-P0.9-s0",
         "baseline-s1", "ersm-s1", "mrf-meanfield-r0.15-s1")


def priority(name: str) -> tuple[int, int, str]:
    """Training order: the r = 0.15 comparisons first, then seed 0, then the rest."""
    return (FIRST.index(name) if name in FIRST else len(FIRST), name.endswith("-s1"), name)


def train_command(name: str, spec: dict, data: dict[str, Path], out: Path,
                  epochs: int) -> list[str]:
    return [sys.executable, "-m", "ersm", "train", "--data", str(data[spec["data"]]),
            "--out", str(out / "runs" / name), "--epochs", str(epochs), "--seed",
            str(spec["seed"]), "--threads", "1", "-q", "--resume", *spec["args"]]


def train_all(runs: dict[str, dict], data: dict[str, Path], out: Path, epochs: int,
              jobs: int) -> dict[str, list[str]]:
    commands = {name: train_command(name, spec, data, out, epochs) for name, spec in runs.items()}
    todo = sorted((name for name in runs if not finished(out / "runs" / name, epochs)),
                  key=priority)
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    bar = tqdm(total=len(todo), desc="training runs")

    def one(name: str) -> None:
        log = out / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as f:
            subprocess.run(commands[name], stdout=f, stderr=subprocess.STDOUT, env=env,
                           check=False)
        bar.set_postfix_str(name)
        bar.update()

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, todo))
    bar.close()
    return commands


def background_mismatch(data: Path, paths: np.ndarray) -> np.ndarray:
    from ersm.data import read_items

    rows = {r["path"]: r for r in read_items(data)}
    return np.array([rows[str(p)]["background"] != rows[str(p)]["label"] for p in paths])


def evaluate(runs: dict[str, dict], data: dict[str, Path], out: Path) -> dict[str, dict]:
    from ersm.evaluation.localization import iou
    from ersm.train import read_metrics
    from ersm.jobs.export import export_masks
    from ersm.jobs.export import object_token_masks, summarize_masks

    results: dict[str, dict] = {}
    (out / "masks").mkdir(parents=True, exist_ok=True)
    todo = [(name, r) for name, spec in runs.items() for r in (spec.get("ratios") or (None,))]
    for name, ratio in tqdm(todo, desc="evaluating masks"):
        run = out / "runs" / name
        if not finished(run, EPOCHS[0]):
            continue
        spec = runs[name]
        entry = results.setdefault(name, {"test_acc": read_metrics(run)[-1]["test_acc"],
                                           "last": read_metrics(run)[-1]})
        if ratio is None:
            continue
        npz = out / "masks" / f"{name}-{ratio}.npz"
        if npz.is_file() and npz.stat().st_mtime_ns > (run / "checkpoint.pt").stat().st_mtime_ns:
            arrays = dict(np.load(npz))  # cached: exported after the last checkpoint
        else:
            arrays = export_masks(run, data[spec["data"]], "test", npz, backend="graphcut",
                                  keep_ratio=ratio)
        summary = summarize_masks(arrays, data[spec["data"]])
        if "mask_topk" in arrays:  # the paper layer: its top-r tokens
            target = torch.from_numpy(object_token_masks(data[spec["data"]], arrays["paths"],
                                                         arrays["mask"].shape[1:]))
            summary["iou_topk"] = float(np.nanmean(
                iou(torch.from_numpy(arrays["mask_topk"]), target).numpy()))
            summary["agreement_topk"] = float((arrays["mask_topk"] == arrays["mask"]).mean())
        mismatch = background_mismatch(data[spec["data"]], arrays["paths"])
        if mismatch.any():
            summary["accuracy_bg_mismatch"] = float(
                (arrays["pred"] == arrays["label"])[mismatch].mean())
        entry[str(ratio)] = summary
    for name, spec in runs.items():  # accuracy on mismatched backgrounds for every run
        if name in results and spec["data"] == "spurious" and "baseline" in name:
            results[name]["bg_mismatch"] = _baseline_mismatch(out / "runs" / name,
                                                               data["spurious"])
    return results


def _baseline_mismatch(run: Path, data: Path) -> float:
    from ersm.train.checkpoint import load_trained
    from ersm.train.data import open_split

    config, model = load_trained(run)
    ds = open_split(data, "test", config.image_size, config.layout, config.classes)
    with torch.no_grad():
        preds, labels, paths = [], [], []
        for i in range(0, len(ds), 64):
            items = [ds[j] for j in range(i, min(i + 64, len(ds)))]
            preds.append(model(torch.stack([it["image"] for it in items])).argmax(1).numpy())
            labels += [it["label"] for it in items]
            paths += [it["path"] for it in items]
    correct = np.concatenate(preds) == np.array(labels)
    return float(correct[background_mismatch(data, np.array(paths))].mean())


def figures(results: dict[str, dict], out: Path, data: dict[str, Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    curves = (("MRF layer (ste, T = 1), solved", "iou_solved", "mrf-r", "o"),
              ("MRF layer, learned (same size)", "iou_learned", "mrf-r", "x"),
              ("paper layer, implied MRF solved", "iou_solved", "ersm", "s"),
              ("paper layer, top-r tokens", "iou_topk", "ersm", "^"))
    for (label, key, prefix, marker), colour in zip(curves, plt.rcParams["axes.prop_cycle"]):
        for ax, metric in zip(axes, ("accuracy", key)):
            if metric == "accuracy" and ("learned" in label or "top-r" in label):
                continue
            for s in SEEDS:  # one line per seed: seeds differ in which ratios ran
                xs, ys = [], []
                for r in RATIOS:
                    name = f"mrf-r{r}-s{s}" if prefix == "mrf-r" else f"ersm-s{s}"
                    entry = results.get(name, {}).get(str(r))
                    if entry and metric in entry:
                        xs.append(r)
                        ys.append(entry[metric])
                if xs:
                    shown = ("paper layer, its own gate (no budget)"
                             if metric == "accuracy" and prefix == "ersm" else label)
                    ax.plot(xs, ys, marker=marker, color=colour["color"],
                            linestyle="-" if s == 0 else "--", label=f"{shown}, seed {s}")
    axes[0].set(xlabel="keep ratio r", ylabel="test accuracy (solved-mask gating for MRF)",
                title="Accuracy vs keep ratio")
    axes[1].set(xlabel="keep ratio r", ylabel="IoU with the object tokens",
                title="IoU vs keep ratio")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "masks_vs_ratio.png", dpi=110)
    plt.close(fig)
    panels(out, data)


def panels(out: Path, data: dict[str, Path], count: int = 6) -> None:
    import matplotlib.pyplot as plt
    from PIL import Image

    rows = [("mrf-r0.15-s0", 0.15, "mask", "MRF r=0.15 solved"),
            ("mrf-r0.15-s0", 0.15, "keep_prob", "MRF r=0.15 learned gate"),
            ("mrf-gamma0-r0.15-s0", 0.15, "mask", "MRF γ=0 solved"),
            ("ersm-s0", 0.15, "mask_topk", "paper layer top-15%"),
            ("ersm-s0", 0.15, "mask", "paper layer implied MRF")]
    rows = [r for r in rows if (out / "masks" / f"{r[0]}-{r[1]}.npz").is_file()]
    if not rows:
        return
    first = np.load(out / "masks" / f"{rows[0][0]}-{rows[0][1]}.npz")
    picks = np.linspace(0, len(first["paths"]) - 1, count).astype(int)
    fig, axes = plt.subplots(len(rows) + 1, count, figsize=(1.9 * count, 2.0 * (len(rows) + 1)))
    for j, i in enumerate(picks):
        path = str(first["paths"][i])
        axes[0, j].imshow(Image.open(data["clean"] / path))
        axes[0, j].set_title(f"{first['classes'][first['label'][i]]}", fontsize=9)
    axes[0, 0].set_ylabel("image", fontsize=9)
    for k, (name, r, key, label) in enumerate(rows, start=1):
        arrays = np.load(out / "masks" / f"{name}-{r}.npz")
        for j, i in enumerate(picks):
            axes[k, j].imshow(arrays[key][i].astype(float), cmap="gray", vmin=0, vmax=1)
        axes[k, 0].set_ylabel(label, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Token masks on test images (white = kept); 16×16 tokens", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "mask_panels.png", dpi=110)
    plt.close(fig)


COLUMNS = (("r", None), ("test acc (own gate)", "test_acc"), ("acc, solved-mask gating", "accuracy"),
           ("kept (solved)", "kept"), ("mean learned gate", "learned_kept"),
           ("IoU solved", "iou_solved"), ("IoU learned (same size)", "iou_learned"),
           ("IoU top-r", "iou_topk"), ("solved = learned", "agreement"),
           ("acc, bg ≠ class", "accuracy_bg_mismatch"), ("final keep cost", "keep_cost"))


def markdown_table(results: dict[str, dict]) -> str:
    """One row per (run, keep ratio) of ``results`` (as :func:`evaluate` returns)."""
    lines = ["| run | " + " | ".join(c for c, _ in COLUMNS) + " |",
             "|---|" + "---|" * len(COLUMNS)]
    for name in sorted(results, key=priority):
        entry = results[name]
        ratios = [k for k in entry if k not in ("test_acc", "last", "bg_mismatch")] or [None]
        for r in ratios:
            values = {**(entry.get(r, {}) if r else {}), "test_acc": entry["test_acc"],
                      "keep_cost": entry["last"].get("keep_cost")}
            if r is None and "bg_mismatch" in entry:
                values["accuracy_bg_mismatch"] = entry["bg_mismatch"]
            cells = [r or "—"] + [f"{values[k]:.3f}" if isinstance(values.get(k), float) else "—"
                                  for _, k in COLUMNS[1:]]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--n", type=int, default=1800)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--only", nargs="*", help="run names to train (default: all)")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    EPOCHS[0] = args.epochs
    data = make_data(args.out, args.n, args.test)
    runs = runs_of(tuple(args.seeds))
    if args.only:
        runs = {k: v for k, v in runs.items() if k in args.only}
    commands = {} if args.skip_train else train_all(runs, data, args.out, args.epochs, args.jobs)
    results = evaluate(runs_of(tuple(args.seeds)), data, args.out)
    (args.out / "study.json").write_text(json.dumps(
        {"results": results, "commands": {k: " ".join(v) for k, v in commands.items()}},
        indent=1, default=float))
    (args.out / "study.md").write_text(markdown_table(results))
    figures(results, args.out, data)
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "last"}
                      for k, v in results.items()}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
