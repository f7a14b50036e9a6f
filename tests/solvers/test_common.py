"""Conformance suite: every registered backend through :func:`ersm.testing.check_backend`'s
checks (chosen by its capability flags), one test per ``(backend, check)``; plug-ins."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ersm
from ersm.errors import ShapeError
from ersm.solvers import BackendSpec, backends
from ersm.solvers.registry import unregister
from ersm.testing import backend_checks, check_backend, random_grid_energy, run_check

CASES = [pytest.param(spec, check, id=f"{spec.name}-{check.__name__}")
         for spec in backends() for check in backend_checks(spec)]


@pytest.mark.parametrize(("spec", "check"), CASES)
def test_conformance(spec, check):
    run_check(check, spec)


def test_flags_select_the_checks():
    names = lambda b: {c.__name__ for c in backend_checks(b)}  # noqa: E731
    assert "check_global_minimum" in names("graphcut") and "check_global_minimum" not in names("meanfield")
    assert "check_q_carries_gradients" in names("ste") and "check_q_carries_gradients" not in names("graphcut")
    assert "check_canonical_mask_on_ties" not in names("meanfield")
    assert "check_canonical_mask_on_ties" in names("tv")  # tv returns the exact cut (issue 14.3)
    assert "check_agrees_with_reference" not in names("brute")  # at most 20 tokens
    assert "check_negative_weights_refused" not in names("brute")


def test_check_backend_returns_the_checks_run():
    assert check_backend("brute") == [c.__name__ for c in backend_checks("brute")]


def _exact_plugin(unary, pairwise):
    """A user's exact backend: the graph-cut kernel called directly."""
    from ersm.solvers.kernels.bk import grid_mincut_batch

    return {"mask": grid_mincut_batch(unary, pairwise)}


def _keeps_everything(unary, pairwise):
    return {"mask": np.ones(unary.shape, dtype=bool)}


def test_user_plugin_passes():
    spec = BackendSpec(name="test_user_cut", run=_exact_plugin, exact=True, canonical=True,
                       needs_submodular=True)
    try:
        ersm.solvers.register(spec)
        names = check_backend("test_user_cut")
        assert "check_global_minimum" in names and "check_canonical_mask_on_ties" in names
        assert ersm.solve(random_grid_energy(), backend="test_user_cut").mask.shape == (2, 4, 4)
    finally:
        unregister("test_user_cut")
    assert "test_user_cut" not in ersm.available()


def test_exception_wrong_exact_plugin_names_the_check():
    spec = BackendSpec(name="test_keep_all", run=_keeps_everything, exact=True)
    with pytest.raises(AssertionError, match=r"check_zero_weights_keep_negative_unaries failed "
                                             r"for backend 'test_keep_all'"):
        check_backend(spec)  # an unregistered spec is registered for the checks only
    assert "test_keep_all" not in ersm.available()


def test_exception_crashing_plugin_is_a_failed_check():
    def crash(unary, pairwise):
        raise RuntimeError("boom")

    with pytest.raises(AssertionError, match=r"check_output_contract failed for backend "
                                             r"'test_crash': RuntimeError: boom"):
        check_backend(BackendSpec(name="test_crash", run=crash))
    assert "test_crash" not in ersm.available()


def test_check_backend_restores_a_replaced_spec():
    original = ersm.solvers.get_backend("brute")
    with pytest.raises(AssertionError):
        check_backend(BackendSpec(name="brute", run=_keeps_everything, exact=True, max_tokens=20))
    assert ersm.solvers.get_backend("brute") is original


def test_exception_unknown_backend():
    with pytest.raises(ValueError, match="backend must be one of"):
        ersm.solve(random_grid_energy(), backend="nope")


def test_exception_brute_too_large():
    with pytest.raises(ShapeError, match="at most 20 tokens"):
        ersm.solve(random_grid_energy(1, 5, 5), backend="brute")


def test_exception_not_an_energy():
    with pytest.raises(TypeError, match="energy must be a GridEnergy"):
        ersm.solve(np.zeros((2, 2)))


def test_gco_large_terms_do_not_abort():
    """GCO aborts the process on a term above 1e7: the adapter must scale below it."""
    pytest.importorskip("gco")
    energy = random_grid_energy(1, 30, 30, 4, seed=2, unary_scale=1e6, pairwise_scale=1e6)
    with pytest.warns(RuntimeWarning, match="gco rounded 1 of 1 maps to int32"):
        got = ersm.solve(energy, backend="gco")
    want = ersm.solve(energy, backend="graphcut")
    np.testing.assert_allclose(got.energy, want.energy, rtol=1e-5)


def test_gco_lossless_energies_do_not_warn():
    pytest.importorskip("gco")
    energy = ersm.GridEnergy(np.array([[[-2.0, 1.0], [0.5, -0.25]]]), np.full((1, 2, 2, 2), 0.75))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ersm.solve(energy, backend="gco")
    assert got.info["lossless"].all()
