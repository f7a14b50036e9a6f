"""The job behind ``ersm masks``: export a trained model's learned and solved token masks over a dataset split.

For each image the model's mask layer gives its token energy and its learned keep
probabilities; the energy is then solved with a backend (default ``"graphcut"``, exact),
so learned (relaxed) and solved (discrete) masks can be compared on the same token grid.

- ``"mrf"`` model (:class:`~ersm.nets.EnergyMaskLayer`): the layer's own ``θ`` and ``w``;
  ``keep_prob`` is its gate (the relaxed mask of its training backend).
- ``"ersm"`` model (:class:`~ersm.nets.ERSMLayer`): ``θ = z / T`` and 8-connected cosine
  Potts weights ``γ · max(cos, 0)`` (:meth:`~ersm.nets.ERSMLayer.grid_energy`);
  ``keep_prob = σ(−z / T)``.

With a keep ratio ``r`` (``keep_ratio``, default: the run's own ``layer_kwargs``), ``mask``
is, per image, the exact cut of the energy plus a per-image keep cost whose size is
closest to ``r·h·w`` (:func:`~ersm.nets.budget.budget_mask`); for an ``"mrf"`` model
``pred`` is then the prediction with that mask gating the features (the layer in eval
mode with the exact backend) and ``pred_learned`` the one with the learned gate; for an
``"ersm"`` model ``mask_topk`` adds its ``round(r·h·w)`` most probable tokens.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from ..io.atomic import atomic_save_npz
from ..nets.budget import budget_mask, check_keep_ratio, top_ratio_mask
from ..nets.ersm_layer import ERSMLayer
from ..solvers.api import solve
from ..runs.checkpoint import load_trained
from ..runs.data import open_split
from ..solvers.defaults import DEFAULT_EXACT

MASK_KEYS: tuple[str, ...] = ("paths", "label", "pred", "unary", "pairwise", "keep_prob", "mask",
                              "classes")


def export_masks(run: str | os.PathLike, data_dir: str | os.PathLike, split: str = "test",
                 out_file: str | os.PathLike = "masks.npz", backend: str | None = None,
                 batch_size: int = 32, pairwise_weight: float | None = None,
                 device: str = "cpu", keep_ratio: float | None = None,
                 limit: int | None = None) -> dict[str, np.ndarray]:
    """Run a trained model over a split and write its masks to an ``.npz`` atomically.

    Args:
        run: training run directory (``config.json`` and ``checkpoint.pt``).
        data_dir: dataset root (read with the run's layout and image size).
        split: ``"train"`` or ``"test"``.
        out_file: destination ``.npz``.
        backend: solver for ``mask`` (default ``"graphcut"``).
        batch_size: images per forward pass.
        pairwise_weight: ``γ`` of the Potts weights of an ``"ersm"`` model (default: the
            layer's); not used by ``"mrf"`` models.
        device: torch device.
        keep_ratio: ``r`` for exact masks of that size (default: the run's
            ``layer_kwargs["keep_ratio"]``, else the plain solve).
        limit: at most this many images, spread evenly over the split (None: all).

    Returns:
        the arrays written, for ``N`` images on an ``h × w`` token grid with ``K`` edge
        channels: ``paths`` (N,) str (relative image paths), ``label`` and ``pred`` (N,)
        int64 (indices into ``classes``, the sorted class folder names), ``unary`` (N, h, w)
        float32, ``pairwise`` (N, K, h, w) float32, ``keep_prob`` (N, h, w) float32 (learned),
        ``mask`` (N, h, w) bool (solved), ``classes`` (C,) str; with a keep ratio also
        ``pred_learned`` (``"mrf"``) or ``mask_topk`` (``"ersm"``), and ``keep_ratio`` ().

    Raises:
        ValueError: the run's model has no mask layer (``"baseline"``), or
            ``pairwise_weight`` is given for an ``"mrf"`` model.
    """
    config, model = load_trained(run, device)
    layer = model.layer
    if layer is None:
        raise ValueError(f"run {run} trained model={config.model!r}, which has no mask layer")
    if pairwise_weight is not None and not isinstance(layer, ERSMLayer):
        raise ValueError("pairwise_weight only applies to model='ersm' runs")
    ratio = check_keep_ratio(keep_ratio if keep_ratio is not None
                             else config.layer_kwargs.get("keep_ratio"))
    dataset = open_split(data_dir, split, config.image_size, config.layout, config.classes)
    order = np.arange(len(dataset))
    if limit is not None and limit < len(order):
        order = np.unique(np.linspace(0, len(order) - 1, max(limit, 0)).round().astype(int))
    chunks: dict[str, list] = {key: [] for key in MASK_KEYS if key != "classes"}
    extra = () if ratio is None else (("mask_topk",) if isinstance(layer, ERSMLayer)
                                      else ("pred_learned",))
    chunks.update({key: [] for key in extra})
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            items = [dataset[int(i)] for i in order[start:start + batch_size]]
            images = torch.stack([it["image"] for it in items]).to(device)
            pred = model(images).argmax(1)
            energy = (layer.grid_energy(pairwise_weight) if isinstance(layer, ERSMLayer)
                      else layer.grid_energy())
            keep_prob = layer.keep_prob
            if ratio is None:
                mask = solve(energy, backend=backend or DEFAULT_EXACT).mask
            elif isinstance(layer, ERSMLayer):
                mask = budget_mask(energy.unary, energy.pairwise, ratio)[0]
                chunks["mask_topk"].append(top_ratio_mask(keep_prob, ratio).cpu().numpy())
            else:
                chunks["pred_learned"].append(pred.cpu().numpy())
                pred, mask = _budgeted_forward(model, images, backend or DEFAULT_EXACT, ratio)
            chunks["paths"] += [it["path"] for it in items]
            chunks["label"].append(np.array([it["label"] for it in items], dtype=np.int64))
            for key, value in (("pred", pred), ("unary", energy.unary),
                               ("pairwise", energy.pairwise), ("keep_prob", keep_prob),
                               ("mask", mask)):
                chunks[key].append(value.detach().cpu().numpy())
    arrays = {"paths": np.array(chunks.pop("paths"), dtype=str),
              **{key: np.concatenate(values) for key, values in chunks.items()},
              "classes": np.array(config.classes, dtype=str)}
    for key in ("unary", "pairwise", "keep_prob"):
        arrays[key] = arrays[key].astype(np.float32)
    arrays["pred"] = arrays["pred"].astype(np.int64)
    if ratio is not None:
        arrays["keep_ratio"] = np.float64(ratio)
    atomic_save_npz(Path(out_file), **arrays)
    return arrays


def object_token_masks(data_dir: str | os.PathLike, paths: np.ndarray,
                       grid: tuple[int, int]) -> np.ndarray | None:
    """Object masks ``DIR/masks/<path>`` on the token grid (majority), ``(N, h, w)`` bool;
    None when the dataset has no masks."""
    from PIL import Image

    from ..evaluation.probe import object_tokens

    root = Path(data_dir) / "masks"
    files = [root / str(path) for path in paths]
    if not files or not all(f.is_file() for f in files):
        return None
    masks = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("L")) > 127)
                         for f in files])
    return object_tokens(masks, grid).numpy()


def summarize_masks(arrays: dict[str, np.ndarray],
                    data_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """Accuracy, kept fractions, agreement and (with object masks) IoU of exported masks.

    Returns:
        ``accuracy`` (of ``pred``), ``kept`` (mean kept fraction of ``mask``),
        ``learned_kept`` (mean ``keep_prob``), ``agreement`` (share of tokens where
        ``mask`` equals the learned mask thresholded to the same size per image), and
        when ``DIR/masks`` exists ``iou_solved`` / ``iou_learned`` (mean IoU with the
        object tokens; the learned mask at the same size as the solved one).
    """
    from ..evaluation.localization import iou

    mask, keep = arrays["mask"], arrays["keep_prob"]
    n = len(mask)
    out = {"images": float(n), "accuracy": float((arrays["pred"] == arrays["label"]).mean())
           if n else math.nan}
    if "pred_learned" in arrays:
        out["accuracy_learned"] = float((arrays["pred_learned"] == arrays["label"]).mean())
    out["kept"] = float(mask.mean()) if n else math.nan
    out["learned_kept"] = float(keep.mean()) if n else math.nan
    learned = np.zeros_like(mask)
    flat = keep.reshape(n, -1)
    for i, k in enumerate(mask.reshape(n, -1).sum(1)):
        learned.reshape(n, -1)[i, np.argsort(-flat[i], kind="stable")[:k]] = True
    out["agreement"] = float((learned == mask).mean()) if n else math.nan
    if data_dir is not None:
        target = object_token_masks(data_dir, arrays["paths"], mask.shape[1:])
        if target is not None:
            t = torch.from_numpy(target)
            out["iou_solved"] = float(np.nanmean(iou(torch.from_numpy(mask), t).numpy()))
            out["iou_learned"] = float(np.nanmean(iou(torch.from_numpy(learned), t).numpy()))
            out["object_share"] = float(target.mean())
    return out


def _budgeted_forward(model: torch.nn.Module, images: torch.Tensor, backend: str,
                      ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions and masks of an ``"mrf"`` model whose layer gates with the exact mask of
    size ``ratio`` (eval mode, ``backend`` exact); the layer's settings are restored."""
    layer = model.layer
    saved = layer.backend, layer.keep_ratio
    try:
        layer.backend, layer.keep_ratio = backend, ratio
        if not layer.budgeted:
            raise ValueError(f"backend {backend!r} is not exact: --keep-ratio needs an exact "
                             f"backend such as 'graphcut'")
        pred = model(images).argmax(1)
        return pred, layer.mask
    finally:
        layer.backend, layer.keep_ratio = saved


__all__ = ["MASK_KEYS", "export_masks", "object_token_masks", "summarize_masks"]
