"""Differentiable mean-field on CPU: Numba forward and a hand-written unrolled backward.

The gradient is exactly the one torch autograd computes through the unrolled iterations
(:mod:`.torch_impl`), but the forward keeps only ``q`` after every sweep
(``(B, sweeps + 1, H, W)``) and the backward walks the sweeps in reverse in Numba, so
a small map costs microseconds instead of hundreds of tiny torch ops per sweep.

Backward of one pass (one colour class ``C``, or every token for ``parallel``) with
``s_i = σ(−a_i)``, ``a_i = (θ_i + Σ_j w_ij (1 − 2 q_j)) / T`` and
``q'_i = q_i + α (s_i − q_i)`` for ``i ∈ C`` (``q'_i = q_i`` otherwise), given
``g = ∂L/∂q'``::

    ∂L/∂a_i = −α s_i (1 − s_i) g_i                  (i ∈ C)
    ∂L/∂θ_i += ∂L/∂a_i / T
    ∂L/∂w_ij += ∂L/∂a_i / T · (1 − 2 q_j)            (every in-grid neighbour j)
    ∂L/∂q_j  = [j ∉ C] g_j + [j ∈ C] (1 − α) g_j − 2 Σ_{i ∈ C} w_ij ∂L/∂a_i / T

Within a checkerboard sweep the ``q`` a pass read is rebuilt from the stored start and
end of the sweep (classes before the pass already hold their end values). Samples that
stopped early (``tol``) are differentiated through the sweeps they ran.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ..._parallel import run_batch
from ...energy.offsets import K_TO_CONNECTIVITY, OFFSETS
from ._common import MeanFieldOptions, colour_classes

_JIT = dict(cache=True, nogil=True, error_model="numpy")
_OFFSETS = np.asarray(OFFSETS, np.int64)


@njit(inline="always", **_JIT)
def _field(theta, weights, offsets, q, y, x):
    """``θ + Σ_j w_ij (1 − 2 q_j)`` of token ``(y, x)`` over its in-grid neighbours."""
    n_k, height, width = weights.shape
    field = theta[y, x]
    for k in range(n_k):
        dy, dx = offsets[k, 0], offsets[k, 1]
        if y + dy < height and 0 <= x + dx < width:
            field += weights[k, y, x] * (1 - 2 * q[y + dy, x + dx])
        if y - dy >= 0 and 0 <= x - dx < width:
            field += weights[k, y - dy, x - dx] * (1 - 2 * q[y - dy, x - dx])
    return field


@njit(**_JIT)
def _forward_map(theta, weights, offsets, colours, n_colours, history, inv_t, alpha, tol,
                 iters, checkerboard):
    """Sweeps from ``history[0]``; ``history[s]`` receives ``q`` after ``s`` sweeps.

    Returns ``(sweeps run, converged)``.
    """
    height, width = theta.shape
    done, converged = 0, False
    while done < iters and not converged:
        src, dst = history[done], history[done + 1]
        dst[:, :] = src
        delta = 0.0
        for colour in range(n_colours):
            read = dst if checkerboard else src
            for y in range(height):
                for x in range(width):
                    if checkerboard and colours[y, x] != colour:
                        continue
                    a = _field(theta, weights, offsets, read, y, x) * inv_t
                    old = read[y, x]
                    value = old + alpha * (1 / (1 + np.exp(a)) - old)
                    delta = max(delta, abs(value - old))
                    dst[y, x] = value
        done += 1
        converged = delta < tol
    return done, converged


@njit(**_JIT)
def _backward_map(theta, weights, offsets, colours, n_colours, history, done, inv_t, alpha,
                  checkerboard, grad_q, grad_theta, grad_weights, before, out):
    """Reverse the ``done`` sweeps: ``grad_q`` (``∂L/∂q`` of the result) becomes
    ``∂L/∂q0``; ``grad_theta``/``grad_weights`` (zeroed) accumulate. ``before`` and
    ``out`` are ``(H, W)`` scratch."""
    n_k, height, width = weights.shape
    g = grad_q
    for sweep in range(done - 1, -1, -1):
        start, end = history[sweep], history[sweep + 1]
        for colour in range(n_colours - 1, -1, -1):
            for y in range(height):
                for x in range(width):
                    late = checkerboard and colours[y, x] < colour
                    before[y, x] = end[y, x] if late else start[y, x]
                    member = not checkerboard or colours[y, x] == colour
                    out[y, x] = (1 - alpha) * g[y, x] if member else g[y, x]
            for y in range(height):
                for x in range(width):
                    if checkerboard and colours[y, x] != colour:
                        continue
                    s = 1 / (1 + np.exp(_field(theta, weights, offsets, before, y, x) * inv_t))
                    da = -alpha * s * (1 - s) * g[y, x] * inv_t
                    grad_theta[y, x] += da
                    for k in range(n_k):
                        dy, dx = offsets[k, 0], offsets[k, 1]
                        if y + dy < height and 0 <= x + dx < width:
                            grad_weights[k, y, x] += da * (1 - 2 * before[y + dy, x + dx])
                            out[y + dy, x + dx] -= 2 * weights[k, y, x] * da
                        if y - dy >= 0 and 0 <= x - dx < width:
                            grad_weights[k, y - dy, x - dx] += da * (1 - 2 * before[y - dy, x - dx])
                            out[y - dy, x - dx] -= 2 * weights[k, y - dy, x - dx] * da
            g[:, :] = out


@njit(**_JIT)
def _forward_range(start, stop, unary, pairwise, offsets, colours, n_colours, history, inv_t,
                   alpha, tol, iters, checkerboard, iterations, converged):
    for b in range(start, stop):
        iterations[b], converged[b] = _forward_map(
            unary[b], pairwise[b], offsets, colours, n_colours, history[b], inv_t, alpha, tol,
            iters, checkerboard)


@njit(**_JIT)
def _backward_range(start, stop, unary, pairwise, offsets, colours, n_colours, history,
                    iterations, inv_t, alpha, checkerboard, grad_q, grad_unary, grad_pairwise):
    height, width = unary.shape[1], unary.shape[2]
    before = np.empty((height, width), unary.dtype)
    out = np.empty((height, width), unary.dtype)
    for b in range(start, stop):
        _backward_map(unary[b], pairwise[b], offsets, colours, n_colours, history[b],
                      iterations[b], inv_t, alpha, checkerboard, grad_q[b], grad_unary[b],
                      grad_pairwise[b], before, out)


def _colour_map(height: int, width: int, n_k: int, schedule: str) -> tuple[np.ndarray, int]:
    classes = colour_classes(height, width, K_TO_CONNECTIVITY[n_k], schedule)
    return np.argmax(classes, axis=0).astype(np.int64), len(classes)


def meanfield_forward(unary: np.ndarray, pairwise: np.ndarray, q0: np.ndarray,
                      options: MeanFieldOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean-field keeping every sweep's ``q``.

    Args:
        unary: ``(B, H, W)`` θ, float32 or float64; pairwise ``(B, K, H, W)``; q0
            ``(B, H, W)``, same dtype.
        options: validated options.

    Returns:
        ``(history (B, iters + 1, H, W), iterations (B,) int64, converged (B,) bool)``;
        sample ``b``'s result is ``history[b, iterations[b]]``.
    """
    batch, height, width = unary.shape
    n_k = pairwise.shape[1]
    dtype = unary.dtype.type
    history = np.empty((batch, options.iters + 1, height, width), unary.dtype)
    history[:, 0] = q0
    iterations, converged = np.zeros(batch, np.int64), np.zeros(batch, bool)
    colours, n_colours = _colour_map(height, width, n_k, options.schedule)
    run_batch(_forward_range, batch, np.ascontiguousarray(unary),
              np.ascontiguousarray(pairwise), _OFFSETS[:n_k], colours, n_colours, history,
              dtype(1 / options.temperature), dtype(options.damping), options.tol,
              options.iters, options.schedule == "checkerboard", iterations, converged)
    return history, iterations, converged


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
    colours, n_colours = _colour_map(height, width, n_k, options.schedule)
    run_batch(_backward_range, batch, np.ascontiguousarray(unary),
              np.ascontiguousarray(pairwise), _OFFSETS[:n_k], colours, n_colours, history,
              iterations, dtype(1 / options.temperature), dtype(options.damping),
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
    return _MeanField.apply(unary, pairwise, q0, options)


def _function() -> Any:
    import torch

    class MeanField(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, unary: Any, pairwise: Any, q0: Any, options: Any) -> Any:
            u, p, q = (t.detach().contiguous().numpy() for t in (unary, pairwise, q0))
            history, iterations, converged = meanfield_forward(u, p, q, options)
            result = history[np.arange(len(u)), iterations]
            iterations, converged = torch.from_numpy(iterations), torch.from_numpy(converged)
            # saved as tensors (zero-copy) so autograd's saved-tensor hooks see the memory
            ctx.save_for_backward(*(torch.from_numpy(a) for a in (u, p, history)), iterations)
            ctx.options = options
            ctx.mark_non_differentiable(iterations, converged)
            return torch.from_numpy(result), iterations, converged

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx: Any, grad_q: Any, *_: Any) -> Any:
            u, p, history, iterations = (t.numpy() for t in ctx.saved_tensors)
            grad_q = grad_q.to(getattr(torch, u.dtype.name)).contiguous().numpy()
            grads = meanfield_backward(u, p, history, iterations, grad_q, ctx.options)
            return (*(torch.from_numpy(g) if need else None
                      for g, need in zip(grads, ctx.needs_input_grad)), None)

    return MeanField


class _LazyFunction:
    """Builds the ``torch.autograd.Function`` on first use (torch is imported lazily)."""

    def __init__(self) -> None:
        self._function: Any = None

    def apply(self, *args: Any) -> Any:
        if self._function is None:
            self._function = _function()
        return self._function.apply(*args)


_MeanField = _LazyFunction()
