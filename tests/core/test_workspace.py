"""Scratch kept between kernel calls (``ersm.core.workspace``) and the kernels using it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import ersm
from ersm.core import workspace as ws
from ersm.core.parallel import set_num_threads
from test_potts import random_potts


@pytest.fixture(autouse=True)
def _fresh():
    ws.free_workspace()
    yield
    ws.free_workspace()


def test_same_key_reuses_and_another_key_replaces():
    first = ws.workspace("k", (2, 3), lambda: np.zeros(4))
    assert ws.workspace("k", (2, 3), lambda: np.ones(4)) is first
    other = ws.workspace("k", (3, 3), lambda: np.ones(4))
    assert other is not first and ws.workspace("k", (3, 3), lambda: None) is other
    assert ws.workspace("other", (2, 3), lambda: "x") == "x"  # names do not collide


def test_free_workspace_drops_every_threads_buffers():
    held, after = [], []
    taken, freed = threading.Event(), threading.Event()

    def take():
        held.append(ws.workspace("k", 1, lambda: np.zeros(1)))
        taken.set()
        freed.wait(10)
        after.append(ws.workspace("k", 1, lambda: np.ones(1)))

    thread = threading.Thread(target=take)
    thread.start()
    taken.wait(10)
    mine = ws.workspace("k", 1, lambda: np.zeros(1))
    assert mine is not held[0]  # one buffer per thread
    ws.free_workspace()
    freed.set()
    thread.join(10)
    assert after[0][0] == 1.0  # the other thread's buffer was dropped too
    assert ws.workspace("k", 1, lambda: np.ones(1))[0] == 1.0


def test_buffers_over_the_limit_are_not_kept(monkeypatch):
    monkeypatch.setenv("ERSM_WORKSPACE_MB", "1")
    big = ws.workspace("k", 0, lambda: np.zeros(2**18))  # 2 MiB
    assert ws.workspace("k", 0, lambda: np.zeros(2**18)) is not big


@pytest.mark.parametrize("options", [{}, {"polish": "fusion"}, {"recycle": False},
                                     {"schedule": "cyclic"}])
@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("threads", [1, 2])
def test_expansion_with_kept_scratch_equals_fresh(options, connectivity, threads):
    """Maps of one shape solved one after another (the scratch of each earlier map kept)
    give exactly what each gives with fresh scratch."""
    set_num_threads(threads)
    try:
        energies = [random_potts(3, labels, 9, 11, connectivity, seed=s, integer=s % 2 == 0)
                    for s, labels in enumerate([3, 3, 4, 3, 2, 2, 3])]
        kept = [ersm.solve(e, **options) for e in energies]
        for energy, result in zip(energies, kept):
            ws.free_workspace()
            fresh = ersm.solve(energy, **options)
            np.testing.assert_array_equal(result.labels, fresh.labels)
            np.testing.assert_array_equal(result.energy, fresh.energy)
    finally:
        set_num_threads(None)


def _grid_energies(batch: int, h: int, w: int, connectivity: int) -> list[ersm.GridEnergy]:
    """Energies of one shape with different values (float, then integer, then ties).
    Unlike ``ersm.testing.random_grid_energy`` the weights of edges leaving the grid stay
    non-zero: a kept residual graph must ignore them as a fresh one does."""
    k = connectivity // 2
    out = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        unary = rng.normal(0.0, 1.0, (batch, h, w))
        pairwise = rng.uniform(0.0, 0.8, (batch, k, h, w))
        if seed >= 1:
            unary, pairwise = np.round(unary * 4), np.round(pairwise * 4)
        if seed == 2:
            unary[:, ::3] = 0.0  # ties: zero unaries and zero weights beside them
            pairwise[:, :, ::5] = 0.0
        out.append(ersm.GridEnergy(unary, pairwise, connectivity))
    return out


@pytest.mark.parametrize("shape", [(5, 9, 11), (1, 260, 256)])  # one piece; strips
@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("threads", [1, 2])
def test_graphcut_with_kept_scratch_equals_fresh(shape, connectivity, threads):
    """Binary cuts of one shape one after another (each on the work arrays the last one
    left, seams included) give exactly the canonical cut of fresh arrays."""
    from ersm.solvers.kernels import bk

    set_num_threads(threads)
    try:
        energies = _grid_energies(*shape, connectivity)
        kept = [ersm.solve(e, backend="graphcut").mask for e in energies]
        for energy, mask in zip(energies, kept):
            ws.free_workspace()
            np.testing.assert_array_equal(mask, ersm.solve(energy, backend="graphcut").mask)
            fresh = np.empty(shape, dtype=bool)
            for b in range(shape[0]):  # the allocating kernel, no workspace at all
                bk._solve_map(energy.unary[b], energy.pairwise[b], fresh[b])
            np.testing.assert_array_equal(mask, fresh)
    finally:
        set_num_threads(None)


def test_free_workspace_is_public():
    assert ersm.free_workspace is ws.free_workspace and "free_workspace" in ersm.__all__
