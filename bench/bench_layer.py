"""Cost of the mask layers inside a classifier: per training step and per inference batch.

For each backbone (the small CNN on 56×56 images, a ResNet-18 cut after 3 stages on
224×224 images: both give 14×14 feature maps) the baseline classifier (no layer) is
timed, then the same backbone with the paper's layer (``ersm``) and with the MRF layer
(``mrf``) for every backend; the overhead is the difference of medians. A training step is
forward + loss (with the layer's regulariser) + backward + AdamW step. Every model's
forward output is checked for shape and finiteness before timing; the layer is also timed
alone on fixed features (forward + backward of a squared-output loss, and forward).
All variants are timed in turns. Usage::

    python bench/bench_layer.py                # writes bench/results/layer.json
    python bench/bench_layer.py --quick        # small CNN only, few repeats (smoke)

Numba's default ``omp`` threading layer keeps its worker threads spinning after the
graph cut's ``prange`` loop, which slows every later torch op in the process (3× and
more on a 2-core machine), so the exact backends would inflate all later timings. The
benchmark therefore uses the ``workqueue`` layer unless ``NUMBA_THREADING_LAYER`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from datetime import date
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # before numba is imported

import torch  # noqa: E402

from ersm.nets.classifier import build_model  # noqa: E402

HERE = Path(__file__).parent
BACKENDS = ("meanfield", "meanfield_implicit", "ste", "perturbed", "tv", "graphcut")
BACKBONES = {"small": ({}, 56), "resnet18": ({"stages": 3}, 224)}
"""name → (builder arguments, image side giving a 14×14 feature map)."""


def interleaved_medians(fns: dict[str, Callable[[], Any]], repeats: int,
                        warmup: int = 2) -> dict[str, float]:
    """Median wall seconds of every ``fns[key]()``, timed in turns (round robin), so that
    the load of a shared machine drifting over the run affects all of them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return {key: statistics.median(values) for key, values in times.items()}


def variants() -> list[tuple[str, str | None]]:
    """``(model, backend)`` pairs: the baseline, the paper's layer, the MRF layer per backend."""
    return [("baseline", None), ("ersm", None)] + [("mrf", b) for b in BACKENDS]


def runners(model_name: str, backend: str | None, backbone: str,
            batch: int) -> dict[str, Callable[[], None]]:
    """Callables for one training step and one inference batch of the whole model, and a
    training step (forward + backward) and inference of the layer alone on fixed features.
    The model's output is checked first."""
    kwargs, side = BACKBONES[backbone]
    torch.manual_seed(0)
    model = build_model(model_name, backbone, backend=backend, num_classes=10,
                        backbone_kwargs=kwargs)
    images = torch.rand(batch, 3, side, side)
    labels = torch.randint(0, 10, (batch,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    with torch.no_grad():
        features = model.eval().backbone(images)
        logits = model(images)
    assert features.shape[-2:] == (14, 14), features.shape
    assert logits.shape == (batch, 10) and torch.isfinite(logits).all()
    layer = model.layer if model.layer is not None else torch.nn.Identity()
    leaf = features.clone().requires_grad_()

    def train() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        model.loss(model(images), labels).backward()
        optimizer.step()

    def infer() -> None:
        model.eval()
        with torch.no_grad():
            model(images)

    def layer_train() -> None:
        layer.train()
        (layer(leaf).square().mean() + model.regularizer()).backward()

    def layer_infer() -> None:
        layer.eval()
        with torch.no_grad():
            layer(features)

    return {"train": train, "infer": infer, "layer_train": layer_train,
            "layer_infer": layer_infer}


def inference_flops(model_name: str, backend: str | None, backbone: str, batch: int) -> float:
    """FLOPs of one inference batch counted by ``torch.utils.flop_counter`` (convolutions,
    matmuls). Work inside the Numba solvers (graph cut, Numba mean-field) is not counted:
    torch cannot see it, and a max-flow's work is data-dependent, not a FLOP count."""
    from torch.utils.flop_counter import FlopCounterMode

    kwargs, side = BACKBONES[backbone]
    torch.manual_seed(0)
    model = build_model(model_name, backbone, backend=backend, num_classes=10,
                        backbone_kwargs=kwargs).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(batch, 3, side, side))
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small CNN, 3 repeats")
    parser.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (default 7)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--backbones", nargs="+", choices=list(BACKBONES), default=None,
                        help="backbones to time (default: all; --quick: small)")
    parser.add_argument("--out", default=str(HERE / "results" / "layer.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")  # graphcut in training: "gives no gradient"
    repeats = 3 if args.quick else args.repeats
    backbones = args.backbones or (["small"] if args.quick else list(BACKBONES))
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {args.threads} thread(s)",
        "python": platform.python_version(), "torch": torch.__version__,
        "date": str(date.today()), "batch": args.batch, "tokens": "14x14",
        "numba_threading_layer": os.environ["NUMBA_THREADING_LAYER"], "rows": []}
    for backbone in backbones:
        fns = {(m, b, kind): fn for m, b in variants()
               for kind, fn in runners(m, b, backbone, args.batch).items()}
        medians = interleaved_medians(fns, repeats)
        for model_name, backend in variants():
            row = {"backbone": backbone, "model": model_name, "backend": backend,
                   **{f"{kind}_ms": 1e3 * medians[model_name, backend, kind]
                      for kind in ("train", "infer", "layer_train", "layer_infer")}}
            for kind in ("train", "infer"):
                row[f"{kind}_overhead_ms"] = row[f"{kind}_ms"] - 1e3 * medians["baseline", None,
                                                                                kind]
            row["infer_gflops"] = inference_flops(model_name, backend, backbone, args.batch) / 1e9
            base = next(r for r in results["rows"] if r["backbone"] == backbone
                        and r["model"] == "baseline") if model_name != "baseline" else row
            row["infer_extra_mflops"] = 1e3 * (row["infer_gflops"] - base["infer_gflops"])
            results["rows"].append(row)
            print(render_row(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(render_markdown(results))


def render_row(row: dict[str, Any]) -> str:
    layer = row["model"] if row["backend"] is None else f"mrf/{row['backend']}"
    return (f"| {row['backbone']} | {layer} | {row['train_ms']:.1f} | "
            f"{row['train_overhead_ms']:+.1f} | {row['infer_ms']:.1f} | "
            f"{row['infer_overhead_ms']:+.1f} | {row['layer_train_ms']:.2f} | "
            f"{row['layer_infer_ms']:.2f} | {row.get('infer_gflops', float('nan')):.4f} | "
            f"{row.get('infer_extra_mflops', float('nan')):+.2f} |")


def render_markdown(results: dict[str, Any]) -> str:
    head = (f"Batch {results['batch']}, 14x14 tokens, {results['machine']}, torch "
            f"{results['torch']} ({results['date']}); medians of interleaved repeats; "
            f"overhead = model minus baseline; layer alone on fixed features\n\n"
            "| backbone | layer | train step ms | overhead | inference ms | overhead | "
            "layer fwd+bwd ms | layer fwd ms | inference GFLOPs (torch ops) | extra MFLOPs |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    return "\n".join([head] + [render_row(r) for r in results["rows"]])


if __name__ == "__main__":
    main()
