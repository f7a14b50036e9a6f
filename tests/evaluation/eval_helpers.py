"""Helpers for the evaluation tests: a model whose evidence is known.

Import with ``from eval_helpers import ...`` (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ersm.nets import EnergyMaskLayer, MaskedClassifier


@contextmanager
def single_threaded() -> Iterator[None]:
    """One torch and one Numba thread (restored after; torch's determinism flag too): the
    machine is small and shared, and a parallel Numba region leaves OpenMP threads that
    slow torch down in the same process."""
    import numba

    threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        numba.set_num_threads(numba_threads)
        torch.use_deterministic_algorithms(deterministic)


class Features(nn.Module):
    """Identity backbone: the 'images' are the features (``out_channels`` channels)."""

    stride = 1

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


EVIDENCE, DISTRACTOR = (1, 2), (3, 0)
"""Token holding all class evidence (channel 0) and a larger-norm token with none (channel 1)."""


def evidence_batch(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, 2, 4, 4)`` features: channel 0 = 32 at EVIDENCE, channel 1 = 100 at DISTRACTOR;
    labels all 0."""
    x = torch.zeros(batch, 2, 4, 4)
    x[:, 0, EVIDENCE[0], EVIDENCE[1]] = 32.0
    x[:, 1, DISTRACTOR[0], DISTRACTOR[1]] = 100.0
    return x, torch.zeros(batch, dtype=torch.int64)


def evidence_model(layer: bool = True) -> MaskedClassifier:
    """Linear classifier over mean-pooled tokens: logit_0 = −logit_1 = mean(channel 0), so only
    the EVIDENCE token moves the prediction (p_0 = σ(2·32/16) = σ(4) with it, ½ without).

    With ``layer``: an exact (graph-cut) :class:`EnergyMaskLayer` with θ = 0.5 − f_0 and no
    pairwise term: it keeps the EVIDENCE token only, so ``energy`` ranks it first.
    """
    mask_layer = None
    if layer:
        mask_layer = EnergyMaskLayer(2, backend="graphcut", pairwise_weight=0.0)
        with torch.no_grad():
            mask_layer.weight.copy_(torch.tensor([-1.0, 0.0]))
            mask_layer.bias.fill_(0.5)
    model = MaskedClassifier(Features(2), mask_layer, 2)
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        model.head.bias.zero_()
    return model.eval()
