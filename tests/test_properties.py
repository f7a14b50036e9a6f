"""Property-based tests (hypothesis) of DESIGN.md invariants 1–7 for an exact backend.

The backend under test is ``graphcut`` unless ``ERSM_PROPERTY_BACKEND`` names another
exact one (e.g. ``reference``, to tell kernel bugs from wrong properties).

Exactness policy: on ``EXACT_KINDS`` (dyadic values, every sum exact in float64) masks
and energies are compared bit for bit, ties included (all exact backends return the
canonical mask, the union of all minimisers). On other kinds energies are compared up to
``RTOL · energy_scale`` (float rounding), and masks only where the minimiser is unique
(``generic``) or the computation scales exactly (powers of two).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import (
    EXACT_KINDS,
    INT32_KINDS,
    NO_TIE_KINDS,
    EnergyCase,
    energy_cases,
    energy_scale,
    exact_energy,
    examples,
    transpose_energy,
    with_pairwise,
    with_unary,
)

import ersm
from ersm.energy.evaluate import discrete_energy
from ersm.energy.offsets import valid_edge_mask
from ersm.solvers.kernels.grid_graph import grid_edges
from ersm.testing import brute_force_mask

BACKEND = os.environ.get("ERSM_PROPERTY_BACKEND", "graphcut")

RTOL = 1e-12
"""Energy tolerance relative to ``energy_scale`` for inputs whose sums round (float64
rounding is ~1e-16 per operation; ``near_tie`` gaps are ~1e-9 absolute)."""
LP_RTOL = 1e-7
BRUTE_TOKENS = 16
EXACT_OR_UNIQUE = tuple(EXACT_KINDS | NO_TIE_KINDS)


def solve(energy: ersm.GridEnergy, backend: str = BACKEND) -> ersm.SolveResult:
    return ersm.solve(energy, backend=backend)


def assert_energies_equal(case: EnergyCase, got, want, rtol: float = RTOL) -> None:
    """Bit-for-bit on exact kinds, else up to ``rtol · energy_scale``."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if case.exact:
        np.testing.assert_array_equal(got, want)
    else:
        tol = rtol * energy_scale(case.energy) + 1e-300
        assert np.all(np.abs(got - want) <= tol), (got, want, tol)


def assert_not_below(case: EnergyCase, candidates, optimum, rtol: float = RTOL) -> None:
    """``candidates (N, B) ≥ optimum (B,)`` (up to rounding on inexact kinds)."""
    slack = 0.0 if case.exact else rtol * energy_scale(case.energy)
    low = np.min(np.asarray(candidates), axis=0)
    assert np.all(low >= np.asarray(optimum) - slack), (low, optimum)


def energies_of(energy: ersm.GridEnergy, masks: np.ndarray) -> np.ndarray:
    """Energies ``(N, B)`` of ``N`` candidate masks ``(N, B, H, W)``, constant included."""
    u, p = energy.numpy()
    n, b = masks.shape[:2]
    e = discrete_energy(np.broadcast_to(u, (n, *u.shape)).reshape(n * b, *u.shape[1:]),
                        np.broadcast_to(p, (n, *p.shape)).reshape(n * b, *p.shape[1:]),
                        masks.reshape(n * b, *u.shape[1:]))
    return e.reshape(n, b) + energy.constant_array()


def local_moves(mask: np.ndarray, rng: np.random.Generator, n_random: int = 32) -> np.ndarray:
    """Candidates ``(N, B, H, W)``: every single flip, every 2×2 block flip, random masks,
    all-drop and all-keep."""
    b, h, w = mask.shape
    out = []
    for y in range(h):
        for x in range(w):
            m = mask.copy()
            m[:, y, x] ^= True
            out.append(m)
    for y in range(h - 1):
        for x in range(w - 1):
            m = mask.copy()
            m[:, y:y + 2, x:x + 2] ^= True
            out.append(m)
    out.extend(rng.random((n_random, b, h, w)) < rng.uniform(0.1, 0.9))
    out.append(np.zeros_like(mask))
    out.append(np.ones_like(mask))
    return np.stack(out)


def not_subset(candidates: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(N, B)``: candidate keeps a token outside ``mask``."""
    return (candidates & ~mask).any(axis=(-2, -1))


def assert_canonical_strict(candidates: np.ndarray, mask: np.ndarray, energies: np.ndarray,
                            optimum: np.ndarray) -> None:
    """Canonical = union of all minimisers: any mask not inside it is strictly worse."""
    outside = not_subset(candidates, mask)
    worse = energies > optimum
    assert np.all(worse[outside]), "a mask keeping a token outside the canonical mask is optimal"


# =========================================================== 1. global optimality


@settings(max_examples=examples(120), deadline=None)
@given(case=energy_cases(max_tokens=BRUTE_TOKENS))
def test_optimal_against_brute_force(case: EnergyCase) -> None:
    energy = case.energy
    result = solve(energy)
    best = brute_force_mask(energy)  # union of all (float-evaluated) minimisers
    np.testing.assert_array_equal(result.energy, energy.energy(result.mask))
    assert_not_below(case, energy.energy(best)[None], result.energy)
    assert_energies_equal(case, result.energy, energy.energy(best))
    if case.exact:
        np.testing.assert_array_equal(result.mask, best)


@settings(max_examples=examples(40), deadline=None)
@given(case=energy_cases(max_batch=2, min_side=7, max_side=12, max_tokens=144,
                         odd_shapes=((1, 40), (40, 1), (2, 30), (30, 2), (3, 25))),
       seed=st.integers(0, 2**32 - 1))
def test_no_local_move_improves_large_grid(case: EnergyCase, seed: int) -> None:
    energy = case.energy
    result = solve(energy)
    candidates = local_moves(np.asarray(result.mask), np.random.default_rng(seed))
    values = energies_of(energy, candidates)
    assert_not_below(case, values, result.energy)
    if case.exact:
        assert_canonical_strict(candidates, result.mask, values, result.energy)


# ======================================================= 2. agreement with oracles


def check_against_reference(case: EnergyCase) -> None:
    energy = case.energy
    got, ref = solve(energy), solve(energy, "reference")
    assert_energies_equal(case, got.energy, ref.energy)
    if case.exact:
        np.testing.assert_array_equal(got.mask, ref.mask)
    else:
        # exact rational energies: reference is optimal, ours within float rounding
        ours, best = exact_energy(energy, got.mask), exact_energy(energy, ref.mask)
        tol = RTOL * energy_scale(energy)
        for b in range(energy.batch_size):
            assert best[b] <= ours[b]
            assert float(ours[b] - best[b]) <= tol[b], (b, float(ours[b] - best[b]))


@settings(max_examples=examples(120), deadline=None)
@given(case=energy_cases())
def test_agrees_with_reference(case: EnergyCase) -> None:
    check_against_reference(case)


@settings(max_examples=examples(20), deadline=None)
@given(case=energy_cases(max_batch=2, min_side=7, max_side=16, max_tokens=256,
                         odd_shapes=((1, 64), (64, 1), (2, 50), (3, 40))))
def test_agrees_with_reference_medium_grid(case: EnergyCase) -> None:
    # longer augmenting paths and more orphans than on the small grids above
    check_against_reference(case)


@settings(max_examples=examples(100), deadline=None)
@given(case=energy_cases(kinds=("near_tie",)))
def test_near_ties_resolved_in_float64(case: EnergyCase) -> None:
    # ties broken by ~1e-9 jitter: float32-level (or absolute-epsilon) arithmetic picks
    # a mask ~1e-9 worse, float64 finds the exact optimum up to ~1e-14
    energy = case.energy
    ours = exact_energy(energy, solve(energy).mask)
    best = exact_energy(energy, solve(energy, "reference").mask)
    tol = RTOL * energy_scale(energy)
    for b in range(energy.batch_size):
        assert best[b] <= ours[b] <= best[b] + tol[b], (b, float(ours[b] - best[b]))


@settings(max_examples=examples(60), deadline=None)
@given(case=energy_cases(kinds=tuple(INT32_KINDS)))
def test_agrees_with_scipy_on_dyadic(case: EnergyCase) -> None:
    got, ref = solve(case.energy), solve(case.energy, "scipy")
    np.testing.assert_array_equal(got.mask, ref.mask)
    np.testing.assert_array_equal(got.energy, ref.energy)


@settings(max_examples=examples(60), deadline=None)
@given(case=energy_cases())
def test_agrees_with_pymaxflow(case: EnergyCase) -> None:
    pytest.importorskip("maxflow")
    got, ref = solve(case.energy), solve(case.energy, "maxflow")
    assert_energies_equal(case, got.energy, ref.energy)  # masks may differ on ties


@settings(max_examples=examples(40), deadline=None)
@given(case=energy_cases(kinds=tuple(INT32_KINDS)))
def test_agrees_with_gco_on_dyadic(case: EnergyCase) -> None:
    pytest.importorskip("gco")
    got, ref = solve(case.energy), solve(case.energy, "gco")
    assert np.all(ref.lossless)
    np.testing.assert_array_equal(got.energy, ref.energy)


# ========================================================= 3. shifts and scaling


@settings(max_examples=examples(60), deadline=None)
@given(case=energy_cases(kinds=EXACT_OR_UNIQUE), data=st.data())
def test_two_sided_shift(case: EnergyCase, data: st.DataObject) -> None:
    energy = case.energy
    u, p = energy.numpy()
    if case.exact:
        cost_drop = data.draw(hnp.arrays(np.int64, u.shape, elements=st.integers(-16, 16))) / 8.0
        shift = data.draw(hnp.arrays(np.int64, u.shape, elements=st.integers(-16, 16))) / 8.0
    else:
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        cost_drop, shift = rng.normal(0, 3, u.shape), rng.normal(0, 3, u.shape)
    base = ersm.GridEnergy.from_two_sided(cost_drop, cost_drop + u, p, energy.connectivity)
    moved = ersm.GridEnergy.from_two_sided(cost_drop + shift, cost_drop + u + shift, p,
                                           energy.connectivity)
    r_base, r_moved = solve(base), solve(moved)
    np.testing.assert_array_equal(r_moved.mask, r_base.mask)
    plain = ersm.GridEnergy(u, p, energy.connectivity)
    r_plain = solve(plain)
    if case.exact:
        np.testing.assert_array_equal(r_base.mask, r_plain.mask)
        np.testing.assert_array_equal(r_base.energy, r_plain.energy + cost_drop.sum((1, 2)))
        np.testing.assert_array_equal(r_moved.energy, r_base.energy + shift.sum((1, 2)))
    else:
        tol = RTOL * (energy_scale(plain) + np.abs(cost_drop).sum((1, 2))
                      + np.abs(shift).sum((1, 2)))
        assert np.all(np.abs(r_moved.energy - r_base.energy - shift.sum((1, 2))) <= tol)
        assert np.all(np.abs(r_base.energy - r_plain.energy - cost_drop.sum((1, 2))) <= tol)


@settings(max_examples=examples(80), deadline=None)
@given(case=energy_cases(), exponent=st.integers(-12, 12))
def test_power_of_two_scaling_is_exact(case: EnergyCase, exponent: int) -> None:
    # Scaling every term by 2^k commutes with float rounding: same mask for any input.
    energy = case.energy
    u, p = energy.numpy()
    s = 2.0 ** exponent
    scaled = ersm.GridEnergy(u * s, p * s, energy.connectivity, energy.constant_array() * s)
    r, r_s = solve(energy), solve(scaled)
    np.testing.assert_array_equal(r_s.mask, r.mask)
    np.testing.assert_array_equal(r_s.energy, r.energy * s)


@settings(max_examples=examples(40), deadline=None)
@given(case=energy_cases(kinds=tuple(NO_TIE_KINDS)),
       s=st.sampled_from([0.1, 1 / 3, 3.0, 7.25, 1000.0 / 7]))
def test_positive_scaling_keeps_mask(case: EnergyCase, s: float) -> None:
    energy = case.energy
    u, p = energy.numpy()
    scaled = ersm.GridEnergy(u * s, p * s, energy.connectivity, energy.constant_array() * s)
    r, r_s = solve(energy), solve(scaled)
    np.testing.assert_array_equal(r_s.mask, r.mask)
    tol = RTOL * s * energy_scale(energy)
    assert np.all(np.abs(r_s.energy - s * r.energy) <= tol)


# ================================================ 4. symmetries and equivariance


@settings(max_examples=examples(80), deadline=None)
@given(case=energy_cases(kinds=EXACT_OR_UNIQUE))
def test_label_swap_gives_complement(case: EnergyCase) -> None:
    energy = case.energy
    u, p = energy.numpy()
    r = solve(energy)
    swapped = ersm.GridEnergy(-u, p, energy.connectivity, energy.constant_array())
    r_neg = solve(swapped)
    complement = ~np.asarray(r_neg.mask)
    if case.no_ties:
        np.testing.assert_array_equal(complement, r.mask)
    else:
        # with ties: the complement of the maximal minimiser of E(-θ) is the *minimal*
        # minimiser of E(θ): optimal, and inside the canonical (maximal) one
        np.testing.assert_array_equal(energy.energy(complement), r.energy)
        assert not np.any(complement & ~np.asarray(r.mask))
    # E_{-θ}(m) = E_θ(1 − m) − Σθ
    assert_energies_equal(case, r_neg.energy, r.energy - u.sum((1, 2)))


@settings(max_examples=examples(80), deadline=None)
@given(case=energy_cases(), seed=st.integers(0, 2**32 - 1))
def test_transpose_helper_preserves_energy(case: EnergyCase, seed: int) -> None:
    energy = case.energy
    t = transpose_energy(energy)
    assert (t.height, t.width) == (energy.width, energy.height)
    rng = np.random.default_rng(seed)
    masks = rng.random((16, *energy.mask_shape)) < rng.uniform(0.05, 0.95, (16, 1, 1, 1))
    for m in masks:
        assert_energies_equal(case, t.energy(m.transpose(0, 2, 1)), energy.energy(m))
    # involution on every in-grid weight
    tt = transpose_energy(t)
    valid = valid_edge_mask(energy.height, energy.width, energy.connectivity)
    np.testing.assert_array_equal(tt.numpy()[0], energy.numpy()[0])
    np.testing.assert_array_equal(tt.numpy()[1] * valid, energy.numpy()[1] * valid)


def test_transpose_helper_by_hand() -> None:
    # 2x3 grid, one edge per channel; check where each lands in the 3x2 transpose
    for k, (y, x), (k_t, y_t, x_t) in [
        (0, (0, 1), (1, 1, 0)),  # right (0,1)-(0,2)      -> down (1,0)-(2,0)
        (1, (0, 2), (0, 2, 0)),  # down (0,2)-(1,2)       -> right (2,0)-(2,1)
        (2, (0, 0), (2, 0, 0)),  # down-right (0,0)-(1,1) -> down-right (0,0)-(1,1)
        (3, (0, 2), (3, 1, 1)),  # down-left (0,2)-(1,1)  -> (2,0)-(1,1) = down-left from (1,1)
    ]:
        p = np.zeros((1, 4, 2, 3))
        p[0, k, y, x] = 1.0
        t = transpose_energy(ersm.GridEnergy(np.zeros((1, 2, 3)), p, 8))
        expected = np.zeros((1, 4, 3, 2))
        expected[0, k_t, y_t, x_t] = 1.0
        np.testing.assert_array_equal(t.numpy()[1], expected)


@settings(max_examples=examples(80), deadline=None)
@given(case=energy_cases(kinds=EXACT_OR_UNIQUE))
def test_transpose_equivariance(case: EnergyCase) -> None:
    r = solve(case.energy)
    r_t = solve(transpose_energy(case.energy))
    np.testing.assert_array_equal(r_t.mask, np.asarray(r.mask).transpose(0, 2, 1))
    assert_energies_equal(case, r_t.energy, r.energy)


@settings(max_examples=examples(60), deadline=None)
@given(case=energy_cases(min_batch=2, max_batch=4), data=st.data())
def test_batch_permutation_equivariance(case: EnergyCase, data: st.DataObject) -> None:
    energy = case.energy
    perm = np.array(data.draw(st.permutations(range(energy.batch_size))))
    r, r_p = solve(energy), solve(energy.select(perm))
    np.testing.assert_array_equal(r_p.mask, np.asarray(r.mask)[perm])
    np.testing.assert_array_equal(r_p.energy, np.asarray(r.energy)[perm])


@settings(max_examples=examples(60), deadline=None)
@given(case=energy_cases(min_batch=2), seed=st.integers(0, 2**32 - 1))
def test_samples_are_independent(case: EnergyCase, seed: int) -> None:
    energy = case.energy
    u, p = energy.numpy()
    rng = np.random.default_rng(seed)
    u, p = u.copy(), p.copy()
    u[0] = np.round(rng.normal(0, 2, u[0].shape) * 8) / 8  # replace sample 0 only
    p[0] = np.round(rng.uniform(0, 2, p[0].shape) * 8) / 8
    changed = ersm.GridEnergy(u, p, energy.connectivity, energy.constant_array())
    r, r_changed = solve(energy), solve(changed)
    np.testing.assert_array_equal(np.asarray(r_changed.mask)[1:], np.asarray(r.mask)[1:])
    np.testing.assert_array_equal(np.asarray(r_changed.energy)[1:], np.asarray(r.energy)[1:])
    np.testing.assert_array_equal(np.asarray(r_changed.mask)[:1],
                                  solve(changed.select(0)).mask)


# ============================================================== 5. limit cases


@settings(max_examples=examples(80), deadline=None)
@given(case=energy_cases(), junk_off_grid=st.booleans())
def test_zero_weights_threshold(case: EnergyCase, junk_off_grid: bool) -> None:
    energy = case.energy
    u, p = energy.numpy()
    valid = valid_edge_mask(energy.height, energy.width, energy.connectivity)
    p0 = p * ~valid if junk_off_grid else np.zeros_like(p)  # only ignored weights left
    r = solve(with_pairwise(energy, p0))
    # θ = 0: zero source and sink capacity, never reachable from the source ⇒ kept
    np.testing.assert_array_equal(r.mask, u <= 0)
    assert_energies_equal(case, r.energy,
                          np.minimum(u, 0).sum((1, 2)) + energy.constant_array())


@settings(max_examples=examples(80), deadline=None)
@given(case=energy_cases(kinds=("generic", "extreme", "dyadic", "wide_dyadic")),
       factor=st.integers(8, 64))
def test_huge_weights_give_constant_mask(case: EnergyCase, factor: int) -> None:
    energy = case.energy
    u, p = energy.numpy()
    # every in-grid edge heavier than Σ|θ| (a power of two times factor / 8 ≥ 1, so
    # exact kinds stay exact): any non-constant mask cuts an edge that costs more than
    # all unaries together can save, and the grid is connected
    heavy = np.exp2(np.ceil(np.log2(np.abs(u).sum((1, 2)) + 1.0))) * factor / 8
    big = heavy[:, None, None, None] * (1.0 if case.exact else 1.0 + p / (1.0 + p.max()))
    r = solve(with_pairwise(energy, np.broadcast_to(big, p.shape)))
    total = u.sum((1, 2))
    # Σθ = 0 (possible on dyadic inputs): both constant masks tie, canonical keeps all
    expected = np.broadcast_to((total <= 0)[:, None, None], u.shape)
    np.testing.assert_array_equal(r.mask, expected)
    assert_energies_equal(case, r.energy, np.minimum(total, 0) + energy.constant_array())


# ================================================================ 6. monotonicity


@settings(max_examples=examples(80), deadline=None)
@given(case=energy_cases(kinds=EXACT_OR_UNIQUE), data=st.data())
def test_decreasing_unaries_only_adds_tokens(case: EnergyCase, data: st.DataObject) -> None:
    # Holds for the canonical (maximal) minimiser even with ties: if M minimises E and
    # M' maximally minimises E' = E − δ·m (δ ≥ 0), submodularity makes M ∪ M' a
    # minimiser of E', so M ⊆ M'.
    energy = case.energy
    u, _ = energy.numpy()
    which = data.draw(hnp.arrays(np.bool_, u.shape))
    if case.exact:
        delta = data.draw(hnp.arrays(np.int64, u.shape, elements=st.integers(0, 24))) / 8.0
    else:
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        delta = rng.exponential(np.abs(u).mean() + 1e-3, u.shape)
    r = solve(energy)
    r_low = solve(with_unary(energy, u - delta * which))
    assert not np.any(np.asarray(r.mask) & ~np.asarray(r_low.mask))


@settings(max_examples=examples(50), deadline=None)
@given(case=energy_cases(kinds=EXACT_OR_UNIQUE, max_batch=2),
       steps=st.lists(st.integers(-32, 32), min_size=2, max_size=6, unique=True))
def test_parametric_masks_are_nested(case: EnergyCase, steps: list[int]) -> None:
    energy = case.energy
    u, _ = energy.numpy()
    scale = 1.0 if case.exact else float(np.abs(u).mean() + 1e-3)
    previous = None
    for lam in sorted(steps):  # θ − λ with λ increasing: masks only grow
        mask = np.asarray(solve(with_unary(energy, u - lam / 8.0 * scale)).mask)
        if previous is not None:
            assert not np.any(previous & ~mask), lam
        previous = mask


# ================================================================= 7. relaxations


@settings(max_examples=examples(60), deadline=None)
@given(case=energy_cases(), seed=st.integers(0, 2**32 - 1))
def test_relaxations_equal_discrete_on_integral_q(case: EnergyCase, seed: int) -> None:
    import torch

    energy = case.energy
    u, p = energy.numpy()
    rng = np.random.default_rng(seed)
    masks = list(rng.random((4, *energy.mask_shape)) < 0.5) + [np.asarray(solve(energy).mask)]
    torch_energy = ersm.GridEnergy(torch.from_numpy(u), torch.from_numpy(p),
                                   energy.connectivity, torch.from_numpy(energy.constant_array()))
    for m in masks:
        want = energy.energy(m)
        for kind in ("multilinear", "tv"):
            assert_energies_equal(case, energy.relaxed(m.astype(np.float64), kind), want)
            got = torch_energy.relaxed(torch.from_numpy(m.astype(np.float64)), kind)
            assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
            assert_energies_equal(case, got.numpy(), want)


def tv_lp(unary: np.ndarray, pairwise: np.ndarray) -> tuple[float, np.ndarray]:
    """``min Σθq + Σ w t`` s.t. ``t_e ≥ ±(q_i − q_j)``, ``q ∈ [0,1]``, ``t ≥ 0`` (one map)."""
    height, width = unary.shape
    n = height * width
    i, j, w = grid_edges(pairwise)
    n_e = len(w)
    c = np.concatenate([unary.ravel(), w])
    rows = np.arange(2 * n_e)
    a = np.zeros((2 * n_e, n + n_e))
    a[rows[:n_e], i], a[rows[:n_e], j], a[rows[:n_e], n + np.arange(n_e)] = 1, -1, -1
    a[rows[n_e:], j], a[rows[n_e:], i], a[rows[n_e:], n + np.arange(n_e)] = 1, -1, -1
    res = scipy.optimize.linprog(
        c, A_ub=a if n_e else None, b_ub=np.zeros(2 * n_e) if n_e else None,
        bounds=[(0, 1)] * n + [(0, None)] * n_e, method="highs-ds")
    assert res.status == 0, res.message
    return float(res.fun), res.x[:n].reshape(height, width)


@settings(max_examples=examples(50), deadline=None)
@given(case=energy_cases(kinds=("float", "generic", "dyadic"), max_batch=2))
def test_tv_relaxation_is_tight(case: EnergyCase) -> None:
    energy = case.energy
    u, p = energy.numpy()
    const = energy.constant_array()
    r = solve(energy)
    tol = LP_RTOL * np.maximum(energy_scale(energy), 1.0)
    for b in range(energy.batch_size):
        value, q = tv_lp(u[b], p[b])
        value += const[b]
        assert abs(value - r.energy[b]) <= tol[b], (value, r.energy[b])
        relaxed = energy.select(b).relaxed(np.clip(q, 0, 1)[None], "tv")[0]
        assert abs(relaxed - value) <= tol[b]
        # snap solver noise (vertices are rationals with small denominators), then any
        # level set in (0, 1) of a minimiser is an optimal mask
        q = np.round(q, 6)
        for level in (0.25, 0.5, 0.75):
            mask = (q > level)[None]
            assert abs(energy.select(b).energy(mask)[0] - r.energy[b]) <= tol[b], level
