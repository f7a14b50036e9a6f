"""Dtypes are canonicalised once, when the energy is built, for every backend (issue 14.6)."""

import numpy as np
import pytest
import torch

import ersm
from ersm.energy.checks import DTYPE_RULE, canonical_dtype
from ersm.errors import ValueRangeError
from ersm.solvers import backends

SPECS = backends()


def _values():
    rng = np.random.default_rng(0)
    unary = rng.integers(-8, 9, (2, 3, 3)) / 4.0  # exact in every float format used here
    pairwise = rng.integers(0, 5, (2, 2, 3, 3)) / 4.0
    return unary, pairwise


def _inputs(kind):
    """``(energy as given, the same energy in its canonical dtype)``."""
    u, p = _values()
    if kind == "longdouble":
        given = (u.astype(np.longdouble), p.astype(np.longdouble))
        canonical = (u, p)
    elif kind == "big-endian":
        given = (u.astype(">f8"), p.astype(">f8"))
        canonical = (u, p)
    elif kind == "numpy-float16":
        given = canonical = (u.astype(np.float16), p.astype(np.float16))
    else:  # torch half formats become float32
        dtype = {"torch-bfloat16": torch.bfloat16, "torch-float16": torch.float16}[kind]
        given = (torch.tensor(u, dtype=dtype), torch.tensor(p, dtype=dtype))
        canonical = (torch.tensor(u, dtype=torch.float32), torch.tensor(p, dtype=torch.float32))
    return ersm.GridEnergy(*given), ersm.GridEnergy(*canonical)


KINDS = ["longdouble", "big-endian", "numpy-float16", "torch-bfloat16", "torch-float16"]


@pytest.mark.parametrize("kind", KINDS)
def test_energy_holds_canonical_arrays(kind):
    given, canonical = _inputs(kind)
    assert given.unary.dtype == canonical.unary.dtype
    assert given.pairwise.dtype == canonical.pairwise.dtype
    if not torch.is_tensor(given.unary):
        assert given.unary.dtype.isnative and given.pairwise.dtype.isnative


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_backend_solves_every_canonical_dtype(spec, kind):
    given, canonical = _inputs(kind)
    torch.manual_seed(0)
    got = ersm.solve(given, backend=spec.name)
    torch.manual_seed(0)
    want = ersm.solve(canonical, backend=spec.name)
    assert type(got.mask) is type(want.mask)
    np.testing.assert_array_equal(np.asarray(got.mask), np.asarray(want.mask))
    assert np.isfinite(np.asarray(got.energy)).all()
    np.testing.assert_array_equal(np.asarray(got.energy), np.asarray(want.energy))


def test_torch_half_inputs_stay_differentiable():
    u = torch.zeros(1, 3, 3, dtype=torch.bfloat16, requires_grad=True)
    p = torch.full((1, 2, 3, 3), 0.5, dtype=torch.bfloat16)
    energy = ersm.GridEnergy(u, p)
    assert energy.unary.dtype == torch.float32
    ersm.solve(energy, backend="meanfield_implicit").q.sum().backward()
    assert u.grad is not None and u.grad.dtype == torch.bfloat16


@pytest.mark.parametrize("name", ["unary", "pairwise"])
def test_exception_longdouble_beyond_float64(name):
    u, p = _values()
    arrays = {"unary": u.astype(np.longdouble), "pairwise": p.astype(np.longdouble)}
    arrays[name].flat[0] = np.longdouble("1e400")
    if not np.isfinite(arrays[name].flat[0]):
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(ValueRangeError, match=f"{name} holds 1.e\\+400 .*beyond the float64 range"):
        ersm.GridEnergy(arrays["unary"], arrays["pairwise"])


def test_exception_longdouble_constant_and_two_sided():
    big = np.longdouble("1e400")
    if not np.isfinite(big):
        pytest.skip("longdouble is float64 on this platform")
    u, p = _values()
    with pytest.raises(ValueRangeError, match="constant holds"):
        ersm.GridEnergy(u, p, constant=np.array([big, 0], dtype=np.longdouble))
    drop = np.zeros_like(u, dtype=np.longdouble)
    drop[0, 0, 0] = big
    with pytest.raises(ValueRangeError, match="cost_drop holds"):
        ersm.GridEnergy.from_two_sided(drop, u, p)


def test_rule_is_documented_and_idempotent():
    assert "longdouble" in DTYPE_RULE and "bfloat16" in DTYPE_RULE
    x = np.ones(3)
    assert canonical_dtype(x, "x") is x  # no copy when already canonical
    t = torch.ones(3)
    assert canonical_dtype(t, "t") is t
