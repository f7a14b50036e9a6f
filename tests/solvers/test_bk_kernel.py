"""Tests for the Numba Boykov–Kolmogorov grid min-cut kernel."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ersm.energy.offsets import OFFSETS
from ersm.solvers.kernels.bk import grid_mincut_batch

# --------------------------------------------------------------------- helpers


def _edge_slices(H: int, W: int, k: int):
    """Slices (src, dst) selecting the in-grid edges of channel ``k``, or None."""
    dy, dx = OFFSETS[k]
    y0, y1 = 0, H - dy
    x0, x1 = max(0, -dx), min(W, W - dx)
    if y1 <= y0 or x1 <= x0:
        return None
    src = (slice(y0, y1), slice(x0, x1))
    dst = (slice(y0 + dy, y1 + dy), slice(x0 + dx, x1 + dx))
    return src, dst


def energy(unary: np.ndarray, pairwise: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """E(m) for one map; ``mask`` may carry leading batch dims of candidate masks."""
    m = np.asarray(mask, dtype=np.float64)
    H, W = unary.shape
    e = (m * unary).sum(axis=(-2, -1))
    for k in range(pairwise.shape[0]):
        sl = _edge_slices(H, W, k)
        if sl is None:
            continue
        src, dst = sl
        a = m[(Ellipsis,) + src]
        b = m[(Ellipsis,) + dst]
        e = e + (pairwise[k][src] * (a != b)).sum(axis=(-2, -1))
    return e


def energy_scale(unary: np.ndarray, pairwise: np.ndarray) -> float:
    """Sum of all absolute coefficients that can enter the energy."""
    H, W = unary.shape
    s = np.abs(unary).sum()
    for k in range(pairwise.shape[0]):
        sl = _edge_slices(H, W, k)
        if sl is not None:
            s += pairwise[k][sl[0]].sum()
    return float(max(s, 1.0))


def brute_force_min(unary: np.ndarray, pairwise: np.ndarray) -> float:
    H, W = unary.shape
    n = H * W
    bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    masks = bits.reshape(-1, H, W)
    return float(energy(unary, pairwise, masks).min())


def random_map(rng, H, W, K, garbage=True):
    unary = rng.normal(size=(H, W)) * rng.choice([0.3, 1.0, 3.0])
    pairwise = rng.exponential(size=(K, H, W)) * rng.choice([0.1, 0.5, 1.0, 2.0])
    # a few exact zeros
    pairwise[rng.random(pairwise.shape) < 0.1] = 0.0
    if garbage:  # weights of edges that leave the grid must be ignored
        for k in range(K):
            dy, dx = OFFSETS[k]
            ys = np.arange(H)[:, None] + dy
            xs = np.arange(W)[None, :] + dx
            outside = (ys < 0) | (ys >= H) | (xs < 0) | (xs >= W)
            pairwise[k][outside] = rng.uniform(0, 1e6, size=outside.sum())
    return unary, pairwise


def solve1(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    return grid_mincut_batch(
        np.ascontiguousarray(unary[None]), np.ascontiguousarray(pairwise[None])
    )[0]


def canonical_oracle(unary: np.ndarray, pairwise: np.ndarray, scale: int = 8) -> np.ndarray:
    """Keep-mask from scipy's integer max-flow + BFS in the residual graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, maximum_flow

    H, W = unary.shape
    n = H * W
    s, t = n, n + 1
    idx = np.arange(n).reshape(H, W)
    rows, cols, caps = [], [], []

    def add(u, v, c):
        keep = c > 0
        rows.append(u[keep])
        cols.append(v[keep])
        caps.append(c[keep])

    th = np.rint(unary.ravel() * scale).astype(np.int64)
    add(np.full(n, s), idx.ravel(), np.maximum(th, 0))
    add(idx.ravel(), np.full(n, t), np.maximum(-th, 0))
    for k in range(pairwise.shape[0]):
        sl = _edge_slices(H, W, k)
        if sl is None:
            continue
        src, dst = sl
        w = np.rint(pairwise[k][src] * scale).astype(np.int64).ravel()
        a, b = idx[src].ravel(), idx[dst].ravel()
        add(a, b, w)
        add(b, a, w)
    r, c, w = (np.concatenate(x) for x in (rows, cols, caps))
    assert w.max(initial=0) < 2**31
    cap = coo_matrix((w.astype(np.int32), (r, c)), shape=(n + 2, n + 2)).tocsr()
    cap.sum_duplicates()
    flow = maximum_flow(cap, s, t).flow
    residual = (cap - flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int32)
    residual.eliminate_zeros()
    reach = breadth_first_order(residual, s, directed=True, return_predecessors=False)
    reachable = np.zeros(n + 2, dtype=bool)
    reachable[reach] = True
    assert not reachable[t]
    return ~reachable[:n].reshape(H, W)


# ----------------------------------------------------------------------- tests


@pytest.mark.parametrize("K", [2, 4])
def test_brute_force_small_grids(K):
    rng = np.random.default_rng(1000 + K)
    shapes = [(1, 1), (1, 5), (5, 1), (2, 2), (2, 3), (3, 2), (3, 3), (3, 4), (4, 3),
              (2, 6), (6, 2), (1, 12), (12, 1), (2, 5), (4, 2)]
    for trial in range(120):
        H, W = shapes[trial % len(shapes)]
        unary, pairwise = random_map(rng, H, W, K)
        mask = solve1(unary, pairwise)
        best = brute_force_min(unary, pairwise)
        got = float(energy(unary, pairwise, mask))
        assert got == pytest.approx(best, abs=1e-9 * energy_scale(unary, pairwise)), (H, W, trial)


@pytest.mark.parametrize("K", [2, 4])
def test_brute_force_dyadic_ties(K):
    """Small integer/8 inputs: exact energies, and the canonical mask."""
    rng = np.random.default_rng(2000 + K)
    for trial in range(150):
        H, W = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        unary = rng.integers(-6, 7, size=(H, W)) / 8.0
        pairwise = rng.integers(0, 4, size=(K, H, W)) / 8.0
        mask = solve1(unary, pairwise)
        assert energy(unary, pairwise, mask) == brute_force_min(unary, pairwise)
        np.testing.assert_array_equal(mask, canonical_oracle(unary, pairwise))


@pytest.mark.parametrize("K", [2, 4])
def test_matches_pymaxflow_energy(K):
    maxflow = pytest.importorskip("maxflow")
    rng = np.random.default_rng(3000 + K)
    shapes = [(64, 64), (1, 64), (64, 1), (17, 33), (40, 7), (5, 5), (64, 48)]
    unaries, pairwises = [], []
    for H, W in shapes:
        u, p = random_map(rng, H, W, K)
        unaries.append(u)
        pairwises.append(p)
    # smooth "segmentation-like" maps in addition to white noise
    for _ in range(3):
        H = W = 64
        img = np.cumsum(np.cumsum(rng.normal(size=(H, W)), 0), 1)
        img = (img - img.mean()) / img.std()
        p = np.empty((K, H, W))
        for k in range(K):
            dy, dx = OFFSETS[k]
            p[k] = 2.0 * np.exp(-((img - np.roll(img, (-dy, -dx), (0, 1))) ** 2))
        unaries.append(np.sign(img) + rng.normal(size=(H, W)))
        pairwises.append(p)

    for unary, pairwise in zip(unaries, pairwises):
        H, W = unary.shape
        g = maxflow.Graph[float]()
        ids = g.add_grid_nodes((H, W))
        for k in range(K):
            dy, dx = OFFSETS[k]
            structure = np.zeros((3, 3))
            structure[1 + dy, 1 + dx] = 1.0
            g.add_grid_edges(ids, weights=pairwise[k], structure=structure, symmetric=True)
        g.add_grid_tedges(ids, np.maximum(unary, 0.0), np.maximum(-unary, 0.0))
        g.maxflow()
        ref_mask = g.get_grid_segments(ids)  # True = sink side = kept
        ours = solve1(unary, pairwise)
        e_ref = float(energy(unary, pairwise, ref_mask))
        e_ours = float(energy(unary, pairwise, ours))
        assert e_ours == pytest.approx(e_ref, rel=1e-12, abs=1e-12), (H, W)


@pytest.mark.parametrize("K", [2, 4])
def test_canonical_mask_against_scipy_oracle(K):
    rng = np.random.default_rng(4000 + K)
    shapes = [(1, 1), (1, 9), (9, 1), (8, 8), (16, 16), (13, 31), (32, 32), (48, 40)]
    for H, W in shapes:
        for variant in range(4):
            if variant == 0:  # many ties: small integer ranges
                unary = rng.integers(-4, 5, size=(H, W)) / 8.0
                pairwise = rng.integers(0, 3, size=(K, H, W)) / 8.0
            elif variant == 1:  # all-equal weights, balanced unaries
                unary = rng.choice([-1.0, 0.0, 1.0], size=(H, W))
                pairwise = np.full((K, H, W), 0.5)
            elif variant == 2:  # wide dyadic range
                unary = rng.integers(-4000, 4001, size=(H, W)) / 8.0
                pairwise = rng.integers(0, 2000, size=(K, H, W)) / 8.0
            else:  # strong smoothing: large connected cuts, long augmenting paths
                unary = rng.integers(-3, 4, size=(H, W)) / 8.0
                pairwise = rng.integers(4, 12, size=(K, H, W)) / 8.0
            mask = solve1(unary, pairwise)
            oracle = canonical_oracle(unary, pairwise)
            np.testing.assert_array_equal(mask, oracle, err_msg=f"{H}x{W} variant {variant}")


@pytest.mark.parametrize("K", [2, 4])
def test_extreme_magnitudes(K):
    rng = np.random.default_rng(5000 + K)
    for trial in range(60):
        H, W = [(3, 4), (4, 3), (2, 6), (1, 12), (12, 1), (3, 3)][trial % 6]
        mags = rng.choice([1e-9, 1.0, 1e9], size=(H, W))
        unary = rng.choice([-1.0, 1.0], size=(H, W)) * mags * rng.uniform(0.5, 2, size=(H, W))
        pairwise = rng.choice([0.0, 1e-9, 1.0, 1e9], size=(K, H, W)) * rng.uniform(
            0.5, 2, size=(K, H, W)
        )
        mask = solve1(unary, pairwise)
        best = brute_force_min(unary, pairwise)
        got = float(energy(unary, pairwise, mask))
        assert got == pytest.approx(best, abs=1e-9 * energy_scale(unary, pairwise))


def test_extreme_magnitudes_dyadic_exact():
    """Powers of two from 2^-30 to 2^30: still exactly representable sums."""
    rng = np.random.default_rng(6000)
    for K in (2, 4):
        for _ in range(40):
            H, W = 3, 4
            unary = rng.choice([-1.0, 1.0], size=(H, W)) * 2.0 ** rng.integers(-30, 31, size=(H, W))
            pairwise = 2.0 ** rng.integers(-30, 31, size=(K, H, W))
            pairwise[rng.random(pairwise.shape) < 0.2] = 0.0
            mask = solve1(unary, pairwise)
            assert energy(unary, pairwise, mask) == brute_force_min(unary, pairwise)


@pytest.mark.parametrize("K", [2, 4])
def test_zeros_and_trivial_cases(K):
    H, W = 5, 7
    zeros_u = np.zeros((H, W))
    zeros_p = np.zeros((K, H, W))
    # Nothing is reachable from the source: everything is kept (free nodes count as kept).
    assert solve1(zeros_u, zeros_p).all()
    assert solve1(zeros_u, np.ones((K, H, W))).all()
    # Independent nodes: keep exactly the negative unaries; zero-cost ties are kept.
    u = np.array([[-1.0, 0.0, 2.0, -0.5, 0.0, 3.0, -2.0]] * H)
    np.testing.assert_array_equal(solve1(u, zeros_p), u <= 0)
    # Strong smoothing with positive total unary: drop everything.
    u = np.full((H, W), 0.1)
    u[2, 3] = -0.5
    assert not solve1(u, np.full((K, H, W), 10.0)).any()
    # Exact tie between all-keep (sum = 0) and all-drop (0): canonical keeps all.
    u = np.full((H, W), 0.125)
    u[0, 0] = -0.125 * (H * W - 1)
    mask = solve1(u, np.full((K, H, W), 10.0))
    assert mask.all()


@pytest.mark.parametrize("K", [2, 4])
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (10, 1), (1, 2), (2, 1)])
def test_degenerate_shapes(K, shape):
    rng = np.random.default_rng(7000 + K)
    H, W = shape
    for _ in range(20):
        unary, pairwise = random_map(rng, H, W, K)
        mask = solve1(unary, pairwise)
        assert mask.shape == shape and mask.dtype == np.bool_
        best = brute_force_min(unary, pairwise)
        assert float(energy(unary, pairwise, mask)) == pytest.approx(
            best, abs=1e-9 * energy_scale(unary, pairwise)
        )
    # 1x1: keep iff theta <= 0
    if shape == (1, 1):
        for theta, keep in [(-1.0, True), (0.0, True), (1e-300, False), (2.0, False)]:
            assert solve1(np.array([[theta]]), np.full((K, 1, 1), 5.0))[0, 0] == keep


@pytest.mark.parametrize("K", [2, 4])
def test_empty_batch(K):
    out = grid_mincut_batch(np.zeros((0, 3, 4)), np.zeros((0, K, 3, 4)))
    assert out.shape == (0, 3, 4) and out.dtype == np.bool_


@pytest.mark.parametrize("K", [2, 4])
def test_batch_equals_per_map_and_inputs_unchanged(K):
    rng = np.random.default_rng(8000 + K)
    B, H, W = 9, 23, 17
    maps = [random_map(rng, H, W, K) for _ in range(B)]
    unary = np.ascontiguousarray(np.stack([m[0] for m in maps]))
    pairwise = np.ascontiguousarray(np.stack([m[1] for m in maps]))
    u0, p0 = unary.copy(), pairwise.copy()
    out = grid_mincut_batch(unary, pairwise)
    np.testing.assert_array_equal(unary, u0)
    np.testing.assert_array_equal(pairwise, p0)
    assert out.shape == (B, H, W) and out.dtype == np.bool_
    for b in range(B):
        np.testing.assert_array_equal(out[b], solve1(unary[b], pairwise[b]))
    # deterministic across calls
    np.testing.assert_array_equal(out, grid_mincut_batch(unary, pairwise))


@pytest.mark.parametrize("K", [2, 4])
def test_out_of_grid_weights_ignored(K):
    rng = np.random.default_rng(9000 + K)
    H, W = 20, 20
    unary, pairwise = random_map(rng, H, W, K, garbage=False)
    clean = pairwise.copy()
    for k in range(K):
        sl = _edge_slices(H, W, k)
        inside = np.zeros((H, W), dtype=bool)
        inside[sl[0]] = True
        clean[k][~inside] = 0.0
        pairwise[k][~inside] = 1e12
    np.testing.assert_array_equal(solve1(unary, pairwise), solve1(unary, clean))


def test_brute_force_exhaustive_dyadic_3x3_8conn():
    """Dense enumeration of tie-heavy 3x3 8-connected maps."""
    rng = np.random.default_rng(10)
    for _ in range(100):
        unary = rng.integers(-2, 3, size=(3, 3)) / 4.0
        pairwise = rng.integers(0, 2, size=(4, 3, 3)) / 4.0
        mask = solve1(unary, pairwise)
        assert energy(unary, pairwise, mask) == brute_force_min(unary, pairwise)
        np.testing.assert_array_equal(mask, canonical_oracle(unary, pairwise, scale=4))


def test_itertools_brute_force_agrees_with_vectorised():
    """Sanity check of the test helper itself."""
    rng = np.random.default_rng(11)
    unary, pairwise = random_map(rng, 2, 3, 4)
    best = min(
        float(energy(unary, pairwise, np.array(bits).reshape(2, 3)))
        for bits in itertools.product([0, 1], repeat=6)
    )
    assert best == pytest.approx(brute_force_min(unary, pairwise), abs=1e-12)


def test_private_numba_option_is_optional():
    """``_nrt=False`` is only passed where this Numba knows the option."""
    from ersm.solvers.kernels import grid_common

    assert not grid_common._numba_has_option("no_such_option")
    assert ("_nrt" in grid_common._NO_NRT) == grid_common._numba_has_option("_nrt")


@pytest.mark.parametrize("K", [2, 4])
def test_only_frontier_roots_start_active(K):
    """A root whose every residual arc (out of a source root, into a sink root) stays in
    its own tree starts passive; every other root starts active, in index order."""
    from ersm.solvers.kernels import bk

    rng = np.random.default_rng(K)
    H, W = 9, 11
    unary = np.where(np.arange(W) < 5, 1.0, -1.0) * np.ones((H, 1))
    unary[4, 2] = 0.0  # a free token inside the source region
    pairwise = rng.random((K, H, W)) * (rng.random((K, H, W)) < 0.8)
    D, n = 2 * K, (H + 2) * (W + 2)
    off = bk._direction_offsets(K, W + 2)
    res, tr = np.zeros(n * D), np.zeros(n)
    bk._build_residuals(unary, pairwise, off, res, tr)
    tree, parent = np.zeros(n, np.uint8), np.full(n, bk._NO_PARENT, np.int8)
    dist, in_q, active = np.zeros(n, np.int32), np.zeros(n, np.uint8), np.empty(n, np.int32)
    tail = bk._activate_terminals(0, n, D, off, res, tr, tree, parent, dist, in_q, active)
    arcs = res.reshape(n, D)
    want = []
    for i in np.flatnonzero(tr):
        label = bk._SOURCE if tr[i] > 0 else bk._SINK
        assert tree[i] == label and parent[i] == bk._TERMINAL
        if label == bk._SOURCE:
            frontier = any(arcs[i, d] > 0 and tree[i + off[d]] != label for d in range(D))
        else:
            frontier = any(arcs[i + off[d], d ^ K] > 0 and tree[i + off[d]] != label
                           for d in range(D))
        if frontier:
            want.append(i)
    assert 0 < len(want) < np.count_nonzero(tr)
    assert active[:tail].tolist() == want
    assert np.flatnonzero(in_q).tolist() == want


@pytest.mark.parametrize("K", [2, 4])
@pytest.mark.parametrize("shape, threads", [((5, 9, 11), 1), ((5, 9, 11), 2), ((1, 300, 260), 2),
                                            ((1, 300, 260), 1)])
def test_solve_energy_is_the_mask_energy_bit_for_bit(K, shape, threads):
    """``ersm.solve`` takes the energies the kernel sums right after each cut (also a
    large map cut in strips on several threads): exactly ``energy.energy(mask)``."""
    import ersm
    from ersm.core.parallel import set_num_threads

    rng = np.random.default_rng(K + shape[1])
    unary = rng.normal(size=shape) * 3.7
    pairwise = rng.random((shape[0], K) + shape[1:])
    energy = ersm.GridEnergy(unary, pairwise, constant=rng.normal(size=shape[0]))
    set_num_threads(threads)
    try:
        result = ersm.solve(energy)
    finally:
        set_num_threads(None)
    assert result.energy.tobytes() == energy.energy(result.mask).tobytes()
    mask, sums = grid_mincut_batch(unary, pairwise, with_energy=True)
    np.testing.assert_array_equal(mask, result.mask)
    assert "mask_energy" not in result.info
    single = ersm.solve(ersm.GridEnergy(unary[0], pairwise[0]))  # unbatched in and out
    assert single.energy.shape == () and single.energy == sums[0]
