"""Numba mean-field: all iterations fused, batch-parallel (:mod:`ersm.core.parallel`), SIMD loops.

Per sample the energy is folded once into ``c_i = (θ_i + Σ_j w_ij) / T`` and
``v_ij = 2 w_ij / T`` (zero on off-grid edges), so an update is
``q_i ← q_i + α (σ(−(c_i − Σ_j v_ij q_j)) − q_i)``: the same value as the reference up
to rounding. The map is stored flat (``N = H · W``) with ``W + 1`` zeros of padding at
both ends, so a neighbour is a constant flat offset (``±1``, ``±W``, ``±W ± 1``) that is
always in bounds, and off-grid edges (weight 0) need no test. Each chunk of tokens is one
branch-free contiguous loop computing the new values (with the vectorisable sigmoid of
:mod:`._numba_math`) followed by a short commit loop; LLVM turns both into AVX code, in
float32 for float32 input.

Schedules: ``parallel`` double-buffers ``q``; ``checkerboard`` updates the colour classes
of :func:`._common.colour_classes` in place (for 4-connectivity each class computes all
tokens and commits one parity — twice the arithmetic of a parallel sweep but vectorised;
for 8-connectivity a class lives on every other row and only those rows are visited).

The first call per dtype compiles for about 10 s (``cache=True`` keeps it afterwards).
"""

from __future__ import annotations

import numpy as np
from numba import uint64

from ....core.numba_cache import njit
from ....core.parallel import run_batch
from ....energy.offsets import K_TO_CONNECTIVITY, OFFSETS
from ._common import MeanFieldOptions, colour_classes
from ._numba_math import sigmoid_neg

_JIT = dict(cache=True, fastmath=True, error_model="numpy", nogil=True)
_OFFSETS = np.asarray(OFFSETS, np.int64)
CHUNK = 1024
"""Tokens per chunk of a sweep: the working set of a chunk stays in the L1/L2 cache."""
_SKEW = 24
"""Elements left between the per-sample scratch arrays (carved from one allocation):
arrays a multiple of 4 KiB apart made the float64 kernel ~4x slower (4K aliasing)."""


@njit(**_JIT)
def _fold(theta, weights, offsets, inv_t, two_inv_t, pad, c, v):
    """Fill ``c = (θ + Σ_j w_ij) / T`` ``(N,)`` and the padded ``v = 2 w / T``
    ``(K, N + 2·pad)`` (in-grid edges only; zero elsewhere and in the padding).
    Plain loops: array expressions here cost seconds of compile time."""
    n_k, height, width = weights.shape
    for y in range(height):
        for x in range(width):
            c[y * width + x] = theta[y, x]
    for k in range(n_k):
        for i in range(v.shape[1]):
            v[k, i] = 0
        dy, dx = offsets[k, 0], offsets[k, 1]
        for y in range(max(0, -dy), height - max(0, dy)):
            for x in range(max(0, -dx), width - max(0, dx)):
                w = weights[k, y, x]
                i = y * width + x
                c[i] += w
                c[i + dy * width + dx] += w
                v[k, pad + i] = w * two_inv_t
    for i in range(c.shape[0]):
        c[i] *= inv_t


@njit(inline="always", **_JIT)
def _axial(v, q, j, w):
    """``Σ_j v_ij q_j`` over the right, left, lower and upper neighbours of padded ``j``."""
    one = uint64(1)
    return (v[0, j] * q[j + one] + v[0, j - one] * q[j - one]
            + v[1, j] * q[j + w] + v[1, j - w] * q[j - w])


@njit(inline="always", **_JIT)
def _diagonal(v, q, j, w):
    """The same over the four diagonal neighbours (channels 2: down-right, 3: down-left)."""
    one = uint64(1)
    return (v[2, j] * q[j + w + one] + v[2, j - w - one] * q[j - w - one]
            + v[3, j] * q[j + w - one] + v[3, j - w + one] * q[j - w + one])


@njit(**_JIT)
def _targets(buf, c, v, q, alpha, pad, width, lo, hi):
    """``buf[i − lo] = q_i + α (σ(−(c_i − Σ_j v_ij q_j)) − q_i)``, flat ``i ∈ [lo, hi)``.

    ``q`` and ``v`` are padded by ``pad = W + 1`` zeros on both ends, so every flat
    neighbour index is in bounds; an edge that leaves the grid has ``v = 0``, so the
    flat neighbour it points at (e.g. the next row's first token) adds nothing.
    Vectorisation notes: indices are unsigned (a signed index gets a negative-wraparound
    select) and the body is written out here (LLVM left the loop scalar when it was
    factored into an inlined helper).
    """
    eight = v.shape[0] == 4
    first, w = uint64(lo), uint64(width)
    for t in range(uint64(hi - lo)):
        i = first + t
        j = i + uint64(pad)
        a = c[i] - _axial(v, q, j, w)
        if eight:
            a -= _diagonal(v, q, j, w)
        old = q[j]
        buf[t] = old + alpha * (sigmoid_neg(a) - old)


@njit(**_JIT)
def _commit(buf, src, dst, pad, lo, hi, change):
    """``dst_i = buf[i − lo]`` on ``[lo, hi)``; ``change[i − lo]`` keeps the running
    largest ``|dst_i − src_i|`` (elementwise: a scalar max reduction would not
    vectorise). ``src`` must not be ``dst`` (LLVM's overlap check would fail)."""
    first = uint64(lo)
    for t in range(uint64(hi - lo)):
        j = first + t + uint64(pad)
        change[t] = max(change[t], abs(buf[t] - src[j]))
        dst[j] = buf[t]


@njit(**_JIT)
def _commit_colour(buf, q, colours, colour, pad, lo, hi, change):
    """In-place :func:`_commit` of the tokens with ``colours[i] == colour`` only (a blend
    over the whole range, so the loop stays contiguous and vectorised)."""
    first = uint64(lo)
    for t in range(uint64(hi - lo)):
        i = first + t
        j = i + uint64(pad)
        old = q[j]
        new = buf[t] if colours[i] == colour else old
        change[t] = max(change[t], abs(new - old))
        q[j] = new


@njit(**_JIT)
def _largest(values, n):
    """``max(values[:n])`` (``n ≥ 1``) by halving with elementwise maxima (vectorised),
    then a short scan; overwrites ``values``."""
    n = uint64(n)
    while n > 16:
        half = (n + uint64(1)) // uint64(2)
        for i in range(n - half):
            values[i] = max(values[i], values[i + half])
        n = half
    best = values[0]
    for i in range(n):
        best = max(best, values[i])
    return best


@njit(**_JIT)
def _sweep(c, v, src, dst, colours, buf, change, alpha, pad, width, checkerboard):
    """One sweep; returns the largest change.

    ``parallel`` (``checkerboard=False``): Jacobi ``src → dst`` in chunks of
    ``len(buf)`` tokens. ``checkerboard``: ``src is dst``, updated in place one colour
    class at a time. With 4-connectivity both classes span every row, so a class is a
    pass over all tokens in chunks; with 8-connectivity a class lives on every other row
    and only those rows are visited.
    """
    n, eight = c.shape[0], v.shape[0] == 4
    used = min(n, buf.shape[0])
    for t in range(used):
        change[t] = 0
    for colour in range((4 if eight else 2) if checkerboard else 1):
        rows = checkerboard and eight
        chunk = width if rows else buf.shape[0]
        first = (colour >> 1) * width if rows else 0
        stride = 2 * width if rows else chunk
        for lo in range(first, n, stride):
            hi = min(lo + chunk, n)
            _targets(buf, c, v, src, alpha, pad, width, lo, hi)
            if checkerboard:
                _commit_colour(buf, src, colours, colour, pad, lo, hi, change)
            else:
                _commit(buf, src, dst, pad, lo, hi, change)
    return _largest(change, used)


@njit(**_JIT)
def _carve(work, at, length):
    """``(work[at:at + length], next start)``, the next start ``_SKEW`` elements later."""
    return work[at:at + length], at + length + _SKEW


@njit(**_JIT)
def _pad(src, pad, dst):
    """The padded flat ``dst`` (padding untouched) from ``src (H, W)``."""
    height, width = src.shape
    for y in range(height):
        for x in range(width):
            dst[pad + y * width + x] = src[y, x]


@njit(**_JIT)
def _unpad(src, pad, dst):
    """``dst (H, W)`` from the padded flat ``src``."""
    height, width = dst.shape
    for y in range(height):
        for x in range(width):
            dst[y, x] = src[pad + y * width + x]


@njit(**_JIT)
def _solve_map(theta, weights, q, offsets, colours, inv_t, two_inv_t, alpha, tol, iters,
               checkerboard, chunk, history, record):
    """Run one sample; ``q (H, W)`` is read as the start and overwritten with the result.
    With ``record``, ``q`` after sweep ``s`` also goes to ``history[s]`` (``s ≥ 1``; for
    the differentiable path of :mod:`.numba_autograd`).

    Returns ``(iterations, converged)``.
    """
    n_k, height, width = weights.shape
    n, pad = height * width, width + 1
    m, size = n + 2 * pad, max(chunk, width)
    work = np.zeros(n + (n_k + 2) * m + 2 * size + 6 * _SKEW, q.dtype)
    c, at = _carve(work, 0, n)
    v, at = _carve(work, at, n_k * m)
    current, at = _carve(work, at, m)
    other, at = _carve(work, at, m)
    buf, at = _carve(work, at, size)
    change, _ = _carve(work, at, size)
    v = v.reshape((n_k, m))
    other = current if checkerboard else other
    _fold(theta, weights, offsets, inv_t, two_inv_t, pad, c, v)
    _pad(q, pad, current)
    done, converged = 0, False
    while done < iters and not converged:
        delta = _sweep(c, v, current, other, colours, buf, change, alpha, pad, width,
                       checkerboard)
        current, other = other, current
        done += 1
        converged = delta < tol
        if record:
            _unpad(current, pad, history[done])
    _unpad(current, pad, q)
    return done, converged


@njit(**_JIT)
def _solve_range(start, stop, unary, pairwise, q, offsets, colours, inv_t, two_inv_t, alpha,
                 tol, iters, checkerboard, chunk, iterations, converged, history, record):
    for b in range(start, stop):
        iterations[b], converged[b] = _solve_map(
            unary[b], pairwise[b], q[b], offsets, colours, inv_t, two_inv_t, alpha, tol, iters,
            checkerboard, chunk, history[b], record)


def flat_colours(height: int, width: int, n_k: int) -> np.ndarray:
    """Flat ``(H · W,)`` uint8 checkerboard colour of every token (:func:`colour_classes`)."""
    classes = colour_classes(height, width, K_TO_CONNECTIVITY[n_k], "checkerboard")
    return np.argmax(classes, axis=0).astype(np.uint8).ravel()


def solve_batch(unary: np.ndarray, pairwise: np.ndarray, q: np.ndarray,
                options: MeanFieldOptions, history: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Run the kernel on the batch in place: ``q`` (C-contiguous, working dtype) holds the
    start and receives the result; ``history`` ``(B, iters + 1, H, W)``, if given,
    receives ``q`` after every sweep (from index 1). Returns ``(iterations, converged)``."""
    dtype = unary.dtype.type
    batch = unary.shape[0]
    iterations, converged = np.zeros(batch, np.int64), np.zeros(batch, bool)
    _, n_k, height, width = pairwise.shape
    colours = flat_colours(height, width, n_k)
    record = history is not None
    history = history if record else np.empty((batch, 1, 1, 1), unary.dtype)
    run_batch(_solve_range, batch, np.ascontiguousarray(unary), np.ascontiguousarray(pairwise),
              q, _OFFSETS[:n_k], colours, dtype(1 / options.temperature),
              dtype(2 / options.temperature), dtype(options.damping), dtype(options.tol),
              options.iters, options.schedule == "checkerboard", CHUNK, iterations, converged,
              history, record)
    return iterations, converged


def meanfield_numba(unary: np.ndarray, pairwise: np.ndarray, q0: np.ndarray,
                    options: MeanFieldOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean-field with Numba, batch-parallel over the cores.

    Args:
        unary: ``(B, H, W)`` θ, float32 or float64 (the working dtype).
        pairwise: ``(B, K, H, W)`` weights, same dtype.
        q0: ``(B, H, W)`` initial marginals, same dtype (not modified).
        options: :class:`._common.MeanFieldOptions`.

    Returns:
        ``(q (B, H, W), iterations (B,) int64, converged (B,) bool)`` like
        :func:`.numpy_reference.meanfield_numpy`.
    """
    q = np.array(q0, dtype=unary.dtype, order="C", copy=True)
    iterations, converged = solve_batch(unary, pairwise, q, options)
    return q, iterations, converged
