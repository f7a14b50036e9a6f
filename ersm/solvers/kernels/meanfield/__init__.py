"""Mean-field solvers for the grid energy (the ``meanfield`` backend).

Implementations, all with the semantics of :mod:`._common`:

* :mod:`.numpy_reference` — readable NumPy oracle;
* :mod:`.numba_kernel` — fused, batch-parallel, SIMD (default for NumPy input);
* :mod:`.torch_impl` — plain differentiable torch ops, any device;
* :mod:`.cupy_kernel` — CUDA kernels in ``meanfield.cu`` (cupy imported lazily).

:mod:`ersm.solvers.backends.meanfield` registers the backend; nothing heavy is imported here.
"""
