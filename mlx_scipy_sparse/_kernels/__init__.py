"""The kernel table: the only part of the package that knows about devices.

Each op takes plain arrays (never a format class) and picks one backend:

* GPU custom kernel  -- default device is a GPU and the dtype is not float64
                        (MLX refuses float64 on every GPU);
* composed MLX ops   -- inside mx.compile / mx.vmap tracing, where arrays
                        cannot be evaluated, or on a GPU without a kernel;
* CPU (scipy's compiled routines on zero-copy views, threaded) -- otherwise.

numpy operands give numpy results through the CPU backend; MLX operands give
MLX results that are differentiable with respect to the values and the dense
operand (through mx.custom_function with an explicit VJP).
"""
import weakref
from collections import OrderedDict

import numpy as np
import mlx.core as mx

from .. import _arrays
from . import _composed, _cpu
from ._composed import quotient, running_sum  # noqa: F401
from ._values import (  # noqa: F401
    bare_cpu, compact, diagonal_of, drop_zeros, elementwise, entry_rows, gather, kept_on_view,
    kept_pattern, line_sums, lines_pattern, memo, nonzero_mask, intersection_pattern,
    merge_pattern, ones_sums, reshaped_coords, scatter_sum, sort_lines, spread, stack_lines,
    transpose_pattern, union_pattern)
from ._host_lines import (  # noqa: F401
    arg_extreme_all, complement_lines, densify_into, diagonal_replaced, line_arg_extremes,
    line_extremes, merged_repeats, places_written, resized_lines)
from ._blocks import (  # noqa: F401
    compressed_entries, compressed_views, coo_entries, coords_end_to_end, joined_lines,
    compressed_of_coo, kron_entries, lines_end_to_end, triangle, views_apply)
from ._columns import line_positions, minor_pick, minor_range  # noqa: F401
from ._host_memory import keep_freed_buffers, make_room, reuse_host_memory  # noqa: F401
from ._device import (  # noqa: F401
    cpu_stream, gpu_available, gpu_default, keep_in_mlx, on_gpu, stream_for, use_cpu, use_gpu)

try:  # the GPU backend is optional: absent on CPU-only builds
    from . import _gpu
except ImportError:  # pragma: no cover
    _gpu = None

# large CPU outputs reuse freed MLX buffers, as on MLX's GPU backends (see there)
keep_freed_buffers()

coo_to_csr = _cpu.coo_to_csr
elementwise_pair = _cpu.elementwise_pair
csr_transpose = _cpu.csr_transpose
sample_values = _cpu.sample_values
pick_lines = _cpu.pick_lines
rows_of = _cpu.rows_of


_RESULT = {}


def _result_dtype(a, b):
    """numpy's promotion rule for MLX dtypes (bfloat16 stays bfloat16)."""
    r = _RESULT.get((a, b))
    if r is None:
        r = a if a == b else _arrays.mx_dtype(
            np.result_type(_arrays.np_dtype(a), _arrays.np_dtype(b)))
        _RESULT[(a, b)] = r
    return r


def spmm(data, indices, indptr, shape, X, transpose=False):
    """A @ X (or A.T @ X) for A given by CSR arrays of ``shape``.

    numpy X -> numpy result; mx.array X -> mx.array result with gradients for
    ``data`` and ``X``.  A numpy X with traced ``data`` (mx.grad, mx.compile)
    is taken as a constant MLX operand: the result is MLX and carries the
    gradient, where a numpy answer would have left the graph.
    """
    n_rows, n_cols = shape
    if not isinstance(X, mx.array):
        if not (isinstance(data, mx.array) and _arrays.trace_state(data) != _arrays.FREE):
            return _cpu.spmm(_arrays.to_np(data), _arrays.to_np(indices),
                             _arrays.to_np(indptr), n_rows, n_cols, np.asarray(X), transpose)
        X = _arrays.to_mx(np.asarray(X))
    if not isinstance(data, mx.array):
        data = _arrays.to_mx(data)
    out = data.dtype
    if out != X.dtype:
        out = _result_dtype(out, X.dtype)
    # Outside any transformation no gradient can flow through the product, so
    # the kernels run bare, without mx.custom_function's host cost.
    state = _arrays.trace_state(indices, indptr, data, X)
    grad = state == _arrays.GRAD
    # dtypes MLX's GPU scatter refuses (the composed path scatters): CPU
    gpu = gpu_default() and out not in _arrays.GPU_SCATTER_REFUSED     # (float64 is in it)
    if state != _arrays.TRACED and gpu and _gpu is not None and _gpu.supports(out):
        # custom kernels: mx.vmap refuses them, so traced code (mx.vmap,
        # mx.compile) goes on to composed ops below.  (A custom_function vmap
        # rule was tried instead and failed on the H100: MLX still vmaps the
        # kernel.)
        return _gpu.spmm(data, indices, indptr, n_rows, n_cols, X, transpose, out,
                         differentiable=grad)
    if gpu or state == _arrays.TRACED:
        with mx.stream(mx.default_device() if gpu else mx.cpu):
            return _composed.spmm(data, _arrays.to_mx(indices), _arrays.to_mx(indptr),
                                  n_rows, n_cols, X, transpose, out)
    return _cpu_spmm_diff(data, indices, indptr, n_rows, n_cols, X, transpose, out, grad)


_cpu_patterns = OrderedDict()


def _cpu_pattern(indices, indptr, n_cols):
    """numpy index arrays for kept CPU products of a pattern, narrowed to
    int32 where they fit.  The int32 copies are made once per pattern and
    kept in a small LRU (a loop over many operand shapes misses the
    per-array plans, and must not copy the indices each time); an entry
    holds its source arrays weakly and goes when they do."""
    key = (id(indices), id(indptr))
    with _arrays.STATE_LOCK:            # threads share the LRU
        hit = _cpu_patterns.get(key)
        if hit is not None and hit[0]() is indices and hit[1]() is indptr:
            _cpu_patterns.move_to_end(key)
            return hit[2], hit[3]
    ind, ptr = _arrays.to_np(indices), _arrays.to_np(indptr)
    n_ind, n_ptr = _cpu.narrowed(ind, ptr, n_cols)
    if n_ind is ind:                        # nothing narrowed: the views cost nothing
        return ind, ptr

    def gone(_ref, key=key):
        with _arrays.STATE_LOCK:
            entry = _cpu_patterns.get(key)
            if entry is not None and any(_ref is r for r in entry[:2]):
                del _cpu_patterns[key]
    with _arrays.STATE_LOCK:
        _cpu_patterns[key] = (weakref.ref(indices, gone), weakref.ref(indptr, gone), n_ind, n_ptr)
        if len(_cpu_patterns) > 8:
            _cpu_patterns.popitem(last=False)
    return n_ind, n_ptr


def fast_product(data, indices, indptr, shape, X, transpose=False, checked=True):
    """For free values, on the GPU's kernels or on the CPU's threads: fn(X2)
    giving A @ X2 for later operands X2 of X's shape and dtype, or None.  fn
    returns None where spmm must decide again (the default device changed,
    or X2 is traced by mx.compile / mx.vmap; on the CPU, X2 under mx.grad
    too).  On a GPU a gradient tracer takes a product that carries its VJP,
    and the last free operand seen skips the tracer probe.  A small product
    is bound by host time (benchmarks/overhead.py), and this is spmm less
    its per-call decisions;
    the caller keeps fn while data, indices and indptr stay the same objects
    (a tracer never becomes concrete, so their state cannot change).
    ``checked=False``: fn launches without looking at X2 or the device: for
    a caller whose operands are all made from free arrays on this device
    (a solver's own loop), which saves the tracer probe on each call."""
    if not isinstance(data, mx.array) or data.dtype != X.dtype \
            or _arrays.trace_state(indices, indptr, data, X) != _arrays.FREE:
        return None
    gpu = gpu_default()
    if gpu:
        if _gpu is None or not _gpu.supports(data.dtype):   # float32/16, bfloat16 only
            return None
        if not checked:
            return _gpu.bare_plan(data, indices, indptr, *shape, X.shape, transpose)
        product = _gpu.prepared_product(data, indices, indptr, *shape, X.shape, transpose)
        launch = _gpu.bare_plan(data, indices, indptr, *shape, X.shape, transpose)
        known = [None]          # a weak reference to the last operand found free

        def gpu_fn(X2):
            # The same free operand again (a layer's input, a benchmark's) takes
            # the bare launch at once: an array object found free stays free (a
            # tracer never becomes one); should it have been rebound in place to
            # a tracer since, MLX refuses to differentiate through the bare
            # kernel (CustomKernel has no VJP): an error, never a silent zero.
            # A new operand is probed; a gradient tracer takes the product with
            # its VJP; what mx.compile / mx.vmap trace goes back to spmm.
            if not gpu_default():
                return None
            ref = known[0]
            if ref is not None and ref() is X2:
                return launch(X2)
            try:
                mx.async_eval(X2)
            except ValueError:
                return None
            if _arrays.grad_tracers((X2,)):
                return product(data, X2)
            known[0] = weakref.ref(X2)
            return launch(X2)
        return gpu_fn
    else:
        ind, ptr = _cpu_pattern(indices, indptr, shape[1])
        fwd = _cpu_forward(ind, ptr, *shape, data.dtype, 1 if X.ndim == 1 else X.shape[1],
                           transpose)
        launch = lambda X2: fwd(data, X2, transpose)     # noqa: E731

    if not checked:
        return launch

    def fn(X2):
        if gpu_default() != gpu or not _arrays.is_free(X2):
            return None
        return launch(X2)
    return fn


def host_product(data, indices, indptr, shape):
    """(product, rows) for a solver's own numpy vectors on the CPU backend's
    threads, or None where the values are not free or not a dtype the CPU
    kernels compute in.  product(x, out, after=None): out = A @ x (out's
    old contents zeroed chunk by chunk; no MLX array is made), and
    [after(r0, r1) ...] run on each chunk's thread right after it;
    rows(fn): [fn(r0, r1) ...] over the same row chunks.  Both lists come in
    chunk order, so sums over them are the same bits every call."""
    if not isinstance(data, mx.array) or _arrays.trace_state(indices, indptr, data) != _arrays.FREE:
        return None
    dt = _arrays.np_dtype(data.dtype)
    if _arrays.mx_dtype(dt) != data.dtype or _cpu.native_dtype(dt) != dt:
        return None
    ind, ptr = _cpu_pattern(indices, indptr, shape[1])
    d, bounds = _arrays.to_np(data), _cpu.chunks(ptr, 1)

    def product(x, out, after=None):
        return _cpu.spmv_into(d, ind, ptr, shape[1], x, out, bounds, after)
    return product, lambda fn: _cpu.rows_shared(bounds, fn)


def cg_iteration(data, indices, indptr, shape):
    """(step, nb): one whole unpreconditioned CG iteration a GPU launch
    (_dialect_cg) for a square CSR array of free float32 values on a GPU,
    else None (the solver then runs its general loop)."""
    if not gpu_default() or _gpu is None or _gpu.backend() != "cuda" or shape[0] != shape[1] \
            or not isinstance(data, mx.array) or data.dtype != mx.float32 \
            or _arrays.trace_state(indices, indptr, data) != _arrays.FREE:
        return None
    return _gpu.cg_plan(data, indices, indptr, shape[0])


def _cpu_forward(ind, ptr, n_rows, n_cols, out, k, transpose):
    """fwd(d, x, t): the CPU product of this pattern written into a fresh MLX
    array of dtype ``out`` (x of k columns when t == transpose: the chunk
    bounds for that case are worked out once, here)."""
    npout = _arrays.np_dtype(out)
    # In place only where numpy can view the MLX buffer and sparsetools can
    # compute in its dtype (bfloat16 has no numpy view: to_np copies it).
    viewable = _arrays.mx_dtype(npout) == out and _cpu.native_dtype(npout) == npout
    kept = (k, transpose, _cpu.chunks(ptr, k))

    def fwd(d, x, t):
        kx = 1 if x.ndim == 1 else x.shape[1]
        bounds = kept[2] if (kx, t) == kept[:2] else None
        m_out = n_cols if t else n_rows
        # Small outputs: computing into numpy and copying costs less than an
        # MLX zeros op (a hop to MLX's thread, then a memset); large ones are
        # written in place (no copy back).
        if not viewable or m_out * kx < _cpu.COPY_OUT_BELOW:
            return mx.array(_cpu.spmm(_arrays.to_np(d), ind, ptr, n_rows, n_cols,
                                      _arrays.to_np(x), t, npout, bounds=bounds), dtype=out)
        Y = mx.zeros((m_out,) if x.ndim == 1 else (m_out, kx), dtype=out,
                     stream=mx.cpu)                 # float64 exists on the CPU alone
        mx.eval(Y)
        _cpu.spmm(_arrays.to_np(d), ind, ptr, n_rows, n_cols, _arrays.to_np(x), t, npout,
                  out=_arrays.to_np(Y, writeable=True), bounds=bounds)
        return Y
    return fwd


def _is_complex(dtype):
    return mx.issubdtype(dtype, mx.complexfloating)


def _cpu_spmm_diff(data, indices, indptr, n_rows, n_cols, X, transpose, out, grad=True):
    ind = _arrays.to_np(indices)
    ptr = _arrays.to_np(indptr)
    fwd = _cpu_forward(ind, ptr, n_rows, n_cols, out, 1 if X.ndim == 1 else X.shape[1],
                       transpose)

    if not grad:
        return fwd(data, X, transpose)

    @mx.custom_function
    def product(d, x):
        return fwd(d, x, transpose)

    @product.vjp
    def product_vjp(primals, cotangent, _):
        # MLX's convention for complex gradients (that of mx.grad on dense
        # ops): a real loss L of z = a + ib gets dL/da + i dL/db, and a
        # product's cotangent flows back through the conjugate of the other
        # factor.  For Y = A @ X (row r, column c of stored entry p), with
        # cotangent G:  dd_p = <G[r], conj(X[c])>,  dX = conj(A).T @ G;
        # for Y = A.T @ X:  dd_p = <G[c], conj(X[r])>,  dX = conj(A) @ G.
        # (Real dtypes: the conjugates are no-ops, skipped.)
        d, x = primals
        g = _arrays.to_np(cotangent)
        xn = _arrays.to_np(x)
        if np.iscomplexobj(xn):
            xn = np.conj(xn)
        gd = _cpu.sddmm(ind, ptr, xn, g) if transpose else _cpu.sddmm(ind, ptr, g, xn)
        with mx.stream(mx.cpu):     # this path's products are float64 or CPU-default
            dc = mx.conj(d) if _is_complex(d.dtype) else d
            gx = fwd(dc, cotangent, not transpose)
            return (mx.array(gd, dtype=out).astype(d.dtype), gx.astype(x.dtype))

    with mx.stream(mx.cpu):         # the custom_function's node must not land on a GPU stream
        return product(data, X)


# bool would OR, not add, in scipy's product: it stays on the CPU too
_GPU_SPGEMM_REFUSED = _arrays.GPU_SCATTER_REFUSED | {mx.bool_}


def spgemm(a_data, a_indices, a_indptr, b_data, b_indices, b_indptr, n_rows, n_inner, n_cols):
    """CSR arrays (data, indices, indptr) of A @ B, both operands CSR arrays
    (A: n_rows x n_inner, B: n_inner x n_cols); MLX results of numpy's
    result dtype, computed zeros dropped as scipy drops them.  The CPU
    backend returns scipy's result exactly (its entry order within rows);
    the GPU's comes out sorted.  Not differentiable: under mx.grad it raises.
    """
    ops = (a_data, a_indices, a_indptr, b_data, b_indices, b_indptr)
    state = _arrays.trace_state(*ops)
    if state == _arrays.TRACED:
        raise ValueError("sparse @ sparse needs concrete arrays (not traced by mx.compile "
                         "or mx.vmap): the size of its result depends on the values")
    if state == _arrays.GRAD:       # a silent zero gradient would be a wrong answer
        raise NotImplementedError("gradients through sparse @ sparse are not supported: "
                                  "differentiate a sparse @ dense product instead")
    a_data, b_data = _arrays.to_mx(a_data), _arrays.to_mx(b_data)
    out = _result_dtype(a_data.dtype, b_data.dtype)
    if on_gpu(out) and out not in _GPU_SPGEMM_REFUSED:
        with mx.stream(mx.default_device()):
            return _composed.spgemm(*(_arrays.to_mx(a) for a in ops), n_rows, n_cols, out)
    d, i, p = _cpu.spgemm(*(_arrays.to_np(a) for a in ops), n_rows, n_cols,
                          _arrays.np_dtype(out))
    return mx.array(d, dtype=out), mx.array(i), mx.array(p)


def coo_csr_pattern(row, col, n_rows):
    """For COO coordinates: the stable order that sorts entries by row, with
    the CSR indices and indptr of that order.  Values follow with data[order]
    (an MLX gather, so gradients flow back to the COO values)."""
    row = _arrays.to_np(row)
    col = _arrays.to_np(col)
    order = np.argsort(row, kind="stable")
    idx = np.result_type(row.dtype, col.dtype, np.int32)
    indptr = np.zeros(n_rows + 1, dtype=idx)
    np.cumsum(np.bincount(row, minlength=n_rows), out=indptr[1:])
    return order, col[order].astype(idx, copy=False), indptr


def map_values(fn, data, out_dtype=None):
    """Apply an elementwise MLX function to a values array on the stream that
    can hold the result (float64 stays on the CPU)."""
    dt = data.dtype if out_dtype is None else out_dtype
    with mx.stream(stream_for(dt)):
        return fn(data)
