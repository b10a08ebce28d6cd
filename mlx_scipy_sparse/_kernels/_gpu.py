"""GPU backend: CSR products as MLX custom kernels, CUDA or Metal.

The kernels are written once in the dialect of :mod:`._dialect` and expanded
for the GPU MLX runs on (``mx.fast.cuda_kernel`` on a CUDA build,
``mx.fast.metal_kernel`` on Apple silicon).

Variants (see ``_dialect.KERNELS``), picked per call from row-length
statistics of the pattern (mean / max entries per row, computed once from
indptr on the host and cached):

* SpMV:  ``csr_rowthread`` (a thread per row, short rows),
         ``csr_vector`` (GW lanes per row, reduced by shuffles),
         ``csr_adaptive`` (skewed rows: thread groups over host-cut blocks of
         rows of one length class, long rows cut in atomic pieces),
         ``csr_lb_vec`` (nnz split + atomics, where the pattern cannot be read);
* SpMM:  ``csr_rowthread`` (thread per output element, k < 32),
         ``csr_warp`` (warp per row x 32 columns, entries broadcast by shuffles),
         ``csr_lb_mat`` (nnz split + atomics, skewed rows);
* A.T @ X: ``csr_t`` (nnz split, atomic scatter);
* SDDMM: ``sddmm`` (GW lanes per entry) -- the values' gradient.

float32, float16 and bfloat16 values (accumulating in float32).  complex64 is
not handled here: ``supports`` says no and the table routes it to composed
MLX ops (correct and differentiable, slower).  float64 never reaches a GPU.

Gradients: the product is an ``mx.custom_function`` whose VJP is the SDDMM
kernel (values) and the transposed product (dense operand).
"""
import os
import threading
from collections import OrderedDict

import numpy as np
import mlx.core as mx

from . import _dialect

_GPU_DTYPES = (mx.float32, mx.float16, mx.bfloat16)
_TG = 256                    # threads per group; every grid is a multiple of it
_DT_NAMES = {mx.float32: "float32", mx.float16: "float16", mx.bfloat16: "bfloat16",
             mx.int32: "int32", mx.int64: "int64"}
_NAME_DT = {v: k for k, v in _DT_NAMES.items()}


_BACKEND = []


def backend():
    """"cuda", "metal" or None for the MLX build in use (asked once)."""
    if not _BACKEND:
        _BACKEND.append(_probe_backend())
    return _BACKEND[0]


def _probe_backend():
    try:
        if mx.metal.is_available():
            return "metal"
    except Exception:  # pragma: no cover
        pass
    try:
        if mx.cuda.is_available():
            return "cuda"
    except Exception:  # pragma: no cover
        pass
    return None


def supports(dtype):
    return backend() is not None and dtype in _GPU_DTYPES


# ---------------------------------------------------------------------------
# kernels, built lazily once per (name, backend)
# ---------------------------------------------------------------------------
_built = {}


def _kernel(name):
    be = backend()
    key = (name, be)
    if key not in _built:
        spec = _dialect.KERNELS[name]
        header, body = _dialect.expand(name, be)
        if os.environ.get("MLX_SPARSE_NO_LDG"):     # plain loads, should __ldg misbehave
            header = "#define MSP_NO_LDG\n" + header
        if os.environ.get("MLX_SPARSE_NO_LDCS"):    # benchmarks: streaming loads off
            header = "#define MSP_NO_LDCS\n" + header
        outs = [o for o, _ in _dialect.outputs(name)]
        if be == "cuda":
            _built[key] = mx.fast.cuda_kernel(
                name="msp_" + name, input_names=spec["inputs"], output_names=outs,
                source=body, header=header)
        else:
            _built[key] = mx.fast.metal_kernel(
                name="msp_" + name, input_names=spec["inputs"], output_names=outs,
                source=body, header=header, atomic_outputs=spec["atomic"])
    return _built[key]


# One lock for this module's caches: threads share them (an OrderedDict's
# move_to_end racing a popitem raises, and two threads could build one
# pattern twice).  Whatever a cache keeps is evaluated before it is shared:
# MLX streams belong to a thread, and another could not evaluate it.
_LOCK = threading.RLock()
_params = OrderedDict()


def _P(*vals):
    """Small int64 size array, cached so steady-state calls upload nothing."""
    key = tuple(int(v) for v in vals)
    with _LOCK:
        a = _params.get(key)
        if a is None:
            a = mx.array(np.array(key, dtype=np.int64))
            _params[key] = a
            if len(_params) > 256:
                _params.popitem(last=False)
        else:
            _params.move_to_end(key)
    return a


def _round(n):
    return max(_TG, -(-int(n) // _TG) * _TG)


def _check_rows(n_rows):
    if n_rows >= 2 ** 31:
        raise ValueError("sparse GPU kernels: more than 2**31 rows")


# ---------------------------------------------------------------------------
# row statistics, once per pattern
# ---------------------------------------------------------------------------
_stats = OrderedDict()


def row_stats(indptr):
    """(mean, max, total) entries per row of a CSR indptr, cached on the host by the
    array's identity (the entry holds a reference so the id cannot be reused).
    None where indptr cannot be read (inside a trace)."""
    key = (id(indptr), tuple(indptr.shape))
    with _LOCK:
        hit = _stats.get(key)
        if hit is not None and hit[0] is indptr:
            _stats.move_to_end(key)
            return hit[1]
    try:
        mx.eval(indptr)
        ptr = np.array(indptr, copy=False)
    except ValueError:
        return None
    n = ptr.size - 1
    if n <= 0:
        st = (0.0, 0, 0)
    else:
        lens = np.diff(ptr)
        st = (float(ptr[-1]) / n, int(lens.max()), int(ptr[-1]))
    with _LOCK:
        _stats[key] = (indptr, st)
        if len(_stats) > 64:
            _stats.popitem(last=False)
    return st


def adaptive_blocks(ptr, ch, per_lane=2, long_len=None):
    """Work of csr_adaptive for a CSR indptr (numpy): (bk, pm).

    Rows are binned by length class (powers of two, stable within a class),
    ``pm`` listing them bin after bin; a row group (i0, i1) takes rows
    pm[i0:i1] of one class, 256 / W of them, W the power of two nearest
    class_length / ``per_lane`` (1..256): every lane of a group has about the
    same work, whatever the skew.  Rows over ``long_len`` entries are cut in
    pieces (r, -1 - p0) of ``ch`` entries, added atomically.  Pieces come
    first, then the bins longest first, so the longest work starts first."""
    long_len = 8 * ch if long_len is None else long_len
    n = ptr.size - 1
    lens = np.diff(ptr).astype(np.int64)
    cls = np.zeros(n, dtype=np.int64)
    nz = lens > 1
    cls[nz] = np.ceil(np.log2(lens[nz])).astype(np.int64)   # len in (2**(c-1), 2**c]
    longr = np.flatnonzero(lens > long_len)
    cls[longr] = -1
    order = np.argsort(-cls, kind="stable")
    pm = order[cls[order] >= 0].astype(np.int32)
    # groups: in each class c, 256 / W rows with W = clip(2**c / per_lane, 1, 256)
    sc = cls[pm]
    starts = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]])[:pm.size]
    ends = np.r_[starts[1:], pm.size][:starts.size].astype(np.int64)
    w = np.clip((2.0 ** sc[starts]) / per_lane, 1, 256)
    per = (256 // (2 ** np.round(np.log2(w)))).astype(np.int64)
    counts = -(-(ends - starts) // per)
    gi = np.repeat(starts, counts) + (np.arange(counts.sum()) - np.repeat(
        np.cumsum(counts) - counts, counts)) * np.repeat(per, counts)
    groups = np.stack((gi, np.minimum(gi + np.repeat(per, counts), np.repeat(ends, counts))), 1)
    npieces = -(-lens[longr] // ch)
    prow = np.repeat(longr, npieces)
    first = np.repeat(np.cumsum(npieces) - npieces, npieces)
    p0 = np.repeat(ptr[longr].astype(np.int64), npieces) + (np.arange(prow.size) - first) * ch
    pieces = np.stack((prow, -1 - p0), axis=1)
    bk = np.ascontiguousarray(np.concatenate((pieces, groups)).astype(np.int64).ravel())
    return bk, (pm if pm.size else np.zeros(1, np.int32))


def _skewed(mean, mx_len):
    return mx_len >= 256 and mx_len > 8 * mean + 64


def choose(stats, k, transpose=False, n_cols=0):
    """The variant (name, GW[, ...]) for a product with k dense columns,
    from row statistics (benchmarks/NOTES.md: H100 round 2, H200 round 5).
    SpMV: on skewed rows csr_adaptive (length-binned blocks, long rows in
    pieces: 0.17 ms on the power-law case against 0.21 for the best other);
    else a thread per row for short rows, or GW lanes per row with about two
    entries a lane (csr_adaptive measured level or slower there).  SpMM: the
    nnz split on skewed rows, a warp per row for k >= 32 (broadcasting one
    or two entries a step), else a thread per output element."""
    if transpose:
        return "csr_t", None
    if stats is None:                       # pattern unknown: balanced by construction
        return ("csr_lb_vec", None) if k == 1 else ("csr_lb_mat", None)
    mean, mx_len = stats[:2]
    skewed = _skewed(mean, mx_len)
    if k == 1:
        if skewed:
            return "csr_adaptive", _dialect.LB_CHUNKS["csr_adaptive"], ADAPTIVE_PER_LANE
        if mean <= 6.0:
            return "csr_rowthread", None
        gw = 2
        while gw < 32 and gw * 2 < mean:
            gw *= 2
        return "csr_vector", gw
    if skewed:
        return "csr_lb_mat", None
    if k >= 32 and n_cols < 2 ** 31:
        # two entries a step where each lane loads 4 columns (k >= 128) or
        # rows are long enough to fill the steps (H200, round 6: SpMM-256
        # uniform 4.30 ms against 7.27 at one a step; SpMM-64 on 5- and
        # 8-entry rows 15% slower at two)
        return "csr_warp", None, 2 if k >= 128 or mean >= 12 else 1
    return "csr_rowthread", None


ADAPTIVE_PER_LANE = 2         # entries per lane csr_adaptive aims at

_FORCE = os.environ.get("MLX_SPARSE_GPU_VARIANT")   # benchmarks / tests: force one
_VEC_VARIANTS = ("csr_rowthread", "csr_vector", "csr_lb_vec", "csr_adaptive")
_MAT_VARIANTS = ("csr_rowthread", "csr_warp", "csr_lb_mat")


# ---------------------------------------------------------------------------
# patterns: everything about a sparsity pattern worked out once
# ---------------------------------------------------------------------------
# Extents (entries, X, Y, threads) below this take 32-bit offsets in the
# kernels; the margin covers the loops' look-ahead past the last entry.
_NARROW_BELOW = 2 ** 31 - 2 ** 16
# benchmarks: keep int64 index arrays as they are, and 64-bit offsets throughout
_WIDE = bool(os.environ.get("MLX_SPARSE_WIDE"))


def _prep_pattern(indices, indptr, n_cols):
    """Both index arrays in one dtype: int32 wherever the values fit (column
    indices below n_cols, row pointers at most nnz), so that an int64 pattern
    streams 4 bytes less per entry; the int32 copy lives as long as the
    cached pattern."""
    indices = indices if isinstance(indices, mx.array) else mx.array(np.asarray(indices))
    indptr = indptr if isinstance(indptr, mx.array) else mx.array(np.asarray(indptr))
    I = mx.int64 if mx.int64 in (indices.dtype, indptr.dtype) else mx.int32
    if I == mx.int64 and not _WIDE and max(indices.size, n_cols) < _NARROW_BELOW:
        I = mx.int32
    if indices.dtype != I:
        indices = indices.astype(I)
    if indptr.dtype != I:
        indptr = indptr.astype(I)
    mx.eval(indices, indptr)            # kept and shared between threads
    return indices, indptr


def _as2d(v):
    return v.reshape(-1, 1) if v.ndim == 1 else v


class _Pattern:
    """A CSR pattern prepared for the GPU: both index arrays in one dtype, the
    row statistics, and per operand shape a launch plan (the kernel call with
    every argument but the arrays fixed) and the differentiable product.  A
    steady-state product is then a dictionary lookup and one launch: host
    time, not the GPU, bounds small products (benchmarks/overhead.py)."""

    def __init__(self, indices, indptr, n_rows, n_cols):
        self.src = (indices, indptr)        # holds the ids the cache is keyed on
        self.indices, self.indptr = _prep_pattern(indices, indptr, n_cols)
        self.n_rows, self.n_cols = n_rows, n_cols
        self.nnz = self.indices.size
        self.stats = row_stats(self.indptr)
        self.plans = {}
        self.products = {}
        self.blocks = {}

    # raw products (no autodiff) -------------------------------------------
    def mm(self, data, X, transpose, variant=None):
        """A @ X or A.T @ X for X of dtype data.dtype, 1-D or 2-D (row-major);
        result of that dtype and X's rank (a 1-D X goes to the kernels as is)."""
        return self.plan(X.shape, data.dtype, transpose, variant)(data, X)

    def plan(self, xshape, T, transpose, variant=None):
        """The launch plan fn(data, X) for operands of this shape and dtype."""
        return self._cached((xshape, T, transpose, variant),
                            lambda: self._plan(xshape, T, transpose, variant))

    def _cached(self, key, make):
        plan = self.plans.get(key)
        if plan is None:
            with _LOCK:
                plan = self.plans.get(key)
                if plan is None:
                    if len(self.plans) >= 64:   # a loop over many operand shapes: stay bounded
                        self.plans.pop(next(iter(self.plans)))
                    plan = self.plans[key] = make()
        return plan

    def _plan(self, xshape, T, transpose, variant):
        n_rows, n_cols, nnz = self.n_rows, self.n_cols, self.nnz
        k = 1 if len(xshape) == 1 else xshape[1]
        m_out = n_cols if transpose else n_rows
        shape = (m_out,) if len(xshape) == 1 else (m_out, k)
        extent = max(nnz, (n_rows if transpose else n_cols) * k, m_out * k)
        if m_out == 0 or k == 0 or nnz == 0 or n_rows == 0:
            return lambda data, X: mx.zeros(shape, dtype=T)
        _check_rows(max(n_rows, n_cols))
        if variant is None and _FORCE and not transpose:
            parts = _FORCE.split(":")
            if parts[0] in (_VEC_VARIANTS if k == 1 else _MAT_VARIANTS):
                variant = (parts[0],) + (tuple(int(v) for v in parts[1:]) if len(parts) > 1 else (8,))
        if variant is None or transpose:
            variant = choose(self.stats, k, transpose, n_cols)
        name, gw = variant[:2]
        kw = {}
        if name == "csr_rowthread":
            n_threads = n_rows * k
        elif name == "csr_vector":
            n_threads = n_rows * gw
            kw = dict(GW=gw)
        elif name == "csr_warp":
            cw = gw or (4 if k >= 128 else 2 if k >= 64 else 1)
            n_threads = n_rows * -(-k // (32 * cw)) * 32
            kw = dict(CW=cw, UN=variant[2] if len(variant) > 2 else 2)
        elif name == "csr_adaptive":
            ch = gw or _dialect.LB_CHUNKS[name]
            bk, pm, pieces = self._blocks(ch, variant[2] if len(variant) > 2 else ADAPTIVE_PER_LANE,
                                          variant[3] if len(variant) > 3 else None)
            name = name if pieces else "csr_adaptive_rg"
            return self._launcher(name, shape, T, bk.size // 2 * _TG, (bk, pm), dict(CH=ch),
                                  extent)
        elif name in ("csr_lb_vec", "csr_lb_mat", "csr_t"):
            ch = _dialect.LB_CHUNKS[name]
            per = 1 if name == "csr_lb_vec" else k if name == "csr_t" else -(-k // 32) * 32
            n_threads = -(-nnz // ch) * per
            kw = dict(CH=ch)
        else:
            raise ValueError(f"unknown GPU variant {name}")
        return self._launcher(name, shape, T, n_threads, _P(n_rows, n_cols, k, nnz, 0), kw,
                              extent)

    def _blocks(self, ch, per_lane, long_len=None):
        """csr_adaptive's work (MLX arrays bk, pm), cut once per setting, and
        whether it has pieces of long rows (else the non-atomic
        csr_adaptive_rg runs it)."""
        key = (ch, per_lane, long_len)
        hit = self.blocks.get(key)
        if hit is None:
            mx.eval(self.indptr)
            bk, pm = adaptive_blocks(np.array(self.indptr, copy=False), ch, per_lane, long_len)
            hit = self.blocks[key] = (mx.array(bk), mx.array(pm), bool(np.any(bk[1::2] < 0)))
        return hit

    def _launcher(self, name, shape, T, n_threads, P, kw, extent):
        """The kernel call for fixed sizes: fn(a, b) launches on inputs
        (a, b, indices, indptr, P) -- or (indices, indptr, a, b, P) for SDDMM.
        ``extent``: the largest array (in elements) the kernel indexes."""
        if n_threads >= 2 ** 31 - _TG:
            raise ValueError("sparse GPU kernel: problem too large for one launch")
        narrow = not _WIDE and max(extent, n_threads) < _NARROW_BELOW
        atomic = _dialect.KERNELS[name]["atomic"]
        targs = [(k, _NAME_DT[v] if isinstance(v, str) else v)
                 for k, v in _dialect.template_args(
                     name, _DT_NAMES[T], _DT_NAMES[self.indices.dtype], S=kw.get("GW"),
                     E=kw.get("CH"), CW=kw.get("CW"), O="int32" if narrow else "int64",
                     UN=kw.get("UN", 2))]
        call = dict(template=targs, grid=(_round(n_threads), 1, 1), threadgroup=(_TG, 1, 1),
                    output_shapes=[shape], output_dtypes=[mx.float32 if atomic else T],
                    init_value=0 if atomic else None)
        kern = _kernel(name)
        ind, ptr = self.indices, self.indptr
        cast = atomic and T != mx.float32
        if name == "sddmm":
            return lambda L2, R2: kern(inputs=[ind, ptr, L2, R2, P], **call)[0]

        extra = list(P) if isinstance(P, tuple) else [P]     # P, or csr_adaptive's (bk, pm)

        def launch(data, X):
            y = kern(inputs=[data, ind, ptr, X, *extra], **call)[0]
            return y.astype(T) if cast else y
        return launch

    def sddmm(self, L2, R2):
        """out[p] = <L2[row_p], R2[col_p]> (rows of L2 = n_rows)."""
        return self._cached(("sddmm", L2.shape, R2.shape, L2.dtype),
                            lambda: self._sddmm_plan(L2.dtype, L2.shape[1], R2.shape[0]))(L2, R2)

    def _sddmm_plan(self, T, k, n_right):
        nnz = self.nnz
        if nnz == 0 or self.n_rows == 0 or k == 0:
            return lambda L2, R2: mx.zeros((nnz,), dtype=T)
        gw = 1
        while gw < 32 and gw < k:
            gw *= 2
        ch = _dialect.LB_CHUNKS["sddmm"]
        return self._launcher("sddmm", (nnz,), T, -(-nnz // ch) * gw,
                              _P(self.n_rows, n_right, k, nnz, 0), dict(GW=gw, CH=ch),
                              max(nnz, self.n_rows * k, n_right * k))

    # the differentiable product -------------------------------------------
    def product(self, transpose, variant):
        """mx.custom_function for A @ X (or A.T @ X), built once: building
        custom functions costs more host time than the launch."""
        key = (transpose, variant)
        f = self.products.get(key)
        if f is None:
            f = self.products[key] = self._make_product(transpose, variant)
        return f

    def _make_product(self, transpose, variant, forward=None):
        """``forward(d, x)``: a prepared launch for fixed shapes (default: the
        plan looked up on each call)."""
        product = mx.custom_function(forward or (lambda d, x: self.mm(d, x, transpose, variant)))

        @product.vjp
        def product_vjp(primals, cot, _):
            # MLX's complex convention (as _kernels._cpu_spmm_diff): the
            # values' cotangent samples G against conj(X), X's is
            # conj(A).T @ G (conj(A) @ G for the transposed product).  The
            # kernels are real (supports() lists no complex dtype), so the
            # conjugates are MLX ops around them, skipped for real dtypes.
            d, x = primals
            g = cot.astype(d.dtype) if cot.dtype != d.dtype else cot
            if mx.issubdtype(d.dtype, mx.complexfloating):
                d, x = mx.conj(d), mx.conj(x)
            gd = self.sddmm(_as2d(x), _as2d(g)) if transpose else self.sddmm(_as2d(g), _as2d(x))
            return gd, self.mm(d, g, not transpose)
        return product

    # the one-kernel CG iteration ------------------------------------------
    def cg_plan(self, T):
        """(step, nb) for the CG iteration of _dialect_cg: step(data, V, aux)
        -> (V2, aux2), V of 6 n + 8 and aux of 2 nb + 8 float32 elements."""
        return self._cached(("cg", T), lambda: self._cg_plan(T))

    def _cg_plan(self, T):
        n = self.n_rows
        _check_rows(n)
        mean = self.stats[0] if self.stats else 0.0
        gw = 1                                   # short rows: a thread a row (csr_rowthread)
        while mean > 6.0 and gw < 32 and gw * 2 < mean:   # else ~2 entries a lane (csr_vector)
            gw *= 2
        gw = int(os.environ.get("MLX_SPARSE_CG_GW", gw))          # benchmarks: force one
        per = _TG // gw
        # about _CG_GROUPS groups at most: each reads every group's partials first
        target = -(-n // _CG_GROUPS)
        rb = per * max(1, -(-target // per))
        nb = max(1, -(-n // rb))
        # offsets into V reach 6 n: 32-bit ones only where that fits
        narrow = not _WIDE and max(self.nnz, 6 * n + 8, 2 * nb + 8, nb * _TG) < _NARROW_BELOW
        targs = [(k, _NAME_DT[v] if isinstance(v, str) else v)
                 for k, v in _dialect.template_args(
                     "cg_step", _DT_NAMES[T], _DT_NAMES[self.indices.dtype], S=gw,
                     O="int32" if narrow else "int64")]
        call = dict(template=targs, grid=(nb * _TG, 1, 1), threadgroup=(_TG, 1, 1),
                    output_shapes=[(6 * n + 8,), (2 * nb + 8,)],
                    output_dtypes=[mx.float32, mx.float32])
        kern, ind, ptr, P = _kernel("cg_step"), self.indices, self.indptr, _P(n, nb, rb)

        def step(data, V, aux):
            return kern(inputs=[data, ind, ptr, V, aux, P], **call)
        return step, nb


_CG_GROUPS = int(os.environ.get("MLX_SPARSE_CG_GROUPS", 1024))

_patterns = OrderedDict()


def _pattern(indices, indptr, n_rows, n_cols):
    """The cached _Pattern of (indices, indptr) -- keyed by the arrays'
    identity; a bounded LRU, so repeated calls do not grow memory."""
    key = (id(indices), id(indptr), n_rows, n_cols)
    with _LOCK:
        hit = _patterns.get(key)
        if hit is not None and hit.src[0] is indices and hit.src[1] is indptr:
            _patterns.move_to_end(key)
            return hit
        pat = _patterns[key] = _Pattern(indices, indptr, n_rows, n_cols)
        if len(_patterns) > 64:
            _patterns.popitem(last=False)
    return pat


# ---------------------------------------------------------------------------
# the table's entry points
# ---------------------------------------------------------------------------
def _mm(data, indices, indptr, n_rows, n_cols, X, transpose, variant=None):
    """Raw product (no autodiff); see _Pattern.mm."""
    return _pattern(indices, indptr, n_rows, n_cols).mm(data, X, transpose, variant)


def bare_plan(data, indices, indptr, n_rows, n_cols, xshape, transpose):
    """fn(X) -> A @ X (A.T @ X) for operands of xshape and data's dtype: the
    bare launch, everything else fixed (see _kernels.fast_product)."""
    plan = _pattern(indices, indptr, n_rows, n_cols).plan(xshape, data.dtype, transpose)
    return lambda X: plan(data, X)


def prepared_product(data, indices, indptr, n_rows, n_cols, xshape, transpose):
    """fn(data, X) -> A @ X (A.T @ X) for operands of xshape and data's dtype:
    the prepared launch inside a custom function with the product's VJP, so
    a caller need not ask whether X is a gradient tracer (that probe cost
    ~11 us of host time a call on the H200, more than the custom function)."""
    pat = _pattern(indices, indptr, n_rows, n_cols)
    plan = pat.plan(xshape, data.dtype, transpose)
    return pat._make_product(transpose, None, plan)


def cg_plan(data, indices, indptr, n):
    """The one-kernel CG iteration for a square CSR pattern (see _Pattern.cg_plan)."""
    return _pattern(indices, indptr, n, n).cg_plan(data.dtype)


def sddmm(indices, indptr, n_rows, L2, R2):
    """out[p] = <L2[row_p], R2[col_p]> for the CSR pattern (rows of L2 = n_rows)."""
    return _pattern(indices, indptr, n_rows, R2.shape[0]).sddmm(L2, R2)


def spmm(data, indices, indptr, n_rows, n_cols, X, transpose, out_dtype, variant=None,
         differentiable=True):
    """A @ X (A.T @ X when ``transpose``) on the GPU; X 1-D or 2-D (row-major).
    Differentiable in ``data`` and ``X`` (a bare launch when not
    ``differentiable``).  indices / indptr must be concrete (not traced): row
    statistics are read from indptr on the host."""
    pat = _pattern(indices, indptr, n_rows, n_cols)
    d = data if data.dtype == out_dtype else data.astype(out_dtype)
    x = X if X.dtype == out_dtype else X.astype(out_dtype)
    if not differentiable:
        return pat.mm(d, x, transpose, variant)
    return pat.product(transpose, variant)(d, x)
