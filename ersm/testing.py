"""Seeded random energies, oracles and the backend conformance suite.

:func:`check_backend` runs the checks a backend's capability flags select (as
scikit-learn's ``check_estimator`` is chosen by tags) and raises ``AssertionError``
naming the first check that fails. :func:`backend_checks` lists them, so a test suite
can parametrise over ``(backend, check)`` pairs. Every check takes a registered
:class:`~ersm.solvers.BackendSpec` and calls the backend through :func:`ersm.solve`.

Example:
    >>> from ersm.testing import check_backend
    >>> names = check_backend("graphcut")
    >>> "check_global_minimum" in names
    True
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np

from .core.errors import ValueRangeError
from .energy.grid import GridEnergy
from .energy.offsets import num_channels, valid_edge_mask
from .solvers.api import solve
from .solvers.registry import BackendSpec, get_backend, register, unregister

__all__ = ["backend_checks", "brute_force_mask", "check_backend", "random_grid_energy"]


def random_grid_energy(batch: int = 2, height: int = 4, width: int = 4, connectivity: int = 4,
                       seed: int = 0, dyadic: bool = False, unary_scale: float = 1.0,
                       pairwise_scale: float = 0.5) -> GridEnergy:
    """Random energy: θ ~ N(0, unary_scale²), w ~ U(0, pairwise_scale); 0 off-grid.

    With ``dyadic=True`` values are multiples of 1/8 in a small range, so every backend
    (int32 ones included) is exact and ties are common.
    """
    rng = np.random.default_rng(seed)
    n_k = num_channels(connectivity)
    unary = rng.normal(0.0, unary_scale, (batch, height, width))
    pairwise = rng.uniform(0.0, pairwise_scale, (batch, n_k, height, width))
    if dyadic:
        unary, pairwise = np.round(unary * 8) / 8, np.round(pairwise * 8) / 8
    pairwise = pairwise * valid_edge_mask(height, width, connectivity)
    return GridEnergy(unary, pairwise, connectivity)


def brute_force_mask(energy: GridEnergy) -> np.ndarray:
    """Global minimiser by enumeration (``H * W ≤ 20``), ``(B, H, W)`` bool NumPy."""
    from .solvers.backends.brute import brute_force_masks

    return brute_force_masks(*energy.numpy())


def _energy_for(spec: BackendSpec, batch: int = 3, height: int = 3, width: int = 4,
                connectivity: int = 4, seed: int = 0) -> GridEnergy:
    """A random energy every backend accepts (dyadic for int-scaled backends)."""
    return random_grid_energy(batch, height, width, connectivity, seed=seed,
                              dyadic=spec.quantised)


# -- checks for every backend ------------------------------------------------------------
def check_output_contract(spec: BackendSpec) -> None:
    """NumPy in, NumPy out: bool mask of the energy's shape, float64 energy equal to
    ``energy.energy(mask)``, batched and unbatched."""
    for batched in (True, False):
        energy = _energy_for(spec)
        if not batched:
            energy = GridEnergy(energy.unary[0], energy.pairwise[0])
        result = solve(energy, backend=spec.name)
        assert isinstance(result.mask, np.ndarray) and result.mask.dtype == bool, \
            f"mask must be a bool NumPy array, got {type(result.mask).__name__}"
        assert result.mask.shape == energy.mask_shape, \
            f"mask shape {result.mask.shape} != {energy.mask_shape}"
        got = np.asarray(result.energy)
        assert got.dtype == np.float64 and got.shape == ((3,) if batched else ())
        np.testing.assert_array_equal(got, energy.energy(result.mask))
        assert result.backend == spec.name


def check_torch_in_torch_out(spec: BackendSpec) -> None:
    """Torch float32 in: bool mask tensor on the input's device, float64 energy tensor."""
    import torch

    u, p = (torch.from_numpy(a).float() for a in _energy_for(spec).numpy())
    result = solve(GridEnergy(u, p), backend=spec.name)
    assert isinstance(result.mask, torch.Tensor) and result.mask.dtype == torch.bool, \
        f"mask must be a bool tensor, got {type(result.mask).__name__}"
    assert result.mask.device == u.device and result.mask.shape == u.shape
    assert isinstance(result.energy, torch.Tensor) and result.energy.dtype == torch.float64


def check_batch_zero(spec: BackendSpec) -> None:
    """An empty batch gives an empty mask and energy."""
    result = solve(GridEnergy(np.zeros((0, 3, 3)), np.zeros((0, 2, 3, 3))), backend=spec.name)
    assert result.mask.shape == (0, 3, 3) and result.energy.shape == (0,), \
        f"got mask {result.mask.shape}, energy {result.energy.shape}"


def check_zero_weights_keep_negative_unaries(spec: BackendSpec) -> None:
    """``w = 0`` gives ``m = [θ < 0]`` (4- and 8-connected)."""
    for connectivity in (4, 8):
        unary, pairwise = _energy_for(spec, connectivity=connectivity).numpy()
        mask = solve(GridEnergy(unary, pairwise * 0), backend=spec.name).mask
        np.testing.assert_array_equal(mask[unary != 0], (unary < 0)[unary != 0],
                                      err_msg=f"{connectivity}-connected, w = 0")


def check_batch_equals_per_item(spec: BackendSpec) -> None:
    """Solving a batch gives the energies of solving its samples one by one."""
    energy = _energy_for(spec, batch=4, seed=3)
    batched = solve(energy, backend=spec.name)
    for b in range(energy.batch_size):
        single = solve(energy.select(b), backend=spec.name)
        np.testing.assert_array_equal(single.energy[0], batched.energy[b],
                                      err_msg=f"sample {b}")


def check_inputs_not_mutated(spec: BackendSpec) -> None:
    """The caller's arrays are left unchanged."""
    unary, pairwise = _energy_for(spec).numpy()
    before = unary.copy(), pairwise.copy()
    solve(GridEnergy(unary, pairwise), backend=spec.name)
    np.testing.assert_array_equal(unary, before[0], err_msg="unary changed")
    np.testing.assert_array_equal(pairwise, before[1], err_msg="pairwise changed")


def check_noncontiguous_and_dtypes(spec: BackendSpec) -> None:
    """Non-contiguous inputs (and float32 for quantised backends) give the same energies."""
    energy = _energy_for(spec, height=4, width=4)
    unary, pairwise = energy.numpy()
    expected = solve(energy, backend=spec.name).energy
    u_nc = np.asfortranarray(unary).transpose(0, 2, 1).transpose(0, 2, 1)
    for dtype in (np.float64, np.float32) if spec.quantised else (np.float64,):
        got = solve(GridEnergy(u_nc.astype(dtype), pairwise[:, :, ::1].astype(dtype)),
                    backend=spec.name)
        np.testing.assert_allclose(got.energy, expected, rtol=1e-6 if dtype == np.float32 else 0)


def check_unknown_option_refused(spec: BackendSpec) -> None:
    """An option the backend does not take raises ``TypeError`` (unless it takes ``**kwargs``)."""
    from .solvers.registry import accepted_options

    if accepted_options(spec) is None:
        return
    try:
        solve(_energy_for(spec), backend=spec.name, no_such_option=1)
    except TypeError as exc:
        assert "does not accept option" in str(exc), str(exc)
    else:
        raise AssertionError("no_such_option=1 was accepted")


# -- exact backends ----------------------------------------------------------------------
def check_global_minimum(spec: BackendSpec) -> None:
    """The energy equals the brute-force minimum (several shapes, 4- and 8-connected)."""
    for connectivity in (4, 8):
        for shape in ((3, 3), (1, 7), (6, 1), (1, 1), (4, 4)):
            energy = _energy_for(spec, batch=3, height=shape[0], width=shape[1],
                                 connectivity=connectivity, seed=sum(shape))
            got = solve(energy, backend=spec.name).energy
            np.testing.assert_allclose(got, energy.energy(brute_force_mask(energy)), rtol=1e-12,
                                       atol=1e-12, err_msg=f"{shape}, {connectivity}-connected")


def check_canonical_mask_on_ties(spec: BackendSpec) -> None:
    """On ties the mask is the union of all minimisers (dyadic data, many ties)."""
    for connectivity in (4, 8):
        energy = random_grid_energy(4, 3, 4, connectivity, seed=11, dyadic=True, unary_scale=0.3)
        np.testing.assert_array_equal(solve(energy, backend=spec.name).mask,
                                      brute_force_mask(energy),
                                      err_msg=f"{connectivity}-connected")


def check_agrees_with_reference(spec: BackendSpec) -> None:
    """On a 20×17 8-connected map the energy equals the ``reference`` oracle's (pure
    Python max-flow, independent of the default exact backend)."""
    energy = random_grid_energy(2, 20, 17, 8, seed=5, dyadic=True)
    want = solve(energy, backend="reference")
    got = solve(energy, backend=spec.name)
    np.testing.assert_allclose(got.energy, want.energy, rtol=1e-12)


def check_negative_weights_refused(spec: BackendSpec) -> None:
    """A negative weight raises ``ValueRangeError`` (never clipped silently)."""
    unary, pairwise = _energy_for(spec).numpy()
    pairwise[0, 0, 0, 0] = -0.5
    try:
        solve(GridEnergy(unary, pairwise), backend=spec.name)
    except ValueRangeError as exc:
        assert "pairwise has negative weights" in str(exc), str(exc)
    else:
        raise AssertionError("a negative weight was accepted")


def check_off_grid_weights_ignored(spec: BackendSpec) -> None:
    """Weights of edges that leave the grid do not matter, whatever their sign: the same
    mask as with zeros there (a negative one off the grid is not refused)."""
    energy = _energy_for(spec, connectivity=8)
    unary, pairwise = energy.numpy()
    off_grid = ~valid_edge_mask(*unary.shape[1:], 8).astype(bool)
    noisy = pairwise.copy()
    noisy[:, off_grid] = np.where(np.indices(noisy[:, off_grid].shape).sum(0) % 2, -4.0, 4.0)
    want = np.asarray(solve(GridEnergy(unary, pairwise, 8), backend=spec.name).mask)
    got = np.asarray(solve(GridEnergy(unary, noisy, 8), backend=spec.name).mask)
    assert np.array_equal(got, want), "weights of edges leaving the grid changed the mask"


# -- differentiable backends ---------------------------------------------------------------
def check_q_carries_gradients(spec: BackendSpec) -> None:
    """``q`` in ``[0, 1]`` of the input's shape, with finite, non-zero gradients."""
    import torch

    energy = random_grid_energy(2, 5, 5, 4, seed=7)
    u, p = (torch.from_numpy(a).requires_grad_() for a in energy.numpy())
    result = solve(GridEnergy(u, p), backend=spec.name)
    assert result.q is not None and result.q.requires_grad, "q does not require grad"
    assert result.q.shape == u.shape and bool(((result.q >= 0) & (result.q <= 1)).all())
    (result.q * torch.linspace(-1, 1, 25, dtype=u.dtype).reshape(5, 5)).sum().backward()
    assert u.grad is not None and bool(torch.isfinite(u.grad).all()), "non-finite gradient"
    assert float(u.grad.abs().sum()) > 0, "zero gradient"


def backend_checks(spec: BackendSpec | str) -> list[Callable[[BackendSpec], None]]:
    """The checks the flags of ``spec`` select, in the order :func:`check_backend` runs them.

    Every backend: output contract, torch in/out, batch 0, ``w = 0``, batch == per item,
    inputs not mutated, non-contiguous/dtypes, unknown options, off-grid weights ignored.
    ``exact``: global minimum (brute force; maps of ≤ ``max_tokens``), agreement on a
    larger map with the ``reference`` oracle (unless ``max_tokens`` is below it);
    ``canonical``: ties; ``needs_submodular``: negative weights refused;
    ``differentiable``: gradients through ``q``.
    """
    spec = get_backend(spec) if isinstance(spec, str) else spec
    checks: list[Callable[[BackendSpec], None]] = [
        check_output_contract, check_torch_in_torch_out, check_batch_zero,
        check_zero_weights_keep_negative_unaries, check_batch_equals_per_item,
        check_inputs_not_mutated, check_noncontiguous_and_dtypes, check_unknown_option_refused,
        check_off_grid_weights_ignored]
    if spec.exact:
        checks.append(check_global_minimum)
        if spec.max_tokens is None or spec.max_tokens >= 20 * 17:
            checks.append(check_agrees_with_reference)
    if spec.canonical:
        checks.append(check_canonical_mask_on_ties)
    if spec.needs_submodular:
        checks.append(check_negative_weights_refused)
    if spec.differentiable:
        checks.append(check_q_carries_gradients)
    return checks


@contextlib.contextmanager
def _registered(spec: BackendSpec) -> Iterator[BackendSpec]:
    """``spec`` registered for the duration (the previous one of its name restored)."""
    try:
        previous: BackendSpec | None = get_backend(spec.name)
    except ValueError:
        previous = None
    if previous is spec:
        yield spec
        return
    registered = register(spec)
    try:
        yield registered
    finally:
        unregister(spec.name)
        if previous is not None:
            register(previous)


def run_check(check: Callable[[BackendSpec], None], spec: BackendSpec) -> None:
    """Run one check; any failure becomes ``AssertionError`` naming the check and backend."""
    try:
        check(spec)
    except Exception as exc:  # a crash is a failed check too
        raise AssertionError(f"{check.__name__} failed for backend {spec.name!r}: "
                             f"{type(exc).__name__}: {exc}") from exc


def check_backend(name_or_spec: str | BackendSpec) -> list[str]:
    """Run the conformance checks selected by a backend's capability flags.

    Args:
        name_or_spec: a registered backend name, or a :class:`~ersm.solvers.BackendSpec`
            (registered for the duration of the checks if it is not).

    Returns:
        The names of the checks run (all passed).

    Raises:
        AssertionError: naming the first failed check and the backend.
        ImportError: the backend's optional dependencies are missing.
    """
    spec = get_backend(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    if not spec.is_available:
        raise ImportError(f"backend {spec.name!r} needs {list(spec.requires)}: "
                          f"pip install 'ersm[{spec.extra}]'")
    with _registered(spec) as registered:
        checks = backend_checks(registered)
        for check in checks:
            run_check(check, registered)
    return [check.__name__ for check in checks]
