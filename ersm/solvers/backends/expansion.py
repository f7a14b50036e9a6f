"""``expansion`` (default for :class:`~ersm.PottsEnergy`): α-expansion on our exact cut.

Each α-move is one binary cut with the Numba Boykov–Kolmogorov kernel, built from the
current labels (:mod:`ersm.solvers.kernels.expansion` shows the move energy); labels are
visited in turn until no α-move lowers the energy. Maps run in parallel over the batch.
The result is a local minimum for every α-move: within a factor ``2·max w / min w`` of
the optimum (2 for constant weights), and the exact minimum for ``L = 2`` (started from
label 0 everywhere, the default start, as GCO's: the first real move is the binary cut
itself). The default ``schedule="adaptive"`` visits the labels as GCO's
``expansion(-1)`` does, so on exact energies (L ≥ 3) it reaches GCO's labels, faster.
``polish="fusion"`` trades about twice the time for lower energies: a second,
reverse-order run and fusion moves with its result (never a higher energy than without,
hence never above GCO's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.checks import check_count
from ...energy.potts import check_labels
from ..registry import BackendSpec, register

INITS = ("zeros", "unary")
POLISHES = (None, "fusion")
"""Values of the ``polish`` option: None (plain α-expansion) or "fusion"."""
SCHEDULES = ("adaptive", "cyclic")
"""Values of the ``schedule`` option: GCO's adaptive cycles (default) or plain cycles."""
RECYCLE_BYTES = 2**29
"""Largest per-map memory for recycled flows that ``recycle=None`` allows (512 MiB)."""


def recycle_bytes(shape: tuple[int, ...], n_k: int) -> int:
    """Memory of the recycled flows of one map of ``(B, L, H, W)`` with ``K`` channels:
    per label the move ``(θ, w)`` and the residual graph ``(res, tr)`` (float64) and the
    search trees (ten bytes per padded node)."""
    _, n_labels, h, w = shape
    padded = (h + 2) * (w + 2)
    return n_labels * (8 * (h * w * (1 + n_k) + padded * (2 * n_k + 1)) + 10 * padded)


def initial_labels(unary: np.ndarray, init: Any) -> np.ndarray:
    """The start labelling ``(B, H, W)`` int64: ``"zeros"`` (label 0 everywhere, as GCO;
    for ``L = 2`` the first real move is then the exact binary cut), ``"unary"`` (the
    cheapest label of each token) or given labels ``(B, H, W)`` (``(H, W)`` for a single
    map)."""
    b, n_labels, h, w = unary.shape
    if isinstance(init, str):
        if init == "unary":
            return np.argmin(unary, axis=1).astype(np.int64)
        if init == "zeros":
            return np.zeros((b, h, w), dtype=np.int64)
        raise ValueError(f"init must be one of {INITS} or labels, got {init!r}")
    from ...core.arrays import to_numpy

    labels = to_numpy(init) if hasattr(init, "shape") else np.asarray(init)
    if labels.ndim == 2 and b == 1:
        labels = labels[None]
    return np.asarray(check_labels(labels, (b, h, w), n_labels, "init"), dtype=np.int64)


def check_polish(polish: Any) -> bool:
    """Whether ``polish`` asks for the fusion polish; ``ValueError`` naming it otherwise."""
    if polish is None or (isinstance(polish, str) and polish == "fusion"):
        return polish is not None
    raise ValueError(f"polish must be one of {POLISHES}, got {polish!r}")


def check_schedule(schedule: Any) -> int:
    """The kernel's code for ``schedule``; ``ValueError`` naming it otherwise."""
    from ..kernels.expansion import ADAPTIVE, CYCLIC

    if isinstance(schedule, str) and schedule in SCHEDULES:
        return ADAPTIVE if schedule == "adaptive" else CYCLIC
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")


def run_expansion(unary: np.ndarray, pairwise: np.ndarray, init: Any = "zeros",
                  max_cycles: int = 100, recycle: bool | None = None,
                  polish: str | None = None, schedule: str = "adaptive") -> dict:
    """α-expansion on host float64 arrays (the backend's ``run``; use ``ersm.solve``).

    Args:
        unary: ``(B, L, H, W)`` label costs.
        pairwise: ``(B, K, H, W)`` Potts weights ``≥ 0``.
        init: start labels: "zeros" (label 0 everywhere; exact for L = 2), "unary"
            (cheapest label per token) or labels (see :func:`initial_labels`).
        max_cycles: most passes over the L labels per map (>= 1).
        recycle: warm-start each label's move from that label's previous flow (faster;
            keeps L residual graphs per map in memory); None: when they take at most
            RECYCLE_BYTES per map.
        polish: None (plain α-expansion) or "fusion": also expand from ``init`` visiting
            the labels in reverse order, then fuse the two local minima (one exact cut of
            a majorised fusion move) and expand again, until neither improves. About
            twice the time; the energy is never higher than without (measured against
            gco in bench/RESULTS.md, issue 16 round 2).
        schedule: "adaptive" (gco's adaptive cycles with strict decreases: from the
            "zeros" start on exact energies, such as dyadic ones, the same moves and
            labels as ``backend="gco"``; for L = 2 the first move also takes a tie,
            which gives the canonical binary cut) or "cyclic" (labels 0 … L−1 in turn
            until L in a row fail, ties taken in the first pass).

    Returns:
        dict with ``labels`` ``(B, H, W)`` int64, ``cycles`` ``(B,)`` float64 (label
        visits / L, both runs), ``moves`` ``(B,)`` int64 (accepted moves, fusions
        included) and ``converged`` ``(B,)`` bool (no α-move improves; with "fusion",
        no fusion either).
    """
    from ..kernels.expansion import expansion_batch

    max_cycles = check_count(max_cycles, "max_cycles")
    fusion = check_polish(polish)
    order = check_schedule(schedule)
    start = initial_labels(unary, init)
    if unary.shape[0] == 0:
        return {"labels": start, "cycles": np.zeros(0), "moves": np.zeros(0, np.int64),
                "converged": np.zeros(0, bool)}
    if recycle is None:
        recycle = recycle_bytes(unary.shape, pairwise.shape[1]) <= RECYCLE_BYTES
    labels, stats = expansion_batch(unary, pairwise, start, max_cycles, bool(recycle), fusion,
                                   order)
    return {"labels": labels, "cycles": stats[:, 1] / unary.shape[1],
            "moves": stats[:, 2].astype(np.int64), "converged": stats[:, 3] > 0}


SPEC = register(BackendSpec(
    name="expansion", run=run_expansion, kind="potts", needs_submodular=True,
    description="alpha-expansion, every move one exact Boykov-Kolmogorov cut (Numba, "
    "float64, batch-parallel); local minimum, within 2x of the optimum for constant weights",
))
