"""CPU emulator for CUDA kernel sources, for the test suite only.

Runs the real ``.cu`` kernels without a GPU: the source is compiled as C++20 by ``g++``
(or ``$CXX``) with ``cuda_emulator.h`` force-included, which maps CUDA to OS threads (one
per CUDA thread of a block, real barriers and warp exchanges; see the header). The API
mirrors the subset of :class:`cupy.RawModule` the project uses::

    module = RawModule(code=source, name_expressions=["my_kernel<float>"])
    kernel = module.get_function("my_kernel<float>")
    kernel((blocks,), (threads,), (x, y, np.int32(n)), shared_mem=nbytes)

Arguments follow CuPy's conventions, stricter: NumPy arrays (C-contiguous, passed by
pointer, written in place) for pointer parameters and NumPy scalars (``np.int32``,
``np.float32``, ``np.bool_``, ...) for scalar parameters. Python ``int``/``float``/``bool``
are rejected (CuPy would guess a C type), and dtypes are checked against the kernel's
parameter types (``void*`` and ``char``-like pointers take any array).

Compiled libraries are cached under :data:`CACHE_DIR` by a hash of the header, the source,
the name expressions and the compiler command, and written atomically, so parallel
pytest-xdist workers share them safely.

Import from test modules under ``tests/`` with ``from cuda_emulator import ...``.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

HEADER = Path(__file__).with_name("cuda_emulator.h")
"""The force-included header that maps CUDA to C++ threads."""
CACHE_DIR = Path(os.environ.get("ERSM_CUDA_EMULATOR_CACHE")
                 or Path(tempfile.gettempdir()) / "ersm-cuda-emulator")
"""Where compiled kernels are cached (``$ERSM_CUDA_EMULATOR_CACHE`` overrides)."""
DEFAULT_MAX_DYNAMIC_SHARED = 48 * 1024
"""Dynamic shared memory a launch may request without opting in, as on CUDA devices."""
FLAGS = ("-std=c++20", "-O1", "-pthread", "-shared", "-fPIC", "-fvisibility=hidden",
         "-fno-strict-aliasing", "-Wno-unknown-pragmas")
"""Compiler flags (``-fno-strict-aliasing``: CUDA code type-puns through pointers)."""

_EXPORT = 'extern "C" __attribute__((visibility("default")))'
_EXTERN_SHARED = re.compile(
    r"extern\s+__shared__\s+(?P<type>[^;\[\]{}]*?)\s*\b(?P<name>[A-Za-z_]\w*)\s*\[\s*\]\s*;")
_ALIGN = re.compile(r"__align__\s*\(\s*\d+\s*\)")
_COMMENTS_AND_LITERALS = re.compile(
    r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)
_PASS_THROUGH = ("-D", "-U", "-I")
_DTYPE_KINDS = {"b": "bool", "f": "floating-point", "i": "signed integer",
                "u": "unsigned integer", "x": "any"}


def _compiler() -> str:
    return os.environ.get("CXX") or "g++"


@functools.lru_cache(maxsize=None)
def _compiler_version() -> str:
    return subprocess.run([_compiler(), "--version"], capture_output=True, text=True,
                          check=True).stdout


@functools.lru_cache(maxsize=None)
def available() -> bool:
    """A C++20 compiler (``$CXX`` or ``g++``) exists and accepts the emulator header."""
    if shutil.which(_compiler()) is None:
        return False
    try:
        result = subprocess.run(
            [_compiler(), *FLAGS[:1], "-fsyntax-only", "-include", str(HEADER), "-x", "c++",
             "-"], input="", capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def _inside_function(code: str, pos: int) -> bool:
    """Whether ``code[pos]`` lies in a function (or class) body rather than at namespace
    scope (namespaces and ``extern "C" {}`` blocks do not count)."""
    text = _COMMENTS_AND_LITERALS.sub(lambda m: '""' if m[0][0] in "\"'" else " ", code[:pos])
    scopes: list[bool] = []
    for m in re.finditer(r"([^{};]*)([{};])", text):
        if m[2] == "{":
            scopes.append(not re.search(r"\bnamespace\b|\bextern\s*\"\"\s*$", m[1]))
        elif m[2] == "}" and scopes:
            scopes.pop()
    return any(scopes)


def rewrite_source(code: str) -> str:
    """``code`` with each ``extern __shared__ T name[];`` (in a function) turned into a
    pointer to the launch's dynamic shared memory (16-byte aligned, ``shared_mem`` bytes);
    line numbers are kept."""
    def replace(m: re.Match[str]) -> str:
        if not _inside_function(code, m.start()):
            raise ValueError(f"CUDA emulator: {m[0]!r} at namespace scope is not supported; "
                             "declare dynamic shared memory inside the kernel")
        ctype = " ".join(_ALIGN.sub(" ", m["type"]).split())
        return (f"{ctype}* const {m['name']} = static_cast<{ctype}*>(::emu::dynamic_shared());"
                + "\n" * m[0].count("\n"))

    return _EXTERN_SHARED.sub(replace, code)


def _wrappers(names: Sequence[str]) -> str:
    """``extern "C"`` entry points: ``emu_launch_i``, ``emu_nargs_i``, ``emu_signature_i``
    for ``names[i]``, and ``emu_last_error``."""
    lines = ['#line 1 "cuda_emulator_wrappers"',
             f"{_EXPORT} const char* emu_last_error() {{ return ::emu::last_error.c_str(); }}"]
    for i, name in enumerate(names):
        lines += [
            f"{_EXPORT} int emu_launch_{i}(const unsigned* grid, const unsigned* block, "
            f"std::size_t shared_mem, void** args) {{\n"
            f"    return ::emu::launch(&{name}, grid, block, shared_mem, args);\n}}",
            f"{_EXPORT} int emu_nargs_{i}() {{ return ::emu::nargs(&{name}); }}",
            f"{_EXPORT} const char* emu_signature_{i}() {{ return ::emu::signature(&{name}); }}",
        ]
    return "\n".join(lines) + "\n"


def _translate_options(options: Sequence[str]) -> list[str]:
    """NVRTC options that matter on the CPU (``-D``, ``-U``, ``-I``); the rest (``-std=``,
    ``--use_fast_math``, ``-arch``...) are ignored."""
    flags = []
    for option in options:
        if option.startswith(_PASS_THROUGH):
            flags.append(option)
        elif option.startswith("--define-macro="):
            flags.append("-D" + option.split("=", 1)[1])
        elif option.startswith("--include-path="):
            flags.append("-I" + option.split("=", 1)[1])
    return flags


def _build(source: str, flags: Sequence[str]) -> Path:
    """Compile ``source`` (cached); returns the shared library."""
    command = [_compiler(), *FLAGS, *flags, "-include", str(HEADER)]
    key = hashlib.sha256("\0".join([HEADER.read_text(), source, *command,
                                    _compiler_version()]).encode()).hexdigest()[:32]
    library = CACHE_DIR / f"{key}.so"
    if library.exists():
        return library
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix=f"{key}.") as work:
        cpp, target = Path(work) / "kernel.cpp", Path(work) / "kernel.so"
        cpp.write_text(source)
        result = subprocess.run([*command, "-x", "c++", str(cpp), "-o", str(target)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"CUDA emulator: compilation failed\n{' '.join(command)}\n"
                               f"{result.stderr}")
        os.replace(cpp, CACHE_DIR / f"{key}.cpp")  # kept for debugging
        os.replace(target, library)
    return library


def _dim3(value: int | Sequence[int], what: str) -> tuple[int, int, int]:
    dims = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not 1 <= len(dims) <= 3:
        raise ValueError(f"{what} must have 1 to 3 dimensions, got {value!r}")
    dims = tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
    limits = (2**31 - 1, 65535, 65535) if what == "grid" else (1024, 1024, 64)
    if any(not 1 <= d <= limit for d, limit in zip(dims, limits)) or (
            what == "block" and dims[0] * dims[1] * dims[2] > 1024):
        raise ValueError(f"invalid {what} dimensions {value!r}")
    return dims  # type: ignore[return-value]


def _describe(kind: str, size: int) -> str:
    return f"{size}-byte {_DTYPE_KINDS[kind]}"


def _pack(arg: Any, spec: str, index: int) -> ctypes._CData:
    """Storage holding one kernel argument for the parameter described by ``spec``
    (``{p|s}{kind}{bytes}``, see ``emu::signature``)."""
    pointer, kind, size = spec[0] == "p", spec[1], int(spec[2:])
    if pointer:
        if not isinstance(arg, np.ndarray):
            raise TypeError(f"argument {index}: a pointer parameter needs a numpy array, "
                            f"got {type(arg).__name__}")
        if not arg.flags.c_contiguous:
            raise ValueError(f"argument {index}: the array must be C-contiguous")
        if kind != "x" and (arg.dtype.kind, arg.dtype.itemsize) != (kind, size):
            raise TypeError(f"argument {index}: {arg.dtype} array for a pointer to "
                            f"{_describe(kind, size)}")
        return ctypes.c_void_p(arg.ctypes.data)
    if not isinstance(arg, np.generic):
        raise TypeError(f"argument {index}: {type(arg).__name__} for a scalar parameter "
                        f"({_describe(kind, size)}); pass a numpy scalar such as np.int32(...) "
                        "or np.float32(...), the emulator does not guess C types")
    if arg.dtype.itemsize != size or kind not in ("x", arg.dtype.kind):
        raise TypeError(f"argument {index}: {arg.dtype} scalar for a {_describe(kind, size)} "
                        "parameter")
    return ctypes.create_string_buffer(arg.tobytes(), size)


class Kernel:
    """One kernel of a compiled :class:`RawModule`, called like ``cupy.RawKernel``."""

    def __init__(self, library: ctypes.CDLL, index: int, name: str) -> None:
        self.name = name
        self._library = library
        self._launch = library[f"emu_launch_{index}"]
        self._launch.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                                 ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]
        self._launch.restype = ctypes.c_int
        nargs = library[f"emu_nargs_{index}"]
        nargs.restype = ctypes.c_int
        signature = library[f"emu_signature_{index}"]
        signature.restype = ctypes.c_char_p
        self._signature: list[str] = signature().decode().split()
        assert len(self._signature) == nargs()
        self._last_error = library["emu_last_error"]
        self._last_error.restype = ctypes.c_char_p
        self.max_dynamic_shared_size_bytes = DEFAULT_MAX_DYNAMIC_SHARED
        """Largest ``shared_mem`` accepted (settable, like CuPy's kernel attribute)."""

    @property
    def num_args(self) -> int:
        """Number of kernel parameters."""
        return len(self._signature)

    def __call__(self, grid: int | Sequence[int], block: int | Sequence[int],
                 args: Sequence[Any], shared_mem: int = 0) -> None:
        """Run the kernel to completion (synchronously) on ``grid`` × ``block`` threads.

        Raises:
            TypeError: wrong number or types of arguments.
            ValueError: invalid launch configuration, non-contiguous array, too much shared
                memory.
            RuntimeError: the launch failed (e.g. a divergent ``__syncthreads``).
        """
        grid3, block3 = _dim3(grid, "grid"), _dim3(block, "block")
        if len(args) != self.num_args:
            raise TypeError(f"{self.name} takes {self.num_args} arguments, got {len(args)}")
        if not 0 <= shared_mem <= self.max_dynamic_shared_size_bytes:
            raise ValueError(f"{self.name}: shared_mem={shared_mem} exceeds "
                             f"{self.max_dynamic_shared_size_bytes} bytes")
        storage = [_pack(arg, spec, i) for i, (arg, spec) in enumerate(zip(args, self._signature))]
        argv = (ctypes.c_void_p * max(len(storage), 1))(*map(ctypes.addressof, storage))
        status = self._launch((ctypes.c_uint * 3)(*grid3), (ctypes.c_uint * 3)(*block3),
                              int(shared_mem), argv)
        if status != 0:
            raise RuntimeError(f"CUDA emulator: {self.name}: {self._last_error().decode()}")


class RawModule:
    """Subset of :class:`cupy.RawModule`: CUDA source compiled for the CPU emulator.

    Args:
        code: CUDA C++ source.
        name_expressions: kernels to instantiate, e.g. ``"meanfield_fused<float, 4>"``;
            :meth:`get_function` also accepts other names (recompiling with them added).
        options: NVRTC options; only ``-D``, ``-U`` and ``-I`` are passed on.
    """

    def __init__(self, code: str, *, options: Sequence[str] = (),
                 name_expressions: Sequence[str] | None = None) -> None:
        self.code = code
        self.options = tuple(options)
        self._names = list(name_expressions or ())
        self._library: ctypes.CDLL | None = None
        self._lock = threading.Lock()

    def compile(self) -> None:
        """Compile (or load from the cache). Raises RuntimeError with the compiler output."""
        with self._lock:
            self._compile()

    def get_function(self, name: str) -> Kernel:
        """The kernel for one name expression (compiling first if needed)."""
        with self._lock:
            if name not in self._names:
                self._names.append(name)
                self._library = None
            return Kernel(self._compile(), self._names.index(name), name)

    def _compile(self) -> ctypes.CDLL:
        if self._library is None:
            source = f'#line 1 "kernel.cu"\n{rewrite_source(self.code)}\n' + _wrappers(self._names)
            self._library = ctypes.CDLL(str(_build(source, _translate_options(self.options))))
        return self._library
