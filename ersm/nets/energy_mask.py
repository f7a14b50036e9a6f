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

Budgets: a keep cost ``ρ`` (``θ → θ + ρ``) and a keep ratio ``r`` (dual ascent on ``ρ`` in
training, the exact cut of the closest size in evaluation); see :class:`EnergyMaskLayer`
and :mod:`ersm.nets.budget`.

The pieces live in small modules, re-exported here: :mod:`~ersm.nets.tokens` (pooling),
:mod:`~ersm.nets.terms` (unaries, weights, regulariser), :mod:`~ersm.nets.recording`
(the base class that keeps the last output), :mod:`~ersm.nets.budget`.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from ..core.checks import check_choice, check_count, check_positive
from ..energy.grid import GridEnergy
from ..solvers.api import solve
from ..solvers.defaults import DEFAULT_RELAXED
from ..solvers.options import backend_options_for, check_backend_options
from ..solvers.registry import get_backend
from ..solvers.result import SolveResult
from .budget import (BUDGETS, budget_mask, budget_penalty, check_keep_ratio, dual_ascent_step,
                     top_ratio_mask)
from .recording import RecordingLayer, from_last, last_output
from .terms import (PAIRWISE_KINDS, learned_weights, mask_regularizer, token_pairwise,
                    token_unaries)
from .tokens import check_features, check_patch_size, pool_tokens, upsample_tokens


# ---------------------------------------------------------------- solving

EXTRA_STATE_VERSION = 1
"""Version of :meth:`EnergyMaskLayer.get_extra_state`'s dict."""


def solve_tokens(unary: torch.Tensor, pairwise: torch.Tensor, backend: str = DEFAULT_RELAXED,
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
        energy: ``(B,)`` float64 discrete energy of ``mask`` (under ``unary``).
        differentiable: the gate carries gradients to ``unary``/``pairwise``.
        budget_cost: ``(B,)`` float64 per-image keep cost ``λ_b`` added to ``unary`` by the
            exact budget mask (:func:`~ersm.nets.budget.budget_mask`), or None without one.
    """

    features: torch.Tensor
    unary: torch.Tensor
    pairwise: torch.Tensor
    mask: torch.Tensor
    q: torch.Tensor | None
    gate: torch.Tensor
    energy: torch.Tensor
    differentiable: bool
    budget_cost: torch.Tensor | None = None

    def regularizer(self) -> torch.Tensor:
        """:func:`mask_regularizer` of this output's energy and gate."""
        return mask_regularizer(self.unary, self.pairwise, self.gate)


def energy_mask(features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                backend: str = DEFAULT_RELAXED, connectivity: int = 4, patch_size: int = 1,
                temperature: float = 1.0, unary_weight: float = 1.0,
                pairwise_weight: float = 1.0, pairwise: str = "cosine",
                edge_weight: torch.Tensor | None = None, edge_bias: torch.Tensor | None = None,
                backend_options: Mapping[str, Any] | None = None,
                keep_cost: float | torch.Tensor = 0.0,
                keep_ratio: float | None = None) -> EnergyMaskOutput:
    """Mask features with the solved token MRF (functional form of :class:`EnergyMaskLayer`).

    The solved unaries are ``θ = λ · (vᵀ f + b) + ρ`` with the keep cost ``ρ``. With
    ``keep_ratio = r`` the backend is not used: each image gets the exact canonical cut of
    ``θ + λ_b`` whose size is closest to ``r·h·w`` (:func:`~ersm.nets.budget.budget_mask`),
    and the gate is that binary mask (no gradient).

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
        keep_cost: ``ρ`` added to every unary (scalar or ``()`` tensor).
        keep_ratio: ``r ∈ [0, 1]`` for an exact mask of that size per image, or None.

    Returns:
        :class:`EnergyMaskOutput`.

    Example:
        >>> out = energy_mask(torch.rand(2, 3, 4, 4), torch.zeros(3), torch.tensor(-1.0))
        >>> out.features.shape, out.mask.shape, bool(out.mask.all())
        (torch.Size([2, 3, 4, 4]), torch.Size([2, 4, 4]), True)
    """
    check_features(features, weight.shape[0])
    tokens = pool_tokens(features, patch_size)
    unary = token_unaries(tokens, weight, bias, unary_weight) + keep_cost
    weights = token_pairwise(tokens, pairwise, pairwise_weight, connectivity, edge_weight,
                             edge_bias)
    budget = None
    if check_keep_ratio(keep_ratio) is not None:
        mask, budget = budget_mask(unary, weights, keep_ratio)
        gate = mask.to(features.dtype)
        q = None
        energy = GridEnergy(unary.detach().double(), weights.detach().double()).energy(mask)
    else:
        result = solve_tokens(unary, weights, backend, temperature, backend_options)
        mask, q, energy = result.mask, result.q, result.energy
        gate = gate_of(result, features.dtype)
    masked = features * upsample_tokens(gate, patch_size, features.shape[-2:])[:, None]
    return EnergyMaskOutput(features=masked, unary=unary, pairwise=weights, mask=mask, q=q,
                            gate=gate, energy=energy, differentiable=gate.requires_grad,
                            budget_cost=budget)


# ---------------------------------------------------------------- module


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
        keep_cost: ``ρ`` added to every unary (``θ → θ + ρ``, a fixed price per kept
            token); with ``keep_ratio`` it is the starting value of the adapted keep cost.
        keep_ratio: target fraction ``r`` of kept tokens, or None (no budget). In
            training, after every forward pass the keep cost moves by dual ascent,
            ``ρ ← ρ + keep_cost_step · (mean(gate) − r)``, so the batch mean of the gate
            is driven to ``r``. In evaluation (``layer.eval()``) with an exact backend
            (``graphcut``), each image gets the exact cut of ``θ + λ_b`` whose size is
            closest to ``r·h·w`` (:func:`~ersm.nets.budget.budget_mask`, via
            :func:`ersm.solve_path`); with a relaxed backend the gate is that backend's
            at the trained ``ρ``. Settable on a built layer.
        keep_cost_step: dual step size (``> 0``).
        budget: how training meets ``keep_ratio``: ``"dual"`` (dual ascent on ``ρ``, the
            default) or ``"loss"`` (DynamicViT's penalty ``budget_weight · (mean(gate) −
            r)²`` added to :meth:`regularizer`; ``ρ`` stays at ``keep_cost``).
        budget_weight: the penalty's weight for ``budget="loss"`` (``> 0``; DynamicViT: 2).
        budget_warmup: training steps over which the training target falls linearly from
            1 (keep everything) to ``keep_ratio`` (``≥ 0``; 0: the target from the start).
            A hard budget from the first step fixes the selection on random features, the
            gate saturates and the selection stops learning; the warm-up lets the backbone
            learn first. The steps taken are a buffer (``budget_step``, in the checkpoint).

    What pushes a token out, what keeps it: token ``i`` is kept when its unary
    ``θ_i = λ · (vᵀ f_i + b) + ρ`` is negative enough to pay for the edges it cuts. Out:
    the keep cost ``ρ`` (raised by dual ascent while more than ``r`` of the gate is on),
    the bias ``b``, and a projection ``vᵀ f_i`` that the task loss makes positive on
    tokens whose features do not help the classification; the regulariser
    (:meth:`regularizer`) penalises gates that disagree with θ or cut edges. In: the
    task loss (masking a token removes its features from the pooled descriptor, so the
    gradient lowers θ on tokens that carry class evidence), and the Potts coupling
    ``w_ij``, which makes a token whose similar neighbours are kept cheaper to keep
    (and a lone kept token in dropped surroundings expensive). Under a budget the
    tokens compete: ``ρ`` sets the price, θ ranks them, ``w`` makes the kept set compact.

    Why dual ascent and not a budget loss such as DynamicViT's ``(mean keep − r)²``: the
    constraint is met at any scale of the task loss without tuning a penalty weight
    (a quadratic penalty settles where its gradient balances the cross-entropy's, off
    ``r`` by an amount that depends on both), and the adapted ``ρ`` is exactly the keep
    cost of the energy, so the trained layer's ``θ + ρ`` is a graph-cut energy whose
    exact mask at evaluation has about the trained size. ``ρ`` is a buffer: it is in the
    ``state_dict`` and the training checkpoint (a resumed run continues it).

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

    def __init__(self, channels: int, backend: str = DEFAULT_RELAXED, connectivity: int = 4,
                 patch_size: int = 1, temperature: float = 1.0, unary_weight: float = 1.0,
                 pairwise_weight: float = 0.5, pairwise: str = "cosine",
                 backend_options: Mapping[str, Any] | None = None, init_bias: float = -2.0,
                 reg_weight: float = 1e-2, keep_cost: float = 0.0,
                 keep_ratio: float | None = None, keep_cost_step: float = 2.0,
                 budget: str = "dual", budget_weight: float = 2.0,
                 budget_warmup: int = 0) -> None:
        super().__init__()
        if pairwise not in PAIRWISE_KINDS:
            raise ValueError(f"pairwise must be one of {PAIRWISE_KINDS}, got {pairwise!r}")
        if connectivity not in (4, 8):
            raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
        if not (temperature > 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be finite and > 0, got {temperature}")
        if pairwise_weight < 0:
            raise ValueError(f"pairwise_weight must be >= 0, got {pairwise_weight}")
        if not math.isfinite(keep_cost):
            raise ValueError(f"keep_cost must be finite, got {keep_cost}")
        if not (keep_cost_step > 0 and math.isfinite(keep_cost_step)):
            raise ValueError(f"keep_cost_step must be finite and > 0, got {keep_cost_step}")
        self.keep_ratio = check_keep_ratio(keep_ratio)
        self.keep_cost_step = float(keep_cost_step)
        self.budget = check_choice(budget, "budget", BUDGETS)
        self.budget_weight = check_positive(budget_weight, "budget_weight")
        self.budget_warmup = check_count(budget_warmup, "budget_warmup", minimum=0)
        self.register_buffer("budget_step", torch.tensor(0, dtype=torch.int64))
        self.register_buffer("keep_cost", torch.tensor(float(keep_cost)))
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

    @property
    def budgeted(self) -> bool:
        """Whether forward gives exact masks of size ``keep_ratio`` (eval, exact backend)."""
        return (not self.training and self.keep_ratio is not None
                and get_backend(self.backend).exact)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = energy_mask(features, self.weight, self.bias, self.backend, self.connectivity,
                          self.patch_size, self.temperature, self.unary_weight,
                          self.pairwise_weight, self.pairwise_kind, self.edge_weight,
                          self.edge_bias, self.backend_options,
                          keep_cost=self.keep_cost.to(features.dtype),
                          keep_ratio=self.keep_ratio if self.budgeted else None)
        if self.training and self.keep_ratio is not None:
            if self.budget == "dual":
                dual_ascent_step(self.keep_cost, out.gate, self.training_target(),
                                 self.keep_cost_step)
            self.budget_step += 1
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
        """``reg_weight ·`` :func:`mask_regularizer` of the last forward pass (scalar), plus
        the budget penalty ``budget_weight · (mean(gate) − r)²`` with ``budget="loss"`` in
        training."""
        last = last_output(self)
        reg = self.reg_weight * last.regularizer()
        if (self.training and self.keep_ratio is not None and self.budget == "loss"
                and last.gate.numel() > 0):
            reg = reg + budget_penalty(last.gate, self.training_target(), self.budget_weight)
        return reg

    def training_target(self) -> float:
        """The kept share training aims at now: ``keep_ratio`` after the warm-up, falling
        linearly from 1 during it (see ``budget_warmup``)."""
        if self.keep_ratio is None:
            raise ValueError("training_target needs a keep_ratio")
        if self.budget_warmup == 0:
            return self.keep_ratio
        done = min(1.0, float(self.budget_step) / self.budget_warmup)
        return 1.0 - (1.0 - self.keep_ratio) * done

    def options(self) -> dict[str, Any]:
        """The constructor arguments that define this layer (plain values; the keep cost
        itself is a buffer)."""
        return {"channels": self.channels, "backend": self.backend,
                "connectivity": self.connectivity, "patch_size": self.patch_size,
                "temperature": self.temperature, "unary_weight": self.unary_weight,
                "pairwise_weight": self.pairwise_weight, "pairwise": self.pairwise_kind,
                "backend_options": dict(self.backend_options), "reg_weight": self.reg_weight,
                "keep_ratio": self.keep_ratio, "keep_cost_step": self.keep_cost_step,
                "budget": self.budget, "budget_weight": self.budget_weight,
                "budget_warmup": self.budget_warmup}

    def get_extra_state(self) -> dict[str, Any]:
        """Backend and options, saved in the ``state_dict`` as ``<prefix>_extra_state``."""
        return {"version": EXTRA_STATE_VERSION, "class": type(self).__name__, **self.options()}

    def set_extra_state(self, state: Any) -> None:
        """Restore backend and options; a differently built layer raises ``ValueError``."""
        if not isinstance(state, dict) or state.get("class") != type(self).__name__:
            raise ValueError(f"extra state is not an {type(self).__name__}'s: {state!r}")
        own = {"channels": self.channels, "patch_size": self.patch_size,
               "pairwise": self.pairwise_kind}
        differ = [f"{k}: saved {state.get(k)!r}, layer {own[k]!r}" for k in own
                  if state.get(k) != own[k]]
        if differ:
            raise ValueError(f"state_dict is from a differently built {type(self).__name__} "
                             f"({'; '.join(differ)})")
        self.backend = state["backend"]  # the setter checks it against the registry
        self.connectivity = state["connectivity"]
        self.temperature, self.unary_weight = state["temperature"], state["unary_weight"]
        self.pairwise_weight, self.reg_weight = state["pairwise_weight"], state["reg_weight"]
        self.backend_options = check_backend_options(state["backend_options"])
        self.keep_ratio = check_keep_ratio(state["keep_ratio"])
        self.keep_cost_step = float(state["keep_cost_step"])
        # options added later: states saved before them take the constructor's defaults
        defaults = inspect.signature(type(self)).parameters
        self.budget = check_choice(state.get("budget", defaults["budget"].default), "budget",
                                   BUDGETS)
        self.budget_weight = float(state.get("budget_weight", defaults["budget_weight"].default))
        self.budget_warmup = int(state.get("budget_warmup", defaults["budget_warmup"].default))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str,
                              local_metadata: Any, strict: bool, missing_keys: list[str],
                              *args: Any, **kwargs: Any) -> None:
        # checkpoints written before the keep cost existed load with the layer's own
        state_dict.setdefault(prefix + "keep_cost", self.keep_cost.detach().clone())
        state_dict.setdefault(prefix + "budget_step", self.budget_step.detach().clone())
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      *args, **kwargs)
        extra = prefix + "_extra_state"
        if extra not in state_dict and extra in missing_keys:  # from before: keep the options
            missing_keys.remove(extra)

    def extra_repr(self) -> str:
        budget = ("" if self.keep_ratio is None
                  else f", keep_ratio={self.keep_ratio}, budget={self.budget!r}")
        return (f"channels={self.channels}, backend={self.backend!r}{budget}, "
                f"connectivity={self.connectivity}, patch_size={self.patch_size}, "
                f"pairwise={self.pairwise_kind!r}, unary_weight={self.unary_weight}, "
                f"pairwise_weight={self.pairwise_weight}, temperature={self.temperature}")


__all__ = [
    "PAIRWISE_KINDS",
    "RecordingLayer",
    "budget_mask",
    "check_features",
    "check_patch_size",
    "dual_ascent_step",
    "from_last",
    "last_output",
    "top_ratio_mask",
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
