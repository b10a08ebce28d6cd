"""One source, two GPU languages.

Each GPU kernel is written once, as the *body* of an MLX custom kernel, in a
small dialect: plain C++ arithmetic plus a few ``@``-tokens for what differs
between CUDA and Metal.  :func:`expand` turns a body into CUDA (for
``mx.fast.cuda_kernel``) or Metal (for ``mx.fast.metal_kernel``).

The tokens are replaced textually (not through the C preprocessor) because
MLX's Metal front end scans the body for the names of thread-position
attributes (``thread_position_in_grid`` ...) to write the kernel signature;
a macro hidden in a header would not be seen.

Dialect
-------
``@GID``       global thread index along x (of type OT; grids stay below 2**31)
``@LANE``      lane inside the SIMD-group / warp (0..31)
``@GLOBAL``    address space of a pointer into device memory ("device" / "")
``@SHARED``    declares memory shared by the thread group ("__shared__" / "threadgroup")
``@SYNC``      barrier of the thread group (every thread of the group must reach it)
``@TID``       thread index inside the group (int); ``@BID`` the group's index (OT)
Helpers (defined in the per-language header, usable in bodies):
``msp_f(v)``                 value -> float (half, bfloat16, float)
``msp_shfl(v, lane)``        broadcast from ``lane`` (float or uint)
``msp_shfl_down/up(v, d)``   value of lane +d / -d (callers guard the warp's ends)
``msp_shfl_xor(v, m)``       value of lane ^ m (m may be a runtime value)
``msp_group_sum<S>(v)``      sum over aligned groups of S lanes (S a power of 2 <= 32),
                             every lane gets the group's sum; all 32 lanes must call it
``msp_atomic_add(y, i, v)``  y[i] += v atomically, float32 outputs made atomic
                             (Metal: the kernel is built with ``atomic_outputs``)
``msp_atomic_store(y, i, v)`` y[i] = v into such an atomic output
``msp_as_int(f)``, ``msp_as_float(i)`` the bits of a float read as int32 and back
``msp_ld4(p, i)``            the i-th float4 of a float array (16-byte aligned), read-only
``msp_st4(p, i, a, b, c, d)`` writes it
``msp_ld(ptr)``              read-only load (CUDA: ``__ldg``, through the texture
                             path: the gathered X rows are never written by the kernel)
``msp_lds(ptr)``             streaming load of data read once (CUDA: ``__ldcs``, evict
                             first, so the stream of values and indices does not push
                             the gathered X out of L2)

Rules the bodies keep (so both languages agree):
* the launcher rounds every grid up to whole thread groups of 256, so SIMD
  groups are always full; guard with ``if`` and never ``return`` before a
  shuffle: every lane reaches every ``msp_shfl``/``msp_group_sum``;
* offsets of type ``OT`` for every index computed from sizes: ``int`` where
  every extent the kernel indexes (entries, X, Y, threads) stays below 2**31
  less a margin for the loops' look-ahead, else ``int64_t`` (the launcher
  decides; 32-bit address arithmetic is fewer instructions per gather);
* accumulate in float32 whatever the storage type.

Template parameters (MLX ``template=``): ``T`` value type, ``IT`` index type,
``OT`` offset type,
and small ints (``GW`` group width, ``CH`` entries per work item).
Sizes travel in one small int64 array ``P`` (never a scalar input: CUDA
passes scalars as pointers and Metal as references).
"""

from . import _dialect_cg

SIMD_WIDTH = 32          # a CUDA warp; Apple GPUs' SIMD-groups are 32 wide as well

_TOKENS = {
    "cuda": {
        "@GID": "((OT)(blockIdx.x * blockDim.x + threadIdx.x))",
        "@LANE": "((int)(threadIdx.x & 31u))",
        "@GLOBAL": "",
        "@SHARED": "__shared__",
        "@SYNC": "__syncthreads()",
        "@TID": "((int)threadIdx.x)",
        "@BID": "((OT)blockIdx.x)",
    },
    "metal": {
        "@GID": "((OT)thread_position_in_grid.x)",
        "@LANE": "((int)thread_index_in_simdgroup)",
        "@GLOBAL": "device",
        "@SHARED": "threadgroup",
        "@SYNC": "threadgroup_barrier(mem_flags::mem_threadgroup)",
        "@TID": "((int)thread_position_in_threadgroup.x)",
        "@BID": "((OT)threadgroup_position_in_grid.x)",
    },
}

CUDA_HEADER = r"""
#ifndef MSP_HELPERS
#define MSP_HELPERS
__device__ __forceinline__ float msp_f(float v) { return v; }
__device__ __forceinline__ float msp_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float msp_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T msp_from_f(float v) { return T(v); }
template <> __device__ __forceinline__ __half msp_from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 msp_from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
__device__ __forceinline__ float msp_shfl(float v, int lane) { return __shfl_sync(0xffffffffu, v, lane); }
__device__ __forceinline__ unsigned msp_shfl(unsigned v, int lane) { return __shfl_sync(0xffffffffu, v, lane); }
__device__ __forceinline__ float msp_shfl_down(float v, int d) { return __shfl_down_sync(0xffffffffu, v, d); }
__device__ __forceinline__ unsigned msp_shfl_down(unsigned v, int d) { return __shfl_down_sync(0xffffffffu, v, d); }
__device__ __forceinline__ unsigned msp_shfl_up(unsigned v, int d) { return __shfl_up_sync(0xffffffffu, v, d); }
__device__ __forceinline__ float msp_shfl_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
template <int S> __device__ __forceinline__ float msp_group_sum(float v) {
  for (int m = S / 2; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  return v;
}
__device__ __forceinline__ float4 msp_ld4(const float* p, int64_t i) {
  return __ldg(reinterpret_cast<const float4*>(p) + i);
}
__device__ __forceinline__ void msp_st4(float* p, int64_t i, float a, float b, float c, float d) {
  reinterpret_cast<float4*>(p)[i] = make_float4(a, b, c, d);
}
__device__ __forceinline__ int msp_as_int(float v) { return __float_as_int(v); }
__device__ __forceinline__ float msp_as_float(int v) { return __int_as_float(v); }
__device__ __forceinline__ void msp_atomic_add(float* y, int64_t i, float v) { atomicAdd(y + i, v); }
__device__ __forceinline__ void msp_atomic_store(float* y, int64_t i, float v) { y[i] = v; }
#ifndef MSP_NO_LDG
template <typename T> __device__ __forceinline__ T msp_ld(const T* p) { return __ldg(p); }
#else
template <typename T> __device__ __forceinline__ T msp_ld(const T* p) { return *p; }
#endif
#ifndef MSP_NO_LDCS
template <typename T> __device__ __forceinline__ T msp_lds(const T* p) { return __ldcs(p); }
#else
template <typename T> __device__ __forceinline__ T msp_lds(const T* p) { return *p; }
#endif
#endif
"""

METAL_HEADER = r"""
#ifndef MSP_HELPERS
#define MSP_HELPERS
inline float msp_f(float v) { return v; }
inline float msp_f(half v) { return static_cast<float>(v); }
inline float msp_f(bfloat16_t v) { return static_cast<float>(v); }
template <typename T> inline T msp_from_f(float v) { return static_cast<T>(v); }
inline float msp_shfl(float v, int lane) { return simd_shuffle(v, static_cast<ushort>(lane)); }
inline uint msp_shfl(uint v, int lane) { return simd_shuffle(v, static_cast<ushort>(lane)); }
inline float msp_shfl_down(float v, int d) { return simd_shuffle_down(v, static_cast<ushort>(d)); }
inline uint msp_shfl_down(uint v, int d) { return simd_shuffle_down(v, static_cast<ushort>(d)); }
inline uint msp_shfl_up(uint v, int d) { return simd_shuffle_up(v, static_cast<ushort>(d)); }
inline float msp_shfl_xor(float v, int m) { return simd_shuffle_xor(v, static_cast<ushort>(m)); }
template <int S> inline float msp_group_sum(float v) {
  for (int m = S / 2; m > 0; m >>= 1) v += simd_shuffle_xor(v, static_cast<ushort>(m));
  return v;
}
inline float4 msp_ld4(const device float* p, int64_t i) { return ((const device float4*)p)[i]; }
inline void msp_st4(device float* p, int64_t i, float a, float b, float c, float d) {
  ((device float4*)p)[i] = float4(a, b, c, d);
}
inline int msp_as_int(float v) { return as_type<int>(v); }
inline float msp_as_float(int v) { return as_type<float>(v); }
inline void msp_atomic_add(device atomic<float>* y, int64_t i, float v) {
  atomic_fetch_add_explicit(y + i, v, memory_order_relaxed);
}
inline void msp_atomic_store(device atomic<float>* y, int64_t i, float v) {
  atomic_store_explicit(y + i, v, memory_order_relaxed);
}
template <typename T> inline T msp_ld(const device T* p) { return *p; }
template <typename T> inline T msp_lds(const device T* p) { return *p; }
#endif
"""

HEADERS = {"cuda": CUDA_HEADER, "metal": METAL_HEADER}

# Shared snippet: the row r with indptr[r] <= p < indptr[r+1] (p < nnz).
# rp[0] == 0 and rp[n] == nnz > p are guaranteed by validation, so the search
# reads rp[1..n-1] only and the found row has rp[r+1] > p.
_FIND_ROW = """
    OT lo = 0, hi = n;
    while (hi - lo > 1) {
      OT mid = lo + ((hi - lo) >> 1);
      if ((OT)rp[mid] <= p0) lo = mid; else hi = mid;
    }
    OT r = lo;
    OT re = (OT)rp[r + 1];
"""

def _strided_dot(start, step, end):
    """Body snippet: acc += a[p] * x[ci[p]] for p = start, start+step, ... < end,
    two entries per step so both index loads are in flight before either
    gather (the gathers, not the arithmetic, bound SpMV)."""
    return f"""{{
      float acc1 = 0.0f;
      OT p = {start};
      for (; p + {step} < {end}; p += 2 * {step}) {{
        OT c0 = (OT)msp_lds(ci + p), c1 = (OT)msp_lds(ci + p + {step});
        float v0 = msp_f(msp_lds(a + p)), v1 = msp_f(msp_lds(a + p + {step}));
        acc += v0 * msp_f(msp_ld(x + c0));
        acc1 += v1 * msp_f(msp_ld(x + c1));
      }}
      if (p < {end}) acc += msp_f(msp_lds(a + p)) * msp_f(msp_ld(x + (OT)msp_lds(ci + p)));
      acc += acc1;
    }}"""


# ---------------------------------------------------------------------------
# Kernel bodies.  Inputs are named a (values), ci (indices), rp (indptr),
# x (dense operand), P (sizes); the output is y.
# P = [n_rows, n_cols, k, nnz, n_items]
# ---------------------------------------------------------------------------
KERNELS = {}

# Y[r, j] = sum_p a[p] X[ci[p], j]: one thread per output element, columns
# fastest (for k >= 32 a warp reads one row's entries once, broadcast, and a
# contiguous run of X's row: the "warp per row" scheme for SpMM).
KERNELS["csr_rowthread"] = dict(inputs=["a", "ci", "rp", "x", "P"], atomic=False, body="""
  OT gid = @GID;
  OT n = P[0], k = P[2];
  if (gid < n * k) {
    OT r = gid / k;
    OT j = gid - r * k;
    OT s = (OT)rp[r], e = (OT)rp[r + 1];
    float acc0 = 0.0f, acc1 = 0.0f;
    OT p = s;
    for (; p + 1 < e; p += 2) {
      acc0 += msp_f(a[p]) * msp_f(msp_ld(x + (OT)ci[p] * k + j));
      acc1 += msp_f(a[p + 1]) * msp_f(msp_ld(x + (OT)ci[p + 1] * k + j));
    }
    if (p < e) acc0 += msp_f(a[p]) * msp_f(msp_ld(x + (OT)ci[p] * k + j));
    y[gid] = msp_from_f<T>(acc0 + acc1);
  }
""")

# SpMV, GW lanes per row (GW=32: a warp per row), reduced by shuffles.
KERNELS["csr_vector"] = dict(inputs=["a", "ci", "rp", "x", "P"], atomic=False, body="""
  OT gid = @GID;
  OT n = P[0];
  OT row = gid / GW;
  OT g = gid & (GW - 1);
  float acc = 0.0f;
  if (row < n) {
    OT s = (OT)rp[row], e = (OT)rp[row + 1];
    """ + _strided_dot("s + g", "GW", "e") + """
  }
  acc = msp_group_sum<GW>(acc);
  if (row < n && g == 0) y[row] = msp_from_f<T>(acc);
""")

# SpMM, k >= 32: a warp per (row, 32*CW columns), each lane CW columns 32
# apart (coalesced); the warp loads 32 entries of the row at once and
# broadcasts each by shuffles, UN (1 or 2) of them a step.  Column indices
# are shuffled as 32-bit (the launcher sends n_cols >= 2**31 elsewhere).
KERNELS["csr_warp"] = dict(inputs=["a", "ci", "rp", "x", "P"], atomic=False, body="""
  OT gid = @GID;
  int lane = @LANE;
  OT n = P[0], k = P[2];
  OT span = 32 * CW;
  OT nch = (k + span - 1) / span;
  OT w = gid / 32;
  OT row = w / nch;
  OT j0 = (w - row * nch) * span + lane;
  bool live = row < n;
  OT s = live ? (OT)rp[row] : 0;
  OT e = live ? (OT)rp[row + 1] : 0;
  float acc[CW];
  for (int u = 0; u < CW; ++u) acc[u] = 0.0f;
  for (OT base = s; base < e; base += 32) {
    OT p = base + lane;
    unsigned cl = 0u;
    float v = 0.0f;
    if (p < e) { cl = (unsigned)ci[p]; v = msp_f(a[p]); }
    int cnt = (e - base) < 32 ? (int)(e - base) : 32;
    int t = 0;
    if (UN == 2)                         // two entries a step: 2*CW row loads in flight
      for (; t + 1 < cnt; t += 2) {
        unsigned c0 = msp_shfl(cl, t), c1 = msp_shfl(cl, t + 1);
        float v0 = msp_shfl(v, t), v1 = msp_shfl(v, t + 1);
        OT xb0 = (OT)c0 * k + j0, xb1 = (OT)c1 * k + j0;
        for (int u = 0; u < CW; ++u)
          if (j0 + 32 * u < k) {
            float q0 = msp_f(msp_ld(x + xb0 + 32 * u)), q1 = msp_f(msp_ld(x + xb1 + 32 * u));
            acc[u] += v0 * q0;
            acc[u] += v1 * q1;
          }
      }
    for (; t < cnt; ++t) {
      unsigned c0 = msp_shfl(cl, t);
      float v0 = msp_shfl(v, t);
      OT xb = (OT)c0 * k + j0;
      for (int u = 0; u < CW; ++u)
        if (j0 + 32 * u < k) acc[u] += v0 * msp_f(msp_ld(x + xb + 32 * u));
    }
  }
  if (live)
    for (int u = 0; u < CW; ++u)
      if (j0 + 32 * u < k) y[row * k + j0 + 32 * u] = msp_from_f<T>(acc[u]);
""")

# Load-balanced SpMV (nnz split): thread t owns entries [t*E, t*E+E), finds
# its first row by binary search over indptr, walks rows, and adds each row's
# partial sum atomically (y is float32, zero-initialised).
KERNELS["csr_lb_vec"] = dict(inputs=["a", "ci", "rp", "x", "P"], atomic=True, body="""
  OT gid = @GID;
  int lane = @LANE;
  OT n = P[0], nnz = P[3];
  OT p0 = gid * CH;
  bool live = p0 < nnz;
  OT r = 0;
  float acc = 0.0f;
  if (live) {
    OT p1 = p0 + CH < nnz ? p0 + CH : nnz;
    OT lo = 0, hi = n;
    while (hi - lo > 1) {
      OT mid = lo + ((hi - lo) >> 1);
      if ((OT)rp[mid] <= p0) lo = mid; else hi = mid;
    }
    r = lo;
    OT re = (OT)rp[r + 1];
    bool touched = false;
    for (OT p = p0; p < p1; ++p) {
      while (p >= re) {
        if (touched) msp_atomic_add(y, r, acc);
        acc = 0.0f; touched = false;
        r += 1;
        re = (OT)rp[r + 1];
      }
      acc += msp_f(a[p]) * msp_f(x[(OT)ci[p]]);
      touched = true;
    }
  }
  // Each lane's last row segment: summed over the lanes that share the row
  // (rows are monotone over lanes, so a row's lanes are contiguous) and
  // added once per warp by the segment's first lane -- one atomic per warp,
  // not per thread, on a very long row.
  unsigned key = live ? (unsigned)r : 0xffffffffu;
  for (int off = 1; off < 32; off <<= 1) {
    float oa = msp_shfl_down(acc, off);
    unsigned ok = msp_shfl_down(key, off);
    if (lane + off < 32 && ok == key) acc += oa;
  }
  unsigned prev = msp_shfl_up(key, 1);
  if (live && (lane == 0 || prev != key)) msp_atomic_add(y, r, acc);
""")

# Adaptive SpMV: one thread group of 256 per block of work that the host cut
# once per pattern (``_gpu.adaptive_blocks``).  Block descriptor (bk[2b], bk[2b+1]):
# * (i0, i1), i1 >= 0: rows pm[i0..i1-1] (at most 256, of one length class),
#   W lanes per row, W the largest power of two with W * rows <= 256; rows
#   wider than a warp sum their warps' partials through shared memory;
# * (r, -1 - p0): a piece of a long row, entries p0 .. p0+CH-1 (clipped to the
#   row), added atomically to y[r] (zero-initialised float32 output).
# The piece branch exists in the atomic kernel only (csr_adaptive); patterns
# without long rows take csr_adaptive_rg, which writes y directly.
_ADAPTIVE = """
  OT gid = @GID;
  int lane = @LANE;
  OT blk = gid >> 8;                // thread groups are 256 wide
  int t = (int)(gid & 255);
  @SHARED float red[8];
  OT b0 = (OT)bk[2 * blk], b1 = (OT)bk[2 * blk + 1];
  float acc = 0.0f;
  if (b1 >= 0) {
    OT nr = b1 - b0;
    int lw = 8;
    while (lw > 0 && ((OT)1 << lw) * nr > 256) --lw;
    int W = 1 << lw;
    OT i = b0 + (t >> lw);
    int g = t & (W - 1);
    bool live = i < b1;
    OT row = live ? (OT)pm[i] : 0;
    if (live) {
      OT s = (OT)rp[row], e = (OT)rp[row + 1];
      """ + _strided_dot("s + g", "W", "e") + """
    }
    for (int m = (W < 32 ? W : 32) >> 1; m > 0; m >>= 1) acc += msp_shfl_xor(acc, m);
    if (W > 32) {                        // a row spans W/32 warps: add their sums
      if (lane == 0) red[t >> 5] = acc;
      @SYNC;
      if (g == 0) {
        acc = 0.0f;
        for (int w = t >> 5; w < (t >> 5) + (W >> 5); ++w) acc += red[w];
      }
    }
    if (live && g == 0) STORE;
  }
PIECE"""
_PIECE = """  else {
    OT r = b0, p0 = -1 - b1;
    OT re = (OT)rp[r + 1];
    OT pe = p0 + CH < re ? p0 + CH : re;
    """ + _strided_dot("p0 + t", "256", "pe") + """
    acc = msp_group_sum<32>(acc);
    if (lane == 0) msp_atomic_add(y, r, acc);
  }
"""
KERNELS["csr_adaptive"] = dict(
    inputs=["a", "ci", "rp", "x", "bk", "pm"], atomic=True,
    body=_ADAPTIVE.replace("STORE", "msp_atomic_store(y, row, acc)").replace("PIECE", _PIECE))
KERNELS["csr_adaptive_rg"] = dict(
    inputs=["a", "ci", "rp", "x", "bk", "pm"], atomic=False,
    body=_ADAPTIVE.replace("STORE", "y[row] = msp_from_f<T>(acc)").replace("PIECE", ""))

# Load-balanced SpMM: a warp per (E-entry chunk, 32 columns), lanes over
# columns; row partial sums are flushed atomically.  Within a row the entries
# go four at a time, so four row loads of X are in flight per lane.
KERNELS["csr_lb_mat"] = dict(inputs=["a", "ci", "rp", "x", "P"], atomic=True, body="""
  OT gid = @GID;
  int lane = @LANE;
  OT n = P[0], k = P[2], nnz = P[3];
  OT nch = (k + 31) / 32;
  OT w = gid / 32;
  OT chunk = w / nch;
  OT j = (w - chunk * nch) * 32 + lane;
  OT p0 = chunk * CH;
  if (p0 < nnz && j < k) {
    OT p1 = p0 + CH < nnz ? p0 + CH : nnz;
""" + _FIND_ROW + """
    float acc = 0.0f;
    bool touched = false;
    OT p = p0;
    while (p < p1) {
      while (p >= re) {
        if (touched) msp_atomic_add(y, r * k + j, acc);
        acc = 0.0f; touched = false;
        r += 1;
        re = (OT)rp[r + 1];
      }
      OT q = re < p1 ? re : p1;          // entries p .. q-1 all lie in row r
      for (; p + 3 < q; p += 4) {        // four rows of X loading at once
        float x0 = msp_f(msp_ld(x + (OT)ci[p] * k + j));
        float x1 = msp_f(msp_ld(x + (OT)ci[p + 1] * k + j));
        float x2 = msp_f(msp_ld(x + (OT)ci[p + 2] * k + j));
        float x3 = msp_f(msp_ld(x + (OT)ci[p + 3] * k + j));
        acc += msp_f(a[p]) * x0;
        acc += msp_f(a[p + 1]) * x1;
        acc += msp_f(a[p + 2]) * x2;
        acc += msp_f(a[p + 3]) * x3;
      }
      for (; p < q; ++p) acc += msp_f(a[p]) * msp_f(msp_ld(x + (OT)ci[p] * k + j));
      touched = true;
    }
    if (touched) msp_atomic_add(y, r * k + j, acc);
  }
""")

# Y = A.T @ X: thread per (E-entry chunk, column j), columns fastest; every
# entry scatters a[p] * X[row, j] into Y[ci[p], j] atomically.
KERNELS["csr_t"] = dict(inputs=["a", "ci", "rp", "x", "P"], atomic=True, body="""
  OT gid = @GID;
  OT n = P[0], k = P[2], nnz = P[3];
  OT q = gid / k;
  OT j = gid - q * k;
  OT p0 = q * CH;
  if (p0 < nnz) {
    OT p1 = p0 + CH < nnz ? p0 + CH : nnz;
""" + _FIND_ROW + """
    float xr = msp_f(x[r * k + j]);
    for (OT p = p0; p < p1; ++p) {
      while (p >= re) {
        r += 1;
        re = (OT)rp[r + 1];
        xr = msp_f(x[r * k + j]);
      }
      msp_atomic_add(y, (OT)ci[p] * k + j, msp_f(a[p]) * xr);
    }
  }
""")

# SDDMM: out[p] = <L[row_p], R[ci[p]]>, S lanes per entry over the k columns,
# each group of S lanes owning E consecutive entries.  Every lane runs the
# same E iterations so that the shuffles in msp_group_sum stay converged.
KERNELS["sddmm"] = dict(inputs=["ci", "rp", "l", "x", "P"], atomic=False, body="""
  OT gid = @GID;
  OT n = P[0], k = P[2], nnz = P[3];
  OT g = gid / GW;
  OT lane = gid & (GW - 1);
  OT p0 = g * CH;
  bool live = p0 < nnz;
  OT r = 0, re = 0;
  if (live) {
    OT lo = 0, hi = n;
    while (hi - lo > 1) {
      OT mid = lo + ((hi - lo) >> 1);
      if ((OT)rp[mid] <= p0) lo = mid; else hi = mid;
    }
    r = lo;
    re = (OT)rp[r + 1];
  }
  for (int t = 0; t < CH; ++t) {
    OT p = p0 + t;
    bool ok = live && p < nnz;
    float part = 0.0f;
    if (ok) {
      while (p >= re) { r += 1; re = (OT)rp[r + 1]; }
      OT lr = r * k, xr = (OT)ci[p] * k;
      for (OT j = lane; j < k; j += GW) part += msp_f(l[lr + j]) * msp_f(x[xr + j]);
    }
    part = msp_group_sum<GW>(part);
    if (ok && lane == 0) y[p] = msp_from_f<T>(part);
  }
""")


# One whole CG iteration a launch (see _dialect_cg): float32 vectors, several outputs.
KERNELS["cg_step"] = dict(inputs=_dialect_cg.INPUTS, outputs=_dialect_cg.OUTPUTS, atomic=False,
                          body=_dialect_cg.BODY, value_types=("float32",))


def outputs(name):
    """[(output name, dtype name or "T")] of kernel ``name`` (most have one, y)."""
    return KERNELS[name].get("outputs", [("y", "T")])


def expand(name, backend):
    """(header, body) of kernel ``name`` in ``backend`` ("cuda" or "metal")."""
    body = KERNELS[name]["body"]
    for tok, rep in _TOKENS[backend].items():
        body = body.replace(tok, rep)
    if "@" in body:
        raise ValueError(f"unexpanded dialect token in {name}: {body[body.index('@'):][:20]!r}")
    return HEADERS[backend], body


# ---------------------------------------------------------------------------
# The instantiations the launcher can ask for (used by the Metal compile check
# and to document the variants): kernel -> list of template-argument dicts.
# ---------------------------------------------------------------------------
VALUE_TYPES = ("float32", "float16", "bfloat16")
INDEX_TYPES = ("int32", "int64")
GROUP_WIDTHS = (1, 2, 4, 8, 16, 32)
LB_CHUNKS = {"csr_lb_vec": 16, "csr_lb_mat": 128, "csr_t": 8, "sddmm": 8,
             "csr_adaptive": 1024, "csr_adaptive_rg": 1024}


def template_args(name, T, I, S=None, E=None, CW=None, O="int32", UN=2):
    """MLX template list for kernel ``name`` (dtype names are strings here;
    the launcher maps them to mx dtypes)."""
    args = [("T", T), ("IT", I), ("OT", O)]
    if name in ("csr_vector", "sddmm", "cg_step"):
        args.append(("GW", int(S)))
    if name == "csr_warp":
        args += [("CW", int(CW or 1)), ("UN", int(UN))]
    if name in LB_CHUNKS:
        args.append(("CH", int(E if E is not None else LB_CHUNKS[name])))
    return args


def instantiations():
    """Every (name, template_args) a launcher may build."""
    out = []
    for name in KERNELS:
        for T in KERNELS[name].get("value_types", VALUE_TYPES):
            for I in INDEX_TYPES:
                for O in INDEX_TYPES:
                    if name in ("csr_vector", "sddmm", "cg_step"):
                        for S in GROUP_WIDTHS:
                            out.append((name, template_args(name, T, I, S=S, O=O)))
                    elif name == "csr_warp":
                        for cw in (1, 2, 4):
                            for un in (1, 2):
                                out.append((name, template_args(name, T, I, CW=cw, O=O, UN=un)))
                    else:
                        out.append((name, template_args(name, T, I, O=O)))
    return out
