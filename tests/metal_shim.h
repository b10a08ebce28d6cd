// Stand-in for the parts of Metal Shading Language (and MLX's Metal preamble)
// that the package's kernels use, so that their Metal expansion compiles as
// C++ with g++/clang++ here, where no Metal compiler exists.  It checks the
// expansion's syntax, names, types and template instantiations; it cannot
// check Metal-only rules (address-space inference, SIMD semantics).
#pragma once
#include <cstdint>
#include <cstddef>
#include <cmath>
#include <algorithm>

// address spaces and function qualifiers vanish
#define device
#define constant
#define threadgroup
#define thread
#define kernel

typedef unsigned int uint;
#include <cstring>
template <typename T, typename U> inline T as_type(U u) { T t; std::memcpy(&t, &u, sizeof(T)); return t; }
typedef unsigned short ushort;
struct uint3 { uint x, y, z; };
struct float4 {
  float x, y, z, w;
  float4() = default;
  float4(float a, float b, float c, float d) : x(a), y(b), z(c), w(d) {}
};
struct uint2 { uint x, y; };

// Half-precision storage types: only their conversions matter here.
struct half {
  float v;
  half() = default;
  half(float f) : v(f) {}
  operator float() const { return v; }
};
struct bfloat {
  float v;
  bfloat() = default;
  bfloat(float f) : v(f) {}
  operator float() const { return v; }
};
typedef half float16_t;
typedef bfloat bfloat16_t;   // MLX's preamble: typedef bfloat bfloat16_t

// metal_atomic
enum memory_order { memory_order_relaxed };
template <typename T> struct atomic { T value; };
typedef atomic<float> atomic_float;
typedef atomic<int> atomic_int;
typedef atomic<uint> atomic_uint;
template <typename T>
inline T atomic_fetch_add_explicit(atomic<T>* obj, T v, memory_order) {
  T old = obj->value; obj->value += v; return old;
}
template <typename T>
inline T atomic_load_explicit(atomic<T>* obj, memory_order) { return obj->value; }
template <typename T>
inline void atomic_store_explicit(atomic<T>* obj, T v, memory_order) { obj->value = v; }

// metal_simdgroup (one-lane semantics: enough to type-check)
template <typename T> inline T simd_shuffle(T v, ushort) { return v; }
template <typename T> inline T simd_shuffle_xor(T v, ushort) { return v; }
template <typename T> inline T simd_shuffle_down(T v, ushort) { return v; }
template <typename T> inline T simd_shuffle_up(T v, ushort) { return v; }
template <typename T> inline T simd_sum(T v) { return v; }
template <typename T> inline T simd_max(T v) { return v; }
template <typename T> inline T simd_broadcast(T v, ushort) { return v; }

// barriers
enum class mem_flags { mem_none = 0, mem_device = 1, mem_threadgroup = 2 };
inline void threadgroup_barrier(mem_flags) {}
inline void simdgroup_barrier(mem_flags) {}

namespace metal {
using std::min;
using std::max;
using std::abs;
using std::fma;
using std::sqrt;
}
using namespace metal;
