"""The built-in backends, one module per registry key; importing this package registers them.

=======================  =====================================================
module                   backend
=======================  =====================================================
:mod:`.graphcut`         own Numba Boykov–Kolmogorov cut (default exact)
:mod:`.maxflow`          PyMaxflow adapter (``ersm[maxflow]``)
:mod:`.scipy`            ``scipy.sparse.csgraph.maximum_flow`` (int32, exact
                         when the energy scales to integers)
:mod:`.gco`              gco-wrapper adapter (``ersm[gco]``)
:mod:`.reference`        slow pure-Python oracle
:mod:`.brute`            enumeration for tiny maps
:mod:`.meanfield`        mean-field (NumPy/Numba/torch/CuPy), unrolled gradient
:mod:`.meanfield_implicit`  mean-field fixed point, implicit gradient
:mod:`.ste`              exact cut, straight-through gradient
:mod:`.perturbed`        exact cut, perturb-and-MAP gradient
:mod:`.tv`               total-variation relaxation by primal–dual
:mod:`.expansion`        α-expansion for ``PottsEnergy`` (multi-label, default)
:mod:`.potts_meanfield`  multi-label mean-field for ``PottsEnergy`` (``meanfield``)
:mod:`.potts_gco`        gco-wrapper α-expansion for ``PottsEnergy`` (``gco``)
=======================  =====================================================

Each module calls :func:`ersm.solvers.register` at import; the computation lives in
:mod:`ersm.solvers.kernels`. Adding a backend is one module here (plus its import below)
and a test that runs :func:`ersm.testing.check_backend` on it.
"""

from . import (brute, expansion, gco, graphcut, maxflow, meanfield,  # noqa: F401
               meanfield_implicit, perturbed, potts_gco, potts_meanfield, reference, scipy,
               ste, tv)

__all__ = ["brute", "expansion", "gco", "graphcut", "maxflow", "meanfield",
           "meanfield_implicit", "perturbed", "potts_gco", "potts_meanfield", "reference",
           "scipy", "ste", "tv"]
