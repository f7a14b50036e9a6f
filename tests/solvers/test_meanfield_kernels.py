"""The CUDA source of the ``cupy`` mean-field path, run without a GPU.

``ersm/solvers/kernels/meanfield/meanfield.cu`` is compiled as C++ by the CPU emulator of
``tests/cuda_emulator.py`` (one OS thread per CUDA thread, real barriers and warp
exchanges) and driven by the same host code the GPU uses
(:func:`ersm.solvers.kernels.meanfield.cupy_kernel.meanfield_kernels` with ``xp=numpy``). This
checks the kernels' indexing, colour classes, halos, shared-memory buffers and early-exit
bookkeeping against the NumPy reference; speed and the real CUDA toolchain are checked
on a GPU by ``test_meanfield.py::test_cupy_*`` and ``bench/bench_meanfield_speed.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ersm.energy.offsets import num_channels, valid_edge_mask
from ersm.solvers.kernels.meanfield._common import check_options
from ersm.solvers.kernels.meanfield.cupy_kernel import (KERNEL_SOURCE, SHARED_BYTES, TilePlan,
                                                kernel_names, meanfield_kernels, plan_tiles)
from ersm.solvers.kernels.meanfield.numpy_reference import meanfield_numpy
from ersm.testing import random_grid_energy

cuda_emulator = pytest.importorskip("cuda_emulator")
if not cuda_emulator.available():
    pytest.skip("no C++20 compiler for the CUDA emulator", allow_module_level=True)

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}


@pytest.fixture(scope="module")
def get_kernel():
    source = KERNEL_SOURCE.read_text()
    modules = {}

    def get(dtype, name):
        key = np.dtype(dtype).name
        if key not in modules:
            modules[key] = cuda_emulator.RawModule(code=source, name_expressions=kernel_names(key))
            modules[key].compile()
        return modules[key].get_function(name)

    return get


def _arrays(unary, pairwise, dtype):
    unary, pairwise = (np.ascontiguousarray(a, dtype) for a in (unary, pairwise))
    return unary, pairwise, np.full(unary.shape, 0.5, dtype)


def _compare(get_kernel, unary, pairwise, dtype, options, **kwargs):
    u, p, q0 = _arrays(unary, pairwise, dtype)
    want = meanfield_numpy(u, p, q0, options)
    got = meanfield_kernels(u, p, q0, options, xp=np, get_kernel=get_kernel, **kwargs)
    np.testing.assert_array_equal(q0, 0.5)  # the input is not modified
    assert got[0].dtype == dtype
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=TOLERANCE[dtype])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[2], want[2])
    return got


def _tiny_plan(connectivity: int, schedule: str, sweeps: int, tile: int = 5) -> TilePlan:
    """Odd tiles, so windows start on both colours of the checkerboard."""
    colours = (2 if connectivity == 4 else 4) if schedule == "checkerboard" else 1
    return TilePlan(tile=tile, halo=sweeps * colours, sweeps=sweeps)


@pytest.mark.parametrize("schedule", ["parallel", "checkerboard"])
@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 5), (40, 33)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_fused_kernel_matches_reference(get_kernel, schedule, connectivity, dtype, shape):
    energy = random_grid_energy(3, *shape, connectivity, seed=sum(shape))
    options = check_options(10, 0.7, 0.8, 0.0, schedule)
    _compare(get_kernel, *energy.numpy(), dtype, options)


@pytest.mark.parametrize("schedule", ["parallel", "checkerboard"])
@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (9, 7), (13, 16)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_tiled_kernel_matches_reference(get_kernel, schedule, connectivity, dtype, shape):
    """Small tiles so every map spans several tiles in both directions, with ragged
    edges; 7 sweeps in launches of 2 exercise a partial last launch."""
    energy = random_grid_energy(2, *shape, connectivity, seed=sum(shape), pairwise_scale=1.0)
    options = check_options(7, 0.7, 0.8, 0.0, schedule)
    _compare(get_kernel, *energy.numpy(), dtype, options, fused_max_tokens=0,
             plan=_tiny_plan(connectivity, schedule, sweeps=2))


@pytest.mark.parametrize("schedule", ["parallel", "checkerboard"])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_tiled_kernel_default_plan(get_kernel, schedule, connectivity):
    """The plan the GPU uses, on a map just above the fused limit (several tiles)."""
    energy = random_grid_energy(2, 70, 65, connectivity, seed=3)
    options = check_options(9, 0.5, 1.0, 0.0, schedule)
    plan = plan_tiles(num_channels(connectivity), 4, schedule)
    assert plan.tile < 65
    _compare(get_kernel, *energy.numpy(), np.float32, options)


@pytest.mark.parametrize("schedule", ["parallel", "checkerboard"])
@pytest.mark.parametrize("tiled", [False, True], ids=["fused", "tiled"])
def test_early_stopping_per_sample(get_kernel, schedule, tiled):
    """Samples converge after different sweep counts (4 to 30; one parallel sample not
    within the 40 allowed), mostly inside a tiled launch: those are re-run for exactly the
    sweeps they needed."""
    rng = np.random.default_rng(5)
    height, width = 7, 8
    unary = rng.normal(0, 1, (5, height, width))
    scale = np.array([0.05, 0.2, 0.4, 0.8, 1.2])[:, None, None, None]
    pairwise = rng.uniform(0, 1, (5, 2, height, width)) * scale * valid_edge_mask(
        height, width, 4)
    options = check_options(40, 1.0, 1.0, 1e-6, schedule)
    kwargs = dict(fused_max_tokens=0, plan=_tiny_plan(4, schedule, sweeps=3)) if tiled else {}
    _, iterations, converged = _compare(get_kernel, unary, pairwise, np.float64, options,
                                        **kwargs)
    assert converged.any() and len(set(iterations.tolist())) > 1
    if tiled:
        assert (iterations % 3 != 0).any()  # some sample stopped inside a launch


def test_warm_start_and_empty_batch(get_kernel):
    energy = random_grid_energy(2, 9, 7, seed=4)
    unary, pairwise = (np.ascontiguousarray(a, np.float32) for a in energy.numpy())
    q0 = np.random.default_rng(0).uniform(0, 1, unary.shape).astype(np.float32)
    options = check_options(5, 1.0, 1.0, 0.0, "checkerboard")
    want = meanfield_numpy(unary, pairwise, q0, options)[0]
    for kwargs in ({}, dict(fused_max_tokens=0, plan=_tiny_plan(4, "checkerboard", 2))):
        got = meanfield_kernels(unary, pairwise, q0, options, xp=np, get_kernel=get_kernel,
                                **kwargs)[0]
        np.testing.assert_allclose(got, want, atol=1e-5)
    q, iterations, converged = meanfield_kernels(
        unary[:0], pairwise[:0], q0[:0], options, xp=np, get_kernel=get_kernel)
    assert q.shape == (0, 9, 7) and iterations.shape == converged.shape == (0,)


@settings(max_examples=60)
@given(n_k=st.sampled_from([2, 4]), itemsize=st.sampled_from([4, 8]),
       schedule=st.sampled_from(["parallel", "checkerboard"]),
       shared=st.integers(16 * 1024, 228 * 1024))
def test_plan_tiles_fits_and_keeps_the_interior_exact(n_k, itemsize, schedule, shared):
    plan = plan_tiles(n_k, itemsize, schedule, shared_bytes=shared)
    colours = (2 if n_k == 2 else 4) if schedule == "checkerboard" else 1
    buffers = 1 + n_k + (1 if schedule == "checkerboard" else 2)
    assert plan.tile >= 8 and plan.sweeps >= 1
    assert plan.sweeps * colours <= plan.halo
    assert plan.window ** 2 * buffers * itemsize <= shared


def test_plan_tiles_default_budget():
    assert plan_tiles(2, 4, "parallel").window ** 2 * 5 * 4 <= SHARED_BYTES
