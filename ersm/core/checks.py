"""Input checks shared by the energy model, the solvers and the nets.

Every check names the argument and says what was expected. Errors are
``ValueError`` (bad shape/values) or ``TypeError`` (bad type/dtype) subclasses.

Array checks (``check_array_like`` … ``check_nonnegative``) take arrays or tensors;
scalar checks (``check_positive`` … ``check_seed``) take Python/NumPy numbers and return
the cleaned value (``float``/``int``). A bad scalar raises :class:`ValueRangeError` (a
``ValueError``), a wrong type included, so ``except ValueError`` catches both.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .arrays import is_torch
from .errors import DTypeError, ShapeError, ValueRangeError


def array_shape(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in x.shape)


def check_array_like(x: Any, name: str) -> Any:
    """Accept a NumPy array, torch tensor, or nested sequence; return an array or tensor."""
    if is_torch(x):
        return x
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)) or (np.isscalar(x) and not isinstance(x, (str, bytes))):
        return np.asarray(x)
    raise DTypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")


def check_real_dtype(x: Any, name: str) -> None:
    """Reject bool, complex and non-numeric dtypes."""
    if is_torch(x):
        ok = x.dtype.is_floating_point or (not x.dtype.is_complex and x.dtype != _torch_bool())
    else:
        ok = x.dtype.kind in "fiu"
    if not ok:
        raise DTypeError(f"{name} must have a real floating or integer dtype, got {x.dtype}")


def _torch_bool() -> Any:
    import torch

    return torch.bool


def check_finite(x: Any, name: str) -> None:
    """Raise if ``x`` holds NaN or inf."""
    if is_torch(x):
        import torch

        # a finite sum proves every element finite (NaN/inf propagate) and is several
        # times cheaper than isfinite().all(); an overflowing sum falls back to the test
        finite = (not x.is_floating_point() or bool(torch.isfinite(x.detach().sum()))
                  or bool(torch.isfinite(x).all()))
    else:
        finite = bool(np.isfinite(x).all()) if x.dtype.kind == "f" else True
    if not finite:
        raise ValueRangeError(f"{name} contains NaN or inf")


def check_mask(mask: Any, shape: tuple[int, ...], name: str = "mask") -> Any:
    """Check a mask/marginal array has the energy's (batched or unbatched) shape."""
    mask = check_array_like(mask, name)
    if array_shape(mask) != tuple(shape):
        raise ShapeError(f"{name} must have shape {tuple(shape)}, got {array_shape(mask)}")
    return mask


def check_nonnegative(pairwise: Any, name: str = "pairwise", why: str = "",
                      offsets: Sequence[tuple[int, int]] | None = None) -> None:
    """Raise if any weight is negative (non-submodular energy). NaN is not negative.

    ``offsets``: the ``(dy, dx)`` of each channel of ``pairwise (..., K, H, W)``; given,
    only weights of edges inside the grid count (those leaving it are ignored by every
    solver, whatever their sign)."""
    if not _any_negative(pairwise):
        return
    if offsets is not None and not any(_any_negative(edges)
                                       for edges in _in_grid_edges(pairwise, offsets)):
        return
    hint = f" ({why})" if why else ""
    raise ValueRangeError(
        f"{name} has negative weights: the energy is not submodular{hint}; "
        f"weights are never clipped silently"
    )


def _in_grid_edges(pairwise: Any, offsets: Sequence[tuple[int, int]]) -> list[Any]:
    """Per channel ``k``, the weights of its edges that start and end inside the grid."""
    H, W = pairwise.shape[-2:]
    return [pairwise[..., k, max(0, -dy):H - max(0, dy), max(0, -dx):W - max(0, dx)]
            for k, (dy, dx) in enumerate(offsets[:pairwise.shape[-3]])]


def _any_negative(pairwise: Any) -> bool:
    if isinstance(pairwise, np.ndarray) and pairwise.dtype.kind == "f":
        # one pass, no temporary (3x faster than (w < 0).any() on a 1024^2 map);
        # NaN propagates through min, and NaN < 0 is False as in the elementwise test
        return pairwise.size > 0 and bool(np.fmin.reduce(pairwise, axis=None) < 0)
    return bool((pairwise < 0).any())


# -- scalars ----------------------------------------------------------------------------
def is_real_scalar(value: Any) -> bool:
    """A Python or NumPy int/float, or a 0-d real torch tensor (``bool`` is not a number)."""
    if is_torch(value):
        return value.ndim == 0 and not value.dtype.is_complex and value.dtype != _torch_bool()
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def _shown(value: Any) -> str:
    """``repr`` of the value, NumPy scalars shown as Python numbers (``-1.0``, not
    ``np.float64(-1.0)``)."""
    if isinstance(value, np.generic) or (is_torch(value) and value.ndim == 0):
        value = value.item()
    return repr(value)


def check_finite_scalar(value: Any, name: str) -> float:
    """A finite real number, as ``float``.

    Example:
        >>> check_finite_scalar(2, "value")
        2.0
    """
    if not (is_real_scalar(value) and math.isfinite(value)):
        raise ValueRangeError(f"{name} must be finite, got {_shown(value)}")
    return float(value)


def check_positive(value: Any, name: str, allow_zero: bool = False) -> float:
    """A finite real ``> 0`` (``>= 0`` with ``allow_zero``), as ``float``.

    Example:
        >>> check_positive(0.5, "temperature")
        0.5
    """
    ok = is_real_scalar(value) and math.isfinite(value) and (
        value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueRangeError(f"{name} must be finite and {'>=' if allow_zero else '>'} 0, "
                              f"got {_shown(value)}")
    return float(value)


def check_nonnegative_scalar(value: Any, name: str) -> float:
    """A finite real ``>= 0``, as ``float`` (``check_positive(..., allow_zero=True)``)."""
    return check_positive(value, name, allow_zero=True)


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (default 1), as ``int``; floats such as ``2.0`` are refused.

    Example:
        >>> check_count(3, "iters")
        3
    """
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) \
            or value < minimum:
        raise ValueRangeError(f"{name} must be an integer >= {minimum}, got {_shown(value)}")
    return int(value)


def check_interval(value: Any, name: str, low: float, high: float,
                   low_open: bool = False, high_open: bool = False) -> float:
    """A real number in the interval from ``low`` to ``high`` (open ends as asked), as float.

    Example:
        >>> check_interval(1.0, "damping", 0, 1, low_open=True)
        1.0
    """
    ok = is_real_scalar(value) and not math.isnan(value) and (
        value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueRangeError(f"{name} must be in {interval}, got {_shown(value)}")
    return float(value)


def check_probability(value: Any, name: str) -> float:
    """A probability in ``[0, 1]``, as ``float``."""
    return check_interval(value, name, 0, 1)


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """One of ``choices`` (returned unchanged).

    Example:
        >>> check_choice("parallel", "schedule", ("parallel", "checkerboard"))
        'parallel'
    """
    try:
        ok = value in choices
    except TypeError:  # an unhashable value against a set of choices
        ok = False
    if not ok:
        raise ValueRangeError(f"{name} must be one of {tuple(choices)}, got {_shown(value)}")
    return value


def check_seed(value: Any, name: str = "seed") -> int | None:
    """``None`` or an integer ``>= 0`` (a random seed)."""
    if value is None:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) \
            or value < 0:
        raise ValueRangeError(f"{name} must be None or an integer >= 0, got {_shown(value)}")
    return int(value)


# -- autograd ---------------------------------------------------------------------------
def wants_grad(*arrays: Any) -> bool:
    """Autograd is on and some torch input requires a gradient (NumPy inputs never do).

    The one test every backend and layer uses to skip the backward machinery; torch is
    not imported when no input is a tensor.
    """
    if not any(is_torch(a) for a in arrays):
        return False
    import torch

    return torch.is_grad_enabled() and any(is_torch(a) and a.requires_grad for a in arrays)
