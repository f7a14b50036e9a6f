"""Differentiable backends: gradients, descent, exactness of the TV relaxation, inverse problems.

The output contract (NumPy in → NumPy out, batch 0, unbatched, dtypes) is checked for
every backend by ``test_common.py``; this file checks what the gradients mean.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

import ersm
from ersm.solvers import get_backend
from ersm.solvers.differentiable import meanfield_implicit
from ersm.solvers.backends._native import meanfield_step
from ersm.solvers.kernels.grid_difference import (grid_difference, grid_divergence,
                                                operator_norm_sq, valid_edges)
from ersm.solvers.differentiable.inverse import fit_unaries
from ersm.solvers.backends.perturbed import logistic_noise
from ersm.solvers.kernels.meanfield._common import check_options
from ersm.solvers.kernels.meanfield.torch_impl import meanfield_torch
from ersm.testing import random_grid_energy

torch.set_num_threads(1)
DIFFERENTIABLE = ("meanfield_implicit", "ste", "perturbed", "tv")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _leaves(energy, dtype=torch.float64, device="cpu", offset=0.0):
    """``(unary, pairwise + offset)`` of ``energy`` as leaf tensors requiring grad (an
    offset keeps finite differences of off-grid weights away from negative values)."""
    unary, pairwise = energy.numpy()
    return tuple(torch.from_numpy(a).to(device=device, dtype=dtype).requires_grad_()
                 for a in (unary, pairwise + offset))


def _solve_q(backend, **options):
    return lambda u, p: ersm.solve(ersm.GridEnergy(u, p), backend=backend, **options).q


def _saved_bytes(fn) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``fn`` runs."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def image_like_energy(batch: int, size: int, connectivity: int, seed: int) -> ersm.GridEnergy:
    """Blob-shaped objects in noise: unaries from brightness, contrast-sensitive weights."""
    rng = np.random.default_rng(seed)
    blobs = gaussian_filter(rng.normal(size=(batch, size, size)), (0, size / 6, size / 6)) > 0
    image = blobs + 0.5 * rng.normal(size=blobs.shape)
    weights = ersm.contrast_weights(image[:, None], gamma=1.0, connectivity=connectivity)
    return ersm.GridEnergy(1.0 - 2.0 * image, weights, connectivity)


# -- registry --------------------------------------------------------------------------
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_registered_native_and_differentiable(name):
    spec = get_backend(name)
    assert spec.differentiable and spec.array == "native"
    assert spec.exact == (name in ("ste", "perturbed", "tv"))  # tv: exact-cut mask (issue 14.3)


# -- gradcheck (float64) for the smooth backends -----------------------------------------
@pytest.mark.parametrize("impl", ["numba", "torch"])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_gradcheck_unrolled_meanfield_through_solve(connectivity, impl):
    """The plain ``meanfield`` backend: torch autograd through the unrolled sweeps, and
    the Numba backward of the same unrolled computation (the CPU default)."""
    u, p = _leaves(random_grid_energy(1, 3, 4, connectivity, seed=1))
    fn = _solve_q("meanfield", iters=15, tol=0.0, schedule="checkerboard", damping=0.8,
                  impl=impl)
    assert fn(u, p).requires_grad
    assert torch.autograd.gradcheck(fn, (u, p), fast_mode=connectivity == 8)


@pytest.mark.parametrize("backward", ["cg", "fixed_point"])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_gradcheck_meanfield_implicit(backward, connectivity):
    u, p = _leaves(random_grid_energy(1, 3, 4, connectivity, seed=2))
    fn = _solve_q("meanfield_implicit", iters=1000, tol=1e-14, backward=backward,
                  backward_iters=2000, backward_tol=1e-13)
    assert torch.autograd.gradcheck(fn, (u, p), fast_mode=connectivity == 8)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_gradcheck_tv(connectivity):
    u, p = _leaves(random_grid_energy(2, 3, 4, connectivity, seed=3), offset=0.1)
    assert torch.autograd.gradcheck(_solve_q("tv", iters=40, smoothing=0.5), (u, p),
                                    fast_mode=connectivity == 8)


# -- implicit mean-field ---------------------------------------------------------------
@pytest.mark.parametrize("connectivity,temperature", [(4, 1.0), (8, 0.7), (4, 2.0)])
def test_implicit_matches_unrolled_at_convergence(connectivity, temperature):
    u, p = _leaves(random_grid_energy(3, 5, 6, connectivity, seed=4))
    weights = torch.randn(3, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    q_imp, _, converged = meanfield_implicit(u, p, iters=2000, temperature=temperature,
                                             tol=1e-14, backward_tol=1e-13)
    assert bool(converged.all())
    unrolled = check_options(400, temperature, 1.0, 0.0, "checkerboard")
    q_unr = meanfield_torch(u, p, torch.full_like(u, 0.5), unrolled)[0]
    torch.testing.assert_close(q_imp, q_unr, rtol=0, atol=1e-12)
    g_imp = torch.autograd.grad((q_imp * weights).sum(), (u, p))
    g_unr = torch.autograd.grad((q_unr * weights).sum(), (u, p))
    for a, b in zip(g_imp, g_unr):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def test_implicit_memory_does_not_grow_with_iterations():
    u, p = _leaves(random_grid_energy(2, 8, 8, seed=5))

    def saved(backend, iters, **options):
        return _saved_bytes(lambda: ersm.solve(ersm.GridEnergy(u, p), backend=backend,
                                               iters=iters, tol=0.0, **options).q)

    assert saved("meanfield_implicit", 5) == saved("meanfield_implicit", 60)
    assert saved("meanfield", 60, impl="torch") > 5 * saved("meanfield", 5, impl="torch")
    # the Numba backward keeps one float64 map per sweep and sample, nothing else per sweep
    assert saved("meanfield", 60) - saved("meanfield", 5) == 55 * u.numel() * 8


def test_implicit_warns_when_adjoint_solve_stops_early():
    u, p = _leaves(random_grid_energy(1, 6, 6, seed=6, pairwise_scale=2.0))
    q = meanfield_implicit(u, p, backward="fixed_point", backward_iters=1)[0]
    with pytest.warns(RuntimeWarning, match="adjoint solve stopped"):
        q.square().sum().backward()


# -- straight-through --------------------------------------------------------------------
@pytest.mark.parametrize("surrogate", ["sigmoid", "meanfield"])
def test_ste_forward_exact_and_gradient_is_surrogate_gradient(surrogate):
    energy = random_grid_energy(3, 5, 5, seed=7)
    u, p = _leaves(energy)
    result = ersm.solve(ersm.GridEnergy(u, p), backend="ste", surrogate=surrogate,
                        temperature=0.7)
    exact = torch.from_numpy(ersm.solve(energy).mask)
    assert torch.equal(result.mask, exact) and torch.equal(result.q, exact.double())
    weights = torch.randn(3, 5, 5, dtype=torch.float64)
    got = torch.autograd.grad((result.q * weights).sum(), (u, p))
    m = exact.double()
    s = (meanfield_step(u, p, m, 0.7) if surrogate == "sigmoid"
         else meanfield_implicit(u, p, temperature=0.7, init=m)[0])
    want = torch.autograd.grad((s * weights).sum(), (u, p))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


# -- descent on the discrete loss for the estimators through the exact cut --------------
@pytest.mark.parametrize("backend,options,lr", [
    ("ste", {"surrogate": "sigmoid"}, 1.0),
    ("ste", {"surrogate": "meanfield"}, 1.0),
    ("perturbed", {"seed": 0}, 10.0),
    ("perturbed", {"seed": 0, "forward": "mean", "samples": 16}, 10.0),
])
def test_gradient_step_lowers_mask_loss_on_average(backend, options, lr):
    """One step on the unaries lowers ``‖mask − target‖²`` of the *exact* mask over 16
    random problems, and a step the other way does not."""
    energy = random_grid_energy(16, 6, 6, seed=8, pairwise_scale=1.0)
    target = torch.from_numpy(np.random.default_rng(9).random((16, 6, 6)) < 0.5).double()
    u, p = _leaves(energy)
    q = ersm.solve(ersm.GridEnergy(u, p), backend=backend, **options).q
    (grad,) = torch.autograd.grad(((q - target) ** 2).sum(), u)

    def mask_loss(unary):
        mask = ersm.solve(ersm.GridEnergy(unary.detach(), p.detach())).mask
        return float(((mask.double() - target) ** 2).sum(dim=(1, 2)).mean())

    before, down, up = mask_loss(u), mask_loss(u - lr * grad), mask_loss(u + lr * grad)
    assert down < before - 1.0 and down < up


# -- perturbed ---------------------------------------------------------------------------
def test_perturbed_seeded_and_mean_forward():
    u, p = _leaves(random_grid_energy(2, 5, 5, seed=10))

    def run(seed):
        q = ersm.solve(ersm.GridEnergy(u, p), backend="perturbed", samples=4, seed=seed,
                       forward="mean").q
        return (q.detach(), *torch.autograd.grad(q.square().sum(), (u, p)))

    first, again, other = run(0), run(0), run(1)
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    assert not torch.equal(first[0], other[0])
    assert bool(((first[0] * 4) == (first[0] * 4).round()).all())  # means of 4 masks
    assert bool((first[2][:, 0, :, -1] == 0).all())  # no gradient on off-grid edges


def test_perturbed_unary_gradient_is_imle_estimate():
    """Without coupling the cut is ``[θ + ε < 0]``: the gradient must be
    ``mean_s([θ + ε_s + λ g < 0] − [θ + ε_s < 0]) / λ`` with the forward's noise."""
    u, p = _leaves(random_grid_energy(2, 4, 4, seed=18))
    p = torch.zeros_like(p)
    g = torch.randn(2, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    q = ersm.solve(ersm.GridEnergy(u, p), backend="perturbed", samples=5, noise=0.7, lam=2.0,
                   seed=3).q
    (got,) = torch.autograd.grad(q, u, g)
    eps = logistic_noise((5, 2, 4, 4), 0.7, 3, u)
    keep = lambda theta: (theta < 0).double()  # noqa: E731
    want = (keep(u + eps + 2.0 * g) - keep(u + eps)).mean(dim=0) / 2.0
    torch.testing.assert_close(got, want.detach())
    assert bool(got.abs().sum() > 0)


# -- total-variation relaxation ----------------------------------------------------------
@pytest.mark.parametrize("energy", [
    random_grid_energy(8, 12, 12, 4, seed=11, pairwise_scale=1.0),
    random_grid_energy(8, 10, 10, 8, seed=12, pairwise_scale=1.0),
    image_like_energy(4, 28, 4, seed=13),
    image_like_energy(4, 20, 8, seed=14),
], ids=["random4", "random8", "image4", "image8"])
def test_tv_threshold_reproduces_exact_minimum(energy):
    got = ersm.solve(energy, backend="tv", iters=400).energy
    np.testing.assert_allclose(got, ersm.solve(energy).energy, rtol=0, atol=1e-9)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_tv_operator_norm_bound(connectivity):
    """Power iteration on ``DᵀD``: below the derived bound, and close to it on large grids."""
    for size, tight in [((1, 9), False), ((5, 7), False), ((48, 48), True)]:
        k = 2 if connectivity == 4 else 4
        valid = valid_edges(torch.zeros(1, k, *size, dtype=torch.float64))
        x = torch.randn(1, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        for _ in range(500):
            x = grid_divergence(grid_difference(x, valid), valid)
            x = x / x.norm()
        norm_sq = float(grid_difference(x, valid).square().sum())
        assert norm_sq <= operator_norm_sq(connectivity)
        assert not tight or norm_sq >= 0.95 * operator_norm_sq(connectivity)


def test_tv_divergence_is_adjoint_of_difference():
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(2, 5, 6, dtype=torch.float64, generator=gen)
    p = torch.randn(2, 4, 5, 6, dtype=torch.float64, generator=gen)
    valid = valid_edges(p)
    torch.testing.assert_close((grid_difference(q, valid) * p).sum(),
                               (q * grid_divergence(p, valid)).sum())


# -- inverse problem: fit unaries so the solved mask is a disc -------------------------
def _disc(size: int = 16, radius: float = 5.0) -> torch.Tensor:
    y, x = np.mgrid[:size, :size]
    c = (size - 1) / 2
    return torch.from_numpy((y - c) ** 2 + (x - c) ** 2 <= radius**2)[None]


INVERSE = [  # backend, options, Adam learning rate, step budget
    ("meanfield", {"iters": 30}, 0.2, 40),
    ("meanfield_implicit", {}, 0.2, 40),
    ("ste", {"surrogate": "sigmoid"}, 0.2, 40),
    ("ste", {"surrogate": "meanfield"}, 0.05, 80),
    ("perturbed", {"seed": 0}, 0.2, 40),
    # tv's gradient is averaged over plateaus of the relaxed solution: from the uniform
    # start only a soft, partly unrolled solve breaks the symmetry (its defaults are one).
    ("tv", {}, 0.3, 80),
]


@pytest.mark.parametrize("backend,options,lr,budget", INVERSE,
                         ids=[f"{b}-{'-'.join(map(str, o.values()))}" for b, o, *_ in INVERSE])
def test_inverse_problem_fits_disc(backend, options, lr, budget, record_property):
    pairwise = torch.from_numpy(ersm.constant_weights(16, 16, 0.5, batch_size=1))
    fit = fit_unaries(_disc(), pairwise, backend, lr=lr, budget=budget, **options)
    record_property("steps_to_iou_0.95", fit.steps)
    assert fit.iou >= 0.95 and fit.steps is not None, f"IoU {fit.iou:.3f} after {budget} steps"


# -- dtypes, devices, gradients reach both terms ---------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_float32_device_and_gradients_to_both_terms(name, device):
    torch.manual_seed(0)  # perturbed draws from the global RNG without seed=
    u, p = _leaves(random_grid_energy(2, 4, 5, seed=15), torch.float32, device)
    result = ersm.solve(ersm.GridEnergy(u, p), backend=name)
    assert result.q.dtype == torch.float32 and result.q.device == u.device
    assert result.mask.device == u.device
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gu, gp = torch.autograd.grad(((result.q - 0.3) ** 2).sum(), (u, p))
    assert gu.dtype == gp.dtype == torch.float32
    assert bool(gu.abs().sum() > 0) and bool(gp.abs().sum() > 0)


def test_numpy_in_numpy_q_out():
    energy = random_grid_energy(2, 3, 3, seed=16)
    for name in DIFFERENTIABLE:
        assert isinstance(ersm.solve(energy, backend=name).q, np.ndarray)


@pytest.mark.parametrize("name,options,match", [
    ("meanfield_implicit", {"backward": "lu"}, "backward must be one of"),
    ("meanfield_implicit", {"backward_tol": 0}, "backward_tol must be"),
    ("meanfield_implicit", {"iters": 0}, "iters must be"),
    ("ste", {"surrogate": "gumbel"}, "surrogate must be one of"),
    ("ste", {"temperature": 0.0}, "temperature must be"),
    ("perturbed", {"samples": 0}, "samples must be an integer"),
    ("perturbed", {"noise": -1.0}, "noise must be"),
    ("perturbed", {"lam": 0.0}, "lam must be"),
    ("perturbed", {"forward": "mode"}, "forward must be one of"),
    ("perturbed", {"seed": -3}, "seed must be"),
    ("tv", {"iters": 2.5}, "iters must be an integer"),
    ("tv", {"smoothing": -0.1}, "smoothing must be"),
])
def test_exception_bad_options(name, options, match):
    u, p = _leaves(random_grid_energy(1, 3, 3, seed=17))
    with pytest.raises(ValueError, match=match):
        ersm.solve(ersm.GridEnergy(u, p), backend=name, **options)
