"""Solver computations without registry or dispatch: the backends call these.

* :mod:`.bk` — batched Boykov–Kolmogorov min-cut on grid graphs (Numba);
* :mod:`.grid_graph` — grid edges and terminal capacities for the adapter backends;
* :mod:`.integer_scaling` — exact/lossy scaling to int32 capacities;
* :mod:`.meanfield` — mean-field implementations (NumPy, Numba, torch, CuPy);
* :mod:`.adjoint`, :mod:`.grid_difference` — pieces of the differentiable backends.

Kernels import :mod:`ersm.core` and :mod:`ersm.energy` only (never a backend).
"""
