// CPU emulator for CUDA kernel sources -- used only by the test suite.
//
// Force-included (g++ -include) before a .cu file compiled as C++20 by tests/cuda_emulator.py.
// One launch runs every CUDA thread of a block as an OS thread (std::thread, spawned once per
// launch); each thread walks over all blocks in order (blockIdx.x fastest, then y, then z),
// with a block-wide barrier after each block, so a block's __shared__ variables (function
// statics here) and dynamic shared memory are never reused while in use. Launches are
// serialised by a mutex, hence one set of statics per block is enough.
//
// Supported: __syncthreads, warp shuffles/votes/__syncwarp (full warps and full masks only),
// atomics for the types CUDA has them, bit casts, the usual math. Misuse that would hang
// (some threads of a block or warp at a barrier, others returned or at a different kind of
// barrier) is detected and reported as a launch error instead of a deadlock; lanes that
// call *different* warp intrinsics still pair up silently. Not supported: partial warp
// masks, __syncthreads_count/_and/_or, cooperative groups, half and vector types (float2...).
//
// __constant__ and __shared__ become `static`. The Python loader rewrites
// `extern __shared__ T name[];` (not expressible with macros) inside a function to
// `T* const name = static_cast<T*>(::emu::dynamic_shared());`: a 16-byte aligned buffer of
// the launch's shared_mem bytes, filled with 0xff (NaN / -1) before each block.
#pragma once

#include <math.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

// ------------------------------------------------------------------ qualifiers
#define __CUDACC__ 1
#define __CUDACC_RTC__ 1
#define __CUDA_ARCH__ 800
#define CUDA_EMULATOR 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __constant__ static
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

// ------------------------------------------------------------------ built-in variables
struct uint3 {
    unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;
inline constexpr int warpSize = 32;

namespace emu {

constexpr unsigned kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;

/// Thrown inside kernel threads to unwind them after a launch error.
struct Abort {};

/// State of one kernel launch: the threads of a block, their barriers and warp buffers.
class Launch {
public:
    Launch(dim3 grid, dim3 block, std::size_t shared_mem)
        : grid_(grid), block_(block), threads_(block.x * block.y * block.z),
          shared_((shared_mem + 15) / 16), shared_bytes_(shared_mem),
          warps_((threads_ + kWarpSize - 1) / kWarpSize) {
        for (std::size_t w = 0; w < warps_.size(); ++w) {
            warps_[w].lanes = std::min<unsigned>(kWarpSize, threads_ - w * kWarpSize);
        }
        poison_shared();
    }

    /// Runs `kernel` on every thread of every block; errors are left in error().
    void run(const std::function<void()>& kernel) {
        std::vector<std::thread> threads;
        threads.reserve(threads_);
        try {
            for (unsigned tid = 0; tid < threads_; ++tid) {
                threads.emplace_back([this, &kernel, tid] { work(kernel, tid); });
            }
        } catch (const std::system_error& e) {
            std::lock_guard lock(mutex_);
            fail(std::string("cannot start the block's threads: ") + e.what());
        }
        for (auto& thread : threads) thread.join();
    }

    /// Block-wide barrier; `block_end`: the implicit one after each block.
    void sync_block(bool block_end) {
        std::unique_lock lock(mutex_);
        if (aborted_.load()) throw Abort{};
        Warp& warp = warps_[tid_ / kWarpSize];
        ++arrived_;
        ends_ += block_end;
        ++warp.parked;
        check_warp(warp);
        if (arrived_ == threads_) {
            if (ends_ != 0 && ends_ != threads_) {
                fail("some threads of block " + where() +
                     " returned while others wait in __syncthreads() (divergent barrier)");
            } else if (ends_ == threads_) {
                poison_shared();  // dynamic shared memory starts undefined in each block
            }
            arrived_ = ends_ = 0;
            for (auto& w : warps_) w.parked = 0;
            generation_.fetch_add(1);
            generation_.notify_all();
        } else {
            const unsigned generation = generation_.load();
            lock.unlock();
            wait(generation_, generation);
        }
        if (aborted_.load()) throw Abort{};
    }

    /// Every lane of the calling warp publishes `value`; returns all 32 values once all have.
    std::array<std::uint64_t, kWarpSize> exchange(unsigned mask, std::uint64_t value,
                                                  const char* op) {
        std::unique_lock lock(mutex_);
        if (aborted_.load()) throw Abort{};
        Warp& warp = warps_[tid_ / kWarpSize];
        if (warp.lanes != kWarpSize) {
            fail(std::string(op) + ": the block has " + std::to_string(threads_) +
                 " threads, warp intrinsics need a multiple of 32");
        } else if (mask != kFullMask) {
            fail(std::string(op) + ": only the full mask 0xffffffff is supported");
        }
        if (aborted_.load()) throw Abort{};
        auto& slots = warp.slots[parity_];
        parity_ ^= 1u;  // double buffering: one barrier per exchange is enough
        slots[tid_ % kWarpSize] = value;
        ++warp.arrived;
        check_warp(warp);
        if (warp.arrived == warp.lanes) {
            warp.arrived = 0;
            warp.generation.fetch_add(1);
            warp.generation.notify_all();
        } else {
            const unsigned generation = warp.generation.load();
            lock.unlock();
            wait(warp.generation, generation);
        }
        if (aborted_.load()) throw Abort{};
        return slots;
    }

    void* dynamic_shared() { return shared_bytes_ ? shared_.data() : nullptr; }
    static unsigned lane() { return tid_ % kWarpSize; }
    const std::string& error() const { return error_; }

private:
    struct alignas(16) Chunk {
        unsigned char bytes[16];
    };
    struct Warp {
        unsigned lanes = 0, arrived = 0, parked = 0;  // parked: lanes at a block barrier
        std::atomic<unsigned> generation{0};
        std::array<std::array<std::uint64_t, kWarpSize>, 2> slots{};
    };

    void work(const std::function<void()>& kernel, unsigned tid) {
        tid_ = tid;
        parity_ = 0;
        threadIdx = {tid % block_.x, tid / block_.x % block_.y, tid / (block_.x * block_.y)};
        blockDim = block_;
        gridDim = grid_;
        try {
            for (unsigned z = 0; z < grid_.z; ++z) {
                for (unsigned y = 0; y < grid_.y; ++y) {
                    for (unsigned x = 0; x < grid_.x; ++x) {
                        blockIdx = {x, y, z};
                        kernel();
                        sync_block(true);
                    }
                }
            }
        } catch (const Abort&) {
        } catch (const std::exception& e) {
            std::lock_guard lock(mutex_);
            fail(std::string("exception in the kernel: ") + e.what());
        } catch (...) {
            std::lock_guard lock(mutex_);
            fail("unknown exception in the kernel");
        }
    }

    // A warp exchange can never complete if some lanes wait for it while the others are at
    // a block barrier (returned early or diverged). Caller holds mutex_.
    void check_warp(const Warp& warp) {
        if (warp.arrived > 0 && warp.parked > 0 && warp.arrived + warp.parked == warp.lanes) {
            fail("in block " + where() + ", lanes of warp " + std::to_string(tid_ / kWarpSize) +
                 " wait in a warp intrinsic while the others returned or wait in "
                 "__syncthreads() (all 32 lanes must take part)");
        }
    }

    // Records the first error and wakes every waiting thread. Caller holds mutex_.
    void fail(const std::string& message) {
        if (aborted_.load()) return;
        error_ = message;
        aborted_.store(true);
        generation_.fetch_add(1);
        generation_.notify_all();
        for (auto& warp : warps_) {
            warp.generation.fetch_add(1);
            warp.generation.notify_all();
        }
    }

    // Waits until the barrier's generation moves on or the launch is aborted (fail() bumps
    // every generation, so waiters wake).
    void wait(const std::atomic<unsigned>& generation, unsigned old) const {
        while (generation.load() == old && !aborted_.load()) generation.wait(old);
    }

    void poison_shared() {  // NaN for floats, -1 for integers
        if (shared_bytes_) std::memset(shared_.data(), 0xff, shared_bytes_);
    }

    std::string where() const {
        return "(" + std::to_string(blockIdx.x) + ", " + std::to_string(blockIdx.y) + ", " +
               std::to_string(blockIdx.z) + ")";
    }

    dim3 grid_, block_;
    unsigned threads_;
    std::vector<Chunk> shared_;
    std::size_t shared_bytes_;
    std::vector<Warp> warps_;
    std::mutex mutex_;
    unsigned arrived_ = 0, ends_ = 0;  // block barrier: arrivals, of which block ends
    std::atomic<unsigned> generation_{0};
    std::atomic<bool> aborted_{false};
    std::string error_;
    static inline thread_local unsigned tid_ = 0;     // linear thread id in the block
    static inline thread_local unsigned parity_ = 0;  // warp buffer used by the next exchange
};

inline Launch* current = nullptr;  // the running launch
inline std::mutex launch_mutex;    // launches run one at a time
inline thread_local std::string last_error;

inline void* dynamic_shared() { return current->dynamic_shared(); }

/// Runs one launch; returns 0, or 1 with the reason in last_error.
inline int run_launch(const unsigned* grid, const unsigned* block, std::size_t shared_mem,
                      const std::function<void()>& kernel) noexcept {
    last_error.clear();
    try {
        const dim3 g(grid[0], grid[1], grid[2]), b(block[0], block[1], block[2]);
        if (!g.x || !g.y || !g.z || !b.x || !b.y || !b.z ||
            std::uint64_t(b.x) * b.y * b.z > 1024) {
            last_error = "invalid launch configuration";
            return 1;
        }
        std::lock_guard serial(launch_mutex);
        Launch launch(g, b, shared_mem);
        current = &launch;
        launch.run(kernel);
        current = nullptr;
        last_error = launch.error();
    } catch (const std::exception& e) {
        current = nullptr;
        last_error = std::string("launch failed: ") + e.what();
    }
    return last_error.empty() ? 0 : 1;
}

/// Launches `kernel` like cudaLaunchKernel: args[i] points to the i-th parameter's value.
template <class... P>
int launch(void (*kernel)(P...), const unsigned* grid, const unsigned* block,
           std::size_t shared_mem, void** args) noexcept {
    static_assert((std::is_trivially_copyable_v<std::remove_cv_t<P>> && ...),
                  "kernel parameters must be trivially copyable");
    const auto call = [&]<std::size_t... I>(std::index_sequence<I...>) {
        kernel(*static_cast<std::remove_cv_t<P>*>(args[I])...);
    };
    return run_launch(grid, block, shared_mem, [&] { call(std::index_sequence_for<P...>{}); });
}

template <class... P>
constexpr int nargs(void (*)(P...)) {
    return sizeof...(P);
}

/// Kind of a type for the Python argument checks: b(ool), f(loat), i(nt), u(nsigned), x
/// (anything else: not checked).
template <class T>
constexpr char kind_of() {
    if constexpr (std::is_same_v<T, bool>) return 'b';
    else if constexpr (std::is_floating_point_v<T>) return 'f';
    else if constexpr (std::is_integral_v<T>) return std::is_signed_v<T> ? 'i' : 'u';
    else return 'x';
}

template <class P>
std::string describe_parameter() {
    using T = std::remove_cv_t<P>;
    if constexpr (std::is_pointer_v<T>) {
        using E = std::remove_cv_t<std::remove_pointer_t<T>>;
        if constexpr (std::is_void_v<E>) return "px0";  // void* takes any array
        else if constexpr (sizeof(E) == 1 && !std::is_same_v<E, bool>) return "px0";  // char-like
        else return "p" + std::string(1, kind_of<E>()) + std::to_string(sizeof(E));
    } else {
        return "s" + std::string(1, kind_of<T>()) + std::to_string(sizeof(T));
    }
}

/// Parameters as space-separated `{p|s}{kind}{bytes}` (pointer or scalar; pointee for p).
template <class... P>
const char* signature(void (*)(P...)) {
    static const std::string text = [] {
        std::string s;
        ((s += describe_parameter<P>() + " "), ...);
        return s;
    }();
    return text.c_str();
}

template <class T>
concept WarpValue = std::is_trivially_copyable_v<T> && sizeof(T) <= 8;

template <class T, class... U>
concept OneOf = (std::is_same_v<T, U> || ...);

template <WarpValue T>
T lane_value(const std::array<std::uint64_t, kWarpSize>& slots, unsigned lane) {
    T value;
    std::memcpy(&value, &slots[lane], sizeof(T));
    return value;
}

template <WarpValue T>
std::array<std::uint64_t, kWarpSize> exchange(unsigned mask, T value, const char* op) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    return current->exchange(mask, bits, op);
}

inline unsigned lane_id() { return Launch::lane(); }

template <class T, class F>
T atomic_update(T* address, F update) {
    std::atomic_ref<T> ref(*address);
    T old = ref.load();
    while (!ref.compare_exchange_weak(old, update(old))) {
    }
    return old;
}

}  // namespace emu

// ------------------------------------------------------------------ synchronisation
inline void __syncthreads() { emu::current->sync_block(false); }
inline void __syncwarp(unsigned mask = emu::kFullMask) { emu::exchange(mask, 0, "__syncwarp"); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ------------------------------------------------------------------ warp shuffles and votes
template <emu::WarpValue T>
T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
    const int lane = emu::lane_id(), source = (lane & ~(width - 1)) + (srcLane & (width - 1));
    return emu::lane_value<T>(emu::exchange(mask, var, "__shfl_sync"), source);
}
template <emu::WarpValue T>
T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
    const int lane = emu::lane_id(), target = lane ^ laneMask;
    const int source = target >= (lane & ~(width - 1)) + width ? lane : target;
    return emu::lane_value<T>(emu::exchange(mask, var, "__shfl_xor_sync"), source);
}
template <emu::WarpValue T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    const int lane = emu::lane_id();
    const int source = (lane & (width - 1)) + int(delta) < width ? lane + int(delta) : lane;
    return emu::lane_value<T>(emu::exchange(mask, var, "__shfl_down_sync"), source);
}
template <emu::WarpValue T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    const int lane = emu::lane_id();
    const int source = (lane & (width - 1)) >= int(delta) ? lane - int(delta) : lane;
    return emu::lane_value<T>(emu::exchange(mask, var, "__shfl_up_sync"), source);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
    const auto slots = emu::exchange(mask, predicate != 0, "__ballot_sync");
    unsigned bits = 0;
    for (unsigned lane = 0; lane < emu::kWarpSize; ++lane) {
        bits |= unsigned(slots[lane] != 0) << lane;
    }
    return bits;
}
inline int __all_sync(unsigned mask, int predicate) {
    return __ballot_sync(mask, predicate) == emu::kFullMask;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }

// ------------------------------------------------------------------ atomics (return the old value)
template <class T>
    requires emu::OneOf<T, int, unsigned, unsigned long long, float, double>
T atomicAdd(T* address, std::type_identity_t<T> value) {
    return std::atomic_ref<T>(*address).fetch_add(value);
}
template <class T>
    requires emu::OneOf<T, int, unsigned>
T atomicSub(T* address, std::type_identity_t<T> value) {
    return std::atomic_ref<T>(*address).fetch_sub(value);
}
template <class T>
    requires emu::OneOf<T, int, unsigned, unsigned long long, float>
T atomicExch(T* address, std::type_identity_t<T> value) {
    return std::atomic_ref<T>(*address).exchange(value);
}
template <class T>
    requires emu::OneOf<T, int, unsigned, long long, unsigned long long>
T atomicMax(T* address, std::type_identity_t<T> value) {
    return emu::atomic_update(address, [value](T old) { return std::max(old, value); });
}
template <class T>
    requires emu::OneOf<T, int, unsigned, long long, unsigned long long>
T atomicMin(T* address, std::type_identity_t<T> value) {
    return emu::atomic_update(address, [value](T old) { return std::min(old, value); });
}
template <class T>
    requires emu::OneOf<T, int, unsigned, unsigned long long, unsigned short>
T atomicCAS(T* address, std::type_identity_t<T> compare, std::type_identity_t<T> value) {
    std::atomic_ref<T>(*address).compare_exchange_strong(compare, value);
    return compare;  // the old value whether or not it was swapped
}
template <class T>
    requires emu::OneOf<T, int, unsigned, unsigned long long>
T atomicAnd(T* address, std::type_identity_t<T> value) {
    return std::atomic_ref<T>(*address).fetch_and(value);
}
template <class T>
    requires emu::OneOf<T, int, unsigned, unsigned long long>
T atomicOr(T* address, std::type_identity_t<T> value) {
    return std::atomic_ref<T>(*address).fetch_or(value);
}
template <class T>
    requires emu::OneOf<T, int, unsigned, unsigned long long>
T atomicXor(T* address, std::type_identity_t<T> value) {
    return std::atomic_ref<T>(*address).fetch_xor(value);
}
inline unsigned atomicInc(unsigned* address, unsigned limit) {
    return emu::atomic_update(address,
                              [limit](unsigned old) { return old >= limit ? 0u : old + 1; });
}
inline unsigned atomicDec(unsigned* address, unsigned limit) {
    return emu::atomic_update(
        address, [limit](unsigned old) { return old == 0 || old > limit ? limit : old - 1; });
}

// ------------------------------------------------------------------ bit casts and bit tricks
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(unsigned(x)); }
inline int __ffs(int x) { return x ? std::countr_zero(unsigned(x)) + 1 : 0; }
template <class T>
T __ldg(const T* address) {
    return *address;
}

// ------------------------------------------------------------------ math
// <math.h> puts the float/double overloads of fmax, fabs, exp, ... in the global namespace.
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __saturatef(float x) { return fminf(fmaxf(x, 0.0f), 1.0f); }

/// CUDA's min/max overloads: usual arithmetic conversions, fmin/fmax for floating point.
template <class A, class B>
    requires std::is_arithmetic_v<A> && std::is_arithmetic_v<B>
std::common_type_t<A, B> min(A a, B b) {
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<C>) return std::fmin(C(a), C(b));
    else return C(b) < C(a) ? C(b) : C(a);
}
template <class A, class B>
    requires std::is_arithmetic_v<A> && std::is_arithmetic_v<B>
std::common_type_t<A, B> max(A a, B b) {
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<C>) return std::fmax(C(a), C(b));
    else return C(a) < C(b) ? C(b) : C(a);
}
