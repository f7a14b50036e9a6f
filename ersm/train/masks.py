"""Export a trained model's learned and solved token masks over a dataset split.

For each image the model's mask layer gives its token energy and its learned keep
probabilities; the energy is then solved with a backend (default ``"graphcut"``, exact),
so learned (relaxed) and solved (discrete) masks can be compared on the same token grid.

- ``"mrf"`` model (:class:`~ersm.nets.EnergyMaskLayer`): the layer's own ``θ`` and ``w``;
  ``keep_prob`` is its gate (the relaxed mask of its training backend).
- ``"ersm"`` model (:class:`~ersm.nets.ERSMLayer`): ``θ = z / T`` and 8-connected cosine
  Potts weights ``γ · max(cos, 0)`` (:meth:`~ersm.nets.ERSMLayer.grid_energy`);
  ``keep_prob = σ(−z / T)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..io.atomic import atomic_save_npz
from ..nets.ersm_layer import ERSMLayer
from ..solvers.api import solve
from .checkpoint import load_trained
from .data import open_split

MASK_KEYS: tuple[str, ...] = ("paths", "label", "pred", "unary", "pairwise", "keep_prob", "mask",
                              "classes")


def export_masks(run: str | os.PathLike, data_dir: str | os.PathLike, split: str = "test",
                 out_file: str | os.PathLike = "masks.npz", backend: str | None = None,
                 batch_size: int = 32, pairwise_weight: float | None = None,
                 device: str = "cpu") -> dict[str, np.ndarray]:
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

    Returns:
        the arrays written, for ``N`` images on an ``h × w`` token grid with ``K`` edge
        channels: ``paths`` (N,) str (relative image paths), ``label`` and ``pred`` (N,)
        int64 (indices into ``classes``, the sorted class folder names), ``unary`` (N, h, w)
        float32, ``pairwise`` (N, K, h, w) float32, ``keep_prob`` (N, h, w) float32 (learned),
        ``mask`` (N, h, w) bool (solved), ``classes`` (C,) str.

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
    dataset = open_split(data_dir, split, config.image_size, config.layout, config.classes)
    chunks: dict[str, list] = {key: [] for key in MASK_KEYS if key != "classes"}
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            images = torch.stack([it["image"] for it in items]).to(device)
            pred = model(images).argmax(1)
            energy = (layer.grid_energy(pairwise_weight) if isinstance(layer, ERSMLayer)
                      else layer.grid_energy())
            mask = solve(energy, backend=backend or "graphcut").mask
            chunks["paths"] += [it["path"] for it in items]
            chunks["label"].append(np.array([it["label"] for it in items], dtype=np.int64))
            for key, value in (("pred", pred), ("unary", energy.unary),
                               ("pairwise", energy.pairwise), ("keep_prob", layer.keep_prob),
                               ("mask", mask)):
                chunks[key].append(value.detach().cpu().numpy())
    arrays = {"paths": np.array(chunks.pop("paths"), dtype=str),
              **{key: np.concatenate(values) for key, values in chunks.items()},
              "classes": np.array(config.classes, dtype=str)}
    for key in ("unary", "pairwise", "keep_prob"):
        arrays[key] = arrays[key].astype(np.float32)
    arrays["pred"] = arrays["pred"].astype(np.int64)
    atomic_save_npz(Path(out_file), **arrays)
    return arrays


__all__ = ["MASK_KEYS", "export_masks"]
