"""Scalar checks and ``wants_grad`` in :mod:`ersm.core.checks` (issue 11, item 2)."""

import numpy as np
import pytest
import torch

from ersm.core.checks import (check_choice, check_count, check_finite_scalar, check_interval,
                              check_nonnegative_scalar, check_positive, check_probability,
                              check_seed, wants_grad)
from ersm.errors import ValueRangeError


def test_smoke_values_come_back_cleaned():
    assert check_positive(np.float32(0.5), "t") == 0.5 and type(check_positive(2, "t")) is float
    assert check_nonnegative_scalar(0, "g") == 0.0
    assert check_count(np.int64(3), "iters") == 3 and type(check_count(np.int64(3), "n")) is int
    assert check_interval(1, "damping", 0, 1, low_open=True) == 1.0
    assert check_probability(0.0, "p") == 0.0
    assert check_choice("a", "kind", ("a", "b")) == "a"
    assert check_seed(None) is None and check_seed(np.int64(4)) == 4
    assert check_finite_scalar(torch.tensor(2.0), "value") == 2.0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: check_positive(0, "temperature"), r"temperature must be finite and > 0, got 0$"),
    (lambda: check_positive(np.float64(-1), "noise"), r"noise must be finite and > 0, got -1.0$"),
    (lambda: check_positive(float("inf"), "t"), "t must be finite and > 0, got inf"),
    (lambda: check_positive(True, "t"), "t must be finite and > 0, got True"),
    (lambda: check_positive("1", "t"), "t must be finite and > 0, got '1'"),
    (lambda: check_nonnegative_scalar(-0.1, "gamma"), "gamma must be finite and >= 0, got -0.1"),
    (lambda: check_count(2.0, "iters"), "iters must be an integer >= 1, got 2.0"),
    (lambda: check_count(0, "samples"), "samples must be an integer >= 1, got 0"),
    (lambda: check_count(1, "n", minimum=2), "n must be an integer >= 2, got 1"),
    (lambda: check_interval(0, "damping", 0, 1, low_open=True), r"damping must be in \(0, 1\], got 0"),
    (lambda: check_interval(float("nan"), "d", 0, 1), r"d must be in \[0, 1\], got nan"),
    (lambda: check_probability(1.5, "p"), r"p must be in \[0, 1\], got 1.5"),
    (lambda: check_choice("c", "kind", ("a", "b")), r"kind must be one of \('a', 'b'\), got 'c'"),
    (lambda: check_choice([1], "kind", {"a"}), r"kind must be one of"),
    (lambda: check_seed(-1), "seed must be None or an integer >= 0, got -1"),
    (lambda: check_seed(True), "seed must be None or an integer >= 0, got True"),
    (lambda: check_finite_scalar(float("nan"), "value"), "value must be finite, got nan"),
])
def test_exception_names_argument_and_value(call, message):
    with pytest.raises(ValueRangeError, match=message):
        call()


def test_wants_grad():
    x = torch.zeros(2, requires_grad=True)
    assert not wants_grad(np.zeros(2), torch.zeros(2))
    assert wants_grad(np.zeros(2), x)
    with torch.no_grad():
        assert not wants_grad(x)


@pytest.mark.parametrize("as_torch", [False, True])
def test_check_nonnegative_ignores_weights_leaving_the_grid_given_offsets(as_torch):
    from ersm.core.checks import check_nonnegative
    from ersm.energy.offsets import OFFSETS, valid_edge_mask

    w = np.where(valid_edge_mask(3, 4, 8), 0.5, -1.0)[None]  # (1, 4, 3, 4), negative off-grid
    w = torch.from_numpy(w) if as_torch else w
    check_nonnegative(w, "pairwise", offsets=OFFSETS)
    with pytest.raises(ValueRangeError, match="pairwise has negative weights"):
        check_nonnegative(w, "pairwise")  # without offsets every entry counts
    w[0, 3, 1, 2] = -0.25  # in the grid: (1, 2) -> (2, 1)
    with pytest.raises(ValueRangeError, match="pairwise has negative weights"):
        check_nonnegative(w, "pairwise", offsets=OFFSETS)
