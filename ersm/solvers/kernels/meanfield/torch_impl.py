"""Mean-field in plain torch ops: any device, differentiable end to end.

Only out-of-place tensor ops (``pad``, slicing, ``where``, ``sigmoid``), so autograd
can unroll the iterations (gradients reach ``unary``, ``pairwise`` and ``init``).
The energy is folded once per call, as in the Numba kernel:
``c = (θ + Σ_j w_ij) / T`` and per-direction weights ``v = 2 w / T`` (zero off-grid),
so ``a_i = c_i − Σ_j v_ij q_j`` and ``q_i ← q_i + α (σ(−a_i) − q_i)``.

The ``parallel`` schedule updates every token from the previous iterate and may
oscillate (a 2-cycle between two masks) at low temperature with strong weights:
damping ``α < 1`` or the ``checkerboard`` schedule avoid that.
"""

from __future__ import annotations

from typing import Any

from ....energy.offsets import K_TO_CONNECTIVITY, OFFSETS, valid_edge_mask
from ._common import MeanFieldOptions, colour_classes


def fold_energy(unary: Any, pairwise: Any, temperature: float) -> tuple[Any, Any, list[int]]:
    """Fold the energy into flat per-direction form.

    Returns:
        ``c (B, N) = (θ + Σ_j w_ij) / T``; ``v (B, 2K, N)``, where ``v[:, 2k]`` and
        ``v[:, 2k + 1]`` are ``2 w / T`` of channel ``k``'s edge leaving token ``i``
        towards ``i + steps[2k]`` and arriving from ``i + steps[2k + 1]`` (0 for edges
        that leave the grid); and the flat ``steps`` (``N = H · W``, ``dy · W + dx``).
    """
    import torch
    import torch.nn.functional as F

    batch, n_k, height, width = pairwise.shape
    n = height * width
    valid = torch.as_tensor(valid_edge_mask(height, width, K_TO_CONNECTIVITY[n_k]),
                            device=pairwise.device)
    w = torch.where(valid, pairwise, torch.zeros((), dtype=pairwise.dtype,
                                                  device=pairwise.device)).reshape(batch, n_k, n)
    per_direction, steps = [], []
    for k in range(n_k):
        step = OFFSETS[k][0] * width + OFFSETS[k][1]
        arriving = F.pad(w[:, k], (step, 0))[:, :n]  # weight of the edge from i − step
        per_direction += [w[:, k], arriving]
        steps += [step, -step]
    v = torch.stack(per_direction, dim=1)
    c = (unary.reshape(batch, n) + v.sum(dim=1)) / temperature
    return c, v * (2 / temperature), steps


def neighbour_sum(v: Any, q: Any, steps: list[int], minus: Any) -> Any:
    """``Σ_j v_ij q_j − minus`` ``(B, N)`` for flat ``q (B, N)`` and ``v (B, 2K, N)``.

    ``q`` is zero-padded by ``max |step|`` on both ends, so every neighbour is a
    contiguous slice; edges that leave the grid have ``v = 0``.
    """
    import torch
    import torch.nn.functional as F

    pad, n = max(abs(s) for s in steps), q.shape[-1]
    padded = F.pad(q, (pad, pad))
    total = -minus
    for d, step in enumerate(steps):
        total = torch.addcmul(total, v[:, d], padded[:, pad + step:pad + step + n])
    return total


def meanfield_torch(unary: Any, pairwise: Any, q0: Any,
                    options: MeanFieldOptions) -> tuple[Any, Any, Any]:
    """Mean-field with torch tensors on their device.

    Args:
        unary: ``(B, H, W)`` θ, float32 or float64 (the working dtype).
        pairwise: ``(B, K, H, W)`` weights, same dtype and device.
        q0: ``(B, H, W)`` initial marginals, same dtype and device.
        options: :class:`._common.MeanFieldOptions`.

    Returns:
        ``(q (B, H, W), iterations (B,) int64, converged (B,) bool)``, on the device.
        With ``tol > 0`` every iteration syncs once with the host (to stop early).
    """
    import torch

    batch, height, width = unary.shape
    c, v, steps = fold_energy(unary, pairwise, options.temperature)
    colours = torch.tensor(colour_classes(height, width, K_TO_CONNECTIVITY[pairwise.shape[1]],
                                          options.schedule), device=unary.device)
    colours = colours.reshape(len(colours), 1, height * width)
    track = options.tol > 0
    q = q0.reshape(batch, height * width)
    iterations = torch.zeros(batch, dtype=torch.int64, device=unary.device)
    converged = torch.zeros(batch, dtype=torch.bool, device=unary.device)
    for _ in range(options.iters):
        active = ~converged
        if track and not bool(active.any()):
            break
        delta = torch.zeros(batch, dtype=q.dtype, device=q.device)
        for colour in colours:
            target = torch.sigmoid(neighbour_sum(v, q, steps, c))
            new = q + options.damping * (target - q)
            update = colour & active[:, None] if track else colour
            if track:
                change = torch.where(update, (new - q).abs(), torch.zeros_like(q))
                delta = torch.maximum(delta, change.amax(dim=1))
            q = torch.where(update, new, q) if len(colours) > 1 or track else new
        iterations = iterations + active
        if track:
            converged = converged | (active & (delta < options.tol))
    return q.reshape(batch, height, width), iterations, converged
