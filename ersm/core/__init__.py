"""Foundations every other part of ersm builds on; imports nothing else of ersm.

``errors`` (public error types), ``checks`` (argument checks naming the argument),
``arrays`` (NumPy/torch helpers), ``optional`` (lazy optional dependencies with install
hints), ``numba_cache`` (the kernels' on-disk cache), ``parallel`` (the batch thread pool).
"""
