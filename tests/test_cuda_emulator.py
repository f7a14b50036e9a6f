"""The CPU emulator for CUDA kernel sources (``tests/cuda_emulator.py``) on small kernels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cuda_emulator import RawModule, available, rewrite_source

pytestmark = pytest.mark.skipif(not available(), reason="no C++20 compiler for the emulator")

SOURCE = r"""
__constant__ int SCALE[2] = {2, 3};

__global__ void index_3d(int* out) {  // 6 ints per thread: blockIdx, threadIdx
    const int block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const int thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    int* o = out + 6 * (block * blockDim.x * blockDim.y * blockDim.z + thread);
    o[0] = blockIdx.x; o[1] = blockIdx.y; o[2] = blockIdx.z;
    o[3] = threadIdx.x; o[4] = threadIdx.y; o[5] = threadIdx.z;
}

__global__ void affine_2d(const float* in, float* out, int H, int W) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= W || y >= H) return;
    out[y * W + x] = SCALE[0] * in[y * W + x] + SCALE[1] * y;
}

__global__ void reverse_static(const float* in, float* out) {  // blocks of 64
    __shared__ float tile[64];
    const int base = blockIdx.x * 64;
    tile[threadIdx.x] = in[base + threadIdx.x];
    __syncthreads();
    out[base + threadIdx.x] = tile[63 - threadIdx.x];
}

template <typename T>
__global__ void reverse_dynamic(const T* in, T* out, int n, unsigned long long* misaligned) {
    extern __shared__ unsigned char raw[];
    T* buf = reinterpret_cast<T*>(raw);
    const int base = blockIdx.x * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = in[base + i];
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[base + i] = buf[n - 1 - i];
    if (threadIdx.x == 0) misaligned[blockIdx.x] = reinterpret_cast<unsigned long long>(raw) % 16;
}

template <typename T>
__global__ void warp_ops(const T* in, T* max_out, T* bcast_out, T* sum_out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const T v = in[i];
    T m = v, s = v;
    for (int lane = 16; lane > 0; lane >>= 1) {
        m = max(m, __shfl_xor_sync(0xffffffffu, m, lane));
        s += __shfl_down_sync(0xffffffffu, s, lane);
    }
    max_out[i] = m;
    bcast_out[i] = __shfl_sync(0xffffffffu, v, 7);
    sum_out[i] = s;  // the warp's sum in lane 0
}

__global__ void votes(const int* in, int* all_out, int* any_out, unsigned* ballot_out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int all = __all_sync(0xffffffffu, in[i]), any = __any_sync(0xffffffffu, in[i]);
    const unsigned ballot = __ballot_sync(0xffffffffu, in[i]);
    if ((threadIdx.x & 31) == 0) {
        all_out[i / 32] = all; any_out[i / 32] = any; ballot_out[i / 32] = ballot;
    }
}

__global__ void atomics(const float* values, float* largest, int* count, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    atomicMax(reinterpret_cast<unsigned int*>(largest), __float_as_uint(values[i]));
    atomicAdd(count, 1);
}

__global__ void divergent_sync(int* out) {
    if (threadIdx.x == 5) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

__global__ void divergent_shuffle(int* out) {
    if (threadIdx.x & 1) return;
    out[threadIdx.x] = __shfl_sync(0xffffffffu, int(threadIdx.x), 0);
}
"""
NAMES = ["index_3d", "affine_2d", "reverse_static", "reverse_dynamic<float>",
         "reverse_dynamic<double>", "warp_ops<float>", "warp_ops<double>",
         "warp_ops<long long>", "votes", "atomics", "divergent_sync", "divergent_shuffle"]
MEANFIELD = Path(__file__).resolve().parents[1] / "ersm/solvers/kernels/meanfield/meanfield.cu"


@pytest.fixture(scope="module")
def module() -> RawModule:
    module = RawModule(code=SOURCE, name_expressions=NAMES, options=("-std=c++14",))
    module.compile()
    return module


def test_index_math_3d_grid_and_block(module):
    grid, block = (2, 3, 2), (4, 2, 2)
    out = np.full((*grid[::-1], *block[::-1], 6), -1, np.int32)
    module.get_function("index_3d")(grid, block, (out,))
    bz, by, bx, tz, ty, tx = np.indices(out.shape[:-1])
    np.testing.assert_array_equal(out, np.stack([bx, by, bz, tx, ty, tz], axis=-1))


def test_2d_grid_with_bounds_check(module):
    height, width = 37, 21
    values = np.random.default_rng(0).normal(size=(height, width)).astype(np.float32)
    out = np.zeros_like(values)
    module.get_function("affine_2d")(((width + 7) // 8, (height + 3) // 4), (8, 4),
                                     (values, out, np.int32(height), np.int32(width)))
    rows = np.arange(height, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(out, 2 * values + 3 * rows)  # float32 arithmetic


def test_static_shared_memory_and_syncthreads(module):
    values = np.arange(4 * 64, dtype=np.float32)
    out = np.zeros_like(values)
    module.get_function("reverse_static")((4,), (64,), (values, out))
    np.testing.assert_array_equal(out, values.reshape(4, 64)[:, ::-1].ravel())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dynamic_shared_memory(module, dtype):
    blocks, n = 5, 50
    values = np.random.default_rng(1).normal(size=(blocks, n)).astype(dtype)
    out, misaligned = np.zeros_like(values), np.full(blocks, 99, np.uint64)
    name = f"reverse_dynamic<{'float' if dtype == np.float32 else 'double'}>"
    module.get_function(name)((blocks,), (32,), (values, out, np.int32(n), misaligned),
                              shared_mem=n * values.itemsize)
    np.testing.assert_array_equal(out, values[:, ::-1])
    np.testing.assert_array_equal(misaligned, 0)


@pytest.mark.parametrize("dtype, ctype", [(np.float32, "float"), (np.float64, "double"),
                                          (np.int64, "long long")])
def test_warp_shuffles(module, dtype, ctype):
    values = np.random.default_rng(2).integers(-1000, 1000, size=(3, 64)).astype(dtype)
    values[0, 40] = 2**40 if dtype == np.int64 else 0.5  # needs all 8 bytes / a fraction
    max_out, bcast_out, sum_out = (np.zeros_like(values) for _ in range(3))
    module.get_function(f"warp_ops<{ctype}>")((3,), (64,), (values, max_out, bcast_out, sum_out))
    warps = values.reshape(-1, 32)
    np.testing.assert_array_equal(max_out.reshape(-1, 32), np.repeat(warps.max(1)[:, None], 32, 1))
    np.testing.assert_array_equal(bcast_out.reshape(-1, 32), np.repeat(warps[:, 7:8], 32, 1))
    np.testing.assert_array_equal(sum_out.reshape(-1, 32)[:, 0], warps.sum(1))


def test_votes(module):
    predicates = np.zeros((4, 32), np.int32)
    predicates[1] = 7  # all
    predicates[2, [0, 5, 31]] = 1  # some
    predicates[3] = 1
    predicates[3, 9] = 0  # all but one
    all_out, any_out, ballot = np.zeros(4, np.int32), np.zeros(4, np.int32), np.zeros(4, np.uint32)
    module.get_function("votes")((2,), (64,), (predicates, all_out, any_out, ballot))
    np.testing.assert_array_equal(all_out, [0, 1, 0, 0])
    np.testing.assert_array_equal(any_out, [0, 1, 1, 1])
    np.testing.assert_array_equal(ballot, [0, 0xFFFFFFFF, (1 << 0) | (1 << 5) | (1 << 31),
                                           0xFFFFFFFF & ~(1 << 9)])


def test_atomics(module):
    n = 1000
    values = np.random.default_rng(3).uniform(0, 10, n).astype(np.float32)
    largest, count = np.zeros(1, np.float32), np.zeros(1, np.int32)
    module.get_function("atomics")(((n + 127) // 128,), (128,),
                                   (values, largest, count, np.int32(n)))
    assert largest[0] == values.max()
    assert count[0] == n


@pytest.mark.parametrize("name, block, message", [
    ("divergent_sync", 64, "returned while others wait in __syncthreads"),
    ("divergent_shuffle", 64, "all 32 lanes must take part"),
    ("warp_ops<float>", 48, "warp intrinsics need a multiple of 32"),
])
def test_misuse_is_reported_not_deadlocked(module, name, block, message):
    kernel = module.get_function(name)
    args = tuple(np.zeros(96, np.float32 if "float" in name else np.int32)
                 for _ in range(kernel.num_args))
    with pytest.raises(RuntimeError, match=message):
        kernel((2,), (block,), args)
    out = np.zeros(64, np.float32)  # the module still works afterwards
    module.get_function("reverse_static")((1,), (64,), (np.arange(64, dtype=np.float32), out))
    assert out[0] == 63


def test_argument_checks(module):
    kernel = module.get_function("affine_2d")
    a, out = np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="takes 4 arguments, got 3"):
        kernel((1,), (32,), (a, out, np.int32(2)))
    with pytest.raises(TypeError, match="numpy scalar"):
        kernel((1,), (32,), (a, out, 2, np.int32(3)))
    with pytest.raises(TypeError, match="float64 scalar for a 4-byte signed integer"):
        kernel((1,), (32,), (a, out, np.int32(2), np.float64(3)))
    with pytest.raises(TypeError, match="float64 array for a pointer to 4-byte floating"):
        kernel((1,), (32,), (a.astype(np.float64), out, np.int32(2), np.int32(3)))
    with pytest.raises(ValueError, match="C-contiguous"):
        kernel((1,), (32,), (a.T, out, np.int32(3), np.int32(2)))
    with pytest.raises(ValueError, match="invalid block"):
        kernel((1,), (2048,), (a, out, np.int32(2), np.int32(3)))
    with pytest.raises(ValueError, match="shared_mem"):
        kernel((1,), (32,), (a, out, np.int32(2), np.int32(3)), shared_mem=64 * 1024)


def test_compile_error_raises_with_compiler_output():
    broken = RawModule(code="__global__ void broken(int* x) { x[0] = undefined_name; }",
                       name_expressions=["broken"])
    with pytest.raises(RuntimeError, match="undefined_name"):
        broken.compile()


def test_rewrite_of_dynamic_shared_memory():
    code = "__global__ void k() {\n    extern __shared__ __align__(16) float s[];\n}\n"
    rewritten = rewrite_source(code)
    assert "float* const s = static_cast<float*>(::emu::dynamic_shared());" in rewritten
    assert rewritten.count("\n") == code.count("\n")
    with pytest.raises(ValueError, match="namespace scope"):
        rewrite_source("namespace a { extern __shared__ float s[]; }")


def test_real_meanfield_source_compiles():
    names = ["meanfield_fused<float, 1>", "meanfield_fused<double, 2>"]
    module = RawModule(code=MEANFIELD.read_text(), name_expressions=names, options=("-std=c++14",))
    module.compile()
    assert all(module.get_function(name).num_args > 0 for name in names)
