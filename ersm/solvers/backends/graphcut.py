"""``graphcut`` (default): our exact batched min-cut for grid graphs (Numba BK).

float64 capacities, no quantisation, batch-parallel over cores. Returns the canonical
minimum cut: a token is kept iff it is not reachable from the source in the final
residual graph (the largest optimal keep set), so results do not depend on thread
scheduling or algorithm details.

Warm starts (dynamic graph cuts, Kohli & Torr): ``keep_state=True`` puts a
:class:`~ersm.solvers.graphcut_state.GraphCutState` (the final residual graph) into
``result.info["state"]``; ``warm_start=state`` (or the previous ``SolveResult``)
re-solves a changed energy of the same shape and connectivity starting from that
flow. The mask is the same canonical cut as a cold solve (bit for bit on exactly
representable inputs); it pays off when the energy changes little.

Precision guard: the carried flow has the size of the *old* energy, so re-using the
state of a much larger energy would round the new one away (``(u, p)·1e17`` then the
integer ``(u, p)``). Maps where that can happen (see :func:`warm_start_unsafe`) are
solved cold instead; ``result.info["cold_maps"]`` ``(B,)`` bool says which.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...energy.offsets import valid_edge_mask
from ..registry import BackendSpec, register

#: a map is solved cold when the carried state is more than this many times larger than
#: the largest residual the new energy itself can produce (each factor 2 costs one bit)
WARM_SCALE_LIMIT = 16.0
_EXACT_INT = 2.0**52


def _run(unary: np.ndarray, pairwise: np.ndarray, keep_state: bool = False,
         warm_start: Any = None) -> dict:
    """The exact canonical cut of every map (the backend's ``run``; use ``ersm.solve``).

    Args:
        unary: ``(B, H, W)`` float64 θ.
        pairwise: ``(B, K, H, W)`` float64 weights ``≥ 0``.
        keep_state: also return the final residual graph as ``info["state"]`` (a
            :class:`~ersm.solvers.graphcut_state.GraphCutState`) for a later warm start.
        warm_start: a state (or the ``SolveResult`` holding one) of an energy of the same
            shape to start from (Kohli–Torr dynamic cuts). Same canonical mask as a cold solve;
            maps where the carried flow would lose precision are solved cold.

    Returns:
        dict with ``mask`` ``(B, H, W)`` bool, and ``state`` / ``cold_maps`` where asked;
        a cold solve also gives ``mask_energy`` ``(B,)``, the masks' energies without the
        constant (summed by the kernel right after each cut, bit for bit what
        ``GridEnergy.energy`` sums on NumPy).
    """
    from ..kernels.bk import grid_mincut_batch

    if not keep_state and warm_start is None:
        mask, mask_energy = grid_mincut_batch(unary, pairwise, with_energy=True)
        return {"mask": mask, "mask_energy": mask_energy}

    from ..kernels.bk import grid_mincut_batch_warm
    from ..graphcut_state import GraphCutState, as_state

    connectivity = 4 if pairwise.shape[1] == 2 else 8
    out: dict[str, Any] = {}
    if warm_start is None:
        mask, res, tr = grid_mincut_batch_warm(unary, pairwise, None)
    else:
        state = as_state(warm_start)
        state.check_compatible(unary.shape, connectivity)
        cold = warm_start_unsafe(state, unary, pairwise)
        mask, res, tr = _solve_mixed(unary, pairwise, state, cold)
        out["cold_maps"] = cold
    out["mask"] = mask
    if keep_state:
        out["state"] = GraphCutState(
            unary=np.array(unary, dtype=np.float64, order="C", copy=True),
            pairwise=np.array(pairwise, dtype=np.float64, order="C", copy=True),
            res=res, tr=tr, shape=tuple(int(s) for s in unary.shape),
            connectivity=connectivity,
        )
    return out


def _solve_mixed(unary: np.ndarray, pairwise: np.ndarray, state: Any,
                 cold: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warm solve of the maps not in ``cold`` from ``state``, cold solve of the others."""
    from ..kernels.bk import grid_mincut_batch_warm

    warm = ~cold
    if warm.all():  # never mutates the state's arrays
        return grid_mincut_batch_warm(unary, pairwise,
                                      (state.unary, state.pairwise, state.res, state.tr))
    if cold.all():
        return grid_mincut_batch_warm(unary, pairwise, None)
    mask_w, res_w, tr_w = grid_mincut_batch_warm(
        unary[warm], pairwise[warm],
        (state.unary[warm], state.pairwise[warm], state.res[warm], state.tr[warm]))
    mask_c, res_c, tr_c = grid_mincut_batch_warm(unary[cold], pairwise[cold], None)
    mask = np.empty(unary.shape, dtype=bool)
    res = np.empty(state.res.shape, dtype=np.float64)
    tr = np.empty(state.tr.shape, dtype=np.float64)
    mask[warm], res[warm], tr[warm] = mask_w, res_w, tr_w
    mask[cold], res[cold], tr[cold] = mask_c, res_c, tr_c
    return mask, res, tr


def _per_map_max(a: np.ndarray) -> np.ndarray:
    return np.abs(a.reshape(a.shape[0], int(np.prod(a.shape[1:])))).max(axis=1, initial=0.0)


def _integral(a: np.ndarray) -> np.ndarray:
    flat = a.reshape(a.shape[0], int(np.prod(a.shape[1:])))
    return (flat == np.round(flat)).all(axis=1) & (_per_map_max(a) < _EXACT_INT)


def warm_start_unsafe(state: Any, unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Maps whose warm start from ``state`` could lose precision, ``(B,)`` bool.

    The reparametrisation adds the new capacities to the carried flow, so its rounding
    is ``eps`` times the *state's* magnitude (after it, every residual is bounded by the
    new energy). A map is safe when every number involved is an integer below ``2**52``
    (all updates exact), or when the state's largest value is at most
    :data:`WARM_SCALE_LIMIT` times ``max|θ| + 2K·max w`` of the new energy (the largest
    residual a cold solve of it handles); otherwise it is solved cold.

    Args:
        state: the :class:`~ersm.solvers.graphcut_state.GraphCutState` to start from.
        unary: ``(B, H, W)`` float64; pairwise: ``(B, K, H, W)`` float64, the new energy.
    """
    height, width = unary.shape[1:]
    k = pairwise.shape[1]
    valid = valid_edge_mask(height, width, 4 if k == 2 else 8)
    p_new, p_old = pairwise * valid, state.pairwise * valid  # off-grid weights are ignored
    new_scale = _per_map_max(unary) + 2 * k * _per_map_max(p_new)
    old_scale = np.maximum.reduce([_per_map_max(state.unary), _per_map_max(p_old),
                                   _per_map_max(state.res), _per_map_max(state.tr)])
    exact = (_integral(unary) & _integral(p_new) & _integral(state.unary) & _integral(p_old)
             & _integral(state.res) & _integral(state.tr))
    return ~exact & (old_scale > WARM_SCALE_LIMIT * new_scale)


SPEC = register(BackendSpec(
    name="graphcut", run=_run, exact=True, canonical=True, needs_submodular=True,
    description="exact Boykov-Kolmogorov min-cut on grid graphs, Numba, float64, batch-parallel",
))
