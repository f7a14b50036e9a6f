"""The kernel cache is keyed by every source that ends up in compiled kernels."""

from __future__ import annotations

import re
from pathlib import Path

import numba

import ersm
from ersm.core import numba_cache as _numba_cache

PACKAGE = Path(ersm.__file__).parent


def test_every_module_defining_kernels_is_a_kernel_source():
    users = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
             if re.search(r"^\s*@(njit|jit|intrinsic|overload|vectorize)\b", path.read_text(),
                          re.M)}
    assert "solvers/kernels/meanfield/numba_kernel.py" in users
    assert users <= set(_numba_cache.KERNEL_SOURCES)
    for name in _numba_cache.KERNEL_SOURCES:
        assert (PACKAGE / name).is_file(), name


def test_cached_kernels_go_to_the_source_keyed_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    _numba_cache.cache_dir.cache_clear()
    try:
        path = _numba_cache.cache_dir()
        assert path.startswith(str(tmp_path)) and f"numba-{numba.__version__}-" in path

        @_numba_cache.njit(cache=True)
        def add_one(x):
            return x + 1

        assert add_one(1) == 2
        assert any(Path(path).rglob("*.nbi"))  # the index went to the keyed directory
        assert numba.core.config.CACHE_DIR != path  # the global setting was restored

        @_numba_cache.njit
        def twice(x):
            return 2 * x

        assert twice(3) == 6
    finally:
        _numba_cache.cache_dir.cache_clear()
