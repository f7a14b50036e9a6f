"""Warm starts of the ``graphcut`` backend (dynamic graph cuts, Kohli & Torr).

A warm solve starts from the final residual graph of a previous energy of the same
shape; its mask must be the same canonical cut as a cold solve: bit for bit on exactly
representable (dyadic) inputs, and of equal energy up to float rounding otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import energy_cases, energy_scale, examples

import ersm
from ersm.energy.offsets import valid_edge_mask
from ersm.solvers.kernels.bk import grid_mincut_batch, grid_mincut_batch_warm, grid_state_sizes
from ersm.solvers.graphcut_state import GraphCutState

RTOL = 1e-12

# --------------------------------------------------------------------- helpers


def dyadic_energy(rng, B, H, W, conn, smooth=False, junk=False) -> ersm.GridEnergy:
    K = 2 if conn == 4 else 4
    unary = rng.integers(-24, 25, (B, H, W)) / 8.0
    hi = 12 if smooth else 5
    pairwise = rng.integers(0, hi, (B, K, H, W)) / 8.0
    pairwise[rng.random(pairwise.shape) < 0.1] = 0.0
    if junk:  # off-grid weights must be ignored, also when they change
        pairwise = np.where(valid_edge_mask(H, W, conn), pairwise,
                            rng.integers(0, 10**6, pairwise.shape) / 8.0)
    return ersm.GridEnergy(unary, pairwise, conn)


def perturb(rng, energy: ersm.GridEnergy, frac=0.2, step=3, junk=False) -> ersm.GridEnergy:
    """Dyadic changes of a random subset of θ and w, both signs (w clamped at 0)."""
    u, p = energy.numpy()
    u = u + rng.integers(-step, step + 1, u.shape) / 8.0 * (rng.random(u.shape) < frac)
    p = p + rng.integers(-step, step + 1, p.shape) / 8.0 * (rng.random(p.shape) < frac)
    p = np.maximum(p, 0.0)
    if junk:
        p = np.where(valid_edge_mask(energy.height, energy.width, energy.connectivity), p,
                     rng.integers(0, 10**6, p.shape) / 8.0)
    return ersm.GridEnergy(u, p, energy.connectivity)


def cold(energy: ersm.GridEnergy) -> np.ndarray:
    return grid_mincut_batch(*energy.numpy())


def assert_same_canonical_or_energy(exact: bool, new: ersm.GridEnergy, old: ersm.GridEnergy,
                                    warm_mask, cold_mask) -> None:
    if exact:
        np.testing.assert_array_equal(warm_mask, cold_mask)
    else:  # rounding of the carried flow scales with both energies
        tol = RTOL * (energy_scale(new) + energy_scale(old)) + 1e-300
        diff = np.abs(new.energy(warm_mask) - new.energy(cold_mask))
        assert np.all(diff <= tol), (diff, tol)


# ------------------------------------------------------------- deterministic cases


@pytest.mark.parametrize("conn", [4, 8])
def test_warm_equals_cold_dyadic(conn):
    rng = np.random.default_rng(100 + conn)
    shapes = [(1, 1), (1, 7), (7, 1), (2, 2), (5, 6), (16, 16), (31, 17), (48, 48)]
    for H, W in shapes:
        for smooth in (False, True):
            e0 = dyadic_energy(rng, 3, H, W, conn, smooth=smooth, junk=True)
            r0 = ersm.solve(e0, keep_state=True)
            np.testing.assert_array_equal(r0.mask, cold(e0))  # keep_state changes nothing
            for frac in (0.02, 0.3, 1.0):
                e1 = perturb(rng, e0, frac=frac, junk=True)
                r1 = ersm.solve(e1, warm_start=r0.info["state"])
                np.testing.assert_array_equal(r1.mask, cold(e1), err_msg=f"{H}x{W} {frac}")
                np.testing.assert_array_equal(r1.energy, ersm.solve(e1).energy)


@pytest.mark.parametrize("conn", [4, 8])
def test_warm_from_unrelated_and_degenerate_energies(conn):
    """Large changes: independent energies, sign flips, all zeros, huge weights."""
    rng = np.random.default_rng(200 + conn)
    B, H, W = 2, 13, 11
    K = 2 if conn == 4 else 4
    base = dyadic_energy(rng, B, H, W, conn, smooth=True)
    u, p = base.numpy()
    variants = [
        dyadic_energy(rng, B, H, W, conn),
        ersm.GridEnergy(-u, p, conn),  # sign flips of every θ
        ersm.GridEnergy(u, np.zeros_like(p), conn),
        ersm.GridEnergy(np.zeros_like(u), p, conn),
        ersm.GridEnergy(np.zeros_like(u), np.zeros_like(p), conn),
        ersm.GridEnergy(u, p * 64.0, conn),
        ersm.GridEnergy(u, p / 64.0, conn),
        ersm.GridEnergy(u * 0, np.full((B, K, H, W), 10.0), conn),
        base,  # unchanged energy: the old flow is already maximal
    ]
    for start in [base] + variants:
        state = ersm.solve(start, keep_state=True).state
        for new in variants:
            got = ersm.solve(new, warm_start=state).mask
            np.testing.assert_array_equal(got, cold(new))


@pytest.mark.parametrize("conn", [4, 8])
def test_chain_of_ten_warm_starts(conn):
    rng = np.random.default_rng(300 + conn)
    energy = dyadic_energy(rng, 3, 24, 20, conn, smooth=True)
    result = ersm.solve(energy, keep_state=True)
    for step in range(10):
        energy = perturb(rng, energy, frac=0.1 if step % 2 else 0.5)
        result = ersm.solve(energy, keep_state=True, warm_start=result)  # SolveResult accepted
        np.testing.assert_array_equal(result.mask, cold(energy), err_msg=f"step {step}")
        assert isinstance(result.info["state"], GraphCutState)


@pytest.mark.parametrize("conn", [4, 8])
def test_chain_generic_floats_and_lambda_sweep(conn):
    rng = np.random.default_rng(400 + conn)
    B, H, W = 2, 30, 30
    K = 2 if conn == 4 else 4
    unary = rng.normal(size=(B, H, W))
    pairwise = rng.uniform(0, 1, (B, K, H, W)) * valid_edge_mask(H, W, conn)
    old = ersm.GridEnergy(unary, pairwise, conn)
    state = ersm.solve(old, keep_state=True).state
    for step in range(10):  # "training steps": small noise on θ
        new = ersm.GridEnergy(old.numpy()[0] + 0.05 * rng.normal(size=(B, H, W)), pairwise, conn)
        r = ersm.solve(new, keep_state=True, warm_start=state)
        assert_same_canonical_or_energy(False, new, old, r.mask, cold(new))
        old, state = new, r.state
    for lam in np.linspace(0.05, 3.0, 10):  # λ sweep on the pairwise weights
        new = ersm.GridEnergy(old.numpy()[0], lam * pairwise, conn)
        r = ersm.solve(new, keep_state=True, warm_start=state)
        assert_same_canonical_or_energy(False, new, old, r.mask, cold(new))
        old, state = new, r.state


def test_state_contents_and_reuse():
    rng = np.random.default_rng(500)
    e0 = dyadic_energy(rng, 2, 6, 5, 8)
    r0 = ersm.solve(e0, keep_state=True)
    st0 = r0.state
    assert st0.shape == (2, 6, 5) and st0.connectivity == 8
    n_res, n = grid_state_sizes(6, 5, 4)
    assert st0.res.shape == (2, n_res) and st0.tr.shape == (2, n)
    assert st0.nbytes > 0 and "res" not in repr(st0)
    u0, p0 = e0.numpy()
    np.testing.assert_array_equal(st0.unary, u0)
    np.testing.assert_array_equal(st0.pairwise, p0)
    assert not np.shares_memory(st0.unary, u0)
    frozen = [a.copy() for a in (st0.unary, st0.pairwise, st0.res, st0.tr)]
    # one state seeds several solves and is never modified
    e1, e2 = perturb(rng, e0), perturb(rng, e0, frac=1.0)
    r1 = ersm.solve(e1, warm_start=st0)
    r2 = ersm.solve(e2, warm_start=st0, keep_state=True)
    r1b = ersm.solve(e1, warm_start=st0)
    for a, b in zip(frozen, (st0.unary, st0.pairwise, st0.res, st0.tr)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(r1.mask, cold(e1))
    np.testing.assert_array_equal(r1b.mask, r1.mask)
    np.testing.assert_array_equal(r2.mask, cold(e2))
    assert "state" not in r1.info and r2.state is not st0
    np.testing.assert_array_equal(r2.state.unary, e2.numpy()[0])
    # the residual state of a cold and a warm solve describe the same cut
    _, res_c, tr_c = grid_mincut_batch_warm(*e2.numpy())
    assert res_c.shape == r2.state.res.shape and tr_c.shape == r2.state.tr.shape
    # no state unless asked
    assert "state" not in ersm.solve(e0).info


def test_unbatched_and_torch_energies():
    rng = np.random.default_rng(600)
    e0 = dyadic_energy(rng, 1, 7, 9, 4)
    u0, p0 = e0.numpy()
    single = ersm.GridEnergy(u0[0], p0[0])
    r0 = ersm.solve(single, keep_state=True)
    assert r0.mask.shape == (7, 9) and r0.state.shape == (1, 7, 9)
    e1 = perturb(rng, e0)
    u1, p1 = e1.numpy()
    r1 = ersm.solve(ersm.GridEnergy(u1[0], p1[0]), warm_start=r0)
    np.testing.assert_array_equal(r1.mask, cold(e1)[0])
    t1 = ersm.GridEnergy(torch.from_numpy(u1), torch.from_numpy(p1))
    rt = ersm.solve(t1, warm_start=r0.state, keep_state=True)
    assert isinstance(rt.mask, torch.Tensor)
    np.testing.assert_array_equal(rt.mask.numpy(), cold(e1))
    assert isinstance(rt.state.res, np.ndarray)


def test_empty_batch():
    e = ersm.GridEnergy(np.zeros((0, 3, 3)), np.zeros((0, 2, 3, 3)))
    r = ersm.solve(e, keep_state=True)
    r2 = ersm.solve(e, keep_state=True, warm_start=r)
    assert r2.mask.shape == (0, 3, 3) and r2.state.res.shape[0] == 0


def test_bad_states_raise():
    rng = np.random.default_rng(700)
    e = dyadic_energy(rng, 2, 4, 5, 4)
    state = ersm.solve(e, keep_state=True).state
    bad = [
        dyadic_energy(rng, 3, 4, 5, 4),  # batch size
        dyadic_energy(rng, 2, 5, 4, 4),  # grid (transposed)
        dyadic_energy(rng, 2, 4, 5, 8),  # connectivity
    ]
    for other in bad:
        with pytest.raises(ValueError, match="warm_start") as info:
            ersm.solve(other, warm_start=state)
        msg = str(info.value)
        assert "(2, 4, 5)" in msg and str((other.batch_size, other.height, other.width)) in msg
        assert "connectivity" in msg
    with pytest.raises(ValueError, match="warm_start"):  # a result without a state
        ersm.solve(e, warm_start=ersm.solve(e))
    with pytest.raises(TypeError, match="warm_start"):
        ersm.solve(e, warm_start={"res": state.res})
    with pytest.raises(TypeError, match="does not accept"):  # other backends refuse it
        ersm.solve(e, backend="reference", warm_start=state)


def test_kernel_inplace_update():
    rng = np.random.default_rng(800)
    e0 = dyadic_energy(rng, 3, 9, 8, 8)
    e1 = perturb(rng, e0, frac=0.5)
    u0, p0 = e0.numpy()
    u1, p1 = e1.numpy()
    _, res, tr = grid_mincut_batch_warm(u0, p0)
    mask, res2, tr2 = grid_mincut_batch_warm(u1, p1, (u0, p0, res, tr), inplace=True)
    assert res2 is res and tr2 is tr
    np.testing.assert_array_equal(mask, grid_mincut_batch(u1, p1))


# ---------------------------------------------------------------- property tests


@st.composite
def energy_pairs(draw):
    """``(case, new_energy)``: a drawn energy and a change of the same shape."""
    case = draw(energy_cases(max_side=6, constant=False))
    u, p = case.energy.numpy()
    conn = case.energy.connectivity
    mode = draw(st.sampled_from(["perturb", "increase", "decrease", "sign_flip", "zero_unary",
                                 "zero_weights", "scale_weights", "independent"]))
    exact = case.exact
    if mode == "independent":  # unrelated values of the same kind: shuffled, maybe negated
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        u1 = rng.permutation(u.ravel()).reshape(u.shape) * rng.choice([-1.0, 1.0])
        p1 = rng.permutation(p.ravel()).reshape(p.shape)
        return case, ersm.GridEnergy(u1, p1, conn), exact
    if mode in ("perturb", "increase", "decrease"):
        low = 0 if mode == "increase" else -16
        high = 0 if mode == "decrease" else 16
        du = draw(hnp.arrays(np.int64, u.shape, elements=st.integers(low, high))) / 8.0
        dp = draw(hnp.arrays(np.int64, p.shape, elements=st.integers(low, high))) / 8.0
        which = draw(st.sampled_from(["both", "unary", "pairwise"]))
        u1 = u + du if which != "pairwise" else u
        p1 = np.maximum(p + dp, 0.0) if which != "unary" else p
        # 1/8 steps keep dyadic and wide-dyadic values exact (< 2^24, multiples of 2^-20)
        return case, ersm.GridEnergy(u1, p1, conn), exact
    if mode == "sign_flip":
        flip = draw(hnp.arrays(np.bool_, u.shape))
        return case, ersm.GridEnergy(np.where(flip, -u, u), p, conn), exact
    if mode == "zero_unary":
        return case, ersm.GridEnergy(np.zeros_like(u), p, conn), exact
    if mode == "zero_weights":
        return case, ersm.GridEnergy(u, np.zeros_like(p), conn), exact
    e = draw(st.integers(-6, 6))  # power-of-two scaling: exact for dyadic values
    exact = exact and (case.kind == "dyadic" or e == 0)  # wide dyadic would need > 53 bits
    return case, ersm.GridEnergy(u, np.ldexp(p, e), conn), exact


@settings(max_examples=examples(150), deadline=None)
@given(energy_pairs())
def test_warm_equals_cold_property(pair):
    case, new, exact = pair
    state = ersm.solve(case.energy, keep_state=True).state
    warm = ersm.solve(new, warm_start=state, keep_state=True)
    assert_same_canonical_or_energy(exact, new, case.energy, warm.mask, cold(new))
    # and back again: the chained state is a valid state of ``new``
    back = ersm.solve(case.energy, warm_start=warm)
    assert_same_canonical_or_energy(exact, case.energy, new, back.mask, cold(case.energy))


@settings(max_examples=examples(40), deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([4, 8]), st.integers(2, 12),
       st.integers(2, 12))
def test_chain_property_dyadic(seed, conn, H, W):
    rng = np.random.default_rng(seed)
    energy = dyadic_energy(rng, 2, H, W, conn, smooth=bool(seed % 2), junk=bool(seed % 3))
    state = ersm.solve(energy, keep_state=True).state
    for _ in range(4):
        energy = perturb(rng, energy, frac=float(rng.uniform(0.05, 1.0)),
                         step=int(rng.integers(1, 24)), junk=bool(seed % 3))
        r = ersm.solve(energy, keep_state=True, warm_start=state)
        np.testing.assert_array_equal(r.mask, cold(energy))
        state = r.state

