"""Mean-field backend: implementations vs the NumPy reference, and what mean-field promises.

The conformance suite (``test_common.py``) already checks the output contract.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

import ersm
from ersm.errors import ShapeError, ValueRangeError
from ersm.solvers.kernels.meanfield.cupy_kernel import cupy_available
from ersm.solvers.kernels.meanfield.numpy_reference import neighbour_field
from ersm.testing import random_grid_energy

SHAPES = [(5, 7), (1, 6), (6, 1), (1, 1)]
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}


def _solve(energy: ersm.GridEnergy, **options) -> ersm.SolveResult:
    return ersm.solve(energy, backend="meanfield", **options)


def _cast(energy: ersm.GridEnergy, dtype: type, to_torch: bool = False) -> ersm.GridEnergy:
    u, p = (a.astype(dtype) for a in energy.numpy())
    if to_torch:
        u, p = torch.from_numpy(u), torch.from_numpy(p)
    return ersm.GridEnergy(u, p, energy.connectivity)


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


# --------------------------------------------------------------------- implementations


@pytest.mark.parametrize("impl", ["numba", "torch"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("schedule", ["parallel", "checkerboard"])
@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_impl_matches_reference(impl, dtype, schedule, connectivity, shape):
    energy = _cast(random_grid_energy(3, *shape, connectivity, seed=sum(shape)), dtype)
    options = dict(iters=10, temperature=0.7, damping=0.8, tol=0.0, schedule=schedule)
    want = _solve(energy, impl="numpy", **options)
    got = _solve(energy, impl=impl, **options)
    assert got.q.dtype == dtype and got.impl == impl
    np.testing.assert_allclose(got.q, want.q, rtol=0, atol=TOLERANCE[dtype])
    assert got.iterations == want.iterations == 10


@pytest.mark.parametrize("impl", ["numba", "torch"])
@pytest.mark.parametrize("schedule", ["parallel", "checkerboard"])
def test_impl_matches_reference_early_stopping(impl, schedule):
    """Per-sample stopping: each sample stops at its own sweep, as in the reference."""
    energy = random_grid_energy(6, 9, 8, 8, seed=4, pairwise_scale=1.0)
    options = dict(iters=200, temperature=0.5, damping=0.7, tol=1e-6, schedule=schedule)
    want = _solve(energy, impl="numpy", **options)
    got = _solve(energy, impl=impl, **options)
    np.testing.assert_allclose(got.q, want.q, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(got.converged, want.converged)
    assert got.iterations == want.iterations
    np.testing.assert_allclose(got.free_energy, want.free_energy, rtol=1e-12)


@pytest.mark.parametrize("impl", ["numba", "numpy", "torch"])
def test_torch_input_any_impl_returns_torch(impl):
    energy = _cast(random_grid_energy(2, 4, 5, seed=1), np.float32, to_torch=True)
    got = _solve(energy, impl=impl, tol=0.0, iters=5)
    want = _solve(energy, impl="numpy", tol=0.0, iters=5)
    for value in (got.q, got.mask, got.free_energy, got.converged):
        assert isinstance(value, torch.Tensor)
    assert got.q.dtype == torch.float32 and got.free_energy.dtype == torch.float64
    np.testing.assert_allclose(_as_numpy(got.q), _as_numpy(want.q), atol=1e-5)


@pytest.mark.parametrize("dtype, expected", [(np.int64, np.float64), (np.float16, np.float32),
                                             (np.float32, np.float32), (np.float64, np.float64)])
def test_working_dtype(dtype, expected):
    energy = _cast(random_grid_energy(1, 3, 3, seed=2, dyadic=True), dtype)
    assert _solve(energy).q.dtype == expected


# ------------------------------------------------------------------- mean-field theory


@st.composite
def _signed_energies(draw):
    """Random energies with mixed-sign weights (coordinate descent needs no submodularity)."""
    seed = draw(st.integers(0, 2**32 - 1))
    connectivity = draw(st.sampled_from([4, 8]))
    height, width = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    rng = np.random.default_rng(seed)
    n_k = 2 if connectivity == 4 else 4
    unary = rng.normal(0, draw(st.sampled_from([0.1, 1.0, 3.0])), (2, height, width))
    pairwise = rng.uniform(-0.5, 1.5, (2, n_k, height, width)) * draw(st.sampled_from([0.3, 2.0]))
    return ersm.GridEnergy(unary, pairwise, connectivity)


@settings(max_examples=40)
@given(energy=_signed_energies(), temperature=st.sampled_from([0.05, 0.3, 1.0, 4.0]),
       damping=st.sampled_from([0.3, 1.0]))
def test_checkerboard_free_energy_never_increases(energy, temperature, damping):
    q = None
    previous = np.full(energy.batch_size, np.inf)
    for _ in range(12):
        result = _solve(energy, iters=1, tol=0.0, schedule="checkerboard",
                        temperature=temperature, damping=damping, init=q)
        q, free = result.q, result.free_energy
        scale = np.abs(energy.numpy()[0]).sum() + np.abs(energy.numpy()[1]).sum() + 1
        assert np.all(free <= previous + 1e-12 * scale)
        previous = free


def test_parallel_can_oscillate_damping_and_checkerboard_converge():
    """Two tokens, a strong edge, a symmetric start: Jacobi swaps them for ever."""
    energy = ersm.GridEnergy(np.zeros((1, 1, 2)), np.array([[[[2.0, 0.0]], [[0.0, 0.0]]]]))
    init = np.array([[[1.0, 0.0]]])
    options = dict(iters=100, temperature=0.1, tol=1e-8, init=init)
    assert not _solve(energy, schedule="parallel", **options).converged.any()
    assert _solve(energy, schedule="parallel", damping=0.5, **options).converged.all()
    assert _solve(energy, schedule="checkerboard", **options).converged.all()


@pytest.mark.parametrize("schedule", ["parallel", "checkerboard"])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_rounded_energy_at_least_exact_minimum(schedule, connectivity):
    energy = random_grid_energy(8, 9, 11, connectivity, seed=7, pairwise_scale=1.5)
    exact = ersm.solve(energy, backend="graphcut").energy
    for temperature in (0.05, 0.5, 2.0):
        got = _solve(energy, schedule=schedule, temperature=temperature, damping=0.5).energy
        assert np.all(got >= exact - 1e-9)


def test_zero_temperature_without_weights_thresholds_unaries():
    energy = random_grid_energy(3, 6, 5, seed=3)
    unary = energy.numpy()[0]
    unary = np.where(np.abs(unary) < 0.05, 0.1, unary)
    result = _solve(ersm.GridEnergy(unary, np.zeros((3, 2, 6, 5))), temperature=1e-3)
    np.testing.assert_array_equal(result.mask, unary < 0)
    np.testing.assert_allclose(result.q, unary < 0, atol=1e-12)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_fixed_point_satisfies_update_equation(connectivity):
    energy = random_grid_energy(4, 7, 6, connectivity, seed=5)
    temperature = 0.8
    result = _solve(energy, iters=2000, tol=1e-13, temperature=temperature)
    assert result.converged.all()
    unary, pairwise = energy.numpy()
    field = neighbour_field(pairwise, 1 - 2 * result.q)
    np.testing.assert_allclose(result.q, expit(-(unary + field) / temperature), atol=1e-11)


@pytest.mark.parametrize("schedule", ["parallel", "checkerboard"])
def test_warm_start_from_converged_q_takes_one_iteration(schedule):
    energy = random_grid_energy(5, 8, 8, seed=6)
    options = dict(tol=1e-8, schedule=schedule, damping=0.7)
    first = _solve(energy, iters=1000, **options)
    assert first.converged.all() and first.iterations > 1
    again = _solve(energy, iters=1000, init=first.q, **options)
    assert again.iterations == 1 and again.converged.all()
    np.testing.assert_allclose(again.q, first.q, atol=1e-8)


def test_unbatched_init_is_shared_by_the_batch():
    energy = random_grid_energy(3, 4, 4, seed=8)
    init = np.random.default_rng(0).uniform(size=(4, 4))
    shared = _solve(energy, init=init, iters=3, tol=0.0)
    full = _solve(energy, init=np.broadcast_to(init, (3, 4, 4)).copy(), iters=3, tol=0.0)
    np.testing.assert_array_equal(shared.q, full.q)


def test_torch_gradient_flows():
    energy = random_grid_energy(2, 5, 5, seed=9)
    unary, pairwise = (torch.tensor(a, requires_grad=True) for a in energy.numpy())
    result = _solve(ersm.GridEnergy(unary, pairwise), iters=5, tol=0.0, schedule="parallel")
    (result.q * torch.linspace(-1, 1, 25).reshape(5, 5)).sum().backward()
    for tensor in (unary, pairwise):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()
        assert tensor.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("schedule", ["parallel", "checkerboard"])
@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("tol", [0.0, 1e-3])
def test_numba_backward_matches_torch_autograd(dtype, schedule, connectivity, tol):
    """The Numba backward is the unrolled gradient: the same as torch autograd through
    the torch implementation, for θ, w and the warm start, also when samples stop early."""
    unary, pairwise = random_grid_energy(4, 6, 7, connectivity, seed=11).numpy()
    pairwise = pairwise * np.array([0.1, 0.5, 1.5, 4.0])[:, None, None, None]  # slow to fast
    weights = torch.linspace(-1, 1, 42, dtype=dtype).reshape(6, 7)
    init = np.random.default_rng(0).uniform(0.2, 0.8, (4, 6, 7))
    results = {}
    for impl in ("torch", "numba"):
        u, p, q0 = (torch.tensor(a, dtype=dtype, requires_grad=True)
                    for a in (unary, pairwise, init))
        got = _solve(ersm.GridEnergy(u, p), iters=15, temperature=0.6, damping=0.8, tol=tol,
                     schedule=schedule, init=q0, impl=impl)
        (got.q * weights).sum().backward()
        assert got.impl == impl and got.q.dtype == dtype
        results[impl] = (got.q.detach(), u.grad, p.grad, q0.grad, _as_numpy(got.converged))
    if tol:
        assert 0 < results["numba"][4].sum() < 4  # some samples stopped early, some did not
    # float32: rounding differs (Numba evaluates the sigmoid in float64) and strong couplings
    # amplify it through 15 sweeps; float64 pins the maths down
    tolerance = dict(rtol=0, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-3, atol=1e-4)
    for want, got in zip(results["torch"], results["numba"]):
        np.testing.assert_allclose(_as_numpy(got), _as_numpy(want), **tolerance)


def test_numba_backward_is_reproducible_on_the_thread_pool(monkeypatch):
    """Bit for bit across calls with two threads (allocations in between vary the heap)."""
    from ersm.solvers.kernels.meanfield._common import check_options
    from ersm.solvers.kernels.meanfield.numba_autograd import meanfield_backward, meanfield_forward

    monkeypatch.setenv("ERSM_NUM_THREADS", "2")
    unary, pairwise = (a.astype(np.float32) for a in random_grid_energy(8, 8, 8, seed=1).numpy())
    options = check_options(50, 1.0, 1.0, 1e-4, "checkerboard")
    q0 = np.full(unary.shape, 0.5, np.float32)
    kept = [_solve(ersm.GridEnergy(unary, pairwise), **options.__dict__).q for _ in range(50)]
    _, history, iterations, _ = meanfield_forward(unary, pairwise, q0, options)
    grad = np.random.default_rng(0).normal(size=unary.shape).astype(np.float32)
    want = meanfield_backward(unary, pairwise, history, iterations, grad, options)
    assert len(kept) == 50
    for _ in range(40):
        meanfield_forward(unary, pairwise, q0, options)
        got = meanfield_backward(unary, pairwise, history, iterations, grad, options)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_numba_backward_notices_inplace_changes_of_its_inputs():
    u, p = (torch.tensor(a, requires_grad=True) for a in random_grid_energy(2, 4, 4).numpy())
    q = _solve(ersm.GridEnergy(u, p), iters=5, impl="numba").q
    with torch.no_grad():
        u.add_(1.0)
    with pytest.raises(RuntimeError, match="inplace"):
        q.sum().backward()


def test_numba_is_the_cpu_default_with_and_without_gradients():
    u, p = (torch.tensor(a, requires_grad=True) for a in random_grid_energy(2, 5, 5).numpy())
    with_grad = _solve(ersm.GridEnergy(u, p), iters=5)
    assert with_grad.impl == "numba" and with_grad.q.requires_grad
    with torch.no_grad():
        without = _solve(ersm.GridEnergy(u, p), iters=5)
    assert without.impl == "numba" and not without.q.requires_grad
    np.testing.assert_array_equal(_as_numpy(with_grad.q), _as_numpy(without.q))


# -------------------------------------------------------------------------- validation


@pytest.mark.parametrize("options, error, match", [
    (dict(iters=0), ValueError, "iters"),
    (dict(iters=2.5), ValueError, "iters"),
    (dict(temperature=0.0), ValueError, "temperature"),
    (dict(temperature=float("inf")), ValueError, "temperature"),
    (dict(damping=0.0), ValueError, "damping"),
    (dict(damping=1.5), ValueError, "damping"),
    (dict(tol=-1e-3), ValueError, "tol"),
    (dict(schedule="random"), ValueError, "schedule"),
    (dict(impl="gpu"), ValueError, "impl"),
    (dict(init=np.zeros((2, 3, 3))), ShapeError, "init"),
    (dict(init=np.full((3, 3), 1.5)), ValueRangeError, "init"),
    (dict(init=np.full((3, 3), np.nan)), ValueRangeError, "init"),
])
def test_exception_bad_options(options, error, match):
    with pytest.raises(error, match=match):
        _solve(random_grid_energy(3, 3, 3), **options)


# -------------------------------------------------------------------------------- cupy


def _require_gpu():
    pytest.importorskip("cupy")
    if not cupy_available():
        pytest.skip("no CUDA device")


@pytest.mark.parametrize("schedule", ["parallel", "checkerboard"])
@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (28, 28), (64, 64), (70, 65)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_cupy_matches_reference(schedule, connectivity, dtype, shape):
    _require_gpu()
    energy = _cast(random_grid_energy(3, *shape, connectivity, seed=1), dtype)
    options = dict(iters=10, temperature=0.7, damping=0.8, tol=0.0, schedule=schedule)
    want = _solve(energy, impl="numpy", **options)
    got = _solve(energy, impl="cupy", **options)
    np.testing.assert_allclose(got.q, want.q, rtol=0, atol=TOLERANCE[dtype])


@pytest.mark.parametrize("shape", [(20, 20), (70, 65)], ids=["fused", "global"])
def test_cupy_torch_cuda_in_torch_cuda_out_with_early_stopping(shape):
    _require_gpu()
    energy = random_grid_energy(4, *shape, seed=2, pairwise_scale=1.0)
    options = dict(iters=300, temperature=0.5, damping=0.7, tol=1e-6)
    want = _solve(energy, impl="numpy", **options)
    u, p = (torch.from_numpy(a).cuda() for a in energy.numpy())
    got = _solve(ersm.GridEnergy(u, p), **options)
    assert got.impl == "cupy" and got.q.is_cuda and got.mask.is_cuda
    np.testing.assert_allclose(_as_numpy(got.q), want.q, atol=1e-10)
    np.testing.assert_array_equal(_as_numpy(got.converged), want.converged)
