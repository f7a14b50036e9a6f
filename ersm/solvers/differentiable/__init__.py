"""Differentiable backends: solve a mask energy and learn through it.

All are registered with ``array="native"`` and ``differentiable=True``: they take the
energy's own arrays (torch tensors with grad on any device, or NumPy), return ``mask``
(bool) and a relaxed ``q`` whose gradients reach ``unary`` and ``pairwise``; exact cuts
run on the host and come back to the input device.

================================  ==============================================  ======
backend                           forward / backward                              exact
================================  ==============================================  ======
``meanfield_implicit``            mean-field fixed point / implicit function       no
                                  theorem (constant memory)
``ste``                           exact cut / straight-through surrogate gradient  yes
``perturbed``                     exact cut (+ perturbed samples) / implicit MLE   yes
``tv``                            unrolled primal–dual on the smoothed TV          no
                                  relaxation / autograd
================================  ==============================================  ======

The unrolled gradient of the plain ``meanfield`` backend (a Numba backward on CPU, torch
autograd elsewhere) is the fifth option. ``graphcut`` and the other exact backends return
non-differentiable masks.

The backends live in :mod:`ersm.solvers.backends` (one module per registry key); this
package keeps their functions under the old names and holds :mod:`.inverse`.
"""

from ..backends.meanfield_implicit import meanfield_implicit
from ..backends.perturbed import perturbed_mask
from ..backends.ste import ste_mask
from ..backends.tv import tv_mask

__all__ = ["meanfield_implicit", "perturbed_mask", "ste_mask", "tv_mask"]
