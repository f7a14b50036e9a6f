"""``GridEnergy.energy`` accepts binary masks only (issue 14, item 8)."""

import numpy as np
import pytest
import torch

from ersm import GridEnergy
from ersm.errors import DTypeError, ValueRangeError


def _energy(kind="numpy"):
    e = GridEnergy(np.array([[-1.0, 2.0]]), np.ones((2, 1, 2)))
    return e if kind == "numpy" else GridEnergy(torch.tensor(e.unary[0]), torch.tensor(e.pairwise[0]))


@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("mask", [[[True, False]], [[1, 0]], [[1.0, 0.0]]])
def test_smoke_binary_masks(kind, mask):
    e = _energy(kind)
    for m in (np.array(mask), torch.tensor(mask)):
        assert float(e.energy(m)) == 0.0


@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize(("bad", "shown"), [(2.0, "2.0"), (np.nan, "nan"), (0.5, "0.5"), (-1.0, "-1.0")])
def test_exception_non_binary_values(kind, bad, shown):
    e = _energy(kind)
    for m in (np.array([[1.0, bad]]), torch.tensor([[1.0, bad]])):
        with pytest.raises(ValueRangeError, match=f"mask must be binary .*got {shown}"):
            e.energy(m)


def test_exception_non_numeric_mask():
    with pytest.raises(DTypeError, match="mask must be bool or hold 0/1 values"):
        _energy().energy(np.array([["a", "b"]]))
    with pytest.raises(DTypeError, match="mask must be bool"):
        _energy("torch").energy(torch.tensor([[1j, 0]]))
