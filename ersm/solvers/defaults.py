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

#: the default training backend of an MRF layer with a keep budget (``keep_ratio``): the
#: exact cut forward, as its masks are evaluated, with a straight-through gradient. Trained
#: with mean-field instead, the layer's relaxed gate differs from the exact budget mask it
#: is evaluated with (outline-only shapes, r = 0.15, one seed: test accuracy 0.95 with its
#: gate but 0.86 with the solved mask; ste: 1.00 and 1.00; bench/results/masks.md)
DEFAULT_BUDGETED = "ste"

#: the default backend for multi-label Potts energies (α-expansion on the exact cut)
DEFAULT_POTTS = "expansion"

__all__ = ["DEFAULT_BUDGETED", "DEFAULT_EXACT", "DEFAULT_POTTS", "DEFAULT_RELAXED"]
