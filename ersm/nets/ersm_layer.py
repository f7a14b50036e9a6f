"""The paper's Energy-Mask Layer (ERSM, arXiv 2604.06893), reproduced from its released code.

For features ``(B, C, H, W)`` with ``H`` and ``W`` multiples of the patch size ``p``, the
token grid is ``h × w = H/p × W/p`` (``N = h · w`` tokens, row-major):

- ``p_i``: the ``p × p`` patch flattened to ``D = C · p²`` values in ``F.unfold``'s order,
  index ``c · p² + ky · p + kx`` (channel-major, then the row and column inside the patch);
- ``p̂_i = p_i / (‖p_i‖ + 1e-6)``;
- ``z_i = wᵀ p̂_i + b_i``: a bias-free ``Linear(D, 1)`` plus a per-token bias ``b`` of shape
  ``(1, N)`` that starts at 6.0 and, by default, is not trained (``keep`` starts near
  ``σ(−6) ≈ 0.0025``);
- ``keep_i = σ(−z_i / T)``;
- ``E_u,i = λ · softplus(z_i)``;
- ``E_p,i = γ · softplus(Σ_{j ∈ N8(i)} p̂_iᵀ p̂_j)`` over the 8 neighbours, zero padding at
  the borders (a missing neighbour contributes 0 to the sum);
- regulariser ``mean_i(keep_i · (E_u,i + E_p,i))`` (added to the cross-entropy);
- output ``features · keep`` (``keep`` repeated over each patch); a *forced mask*
  ``(B, h, w)`` (deletion tests) replaces ``keep`` in the output, and the classifier then
  rescales the pooled features by ``N / Σ mask`` (:func:`ersm.nets.classifier.classify_features`).

Defaults ``λ = γ = 1e-3``, ``T = 1``; the paper's training recipe is
:data:`ersm.train.recipes.PAPER` (``ersm train --recipe paper``).

**What pushes a token out, what keeps it.** ``b_i = 6`` closes every token at first; as
``p̂`` has unit norm, ``|wᵀ p̂| ≤ ‖w‖``, so a token opens (``z < 0``) only once the
projection has grown to ``‖w‖ > b_i`` along its direction, pulled by the cross-entropy
through the kept features; ``keep · E`` (``E > 0``) pushes every keep down, harder where
``z`` is large and where the token resembles its neighbours.

**Still different from the released code** (on purpose, or unknown):

- the paper creates ``b`` lazily, after the optimiser, so it never trains (an accident of
  its code, reproduced here as the default); it re-creates ``b`` at 6.0 whenever ``N``
  changes. The untrained default does the same; ``train_token_bias=True`` makes ``b`` a
  parameter of fixed size ``num_tokens`` (a map with another ``N`` is an error);
- ``T ≤ 0`` is an error here (the paper clamps ``T`` at 1e-6);
- all terms keep the input's dtype (the paper builds its pairwise sums in float32);
- the regulariser ``mean(keep · E)`` follows the paper's text: its training script was not
  found, so whether it also averages over the batch the same way is unchecked;
- forward returns the masked features and records the rest in ``layer.last`` (the paper
  returns ``(features, aux)``); a forced mask is ``(B, h, w)`` (the paper's is ``(B, N)``).

**How it differs from** :class:`~ersm.nets.energy_mask.EnergyMaskLayer`: here the
"pairwise" term ``E_p,i`` is a *constant per token* (it depends on the features only), so
it never couples the mask values of neighbouring tokens: each ``keep_i`` is an independent
sigmoid of its own logit and no solver is involved. The coherence term only reweights the
sparsity pressure ``keep · E``. ``EnergyMaskLayer`` instead puts a Potts term
``w_ij [m_i ≠ m_j]`` between neighbours and solves the resulting MRF, so neighbouring
decisions are made jointly. :meth:`ERSMLayer.grid_energy` gives the MRF this layer's
quantities imply (``θ = z / T``, 8-connected cosine weights), to compare its learned
``keep`` with a solved mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_count, check_finite_scalar, check_nonnegative_scalar, check_positive
from ..core.errors import ShapeError
from ..energy.grid import GridEnergy
from ..energy.weights import cosine_weights
from .recording import RecordingLayer, from_last, last_output
from .tokens import check_features, check_patch_size, upsample_tokens

PATCH_EPS = 1e-6
"""Added to ``‖p‖`` before dividing (the paper's ``eps``)."""
TOKEN_BIAS_INIT = 6.0
"""Initial per-token bias ``b_i`` (the paper's)."""
EXTRA_STATE_VERSION = 1


# ---------------------------------------------------------------- functional parts


def check_divisible(features: torch.Tensor, patch_size: int) -> tuple[int, int]:
    """The token grid ``(H/p, W/p)``; :class:`~ersm.errors.ShapeError` unless ``p`` divides both."""
    height, width = features.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ShapeError(f"features height and width must be multiples of patch_size="
                         f"{patch_size} (the paper's layer has no partial patches), got "
                         f"{height}×{width}")
    return height // patch_size, width // patch_size


def flatten_patches(features: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Each ``p × p`` patch as one vector of ``C · p²`` values, in ``F.unfold``'s order.

    Args:
        features: ``(B, C, H, W)``, ``H`` and ``W`` multiples of ``p``.
        patch_size: ``p ≥ 1``.

    Returns:
        ``(B, C · p², H/p, W/p)``; channel ``c · p² + ky · p + kx`` of token ``(y, x)`` is
        ``features[:, c, y · p + ky, x · p + kx]`` (the input itself for ``p = 1``).

    Example:
        >>> flatten_patches(torch.arange(8.0).reshape(1, 2, 2, 2), 2)[0, :, 0, 0].tolist()
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    """
    h, w = check_divisible(features, check_patch_size(patch_size))
    if patch_size == 1:
        return features
    b, c = features.shape[:2]
    p = patch_size
    return (features.reshape(b, c, h, p, w, p).permute(0, 1, 3, 5, 2, 4)
            .reshape(b, c * p * p, h, w))


def normalise_patches(patches: torch.Tensor, eps: float = PATCH_EPS) -> torch.Tensor:
    """``p̂ = p / (‖p‖ + eps)`` over dim 1 of ``(B, D, h, w)`` (zero patches stay zero)."""
    return patches / (patches.norm(dim=1, keepdim=True) + eps)


def neighbour_similarity(tokens: torch.Tensor) -> torch.Tensor:
    """``Σ_{j ∈ N8(i)} p̂_iᵀ p̂_j`` of normalised tokens, zero padding at the borders.

    Args:
        tokens: ``(B, D, h, w)`` normalised tokens ``p̂``.

    Returns:
        ``(B, h, w)``.
    """
    window = F.avg_pool2d(tokens, 3, 1, 1, count_include_pad=True) * 9  # 3×3 sums, 0-padded
    return (tokens * (window - tokens)).sum(1)


@dataclass
class ERSMOutput:
    """What :func:`ersm_mask` computed (token grid ``h × w``).

    Attributes:
        features: ``(B, C, H, W)`` masked features.
        unary: ``(B, h, w)`` logits ``z``.
        keep_prob: ``(B, h, w)`` ``σ(−z / T)``.
        unary_energy: ``(B, h, w)`` ``E_u``.
        pairwise_energy: ``(B, h, w)`` ``E_p``.
        tokens: ``(B, C · p², h, w)`` normalised flattened patches ``p̂``.
        mask: ``(B, h, w)`` what multiplied the features: ``keep_prob``, or the forced mask.
    """

    features: torch.Tensor
    unary: torch.Tensor
    keep_prob: torch.Tensor
    unary_energy: torch.Tensor
    pairwise_energy: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor

    @property
    def energy(self) -> torch.Tensor:
        """``(B, h, w)`` per-token energy ``E_u + E_p``."""
        return self.unary_energy + self.pairwise_energy

    def regularizer(self) -> torch.Tensor:
        """``mean(keep · (E_u + E_p))`` over batch and tokens (scalar)."""
        return (self.keep_prob * self.energy).mean()


def ersm_mask(features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | float,
              patch_size: int = 1, temperature: float = 1.0, unary_weight: float = 1e-3,
              pairwise_weight: float = 1e-3, forced_mask: torch.Tensor | None = None,
              eps: float = PATCH_EPS) -> ERSMOutput:
    """The paper's energy mask (functional form of :class:`ERSMLayer`).

    Args:
        features: ``(B, C, H, W)`` float, ``H`` and ``W`` multiples of ``patch_size``.
        weight: ``(C · p²,)`` projection ``w`` (index order of :func:`flatten_patches`).
        bias: ``b``: ``(1, h · w)`` per token (the layer's), or anything broadcasting to
            ``(B, h, w)`` (a scalar, ``(h, w)``...).
        patch_size: token side ``p`` in feature cells.
        temperature: ``T > 0``.
        unary_weight, pairwise_weight: ``λ`` and ``γ``.
        forced_mask: ``(B, h, w)`` values that replace ``keep`` in the output (deletion
            tests), or None.
        eps: added to ``‖p‖``.

    Returns:
        :class:`ERSMOutput`.

    Example:
        >>> out = ersm_mask(torch.rand(1, 4, 3, 3), torch.zeros(4), torch.tensor(0.0))
        >>> out.keep_prob.unique().tolist(), out.features.shape
        ([0.5], torch.Size([1, 4, 3, 3]))
    """
    check_features(features)
    patches = flatten_patches(features, patch_size)
    if weight.shape != (patches.shape[1],):
        raise ShapeError(f"weight must have shape (C·p²,) = ({patches.shape[1]},) for "
                         f"features {tuple(features.shape)} and patch_size={patch_size}, got "
                         f"{tuple(weight.shape)}")
    grid = patches.shape[-2:]
    if isinstance(bias, torch.Tensor) and bias.ndim == 2 and bias.shape[0] == 1:
        if bias.shape[1] != grid[0] * grid[1]:
            raise ShapeError(f"bias must have shape (1, h·w) = (1, {grid[0] * grid[1]}) for a "
                             f"{grid[0]}×{grid[1]} token grid, got {tuple(bias.shape)}")
        bias = bias.reshape(1, *grid)
    tokens = normalise_patches(patches, eps)
    z = torch.einsum("bdhw,d->bhw", tokens, weight) + bias
    keep = torch.sigmoid(-z / temperature)
    e_u = unary_weight * F.softplus(z)
    e_p = pairwise_weight * F.softplus(neighbour_similarity(tokens))
    gate = keep
    if forced_mask is not None:
        if tuple(forced_mask.shape) != tuple(keep.shape):
            raise ShapeError(f"forced_mask must have shape (B, h, w) = {tuple(keep.shape)}, "
                             f"got {tuple(forced_mask.shape)}")
        gate = forced_mask.to(features.dtype)
    masked = features * upsample_tokens(gate, patch_size, features.shape[-2:])[:, None]
    return ERSMOutput(features=masked, unary=z, keep_prob=keep, unary_energy=e_u,
                      pairwise_energy=e_p, tokens=tokens, mask=gate)


# ---------------------------------------------------------------- module


class ERSMLayer(RecordingLayer):
    """The paper's Energy-Mask Layer (see the module docstring for formulas and differences).

    Args:
        channels: feature channels ``C``.
        patch_size: token side ``p`` in feature cells (1 or 2 in the paper); feature maps
            must be multiples of it.
        temperature: ``T``.
        unary_weight: ``λ`` (default 1e-3).
        pairwise_weight: ``γ`` (default 1e-3).
        train_token_bias: make ``b`` a trained parameter (the paper never trains it);
            needs ``num_tokens``.
        num_tokens: ``N = h · w``, to create ``b`` at once; None: created at the first
            forward pass (re-created at ``token_bias_init`` when ``N`` changes, as in the
            paper).
        token_bias_init: initial ``b_i`` (6.0).

    Attributes:
        proj: ``Linear(C · p², 1, bias=False)``, ``w``.
        token_bias: ``(1, N)`` ``b`` (a buffer, or a parameter with ``train_token_bias``),
            None before the first forward pass when ``num_tokens`` is None.
        last: the :class:`ERSMOutput` of the last forward pass; ``unary``, ``keep_prob``,
            ``energy`` read from it.

    Shape:
        ``(B, C, H, W) → (B, C, H, W)``.

    Example:
        >>> layer = ERSMLayer(8, patch_size=2)
        >>> layer(torch.rand(2, 8, 6, 6)).shape, layer.keep_prob.shape
        (torch.Size([2, 8, 6, 6]), torch.Size([2, 3, 3]))
        >>> bool(layer.keep_prob.max() < 0.01), tuple(layer.token_bias.shape)
        (True, (1, 9))
    """

    token_bias: torch.Tensor | None

    def __init__(self, channels: int, patch_size: int = 1, temperature: float = 1.0,
                 unary_weight: float = 1e-3, pairwise_weight: float = 1e-3,
                 train_token_bias: bool = False, num_tokens: int | None = None,
                 token_bias_init: float = TOKEN_BIAS_INIT) -> None:
        super().__init__()
        self.channels = check_count(channels, "channels")
        self.patch_size = check_patch_size(patch_size)
        self.temperature = check_positive(temperature, "temperature")
        self.unary_weight = check_nonnegative_scalar(unary_weight, "unary_weight")
        self.pairwise_weight = check_nonnegative_scalar(pairwise_weight, "pairwise_weight")
        if not isinstance(train_token_bias, bool):
            raise TypeError(f"train_token_bias must be a bool, got {train_token_bias!r}")
        if num_tokens is not None:
            check_count(num_tokens, "num_tokens")
        if train_token_bias and num_tokens is None:
            raise ValueError("train_token_bias=True needs num_tokens (h·w of the token grid): "
                             "a bias created after the optimiser would never train")
        self.train_token_bias = train_token_bias
        self.token_bias_init = check_finite_scalar(token_bias_init, "token_bias_init")
        self.proj = nn.Linear(channels * self.patch_size ** 2, 1, bias=False)
        initial = (None if num_tokens is None
                   else torch.full((1, num_tokens), self.token_bias_init))
        if train_token_bias:
            self.token_bias = nn.Parameter(initial)
        else:
            self.register_buffer("token_bias", initial)

    @property
    def input_dim(self) -> int:
        """``D = C · p²``, the length of a flattened patch."""
        return self.channels * self.patch_size ** 2

    def _bias_for(self, features: torch.Tensor) -> torch.Tensor:
        h, w = check_divisible(features, self.patch_size)
        n = h * w
        bias = self.token_bias
        if bias is not None and bias.shape[1] == n:
            return bias.to(features.dtype)
        if self.train_token_bias:
            raise ShapeError(f"features {tuple(features.shape)} give {h}×{w} = {n} tokens, but "
                             f"the trained token bias has num_tokens={bias.shape[1]}")
        self.token_bias = torch.full((1, n), self.token_bias_init, dtype=features.dtype,
                                     device=features.device)
        return self.token_bias

    def forward(self, features: torch.Tensor,
                forced_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Masked features ``(B, C, H, W)``; ``forced_mask`` ``(B, h, w)`` replaces ``keep``."""
        check_features(features, self.channels)
        self.last = ersm_mask(features, self.proj.weight[0], self._bias_for(features),
                              self.patch_size, self.temperature, self.unary_weight,
                              self.pairwise_weight, forced_mask)
        return self.last.features

    unary = from_last("unary", "``(B, h, w)`` logits ``z`` of the last call.")
    keep_prob = from_last("keep_prob", "``(B, h, w)`` ``σ(−z/T)`` of the last call.")
    energy = from_last("energy", "``(B, h, w)`` ``E_u + E_p`` of the last call.")

    def regularizer(self) -> torch.Tensor:
        """``mean(keep · (E_u + E_p))`` of the last forward pass (scalar)."""
        return last_output(self).regularizer()

    def grid_energy(self, pairwise_weight: float | None = None,
                    connectivity: int = 8) -> GridEnergy:
        """The MRF implied by the last forward pass, to solve and compare with ``keep_prob``.

        Unaries ``θ = z / T`` (so that with no pairwise term the mean-field marginal is
        exactly ``keep``) and Potts weights ``γ · max(cos(p̂_i, p̂_j), 0)`` of the
        flattened patches.

        Args:
            pairwise_weight: ``γ`` of the Potts weights (default: the layer's).
            connectivity: 8 (the paper's neighbourhood) or 4.

        Returns:
            a batched torch :class:`~ersm.GridEnergy` (detached).
        """
        last = last_output(self)
        gamma = self.pairwise_weight if pairwise_weight is None else pairwise_weight
        tokens = last.tokens.detach()
        weights = cosine_weights(tokens, gamma=gamma, connectivity=connectivity,
                                 channels_last=False)
        return GridEnergy(last.unary.detach() / self.temperature, weights)

    # ------------------------------------------------------------ state

    def options(self) -> dict[str, Any]:
        """The constructor arguments that define this layer (plain values)."""
        return {"channels": self.channels, "patch_size": self.patch_size,
                "temperature": self.temperature, "unary_weight": self.unary_weight,
                "pairwise_weight": self.pairwise_weight,
                "train_token_bias": self.train_token_bias,
                "token_bias_init": self.token_bias_init}

    def get_extra_state(self) -> dict[str, Any]:
        """Options saved in the ``state_dict`` (``<prefix>_extra_state``)."""
        return {"version": EXTRA_STATE_VERSION, "class": type(self).__name__, **self.options()}

    def set_extra_state(self, state: Any) -> None:
        """Restore the hyper-parameters saved by :meth:`get_extra_state`.

        ``temperature``, ``unary_weight``, ``pairwise_weight`` and ``token_bias_init`` are
        taken from the state; ``channels``, ``patch_size`` and ``train_token_bias`` fix the
        parameters' meaning, so a difference raises ``ValueError`` naming them.
        """
        if not isinstance(state, dict) or state.get("class") != type(self).__name__:
            raise ValueError(f"extra state is not an {type(self).__name__}'s: {state!r}")
        fixed = ("channels", "patch_size", "train_token_bias")
        differ = [f"{k}: saved {state.get(k)!r}, layer {getattr(self, k)!r}"
                  for k in fixed if state.get(k) != getattr(self, k)]
        if differ:
            raise ValueError(f"state_dict is from a differently built {type(self).__name__} "
                             f"({'; '.join(differ)})")
        self.temperature = check_positive(state["temperature"], "temperature")
        self.unary_weight = check_nonnegative_scalar(state["unary_weight"], "unary_weight")
        self.pairwise_weight = check_nonnegative_scalar(state["pairwise_weight"], "pairwise_weight")
        self.token_bias_init = check_finite_scalar(state["token_bias_init"], "token_bias_init")

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: Any,
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        if prefix + "proj.bias" in state_dict:
            error_msgs.append(f"{prefix}proj.bias: this state_dict is from the earlier ERSMLayer "
                              f"(average-pooled patches, one scalar bias); the paper-faithful "
                              f"layer has a bias-free projection and a per-token bias: retrain")
            return
        key = prefix + "token_bias"
        saved = state_dict.get(key)
        if (not self.train_token_bias and isinstance(saved, torch.Tensor)
                and (self.token_bias is None or self.token_bias.shape != saved.shape)):
            self.token_bias = torch.empty_like(saved, device=self.proj.weight.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        extra = prefix + "_extra_state"
        if extra not in state_dict and extra in missing_keys:  # saved before the options were
            missing_keys.remove(extra)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.options().items())


__all__ = ["ERSMLayer", "ERSMOutput", "PATCH_EPS", "TOKEN_BIAS_INIT", "check_divisible",
           "ersm_mask", "flatten_patches", "neighbour_similarity", "normalise_patches"]
