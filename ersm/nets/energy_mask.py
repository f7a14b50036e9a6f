"""The energy-mask layer: a unary–pairwise MRF over feature-map tokens, solved in the net.

Features ``(B, C, H, W)`` become tokens (``patch_size × patch_size`` average-pooled
cells, ``(B, C, h, w)`` with ``h = ⌈H / patch_size⌉``), and the tokens an energy
(:class:`ersm.GridEnergy`, layout of :mod:`ersm.energy.offsets`):

- unaries ``θ = λ · (vᵀ f_i + b)`` from a learned 1×1 projection (θ < 0 favours keeping);
- pairwise Potts weights ``w_ij ≥ 0`` from the tokens: ``"cosine"``
  (:func:`ersm.cosine_weights`, ``γ · max(cos(f_i, f_j), 0)``), ``"contrast"``
  (:func:`ersm.contrast_weights`, ``γ · exp(−‖f_i − f_j‖² / 2σ²)``) or ``"learned"``
  (``γ · softplus(uᵀ |f_i − f_j| + c)``, a learned non-negative edge head).

:func:`ersm.solve` with the chosen backend gives a mask; the *gate* that multiplies the
features is the backend's relaxed mask ``q`` when it returns one (mean-field marginals,
or the exact mask carrying a surrogate gradient for ``ste``/``perturbed``), else the
binary mask. It is upsampled back to ``(H, W)`` by repeating each token over its patch.
Unlike the paper's layer (:mod:`ersm.nets.ersm_layer`), the pairwise term couples the
mask values of neighbours, so a solver is needed.

Gradients: with a differentiable backend (``meanfield`` by unrolling — the Numba
backward on CPU, torch autograd elsewhere — ``meanfield_implicit``, ``ste``, ``perturbed``, ``tv``) the task loss reaches
the projection, the edge head and the backbone through ``q`` and the weights. An exact
non-differentiable backend (``graphcut``) gives a hard mask with no gradient to the layer
from the task loss; in training mode the layer warns once. Switching ``layer.backend``
on a built model (e.g. to ``"graphcut"`` for evaluation) is supported.

The regulariser (:func:`mask_regularizer`) is the relaxed (multilinear) energy of the
gate above the unary-only minimum ``Σ min(θ_i, 0)``, per token: ``≥ 0``, zero exactly when
the mask follows every unary and cuts no edge.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ShapeError
from ..energy.evaluate import relaxed_energy
from ..energy.grid import GridEnergy
from ..energy.weights import _edge_map, contrast_weights, cosine_weights
from ..solvers.api import solve
from ..solvers.options import backend_options_for, check_backend_options
from ..solvers.result import SolveResult

PAIRWISE_KINDS: tuple[str, ...] = ("cosine", "contrast", "learned")


# ---------------------------------------------------------------- tokens


def check_features(features: torch.Tensor, channels: int | None = None) -> None:
    """Raise :class:`~ersm.errors.ShapeError` unless ``features`` is ``(B, C, H, W)``.

    Args:
        features: a floating tensor.
        channels: the expected ``C`` (``None``: any).
    """
    if not isinstance(features, torch.Tensor) or not features.is_floating_point():
        raise TypeError(f"features must be a floating torch tensor, got "
                        f"{getattr(features, 'dtype', type(features).__name__)}")
    if features.ndim != 4 or (channels is not None and features.shape[1] != channels):
        expected = f"(B, {channels if channels is not None else 'C'}, H, W)"
        raise ShapeError(f"features must have shape {expected}, got {tuple(features.shape)}")


def check_patch_size(patch_size: int) -> int:
    """Return ``patch_size`` if it is an integer ``≥ 1``."""
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be an integer >= 1, got {patch_size!r}")
    return patch_size


def pool_tokens(features: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Average-pool ``patch_size × patch_size`` cells into tokens.

    Args:
        features: ``(B, C, H, W)``.
        patch_size: ``p ≥ 1``; a last partial patch averages the cells it covers.

    Returns:
        ``(B, C, ⌈H/p⌉, ⌈W/p⌉)`` (the input itself for ``p = 1``).

    Example:
        >>> pool_tokens(torch.ones(1, 2, 5, 4), 2).shape
        torch.Size([1, 2, 3, 2])
    """
    if check_patch_size(patch_size) == 1:
        return features
    return F.avg_pool2d(features, patch_size, patch_size, ceil_mode=True)


def upsample_tokens(values: torch.Tensor, patch_size: int, size: tuple[int, int]) -> torch.Tensor:
    """Repeat every token over its patch and crop to ``size``.

    Args:
        values: ``(B, h, w)`` per-token values.
        patch_size: ``p`` used by :func:`pool_tokens`.
        size: ``(H, W)`` of the feature map.

    Returns:
        ``(B, H, W)``.
    """
    if patch_size > 1:
        values = values.repeat_interleave(patch_size, -2).repeat_interleave(patch_size, -1)
    return values[..., : size[0], : size[1]]


# ---------------------------------------------------------------- energy terms


def token_unaries(tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                  unary_weight: float = 1.0) -> torch.Tensor:
    """``θ = λ · (vᵀ f + b)`` per token.

    Args:
        tokens: ``(B, C, h, w)``.
        weight: ``(C,)`` projection ``v``.
        bias: ``()`` bias ``b``.
        unary_weight: ``λ``.

    Returns:
        ``(B, h, w)``, the dtype and device of ``tokens``.
    """
    return unary_weight * (torch.einsum("bchw,c->bhw", tokens, weight) + bias)


def learned_weights(tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                    pairwise_weight: float = 1.0, connectivity: int = 4) -> torch.Tensor:
    """Learned non-negative edge weights ``γ · softplus(uᵀ |f_i − f_j| + c)``.

    Args:
        tokens: ``(B, C, h, w)``.
        weight: ``(C,)`` edge head ``u``.
        bias: ``()`` edge head bias ``c``.
        pairwise_weight: ``γ``.
        connectivity: 4 or 8.

    Returns:
        ``(B, K, h, w)``, zero on edges that leave the grid.
    """
    def edge(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.softplus(torch.einsum("bchw,c->bhw", (a - b).abs(), weight) + bias)

    return pairwise_weight * _edge_map(tokens, connectivity, edge)


def token_pairwise(tokens: torch.Tensor, kind: str = "cosine", pairwise_weight: float = 1.0,
                   connectivity: int = 4, edge_weight: torch.Tensor | None = None,
                   edge_bias: torch.Tensor | None = None) -> torch.Tensor:
    """Pairwise weights ``(B, K, h, w)`` of tokens ``(B, C, h, w)`` (differentiable).

    Args:
        tokens: ``(B, C, h, w)``.
        kind: ``"cosine"``, ``"contrast"`` or ``"learned"`` (needs ``edge_weight`` and
            ``edge_bias``, see :func:`learned_weights`).
        pairwise_weight: ``γ ≥ 0``.
        connectivity: 4 or 8.

    Returns:
        ``(B, K, h, w)`` weights ``≥ 0``, zero off-grid.
    """
    if kind == "cosine":
        return cosine_weights(tokens, gamma=pairwise_weight, connectivity=connectivity,
                              channels_last=False)
    if kind == "contrast":
        return contrast_weights(tokens, gamma=pairwise_weight, connectivity=connectivity,
                                channels_last=False)
    if kind == "learned":
        if edge_weight is None or edge_bias is None:
            raise ValueError("pairwise='learned' needs edge_weight and edge_bias")
        return learned_weights(tokens, edge_weight, edge_bias, pairwise_weight, connectivity)
    raise ValueError(f"pairwise must be one of {PAIRWISE_KINDS}, got {kind!r}")


def mask_regularizer(unary: torch.Tensor, pairwise: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Mean relaxed energy per token above the unary-only minimum, a scalar ``≥ 0``.

    ``R = mean_b [E_mult(q_b) − Σ_i min(θ_bi, 0)] / (h · w)`` with
    ``E_mult(q) = Σ θ q + Σ w (q_i + q_j − 2 q_i q_j)``: the cost of disagreeing with each
    token's own preference plus the expected cut. Bounded below (unlike ``E_mult``
    itself, which falls without bound as ``θ → −∞``).

    Args:
        unary: ``(B, h, w)`` θ.
        pairwise: ``(B, K, h, w)`` weights ``≥ 0``.
        q: ``(B, h, w)`` gate in ``[0, 1]``.

    Returns:
        ``()``; 0 for an empty batch.
    """
    if unary.shape[0] == 0:
        return unary.sum() * 0
    q = q.to(unary.dtype)
    floor = unary.clamp(max=0).sum(dim=(-2, -1))
    tokens = unary.shape[-2] * unary.shape[-1]
    return ((relaxed_energy(unary, pairwise, q) - floor) / tokens).mean()


# ---------------------------------------------------------------- solving


def solve_tokens(unary: torch.Tensor, pairwise: torch.Tensor, backend: str = "meanfield",
                 temperature: float = 1.0,
                 backend_options: Mapping[str, Any] | None = None) -> SolveResult:
    """:func:`ersm.solve` on a token energy with the options ``backend`` accepts.

    Args:
        unary: ``(B, h, w)`` θ.
        pairwise: ``(B, K, h, w)`` weights.
        backend: a registered backend name.
        temperature: passed to backends that take one.
        backend_options: more options (see :func:`backend_options_for`).

    Returns:
        the :class:`~ersm.SolveResult` (torch, on the device of ``unary``).
    """
    options = backend_options_for(backend, temperature, backend_options)
    return solve(GridEnergy(unary, pairwise), backend=backend, **options)


def gate_of(result: SolveResult, dtype: torch.dtype) -> torch.Tensor:
    """What multiplies the features: the relaxed mask ``q`` if any, else the binary mask."""
    gate = result.q if result.q is not None else result.mask
    return gate.to(dtype)


@dataclass
class EnergyMaskOutput:
    """What :func:`energy_mask` computed (token grid ``h × w``, feature grid ``H × W``).

    Attributes:
        features: ``(B, C, H, W)`` masked features.
        unary: ``(B, h, w)`` θ.
        pairwise: ``(B, K, h, w)`` weights.
        mask: ``(B, h, w)`` bool mask from the backend.
        q: ``(B, h, w)`` relaxed mask, or None if the backend gives none.
        gate: ``(B, h, w)`` float, ``q`` if present else ``mask``.
        energy: ``(B,)`` float64 discrete energy of ``mask``.
        differentiable: the gate carries gradients to ``unary``/``pairwise``.
    """

    features: torch.Tensor
    unary: torch.Tensor
    pairwise: torch.Tensor
    mask: torch.Tensor
    q: torch.Tensor | None
    gate: torch.Tensor
    energy: torch.Tensor
    differentiable: bool

    def regularizer(self) -> torch.Tensor:
        """:func:`mask_regularizer` of this output's energy and gate."""
        return mask_regularizer(self.unary, self.pairwise, self.gate)


def energy_mask(features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                backend: str = "meanfield", connectivity: int = 4, patch_size: int = 1,
                temperature: float = 1.0, unary_weight: float = 1.0,
                pairwise_weight: float = 1.0, pairwise: str = "cosine",
                edge_weight: torch.Tensor | None = None, edge_bias: torch.Tensor | None = None,
                backend_options: Mapping[str, Any] | None = None) -> EnergyMaskOutput:
    """Mask features with the solved token MRF (functional form of :class:`EnergyMaskLayer`).

    Args:
        features: ``(B, C, H, W)`` float.
        weight, bias: ``(C,)`` and ``()`` unary projection (:func:`token_unaries`).
        backend: solver backend name.
        connectivity: 4 or 8.
        patch_size: token side in feature cells.
        temperature: passed to backends that take one.
        unary_weight, pairwise_weight: ``λ`` and ``γ``.
        pairwise: ``"cosine"``, ``"contrast"`` or ``"learned"`` (with ``edge_weight`` ``(C,)``
            and ``edge_bias`` ``()``).
        backend_options: more backend options (keys the backend lacks are skipped).

    Returns:
        :class:`EnergyMaskOutput`.

    Example:
        >>> out = energy_mask(torch.rand(2, 3, 4, 4), torch.zeros(3), torch.tensor(-1.0))
        >>> out.features.shape, out.mask.shape, bool(out.mask.all())
        (torch.Size([2, 3, 4, 4]), torch.Size([2, 4, 4]), True)
    """
    check_features(features, weight.shape[0])
    tokens = pool_tokens(features, patch_size)
    unary = token_unaries(tokens, weight, bias, unary_weight)
    weights = token_pairwise(tokens, pairwise, pairwise_weight, connectivity, edge_weight,
                             edge_bias)
    result = solve_tokens(unary, weights, backend, temperature, backend_options)
    gate = gate_of(result, features.dtype)
    masked = features * upsample_tokens(gate, patch_size, features.shape[-2:])[:, None]
    return EnergyMaskOutput(features=masked, unary=unary, pairwise=weights, mask=result.mask,
                            q=result.q, gate=gate, energy=result.energy,
                            differentiable=gate.requires_grad)


# ---------------------------------------------------------------- module


def last_output(layer: nn.Module) -> Any:
    """``layer.last`` (the output of its last forward pass); ``RuntimeError`` before one."""
    if layer.last is None:
        raise RuntimeError(f"{type(layer).__name__} has not run forward yet")
    return layer.last


def from_last(name: str, doc: str) -> property:
    """A read-only layer property: attribute ``name`` of :func:`last_output`."""
    return property(lambda layer: getattr(last_output(layer), name), doc=doc)


class RecordingLayer(nn.Module):
    """Base of the mask layers: ``last`` holds the output of the last forward pass (with its
    autograd graph, for the regulariser); it is left out of copies and pickles."""

    def __init__(self) -> None:
        super().__init__()
        self.last: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "last": None}


class EnergyMaskLayer(RecordingLayer):
    """Mask features with a solved unary–pairwise MRF over tokens (see the module docs).

    Args:
        channels: feature channels ``C``.
        backend: solver backend (``"meanfield"``, ``"meanfield_implicit"``, ``"ste"``,
            ``"perturbed"``, ``"tv"`` learn through the mask; ``"graphcut"`` is exact, no
            gradient). Can be changed on a built layer: ``layer.backend = "graphcut"``.
        connectivity: 4 or 8.
        patch_size: token side in feature cells (average pooling; mask repeated back).
        temperature: passed to backends that take one (mean-field, ``ste``).
        unary_weight: ``λ`` scaling the unaries.
        pairwise_weight: ``γ`` scaling the pairwise weights.
        pairwise: ``"cosine"``, ``"contrast"`` or ``"learned"``.
        backend_options: options for the backends (e.g. ``{"iters": 20}``); keys a
            backend does not accept are skipped, keys no backend accepts raise.
        init_bias: initial unary bias: θ starts near ``λ · init_bias`` (< 0 keeps most
            tokens at first, so the backbone's features pass).
        reg_weight: factor of :meth:`regularizer`.

    Attributes (of the last forward pass, token grid ``h × w``):
        unary: ``(B, h, w)``; pairwise: ``(B, K, h, w)``; mask: ``(B, h, w)`` bool;
        q: ``(B, h, w)`` or None; gate (= keep_prob): ``(B, h, w)``; energy: ``(B,)``
        float64.

    Shape:
        ``(B, C, H, W) → (B, C, H, W)``.

    Example:
        >>> layer = EnergyMaskLayer(8, backend="meanfield", patch_size=2)
        >>> layer(torch.rand(2, 8, 6, 6)).shape, layer.mask.shape
        (torch.Size([2, 8, 6, 6]), torch.Size([2, 3, 3]))
    """

    def __init__(self, channels: int, backend: str = "meanfield", connectivity: int = 4,
                 patch_size: int = 1, temperature: float = 1.0, unary_weight: float = 1.0,
                 pairwise_weight: float = 0.5, pairwise: str = "cosine",
                 backend_options: Mapping[str, Any] | None = None, init_bias: float = -2.0,
                 reg_weight: float = 1e-2) -> None:
        super().__init__()
        if pairwise not in PAIRWISE_KINDS:
            raise ValueError(f"pairwise must be one of {PAIRWISE_KINDS}, got {pairwise!r}")
        if connectivity not in (4, 8):
            raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
        if not (temperature > 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be finite and > 0, got {temperature}")
        if pairwise_weight < 0:
            raise ValueError(f"pairwise_weight must be >= 0, got {pairwise_weight}")
        self.channels, self.connectivity = channels, connectivity
        self.patch_size = check_patch_size(patch_size)
        self.temperature, self.unary_weight = temperature, unary_weight
        self.pairwise_weight, self.pairwise_kind = pairwise_weight, pairwise
        self.backend_options = check_backend_options(backend_options)
        self.reg_weight = reg_weight
        self.backend = backend
        self.weight = nn.Parameter(torch.randn(channels) * 0.01)
        self.bias = nn.Parameter(torch.tensor(float(init_bias)))
        if pairwise == "learned":
            self.edge_weight = nn.Parameter(torch.zeros(channels))
            self.edge_bias = nn.Parameter(torch.zeros(()))
        else:
            self.register_parameter("edge_weight", None)
            self.register_parameter("edge_bias", None)
        self._warned = False

    @property
    def backend(self) -> str:
        """The solver backend name (settable; validated against the registry)."""
        return self._backend

    @backend.setter
    def backend(self, name: str) -> None:
        get_backend(name)
        self._backend = name

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = energy_mask(features, self.weight, self.bias, self.backend, self.connectivity,
                          self.patch_size, self.temperature, self.unary_weight,
                          self.pairwise_weight, self.pairwise_kind, self.edge_weight,
                          self.edge_bias, self.backend_options)
        if (self.training and out.unary.requires_grad and out.unary.numel() > 0
                and not out.differentiable and not self._warned):
            self._warned = True
            warnings.warn(f"EnergyMaskLayer: backend {self.backend!r} gives no gradient; in "
                          f"training the mask multiplies the features but the task loss does "
                          f"not reach the layer (use a differentiable backend such as "
                          f"'meanfield' or 'ste')", stacklevel=2)
        self.last = out
        return out.features

    unary = from_last("unary", "``(B, h, w)`` θ of the last call.")
    pairwise = from_last("pairwise", "``(B, K, h, w)`` weights of the last call.")
    mask = from_last("mask", "``(B, h, w)`` bool solved mask of the last call.")
    q = from_last("q", "``(B, h, w)`` relaxed mask of the last call, or None.")
    gate = from_last("gate", "``(B, h, w)`` what multiplied the features in the last call.")
    keep_prob = from_last("gate", "``(B, h, w)`` keep probabilities (the gate) of the last call.")
    energy = from_last("energy", "``(B,)`` float64 energy of the last call's mask.")

    def grid_energy(self) -> GridEnergy:
        """The token energy of the last forward pass (detached), e.g. to re-solve it exactly."""
        last = last_output(self)
        return GridEnergy(last.unary.detach(), last.pairwise.detach())

    def regularizer(self) -> torch.Tensor:
        """``reg_weight ·`` :func:`mask_regularizer` of the last forward pass (scalar)."""
        return self.reg_weight * last_output(self).regularizer()

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, backend={self.backend!r}, "
                f"connectivity={self.connectivity}, patch_size={self.patch_size}, "
                f"pairwise={self.pairwise_kind!r}, unary_weight={self.unary_weight}, "
                f"pairwise_weight={self.pairwise_weight}, temperature={self.temperature}")


__all__ = [
    "PAIRWISE_KINDS",
    "EnergyMaskLayer",
    "EnergyMaskOutput",
    "backend_options_for",
    "energy_mask",
    "learned_weights",
    "mask_regularizer",
    "pool_tokens",
    "solve_tokens",
    "token_pairwise",
    "token_unaries",
    "upsample_tokens",
]
