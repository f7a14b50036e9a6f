"""Default backend names: the one place that says which backend a caller gets unasked.

``DEFAULT_EXACT`` is what :func:`ersm.solve` uses and what the exact-forward
differentiable backends (``ste``, ``perturbed``) cut with; ``DEFAULT_RELAXED`` is the
relaxed, differentiable backend the mask layers default to. Both are registry keys.
"""

from __future__ import annotations

#: the default exact backend (own Numba graph cut, float64, exact)
DEFAULT_EXACT = "graphcut"

#: the default relaxed, differentiable backend (mean-field, any device)
DEFAULT_RELAXED = "meanfield"

#: the default backend for multi-label Potts energies (α-expansion on the exact cut)
DEFAULT_POTTS = "expansion"

__all__ = ["DEFAULT_EXACT", "DEFAULT_POTTS", "DEFAULT_RELAXED"]
