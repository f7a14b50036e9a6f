// Mean-field kernels for ersm (loaded by ersm/solvers/meanfield/cupy_kernel.py with NVRTC).
//
// Layout (ersm/energy/offsets.py): unary (B, H, W), pairwise (B, K, H, W), q (B, H, W), all
// C-contiguous; pairwise[b, k, y, x] weights the edge (y, x) -> (y, x) + OFFSET[k]; weights on
// edges that leave the grid are ignored. K = 2 (4-connectivity) or 4 (8-connectivity).
//
// Update of token i (semantics in ersm/solvers/meanfield/_common.py):
//   a_i = (theta_i + sum_j w_ij (1 - 2 q_j)) / T,   q_i <- q_i + alpha (sigmoid(-a_i) - q_i)
// Colour classes (checkerboard): K = 2: (y + x) % 2; K = 4: 2 (y % 2) + x % 2. colour < 0: all.

__constant__ int OFFSET_Y[4] = {0, 1, 1, 1};
__constant__ int OFFSET_X[4] = {1, 0, 1, -1};

template <typename T> __device__ __forceinline__ T sigmoid_neg(T a);
template <> __device__ __forceinline__ float sigmoid_neg<float>(float a) {
    return 1.0f / (1.0f + expf(a));
}
template <> __device__ __forceinline__ double sigmoid_neg<double>(double a) {
    return 1.0 / (1.0 + exp(a));
}

__device__ __forceinline__ int colour_of(int y, int x, int K) {
    return K == 2 ? ((y + x) & 1) : (((y & 1) << 1) | (x & 1));
}

// (theta + sum_j w_ij (1 - 2 q_j)) / T for token (y, x) of one sample; q may live in shared
// or global memory.
template <typename T>
__device__ __forceinline__ T preactivation(const T* theta, const T* w, const T* q, int y, int x,
                                           int H, int W, int K, T inv_t) {
    const int HW = H * W;
    T field = theta[y * W + x];
    for (int k = 0; k < K; ++k) {
        const int dy = OFFSET_Y[k], dx = OFFSET_X[k];
        const int y1 = y + dy, x1 = x + dx;  // edge leaving (y, x)
        if (y1 < H && x1 >= 0 && x1 < W) {
            field += w[k * HW + y * W + x] * (T(1) - T(2) * q[y1 * W + x1]);
        }
        const int y0 = y - dy, x0 = x - dx;  // edge arriving from (y0, x0)
        if (y0 >= 0 && x0 >= 0 && x0 < W) {
            field += w[k * HW + y0 * W + x0] * (T(1) - T(2) * q[y0 * W + x0]);
        }
    }
    return field * inv_t;
}

template <typename T>
__device__ __forceinline__ T warp_max(T value) {
    for (int lane = 16; lane > 0; lane >>= 1) {
        value = fmax(value, __shfl_xor_sync(0xffffffffu, value, lane));
    }
    return value;
}

// Largest value over the block, returned to every thread (blockDim.x a multiple of 32).
template <typename T>
__device__ T block_max(T value, T* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    value = warp_max(value);
    __syncthreads();  // scratch may still be read from the previous call
    if (lane == 0) scratch[warp] = value;
    __syncthreads();
    value = lane < (blockDim.x >> 5) ? scratch[lane] : T(0);
    return warp_max(value);
}

// All iterations of one sample per block, q in shared memory (H * W <= TPT * blockDim.x).
// Each thread owns tokens threadIdx.x + t * blockDim.x; new values go through registers so a
// parallel (Jacobi) sweep reads only old values. Dynamic shared memory: H * W * sizeof(T).
template <typename T, int TPT>
__global__ void meanfield_fused(const T* __restrict__ unary, const T* __restrict__ pairwise,
                                T* __restrict__ q, long long* __restrict__ iterations,
                                bool* __restrict__ converged, int H, int W, int K, T inv_t,
                                T alpha, T tol, int iters, int checkerboard) {
    extern __shared__ unsigned char shared_raw[];
    T* qs = reinterpret_cast<T*>(shared_raw);
    __shared__ T scratch[32];
    const int HW = H * W;
    const long long b = blockIdx.x;
    const T* theta = unary + b * HW;
    const T* w = pairwise + b * K * HW;
    T* qb = q + b * HW;
    for (int i = threadIdx.x; i < HW; i += blockDim.x) qs[i] = qb[i];
    __syncthreads();
    const int n_colours = checkerboard ? (K == 2 ? 2 : 4) : 1;
    int done = 0;
    bool stop = false;
    while (done < iters && !stop) {
        T delta = T(0);
        for (int colour = 0; colour < n_colours; ++colour) {
            T fresh[TPT];
#pragma unroll
            for (int t = 0; t < TPT; ++t) {
                const int i = threadIdx.x + t * blockDim.x;
                if (i < HW) {
                    const int y = i / W, x = i - (i / W) * W;
                    const T old = qs[i];
                    fresh[t] = old;
                    if (!checkerboard || colour_of(y, x, K) == colour) {
                        const T a = preactivation(theta, w, qs, y, x, H, W, K, inv_t);
                        fresh[t] = old + alpha * (sigmoid_neg(a) - old);
                        delta = fmax(delta, fabs(fresh[t] - old));
                    }
                }
            }
            __syncthreads();
#pragma unroll
            for (int t = 0; t < TPT; ++t) {
                const int i = threadIdx.x + t * blockDim.x;
                if (i < HW) qs[i] = fresh[t];
            }
            __syncthreads();
        }
        delta = block_max(delta, scratch);
        ++done;
        stop = delta < tol;
    }
    for (int i = threadIdx.x; i < HW; i += blockDim.x) qb[i] = qs[i];
    if (threadIdx.x == 0) {
        iterations[b] = done;
        converged[b] = stop;
    }
}

__device__ __forceinline__ void atomic_max_nonneg(float* address, float value) {
    atomicMax(reinterpret_cast<unsigned int*>(address), __float_as_uint(value));
}
__device__ __forceinline__ void atomic_max_nonneg(double* address, double value) {
    atomicMax(reinterpret_cast<unsigned long long*>(address),
              static_cast<unsigned long long>(__double_as_longlong(value)));
}

// One colour class of one sweep for maps too large for shared memory: one thread per token
// over the whole batch (n = B * H * W), q in global memory. parallel: src != dst and colour
// < 0; checkerboard: src == dst (in place), one launch per colour. Frozen samples (active[b]
// == 0) are copied through. delta[b] receives the largest change (atomic max of non-negative
// floats compared as unsigned integers).
template <typename T>
__global__ void meanfield_sweep(const T* __restrict__ unary, const T* __restrict__ pairwise,
                                const T* src, T* dst, const int* __restrict__ active,
                                T* __restrict__ delta, long long n, int H, int W, int K, T inv_t,
                                T alpha, int colour) {
    const long long idx = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int HW = H * W;
    T change = T(0);
    long long b = 0;
    if (idx < n) {
        b = idx / HW;
        const int i = static_cast<int>(idx - b * HW);
        const int y = i / W, x = i - (i / W) * W;
        const T old = src[idx];
        T value = old;
        if (active[b] && (colour < 0 || colour_of(y, x, K) == colour)) {
            const T a = preactivation(unary + b * HW, pairwise + b * K * HW, src + b * HW, y, x,
                                      H, W, K, inv_t);
            value = old + alpha * (sigmoid_neg(a) - old);
            change = fabs(value - old);
        }
        if (src != dst || value != old) dst[idx] = value;
    }
    // one atomic per warp and sample: lanes of other samples fall back to their own atomic
    const long long first = __shfl_sync(0xffffffffu, b, 0);
    const bool same = __all_sync(0xffffffffu, idx >= n || b == first);
    if (same) {
        change = warp_max(change);
        if ((threadIdx.x & 31) == 0 && idx < n && change > T(0)) atomic_max_nonneg(delta + b, change);
    } else if (idx < n && change > T(0)) {
        atomic_max_nonneg(delta + b, change);
    }
}

// After a sweep: count it for active samples, freeze those that converged, reset delta.
template <typename T>
__global__ void meanfield_finish(T* delta, int* active, long long* iterations, bool* converged,
                                 T tol, int B) {
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    if (active[b]) {
        iterations[b] += 1;
        if (delta[b] < tol) {
            converged[b] = true;
            active[b] = 0;
        }
    }
    delta[b] = T(0);
}
