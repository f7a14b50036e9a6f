"""Differentiable mean-field on CPU: Numba forward and a hand-written unrolled backward.

The gradient is exactly the one torch autograd computes through the unrolled iterations
(:mod:`.torch_impl`), but the forward (the kernel of :mod:`.numba_kernel`, so the same
``q`` as without gradients) keeps only ``q`` after every sweep (``(B, sweeps + 1, H, W)``)
and the backward walks the sweeps in reverse in Numba with the same padded flat layout
and vectorised loops.

In the folded form of the forward, ``a_i = c_i − Σ_j v_ij q_j`` with
``c_i = (θ_i + Σ_j w_ij) / T`` and ``v_ij = 2 w_ij / T``; a pass (one colour class ``C``,
or every token for ``parallel``) sets ``q'_i = q_i + α (σ(−a_i) − q_i)`` for ``i ∈ C``.
Its backward, given ``g = ∂L/∂q'``, with ``s_i = σ(−a_i)``::

    d_i = −α s_i (1 − s_i) g_i  for i ∈ C, else 0          (∂L/∂a_i)
    ∂L/∂q_j = (1 − α [j ∈ C]) g_j − Σ_i v_ij d_i            (the forward's neighbour sum, on d)
    ∂L/∂c_i += d_i,   ∂L/∂v_ij += −(d_i q_j + d_j q_i)      (per edge)

and at the end ``∂L/∂θ_i = ∂L/∂c_i / T``, ``∂L/∂w_ij = (∂L/∂c_i + ∂L/∂c_j) / T +
2 ∂L/∂v_ij / T``. Within a checkerboard sweep the ``q`` a pass read is rebuilt from the
stored start and end of the sweep (classes before the pass already hold their end
values). Samples that stopped early (``tol``) are differentiated through the sweeps they
ran.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import uint64

from ....core.numba_cache import njit
from ....core.parallel import run_batch
from ....energy.offsets import OFFSETS
from ._common import MeanFieldOptions
from ._numba_math import sigmoid_neg
from .numba_kernel import (_axial, _diagonal, _fold, _pad, _unpad, flat_colours,
                           solve_batch)

_OFFSETS = np.asarray(OFFSETS, np.int64)
_JIT = dict(cache=True, fastmath=False, error_model="numpy", nogil=True)
"""No ``fastmath`` here (unlike the forward kernel): with it, the backward's results
differed in the last bits from call to call on the thread pool, and training must be
reproducible bit for bit (resumed runs equal uninterrupted ones)."""


@njit(**_JIT)
def _pass_backward(c, v, before, g, out, d, grad_c, grad_v, colours, colour, alpha, pad,
                   width, steps, checkerboard):
    """One pass in reverse: ``out = ∂L/∂q`` before the pass from ``g`` after it; adds to
    ``grad_c`` and ``grad_v`` (padded flat, ``d`` is scratch)."""
    n, eight = c.shape[0], v.shape[0] == 4
    w, p = uint64(width), uint64(pad)
    one = alpha / alpha  # 1 in the working dtype (a literal 1 would promote float32 code)
    zero = alpha - alpha
    for t in range(uint64(n)):
        j = t + p
        a = c[t] - _axial(v, before, j, w)
        if eight:
            a -= _diagonal(v, before, j, w)
        s = sigmoid_neg(a)
        member = not checkerboard or colours[t] == colour
        d[j] = -alpha * s * (one - s) * g[j] if member else zero
        out[j] = g[j] * (one - alpha) if member else g[j]
    for t in range(uint64(n)):
        j = t + p
        total = _axial(v, d, j, w)
        if eight:
            total += _diagonal(v, d, j, w)
        out[j] -= total
        grad_c[t] += d[j]
    for k in range(v.shape[0]):
        step = uint64(steps[k])  # every channel's flat step is positive
        for t in range(uint64(n)):
            j = t + p
            grad_v[k, j] -= d[j] * before[j + step] + d[j + step] * before[j]


@njit(**_JIT)
def _backward_map(theta, weights, offsets, colours, history, done, inv_t, two_inv_t, alpha,
                  checkerboard, grad_q, grad_theta, grad_weights):
    """Reverse the ``done`` sweeps: ``grad_q (H, W)`` (``∂L/∂q`` of the result) becomes
    ``∂L/∂q0``; ``grad_theta`` and ``grad_weights`` receive their gradients."""
    n_k, height, width = weights.shape
    n, pad = height * width, width + 1
    m = n + 2 * pad
    dtype = history.dtype
    c, v = np.empty(n, dtype), np.empty((n_k, m), dtype)
    _fold(theta, weights, offsets, inv_t, two_inv_t, pad, c, v)
    start, end, before = np.zeros(m, dtype), np.zeros(m, dtype), np.zeros(m, dtype)
    g, out, d = np.zeros(m, dtype), np.zeros(m, dtype), np.zeros(m, dtype)
    grad_c, grad_v = np.zeros(n, dtype), np.zeros((n_k, m), dtype)
    steps = np.empty(n_k, np.int64)
    for k in range(n_k):
        steps[k] = offsets[k, 0] * width + offsets[k, 1]
    n_colours = (4 if n_k == 4 else 2) if checkerboard else 1
    _pad(grad_q, pad, g)
    for sweep in range(done - 1, -1, -1):
        _pad(history[sweep], pad, start)
        _pad(history[sweep + 1], pad, end)
        for colour in range(n_colours - 1, -1, -1):
            for t in range(n):
                late = checkerboard and colours[t] < colour
                before[t + pad] = end[t + pad] if late else start[t + pad]
            _pass_backward(c, v, before, g, out, d, grad_c, grad_v, colours, colour, alpha,
                           pad, width, steps, checkerboard)
            g, out = out, g
    _unpad(g, pad, grad_q)
    for y in range(height):
        for x in range(width):
            grad_theta[y, x] = grad_c[y * width + x] * inv_t
    for k in range(n_k):
        dy, dx = offsets[k, 0], offsets[k, 1]
        for y in range(height):
            for x in range(width):
                i = y * width + x
                inside = y + dy < height and 0 <= x + dx < width and x + dx >= 0
                grad_weights[k, y, x] = ((grad_c[i] + grad_c[i + steps[k]]) * inv_t
                                         + grad_v[k, pad + i] * two_inv_t) if inside else 0


@njit(**_JIT)
def _backward_range(start, stop, unary, pairwise, offsets, colours, history, iterations,
                    inv_t, two_inv_t, alpha, checkerboard, grad_q, grad_unary, grad_pairwise):
    for b in range(start, stop):
        _backward_map(unary[b], pairwise[b], offsets, colours, history[b], iterations[b],
                      inv_t, two_inv_t, alpha, checkerboard, grad_q[b], grad_unary[b],
                      grad_pairwise[b])


def meanfield_forward(unary: np.ndarray, pairwise: np.ndarray, q0: np.ndarray,
                      options: MeanFieldOptions
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean-field keeping every sweep's ``q``.

    Args:
        unary: ``(B, H, W)`` θ, float32 or float64; pairwise ``(B, K, H, W)``; q0
            ``(B, H, W)``, same dtype.
        options: validated options.

    Returns:
        ``(q (B, H, W), history (B, iters + 1, H, W), iterations (B,) int64, converged
        (B,) bool)``; ``q[b]`` equals ``history[b, iterations[b]]``.
    """
    history = np.empty((unary.shape[0], options.iters + 1, *unary.shape[1:]), unary.dtype)
    history[:, 0] = q0
    q = np.array(q0, dtype=unary.dtype, order="C", copy=True)
    iterations, converged = solve_batch(unary, pairwise, q, options, history)
    return q, history, iterations, converged


def meanfield_backward(unary: np.ndarray, pairwise: np.ndarray, history: np.ndarray,
                       iterations: np.ndarray, grad_q: np.ndarray,
                       options: MeanFieldOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``L`` w.r.t. ``unary``, ``pairwise`` and ``q0`` from ``∂L/∂q``.

    Args:
        unary, pairwise: the forward's inputs; history, iterations: its outputs.
        grad_q: ``(B, H, W)`` ``∂L/∂q`` of the result.

    Returns:
        ``(grad_unary, grad_pairwise, grad_q0)`` in the inputs' shapes and dtype.
    """
    batch, height, width = unary.shape
    n_k = pairwise.shape[1]
    dtype = unary.dtype.type
    grad_q0 = np.array(grad_q, dtype=unary.dtype, order="C", copy=True)
    grad_unary, grad_pairwise = np.zeros_like(unary), np.zeros_like(pairwise)
    run_batch(_backward_range, batch, np.ascontiguousarray(unary),
              np.ascontiguousarray(pairwise), _OFFSETS[:n_k], flat_colours(height, width, n_k),
              history, iterations, dtype(1 / options.temperature),
              dtype(2 / options.temperature), dtype(options.damping),
              options.schedule == "checkerboard", grad_q0, grad_unary, grad_pairwise)
    return grad_unary, grad_pairwise, grad_q0


def meanfield_numba_autograd(unary: Any, pairwise: Any, q0: Any,
                             options: MeanFieldOptions) -> tuple[Any, Any, Any]:
    """Mean-field on CPU torch tensors with gradients to ``unary``, ``pairwise`` and
    ``q0`` (the same as unrolled autograd; no double backward).

    Args:
        unary: ``(B, H, W)`` CPU tensor, float32 or float64; pairwise ``(B, K, H, W)``; q0
            ``(B, H, W)``, same dtype.
        options: validated options.

    Returns:
        ``(q (B, H, W), iterations (B,) int64, converged (B,) bool)`` tensors.
    """
    return _function().apply(unary, pairwise, q0, options)


@functools.cache
def _function() -> Any:
    """The ``torch.autograd.Function`` (built on first use: torch is imported lazily)."""
    import torch

    class MeanField(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, unary: Any, pairwise: Any, q0: Any, options: Any) -> Any:
            u, p, q = (t.detach().contiguous().numpy() for t in (unary, pairwise, q0))
            result, history, iterations, converged = meanfield_forward(u, p, q, options)
            iterations, converged = torch.from_numpy(iterations), torch.from_numpy(converged)
            # the inputs themselves (autograd then notices in-place changes before the
            # backward) and the history as a tensor (so saved-tensor hooks see its memory)
            ctx.save_for_backward(unary, pairwise, torch.from_numpy(history), iterations)
            ctx.options = options
            ctx.mark_non_differentiable(iterations, converged)
            return torch.from_numpy(result), iterations, converged

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx: Any, grad_q: Any, *_: Any) -> Any:
            u, p, history, iterations = (t.detach().contiguous().numpy()
                                         for t in ctx.saved_tensors)
            grad_q = grad_q.to(getattr(torch, u.dtype.name)).contiguous().numpy()
            grads = meanfield_backward(u, p, history, iterations, grad_q, ctx.options)
            return (*(torch.from_numpy(g) if need else None
                      for g, need in zip(grads, ctx.needs_input_grad)), None)

    return MeanField
