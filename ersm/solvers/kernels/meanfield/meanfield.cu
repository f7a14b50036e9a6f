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

// (theta + sum_j w_ij (1 - 2 q_j)) / T for token (gy, gx) of an H x W grid. The token's values
// sit at index i of arrays with row stride `stride` and channel stride `plane`: the whole map
// (i = gy * W + gx, stride = W, plane = H * W) or a shared-memory window (local coordinates).
// Neighbours outside the grid are skipped; those inside must lie inside the arrays.
template <typename T>
__device__ __forceinline__ T preactivation(const T* theta, const T* w, const T* q, int i,
                                           int stride, int plane, int gy, int gx, int H, int W,
                                           int K, T inv_t) {
    T field = theta[i];
    for (int k = 0; k < K; ++k) {
        const int dy = OFFSET_Y[k], dx = OFFSET_X[k];
        const int j = dy * stride + dx;
        if (gy + dy < H && gx + dx >= 0 && gx + dx < W) {  // edge leaving the token
            field += w[k * plane + i] * (T(1) - T(2) * q[i + j]);
        }
        if (gy - dy >= 0 && gx - dx >= 0 && gx - dx < W) {  // edge arriving from i - j
            field += w[k * plane + i - j] * (T(1) - T(2) * q[i - j]);
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
                        const T a = preactivation(theta, w, qs, i, W, HW, y, x, H, W, K, inv_t);
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

// Maps too large for one block (temporal tiling). Blocks are numbered over samples, tile rows
// and tile columns (a 1-D grid: CUDA limits grid y and z to 65535, batches may be larger).
// Block (b, ty, tx) owns the tile x tile interior starting at (ty * tile, tx * tile) of
// sample b and loads the window around it,
// widened by `halo` on every side, into shared memory: theta, w and q (two q buffers for the
// parallel schedule, one for checkerboard, which updates in place). It then runs sweeps[b]
// sweeps there. Pass p (one colour class of one sweep) updates local rows and columns
// p + 1 .. L - 2 - p (L = tile + 2 halo) and reads one token further out, so values stay
// exact on a region that shrinks by one token per pass; the host keeps sweeps[b] * colours
// <= halo, so the interior is exact at the end and is written to q_out (q_in and q_out are
// different buffers: neighbouring blocks read their halos from q_in).
// sweeps[b] < 0 leaves sample b untouched; 0 copies it through. delta[b * max_sweeps + s]
// receives the largest change of sweep s over interior tokens (atomic max, zeroed by the host).
// Dynamic shared memory: L * L * (K + 2 + !checkerboard) * sizeof(T).
template <typename T>
__global__ void meanfield_tiled(const T* __restrict__ unary, const T* __restrict__ pairwise,
                                const T* __restrict__ q_in, T* __restrict__ q_out,
                                const int* __restrict__ sweeps, T* __restrict__ delta, int H,
                                int W, int K, T inv_t, T alpha, int checkerboard, int tile,
                                int halo, int max_sweeps) {
    const int tiles_x = (W + tile - 1) / tile, tiles_y = (H + tile - 1) / tile;
    const long long b = blockIdx.x / (tiles_x * tiles_y);
    const int tile_index = static_cast<int>(blockIdx.x - b * tiles_x * tiles_y);
    const int todo = sweeps[b];
    if (todo < 0) return;  // the whole block leaves together
    extern __shared__ unsigned char shared_raw[];
    __shared__ T scratch[32];
    const int L = tile + 2 * halo, n = L * L, HW = H * W;
    T* th = reinterpret_cast<T*>(shared_raw);
    T* ws = th + n;
    T* cur = ws + K * n;
    T* nxt = checkerboard ? cur : cur + n;
    const int y0 = (tile_index / tiles_x) * tile - halo;
    const int x0 = (tile_index % tiles_x) * tile - halo;
    const T* theta = unary + b * HW;
    const T* w = pairwise + b * K * HW;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const int gy = y0 + i / L, gx = x0 + i % L;
        const bool inside = gy >= 0 && gy < H && gx >= 0 && gx < W;
        const int g = inside ? gy * W + gx : 0;
        th[i] = inside ? theta[g] : T(0);
        cur[i] = inside ? q_in[b * HW + g] : T(0);
        for (int k = 0; k < K; ++k) ws[k * n + i] = inside ? w[k * HW + g] : T(0);
    }
    __syncthreads();
    const int n_colours = checkerboard ? (K == 2 ? 2 : 4) : 1;
    int pass = 0;
    for (int s = 0; s < todo; ++s) {
        T change = T(0);
        for (int colour = 0; colour < n_colours; ++colour, ++pass) {
            const int lo = pass + 1, span = L - 2 * lo;
            for (int t = threadIdx.x; t < span * span; t += blockDim.x) {
                const int ly = lo + t / span, lx = lo + t % span;
                const int gy = y0 + ly, gx = x0 + lx, i = ly * L + lx;
                if (gy < 0 || gy >= H || gx < 0 || gx >= W) continue;
                if (checkerboard && colour_of(gy, gx, K) != colour) continue;
                const T old = cur[i];
                const T a = preactivation(th, ws, cur, i, L, n, gy, gx, H, W, K, inv_t);
                const T value = old + alpha * (sigmoid_neg(a) - old);
                nxt[i] = value;
                if (ly >= halo && ly < halo + tile && lx >= halo && lx < halo + tile) {
                    change = fmax(change, fabs(value - old));
                }
            }
            __syncthreads();
            T* swap = cur;  // parallel: the fresh values become current; checkerboard: no-op
            cur = nxt;
            nxt = swap;
        }
        change = block_max(change, scratch);
        if (threadIdx.x == 0 && change > T(0)) atomic_max_nonneg(delta + b * max_sweeps + s, change);
    }
    for (int t = threadIdx.x; t < tile * tile; t += blockDim.x) {
        const int ly = halo + t / tile, lx = halo + t % tile;
        const int gy = y0 + ly, gx = x0 + lx;
        if (gy < H && gx < W) q_out[b * HW + gy * W + gx] = cur[ly * L + lx];
    }
}
