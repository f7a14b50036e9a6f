"""``ersm.solve_path``: exact keep-cost paths (thresholds of nested canonical cuts).

Oracles: an exact brute force over all masks in rational arithmetic (≤ 12 tokens), the
``graphcut`` backend on ``θ + λ`` wherever that sum is exact in float64, and the slow
full-grid reference solver (``ersm.solvers.path.reference``).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ersm
from ersm.errors import DTypeError, ShapeError, ValueRangeError
from ersm.energy.offsets import edge_slices
try:
    from ersm.solvers.backends.brute import all_masks
except ImportError:  # before the solvers restructuring
    from ersm.solvers.backends.brute import all_masks
from ersm.solvers.path.reference import path_thresholds_reference

# --------------------------------------------------------------------- helpers


def int_energy(rng, B, H, W, conn=4, lo=-6, hi=7, whi=4, scale=1.0) -> ersm.GridEnergy:
    K = 2 if conn == 4 else 4
    unary = rng.integers(lo, hi, (B, H, W)).astype(np.float64) * scale
    pairwise = rng.integers(0, whi, (B, K, H, W)).astype(np.float64) * scale
    return ersm.GridEnergy(unary, pairwise, conn)


def exact_terms(theta, pairwise):
    """All ``2^n`` masks and their exact (rational) energies."""
    H, W = theta.shape
    masks = all_masks(H * W).reshape(-1, H, W)
    return masks, [exact_energy(theta, pairwise, m) for m in masks]


def exact_energy(theta: np.ndarray, pairwise: np.ndarray, mask: np.ndarray) -> Fraction:
    """``E(mask)`` of one map (no constant) in rational arithmetic."""
    e = sum((Fraction(float(v)) for v in theta[mask]), Fraction(0))
    for k in range(pairwise.shape[0]):
        src, dst = edge_slices(k, *theta.shape)
        e += sum((Fraction(float(v)) for v in pairwise[k][src][mask[src] != mask[dst]]),
                 Fraction(0))
    return e


def exact_canonical(masks, energies, lam: float) -> np.ndarray:
    """Union of the exact minimisers of ``E + lam·|m|``."""
    lam = Fraction(lam)
    values = [e + lam * int(m.sum()) for m, e in zip(masks, energies)]
    best = min(values)
    return np.any([m for m, v in zip(masks, values) if v == best], axis=0)


def probe_lams(thresholds: np.ndarray) -> list[float]:
    """Breakpoints, their float neighbours, midpoints and far values."""
    bps = np.unique(thresholds[np.isfinite(thresholds)])
    lams = [-1e6, 1e6]
    for b in bps:
        lams += [float(b), math.nextafter(b, -math.inf), math.nextafter(b, math.inf)]
    lams += list((bps[1:] + bps[:-1]) / 2)
    return lams


def exact_sum_is_float(theta: np.ndarray, lam: float) -> bool:
    return all(Fraction(float(t)) + Fraction(lam) == Fraction(float(t + lam)) for t in theta.ravel())


# ----------------------------------------------------------------------- tests


def test_smoke():
    e = ersm.GridEnergy(np.array([[-1.0, 0.5]]), np.full((2, 1, 2), 0.25))
    res = ersm.solve_path(e)
    np.testing.assert_array_equal(res.thresholds, [[0.75, -0.25]])
    np.testing.assert_array_equal(res.breakpoints, [-0.25, 0.75])
    np.testing.assert_array_equal(res.mask_at(0.0), [[True, False]])
    assert float(res.energy_at(0.0)) == -0.75
    assert isinstance(res, ersm.PathResult)


@pytest.mark.parametrize("conn", [4, 8])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (3, 3), (3, 4)])
def test_brute_force_exact(shape, conn):
    rng = np.random.default_rng(hash((shape, conn)) % 2**32)
    for _ in range(3):
        e = int_energy(rng, 1, *shape, conn=conn)
        theta, pw = e.numpy()
        res = ersm.solve_path(e)
        masks, energies = exact_terms(theta[0], pw[0])
        for lam in probe_lams(res.thresholds[0]):
            want = exact_canonical(masks, energies, lam)
            np.testing.assert_array_equal(res.mask_at(lam)[0], want, err_msg=f"lam={lam!r}")


@pytest.mark.parametrize("conn", [4, 8])
def test_matches_graphcut_where_exact(conn):
    rng = np.random.default_rng(conn)
    e = int_energy(rng, 3, 6, 7, conn=conn)
    theta, pw = e.numpy()
    res = ersm.solve_path(e)
    checked = 0
    for b in range(3):
        for lam in probe_lams(res.thresholds[b]) + [0.0, 0.5, -1.0, 2.25]:
            if not exact_sum_is_float(theta[b], lam):
                continue
            want = ersm.solve(ersm.GridEnergy(theta[b] + lam, pw[b], conn)).mask
            np.testing.assert_array_equal(res.mask_at(np.full(3, lam))[b], want)
            checked += 1
    assert checked > 20


def test_integer_breakpoints_hit_exactly():
    # θ = (-3, 1), w = 1: both kept iff -2 + 2λ <= -2 + λ (λ <= 0), the first iff λ <= 2
    e = ersm.GridEnergy(np.array([[-3.0, 1.0]]), np.full((2, 1, 2), 1.0))
    np.testing.assert_array_equal(ersm.solve_path(e).thresholds, [[2.0, 0.0]])


def test_thirds_rounded_down():
    # three tokens, large weights: one breakpoint at -(sum θ)/3 = 1/3
    e = ersm.GridEnergy(np.array([[0.0, -1.0, 0.0]]), np.full((2, 1, 3), 10.0))
    t = ersm.solve_path(e).thresholds
    third = float(Fraction(1, 3))
    want = third if Fraction(third) <= Fraction(1, 3) else math.nextafter(third, -math.inf)
    np.testing.assert_array_equal(t, np.full((1, 3), want))
    assert Fraction(want) <= Fraction(1, 3) < Fraction(math.nextafter(want, math.inf))


def test_nested_and_monotone_size():
    rng = np.random.default_rng(3)
    e = int_energy(rng, 2, 5, 6, conn=8)
    res = ersm.solve_path(e)
    lams = np.sort(np.array(probe_lams(res.thresholds)))
    previous = None
    for lam in lams:
        m = res.mask_at(lam)
        if previous is not None:
            assert not (m & ~previous).any()  # shrinking as λ grows
        previous = m


def test_energy_at_is_optimal_and_concave():
    rng = np.random.default_rng(4)
    e = int_energy(rng, 1, 3, 3)
    theta, pw = e.numpy()
    res = ersm.solve_path(e)
    masks, energies = exact_terms(theta[0], pw[0])
    lams = np.linspace(-8, 8, 33)
    values = np.array([float(res.energy_at(lam)[0]) for lam in lams])
    for lam, v in zip(lams, values):
        best = min(en + Fraction(float(lam)) * int(m.sum()) for m, en in zip(masks, energies))
        assert v == float(best)
    assert (np.diff(values, 2) <= 1e-12).all()  # concave


@pytest.mark.parametrize("conn", [4, 8])
def test_invariants(conn):
    rng = np.random.default_rng(5)
    e = int_energy(rng, 2, 4, 5, conn=conn)
    theta, pw = e.numpy()
    t = ersm.solve_path(e).thresholds
    # θ + c shifts thresholds by -c (each is rounded once, so equal up to one ulp;
    # bit for bit where the threshold is an integer)
    t_shift = ersm.solve_path(ersm.GridEnergy(theta + 3.0, pw, conn)).thresholds
    np.testing.assert_allclose(t_shift, t - 3.0, rtol=0, atol=1e-14)
    whole = t == np.round(t)
    np.testing.assert_array_equal(t_shift[whole], t[whole] - 3.0)
    # scaling by s = 4 scales thresholds by s (exact for a power of two)
    t_scale = ersm.solve_path(ersm.GridEnergy(theta * 4.0, pw * 4.0, conn)).thresholds
    np.testing.assert_array_equal(t_scale, t * 4.0)
    # w = 0: thresholds = -θ
    t_zero = ersm.solve_path(ersm.GridEnergy(theta, np.zeros_like(pw), conn)).thresholds
    np.testing.assert_array_equal(t_zero, -theta)
    # label swap: the complement of M_θ(λ) is the smallest minimiser of -θ at -λ
    t_neg = ersm.solve_path(ersm.GridEnergy(-theta, pw, conn)).thresholds
    for lam in np.linspace(-6, 6, 25):
        m = t >= lam
        # thresholds of -θ describe the largest minimisers; the complement of ours is a
        # minimiser of the swapped energy, hence contained in its largest one
        assert not (~m & ~(t_neg >= -lam)).any()
        np.testing.assert_array_equal(
            e.energy(m) + lam * m.sum((1, 2)),
            ersm.GridEnergy(-theta, pw, conn).energy(~m) + theta.sum((1, 2)) + lam * m.sum((1, 2)))


def test_ties_all_equal():
    # all-zero energy: one breakpoint at 0, everything kept there (largest minimiser)
    e = ersm.GridEnergy(np.zeros((2, 3, 3)), np.zeros((2, 2, 3, 3)))
    res = ersm.solve_path(e)
    np.testing.assert_array_equal(res.thresholds, np.zeros((2, 3, 3)))
    assert res.mask_at(0.0).all() and not res.mask_at(1e-300).any()


@pytest.mark.parametrize("scale", [1e-9, 1.0, 1e9])
def test_wide_ranges(scale):
    rng = np.random.default_rng(6)
    e = int_energy(rng, 2, 5, 5, scale=2.0 ** round(math.log2(scale)))
    t = ersm.solve_path(e).thresholds
    e1 = int_energy(np.random.default_rng(6), 2, 5, 5)
    np.testing.assert_array_equal(t, ersm.solve_path(e1).thresholds * 2.0 ** round(math.log2(scale)))


@pytest.mark.parametrize("conn", [4, 8])
@pytest.mark.parametrize("log2_scale", [-1040, -600, 600, 1000, 1017])
def test_float64_limits_scale_exactly(conn, log2_scale):
    """Up to the top of the float64 range (largest |θ| ~ 2^1022 at 2^1017) and down into
    subnormals the thresholds are the unit energy's times the power of two (rounded down
    where subnormals are coarser), also with a λ range (the kernel's exact products
    would overflow at the top unless rescaled)."""
    s = 2.0 ** log2_scale

    def times_s_rounded_down(t):  # the floor of the exact ratio, on the coarser grid
        out = t * s
        for i in zip(*np.nonzero(np.isfinite(t))):
            if Fraction(out[i]) > Fraction(t[i]) * Fraction(s):
                out[i] = np.nextafter(out[i], -np.inf)
        return out

    e1 = int_energy(np.random.default_rng(31), 2, 9, 11, conn, lo=-24, hi=25, whi=9)
    es = int_energy(np.random.default_rng(31), 2, 9, 11, conn, lo=-24, hi=25, whi=9, scale=s)
    assert np.isfinite(es.numpy()[0]).all()
    np.testing.assert_array_equal(ersm.solve_path(es).thresholds,
                                  times_s_rounded_down(ersm.solve_path(e1).thresholds))
    part = ersm.solve_path(es, lam_min=-3 * s, lam_max=2.5 * s).thresholds
    np.testing.assert_array_equal(
        part, times_s_rounded_down(ersm.solve_path(e1, lam_min=-3.0, lam_max=2.5).thresholds))


def test_scaled_range_rounds_outwards():
    from ersm.solvers.path.scaling import scale_exponent, scaled_range

    assert scale_exponent(np.ones((2, 2)), np.zeros((2, 2, 2))) == 0
    assert scale_exponent(np.full((1, 1), -2.0 ** 700), np.zeros((2, 1, 1))) == 701
    assert scale_exponent(np.zeros((1, 1)), np.full((2, 1, 1), 2.0 ** 900)) == 901
    tiny = 5e-324  # scaled down by 2^1000 it underflows: the range must not shrink
    lo, hi = scaled_range(-3.0 * tiny, 3.0 * tiny, 1000)
    assert lo < 0.0 < hi
    assert scaled_range(-math.inf, math.inf, 1000) == (-math.inf, math.inf)
    assert scaled_range(-2.0 ** 1000, 2.0 ** 1001, 1000) == (-1.0, 2.0)


def test_generic_floats_optimal():
    rng = np.random.default_rng(7)
    theta = rng.normal(size=(2, 6, 6)) * 1e3
    pw = rng.random((2, 4, 6, 6)) * 5e2
    e = ersm.GridEnergy(theta, pw, 8)
    res = ersm.solve_path(e)
    for lam in probe_lams(res.thresholds)[::7]:
        got = e.energy(res.mask_at(lam)) + lam * res.mask_at(lam).sum((1, 2))
        ref = ersm.solve(ersm.GridEnergy(theta + lam, pw, 8))
        want = ref.energy
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9 * (1 + abs(lam)))


@pytest.mark.parametrize("conn", [4, 8])
def test_heavy_tailed_floats_exactly_optimal_where_the_cut_rounds(conn):
    """Cauchy unaries and weights: at breakpoints and their float neighbours the cut of
    the rounded sum θ + λ may differ from the path's mask, but never beats it in exact
    arithmetic, and on an exact tie the path's mask contains the cut's."""
    rng = np.random.default_rng(23)
    K = conn // 2
    theta = rng.standard_cauchy((2, 7, 9))
    pw = np.abs(rng.standard_cauchy((2, K, 7, 9))) * 0.3
    res = ersm.solve_path(ersm.GridEnergy(theta, pw, conn))
    for b in range(2):
        for lam in probe_lams(res.thresholds[b])[::3]:
            path_mask = res.thresholds[b] >= lam
            cut = ersm.solve(ersm.GridEnergy(theta[b] + lam, pw[b], conn)).mask
            if np.array_equal(cut, path_mask):
                continue
            lam_q = Fraction(lam)
            e_path = exact_energy(theta[b], pw[b], path_mask) + lam_q * int(path_mask.sum())
            e_cut = exact_energy(theta[b], pw[b], cut) + lam_q * int(cut.sum())
            assert e_path <= e_cut
            if e_path == e_cut:
                assert (path_mask >= cut).all()


def test_range_clipping():
    rng = np.random.default_rng(8)
    e = int_energy(rng, 2, 4, 4)
    full = ersm.solve_path(e)
    part = ersm.solve_path(e, lam_min=-1.0, lam_max=1.5)
    t = full.thresholds
    want = np.where(t >= 1.5, np.inf, np.where(t < -1.0, -np.inf, t))
    np.testing.assert_array_equal(part.thresholds, want)
    for lam in [-1.0, -0.5, 0.0, 1.0, 1.5]:
        np.testing.assert_array_equal(part.mask_at(lam), full.mask_at(lam))
    with pytest.raises(ValueRangeError, match="lam must lie in"):
        part.mask_at(2.0)


def test_keep_cost_for_ratio():
    e = ersm.GridEnergy(np.array([[-3.0, -1.0, 2.0, 5.0]]), np.zeros((2, 1, 4)))
    res = ersm.solve_path(e)  # thresholds 3, 1, -2, -5
    np.testing.assert_array_equal(res.keep_cost_for_ratio(0.5), 1.0)
    assert res.mask_at(res.keep_cost_for_ratio(0.5)).sum() == 2
    assert res.mask_at(res.keep_cost_for_ratio(0.0)).sum() == 0
    assert res.mask_at(res.keep_cost_for_ratio(1.0)).sum() == 4
    # 0.375 * 4 = 1.5: sizes 1 and 2 tie, the smaller mask wins
    assert res.mask_at(res.keep_cost_for_ratio(0.375)).sum() == 1
    with pytest.raises(ValueRangeError, match="ratio"):
        res.keep_cost_for_ratio(1.5)


def test_keep_cost_for_ratio_per_sample_and_blocks():
    e = ersm.GridEnergy(np.zeros((2, 2, 2)) + np.array([-1.0, 1.0])[:, None, None],
                        np.full((2, 2, 2, 2), 10.0))
    res = ersm.solve_path(e)  # each sample is one block: sizes 0 or 4 only
    lam = res.keep_cost_for_ratio(np.array([0.4, 0.6]))
    np.testing.assert_array_equal(res.mask_at(lam).sum((1, 2)), [0, 4])


def test_unbatched_and_torch():
    rng = np.random.default_rng(9)
    e = int_energy(rng, 1, 3, 4)
    theta, pw = e.numpy()
    ref = ersm.solve_path(e)
    un = ersm.solve_path(ersm.GridEnergy(theta[0], pw[0]))
    assert un.thresholds.shape == (3, 4)
    np.testing.assert_array_equal(un.thresholds, ref.thresholds[0])
    np.testing.assert_array_equal(un.breakpoints, ref.breakpoints[0])
    assert un.mask_at(0.0).shape == (3, 4) and un.energy_at(0.0).shape == ()
    assert np.ndim(un.keep_cost_for_ratio(0.5)) == 0
    with pytest.raises(ShapeError, match="lam must be a scalar"):
        un.mask_at(np.zeros(1))
    te = ersm.GridEnergy(torch.from_numpy(theta), torch.from_numpy(pw).float())
    tr = ersm.solve_path(te)
    assert isinstance(tr.thresholds, torch.Tensor) and tr.thresholds.dtype == torch.float64
    assert isinstance(tr.breakpoints[0], torch.Tensor)
    np.testing.assert_array_equal(tr.thresholds.numpy(), ref.thresholds)
    assert isinstance(tr.mask_at(torch.tensor([0.5])), torch.Tensor)
    assert tr.mask_at(0.5).dtype == torch.bool
    assert isinstance(tr.keep_cost_for_ratio(0.5), torch.Tensor)
    assert isinstance(tr.energy_at(0.5), torch.Tensor)


def test_cardinality_batch_zero():
    e = ersm.GridEnergy(np.zeros((0, 3, 3)), np.zeros((0, 2, 3, 3)))
    res = ersm.solve_path(e)
    assert res.thresholds.shape == (0, 3, 3) and res.breakpoints == []
    assert res.mask_at(0.0).shape == (0, 3, 3)


def test_exception():
    e = ersm.GridEnergy(np.zeros((1, 2, 2)), -np.ones((1, 2, 2, 2)))
    with pytest.raises(ValueRangeError, match="negative weights"):
        ersm.solve_path(e)
    ok = ersm.GridEnergy(np.zeros((1, 2, 2)), np.ones((1, 2, 2, 2)))
    with pytest.raises(ValueRangeError, match="lam_min must be <= lam_max"):
        ersm.solve_path(ok, lam_min=1.0, lam_max=0.0)
    with pytest.raises(ValueRangeError, match="lam_max must not be NaN"):
        ersm.solve_path(ok, lam_max=float("nan"))
    with pytest.raises(TypeError, match="lam_min must be a real number"):
        ersm.solve_path(ok, lam_min="0")
    with pytest.raises(TypeError, match="energy must be a GridEnergy"):
        ersm.solve_path(np.zeros((2, 2)))
    res = ersm.solve_path(ok)
    with pytest.raises(ValueRangeError, match="lam must not be NaN"):
        res.mask_at(float("nan"))
    with pytest.raises(ShapeError, match=r"lam must be a scalar or shape \(1,\)"):
        res.mask_at(np.zeros(3))


def test_inputs_not_mutated():
    rng = np.random.default_rng(10)
    e = int_energy(rng, 2, 4, 4)
    theta, pw = e.unary.copy(), e.pairwise.copy()
    ersm.solve_path(e)
    np.testing.assert_array_equal(e.unary, theta)
    np.testing.assert_array_equal(e.pairwise, pw)


@settings(max_examples=25)
@given(st.data())
def test_property_brute_force(data):
    H = data.draw(st.integers(1, 3))
    W = data.draw(st.integers(1, 4))
    conn = data.draw(st.sampled_from([4, 8]))
    K = 2 if conn == 4 else 4
    vals = st.integers(-8, 8).map(lambda v: v / 4)
    theta = np.array(data.draw(st.lists(vals, min_size=H * W, max_size=H * W))).reshape(1, H, W)
    wvals = st.integers(0, 6).map(lambda v: v / 4)
    pw = np.array(data.draw(st.lists(wvals, min_size=K * H * W, max_size=K * H * W)))
    pw = pw.reshape(1, K, H, W)
    res = ersm.solve_path(ersm.GridEnergy(theta, pw, conn))
    masks, energies = exact_terms(theta[0], pw[0])
    for lam in probe_lams(res.thresholds[0]):
        np.testing.assert_array_equal(res.mask_at(lam)[0], exact_canonical(masks, energies, lam))


def test_reference_agrees():
    rng = np.random.default_rng(11)
    e = int_energy(rng, 2, 5, 6, conn=8)
    np.testing.assert_array_equal(ersm.solve_path(e).thresholds,
                                  path_thresholds_reference(*e.numpy()))


@pytest.mark.parametrize("conn", [4, 8])
@pytest.mark.parametrize("shape", [(1, 9), (7, 1), (4, 6), (6, 5)])
def test_kernel_matches_reference_integer(shape, conn):
    rng = np.random.default_rng(hash((shape, conn, 1)) % 2**32)
    for whi in (2, 4, 9):  # weak to strong coupling: singletons, pairs, large blocks
        e = int_energy(rng, 3, *shape, conn=conn, whi=whi)
        np.testing.assert_array_equal(ersm.solve_path(e).thresholds,
                                      path_thresholds_reference(*e.numpy()))


def test_kernel_image_energy_matches_graphcut():
    # smooth image-like energy (long boundaries, big components), dyadic values
    rng = np.random.default_rng(12)
    H = W = 24
    yy, xx = np.mgrid[:H, :W]
    image = ((yy - 11) ** 2 + (xx - 13) ** 2 < 60).astype(float) + rng.normal(0, 0.5, (H, W))
    theta = np.round(-(image - 0.5) * 2 * 64) / 64
    pw = np.stack([np.exp(-np.diff(image, axis=1, append=image[:, -1:]) ** 2),
                   np.exp(-np.diff(image, axis=0, append=image[-1:]) ** 2)])
    pw = np.round(pw * 64) / 64
    e = ersm.GridEnergy(theta[None], pw[None])
    res = ersm.solve_path(e)
    assert res.info["cuts"][0] > 0
    checked = 0
    for lam in probe_lams(res.thresholds[0])[::5] + [0.0, 0.25, -0.5]:
        if exact_sum_is_float(theta, lam):
            want = ersm.solve(ersm.GridEnergy(theta + lam, pw)).mask
            np.testing.assert_array_equal(res.mask_at(lam)[0], want, err_msg=f"lam={lam!r}")
            checked += 1
    assert checked > 10


def test_kernel_pruning_matches_clipping():
    rng = np.random.default_rng(13)
    e = int_energy(rng, 3, 8, 8, conn=8)
    full = ersm.solve_path(e).thresholds
    for lo, hi in [(-2.0, 2.0), (0.5, 0.5), (-np.inf, -1.0), (3.0, np.inf)]:
        want = np.where(full >= hi, np.inf, np.where(full < lo, -np.inf, full))
        np.testing.assert_array_equal(ersm.solve_path(e, lam_min=lo, lam_max=hi).thresholds, want)


# ------------------------------------------------------------------------ sweep


@pytest.mark.parametrize("conn", [4, 8])
def test_sweep_equals_cold_solves(conn):
    rng = np.random.default_rng(14)
    e = int_energy(rng, 3, 7, 6, conn=conn)
    theta, pw = e.numpy()
    scales = [0.0, 0.25, 0.5, 1.0, 2.0, 0.5, 4.0, 1e-4]
    res = ersm.sweep(e, scales)
    assert res.masks.shape == (len(scales), 3, 7, 6) and res.energies.shape == (len(scales), 3)
    for n, s in enumerate(scales):
        cold = ersm.solve(ersm.GridEnergy(theta, pw * s, conn))
        np.testing.assert_array_equal(res.masks[n], cold.mask)
        np.testing.assert_array_equal(res.energies[n], cold.energy)
    assert res.info["warm"][1:4].all() and not res.info["warm"][0]
    assert not res.info["warm"][-1]  # a scale 4e4 times smaller is solved cold


def test_sweep_not_nested():
    # a 1x3 chain: the middle token flips on when w grows, the right one flips off
    e = ersm.GridEnergy(np.array([[-2.0, 1.0, -0.5]]), np.array([[[1.0, 1.0, 0.0]], [[0.0] * 3]]))
    masks = ersm.sweep(e, [0.0, 1.0]).masks
    np.testing.assert_array_equal(masks, [[[True, False, True]], [[True, True, True]]])
    e2 = ersm.GridEnergy(np.array([[-2.0, 1.0, -0.5]]), np.array([[[0.2, 3.0, 0.0]], [[0.0] * 3]]))
    m2 = ersm.sweep(e2, [0.0, 1.0]).masks
    assert (m2[0] & ~m2[1]).any()  # a token kept at s = 0 is dropped at s = 1


def test_sweep_torch_unbatched_and_errors():
    rng = np.random.default_rng(15)
    e = int_energy(rng, 1, 4, 4)
    theta, pw = e.numpy()
    te = ersm.GridEnergy(torch.from_numpy(theta[0]), torch.from_numpy(pw[0]))
    res = ersm.sweep(te, np.array([0.5, 1.0]))
    assert isinstance(res.masks, torch.Tensor) and res.masks.shape == (2, 4, 4)
    assert res.energies.shape == (2,)
    np.testing.assert_array_equal(res.masks[1].numpy(), ersm.solve(e).mask[0])
    assert ersm.sweep(e, []).masks.shape == (0, 1, 4, 4)
    with pytest.raises(ValueRangeError, match="pairwise_scales must be >= 0"):
        ersm.sweep(e, [1.0, -1.0])
    with pytest.raises(ValueRangeError, match="pairwise_scales must be finite"):
        ersm.sweep(e, [np.inf])
    with pytest.raises(ShapeError, match="pairwise_scales must be 1-D"):
        ersm.sweep(e, [[1.0]])
    with pytest.raises(ShapeError, match="got a scalar"):
        ersm.sweep(e, 1.0)  # a scale list, not one scale
    for wrong in (None, "1.0"):
        with pytest.raises(DTypeError, match="pairwise_scales must be a 1-D sequence"):
            ersm.sweep(e, wrong)
    with pytest.raises(ValueRangeError, match="overflows float64"):
        ersm.sweep(e, [1e308])  # the weights are finite; their product is not


# ----------------------------------------------------- pseudoflow (optional oracle)


def _hpf_thresholds(theta: np.ndarray, pw: np.ndarray) -> np.ndarray:
    """Hochbaum's parametric pseudoflow (PyPI ``pseudoflow``) as an independent oracle.

    Source side = kept: ``i -> t`` costs ``θ_i + M − μ`` with ``μ = −λ`` (sink arcs need
    non-positive multipliers), ``s -> i`` costs ``M``; a token joins the source set at
    breakpoint ``k`` (``cuts[k] = 1``), so its threshold is ``−μ_(k−1)``.
    """
    nx = pytest.importorskip("networkx")
    pseudoflow = pytest.importorskip("pseudoflow")
    from ersm.energy.offsets import OFFSETS

    H, W = theta.shape
    R = np.abs(theta).max() + 2 * pw.shape[0] * pw.max() + 1
    M = R + np.abs(theta).max() + 1
    G = nx.DiGraph()
    for y in range(H):
        for x in range(W):
            G.add_edge("s", (y, x), const=M, mult=0.0)
            G.add_edge((y, x), "t", const=theta[y, x] + M, mult=-1.0)
    for k in range(pw.shape[0]):
        dy, dx = OFFSETS[k]
        for y in range(H):
            for x in range(W):
                if 0 <= y + dy < H and 0 <= x + dx < W:
                    G.add_edge((y, x), (y + dy, x + dx), const=pw[k, y, x], mult=0.0)
                    G.add_edge((y + dy, x + dx), (y, x), const=pw[k, y, x], mult=0.0)
    mu, cuts, _ = pseudoflow.hpf(G, "s", "t", const_cap="const", mult_cap="mult",
                                 lambdaRange=[-R, R])
    out = np.full((H, W), np.nan)
    for (y, x) in np.ndindex(H, W):
        c = cuts[(y, x)]
        if 1 in c and c.index(1) > 0:
            out[y, x] = -mu[c.index(1) - 1]
    return out


@pytest.mark.parametrize("conn", [4, 8])
def test_pseudoflow_oracle(conn):
    pytest.importorskip("pseudoflow")
    rng = np.random.default_rng(16)
    K = 2 if conn == 4 else 4
    for H, W in [(1, 9), (5, 6), (8, 7)]:
        theta = rng.normal(size=(H, W))
        pw = rng.random((K, H, W)) * 0.6
        t = ersm.solve_path(ersm.GridEnergy(theta, pw, conn)).thresholds
        np.testing.assert_allclose(t, _hpf_thresholds(theta, pw), rtol=0, atol=1e-12)


def test_queries_take_any_real_scalar():
    """NumPy scalars, 0-d arrays and 0-d tensors are scalars (the unbatched torch round
    trip ``mask_at(keep_cost_for_ratio(r))`` included); booleans and strings are not."""
    e = int_energy(np.random.default_rng(40), 3, 4, 5)
    res = ersm.solve_path(e)
    want = res.mask_at(0.5)
    for lam in (np.float32(0.5), np.array(0.5), torch.tensor(0.5), np.int64(0) + 0.5):
        np.testing.assert_array_equal(res.mask_at(lam), want)
        np.testing.assert_array_equal(res.energy_at(lam), res.energy_at(0.5))
    np.testing.assert_array_equal(res.keep_cost_for_ratio(np.array(0.25)),
                                  res.keep_cost_for_ratio(0.25))
    flat = ersm.solve_path(ersm.GridEnergy(torch.from_numpy(e.unary[0]),
                                           torch.from_numpy(e.pairwise[0])))
    lam = flat.keep_cost_for_ratio(0.5)
    assert torch.is_tensor(lam) and lam.ndim == 0
    assert flat.mask_at(lam).shape == (4, 5)
    for bad in (True, np.array(True), "0.5", None):
        with pytest.raises(DTypeError):
            res.mask_at(bad)
