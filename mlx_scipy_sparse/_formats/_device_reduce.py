"""Reductions of free values under the device rule (a GPU, or
MSS_KEEP_IN_MLX=1): computed in MLX where the values live, handed back in
scipy's types (numpy scalars and arrays, np.matrix for the matrix flavour).

Without this a GPU array's `A.sum(axis=1)` copied every value to the host
for scipy (100-300 ms for 16M entries on the H200) to hand back a vector.
Code written for scipy keeps its types.  Float sums are added in MLX's
order (a tree on the GPU), so their last bits can differ from scipy's
pairwise sums, as CuPy's do; max, min and counts are exact.  Only float
values narrower than float64 take this path: float64 lives on the CPU
stream (MLX GPUs refuse it), where scipy on views costs nothing extra, and
integer sums keep scipy's widening.
"""
import threading

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss

from .. import _arrays, _kernels
from . import _bridge

_DEVICE_DTYPES = (mx.float16, mx.bfloat16, mx.float32, mx.complex64)
_shapes = {}
_lock = threading.Lock()


def applies(A):
    """Whether A's reductions run on the device: free values there, of a
    dtype the device holds."""
    vals = A._values() if hasattr(A, "_values") else None
    return _kernels.keep_in_mlx() and _arrays.is_mx(vals) and vals.dtype in _DEVICE_DTYPES


def _scipy_form(A, name, kwargs):
    """(kind, dtype) of scipy's answer to A.name(**kwargs): kind 'scalar',
    'array' or 'matrix'.  Learnt once per (format, flavour, dtype, name,
    kwargs) from scipy itself on a 2 x 3 stand-in of the same kind."""
    dtype = A.dtype
    key = (A.format, A._is_array, dtype.str, name, tuple(sorted(kwargs.items())))
    got = _shapes.get(key)
    if got is None:
        cls = getattr(_ss, f"{A.format}_{'array' if A._is_array else 'matrix'}")
        S = cls(np.array([[1, 0, 2], [0, 3, 0]], dtype=dtype))
        r = getattr(S, name)(**kwargs)
        kind = "matrix" if isinstance(r, np.matrix) else \
            "array" if isinstance(r, np.ndarray) and r.ndim else "scalar"
        got = (kind, np.asarray(r).dtype)
        with _lock:
            _shapes[key] = got
    return got


def in_scipy_form(A, name, kwargs, r):
    """The MLX result r of A.name(**kwargs) as scipy gives it."""
    kind, dtype = _scipy_form(A, name, kwargs)
    a = np.asarray(_arrays.to_np(r)).astype(dtype, copy=False)
    if kind == "scalar":
        return dtype.type(a.reshape(()))
    if kind == "matrix":
        axis = kwargs.get("axis")
        return as_matrix(a.reshape((1, -1) if axis % 2 == 0 else (-1, 1)))
    return np.array(a.reshape(-1))


def as_matrix(a):
    """np.matrix of a 2-D array, without numpy's PendingDeprecationWarning
    (a view never calls np.matrix's constructor, which is what warns), and
    without silencing it through the process-wide warning filters."""
    return np.asarray(a).view(np.matrix)


def count_nonzero(A, axis):
    """A.count_nonzero(axis) in scipy's types, for a canonical array (scipy
    sums duplicates first), or None where it cannot be had here.  scipy
    answers an np.intp for the total; per row / column np.diff(indptr)
    (the index dtype) along the major axis when no stored value is zero,
    else int64 counts."""
    if axis not in (None, 0, 1, -1, -2) or not A._known_flag("has_canonical_format"):
        return None
    vals = A._values()
    with mx.stream(_kernels.stream_for(vals.dtype)):
        nz = (vals != 0).astype(mx.int32 if A.nnz < 2**31 else mx.int64)
        total = int(mx.sum(nz).item())      # exact: the count fits the sum's dtype
    if axis is None:
        return np.intp(total)               # numpy's count_nonzero type
    axis %= 2
    slots = A._axis_slots(axis)
    if slots is None:
        return None
    counts = np.array(_arrays.to_np(_kernels.scatter_sum(nz, slots, A.shape[1 - axis])))
    major = A.format != "coo" and (axis == 1) == (A.format == "csr")
    if major and total == A.nnz:
        return counts.astype(_arrays.np_dtype(A._indptr.dtype))
    return counts.astype(np.int64)


def extreme_axis(A, name, axis):
    """A.max(axis) / A.min(axis) of a canonical 2-D array in scipy's form (a
    COO array or matrix of the nonzero results), the reduction made where
    the values live: a scatter of each entry's value onto its row (axis 1)
    or column (axis 0), and implicit zeros counted where a row / column is
    not full.  Only the n results come to the host, not the entries.  None
    (scipy's path) where a value is NaN: scipy's order of comparing decides
    which NaN it returns."""
    m = _line_extremes(A, name, axis, nan_check=True)
    if m is None:
        return None
    value = np.array(_arrays.to_np(m))
    idx = np.flatnonzero(value)
    return _bridge.wrap(_coo_form(A, axis, value[idx], idx, value.size, A.dtype))


def extreme_axis_traced(A, name, axis):
    """A.max(axis) / A.min(axis) of a canonical 2-D array with traced
    values: scipy's form (a 1-D COO array, or a 1 x n / n x 1 COO matrix)
    with every one of the n results stored, zeros included (a trace cannot
    drop them: which are zero depends on the values), the values in MLX
    with their gradient (the scatter's VJP reaches the entry that won).
    None where scipy's path applies (not float values)."""
    m = _line_extremes(A, name, axis, nan_check=False)
    if m is None:
        return None
    n_out = m.shape[0]
    # (the stand-in's dtype is one scipy holds: float16 values arrive with m)
    stand_in = np.zeros(n_out, dtype=np.float32)
    r = _bridge.wrap(_coo_form(A, axis, stand_in, np.arange(n_out, dtype=np.int32), n_out,
                               np.float32))
    r = r._with_values(m)
    r._valid = True                     # coordinates 0..n-1, made here
    return r


def _line_extremes(A, name, axis, nan_check):
    """The n results of A.max(axis) / A.min(axis) as an MLX array (implicit
    zeros counted where a line is not full); None for values that are not
    floats, or NaN among them when ``nan_check``."""
    slots = A._axis_slots(axis)
    vals = A._values()
    if slots is None or not mx.issubdtype(vals.dtype, mx.floating):
        return None
    if nan_check and _has_nan(vals):
        return None
    n_out, n_in = A.shape[1 - axis], A.shape[axis]
    with mx.stream(_kernels.stream_for(vals.dtype)):
        m = _line_extreme(vals, slots, n_out, name == "max")
        full = _kernels.scatter_sum(mx.ones(vals.shape, dtype=mx.int32), slots, n_out)
        with_zero = mx.maximum(m, 0) if name == "max" else mx.minimum(m, 0)
        return mx.where(full < n_in, with_zero, m)


def _coo_form(A, axis, value, idx, n_out, dtype):
    """scipy's COO answer of a reduction along ``axis`` holding ``value`` at
    ``idx``: a 1-D array, or a 1 x n / n x 1 matrix."""
    if A._is_array:
        return _ss.coo_array((value, (idx,)), shape=(n_out,), dtype=dtype)
    zeros = np.zeros(idx.size, dtype=idx.dtype)
    coords, shape = ((zeros, idx), (1, n_out)) if axis == 0 else ((idx, zeros), (n_out, 1))
    return _ss.coo_matrix((value, coords), shape=shape, dtype=dtype)


def _has_nan(vals):
    """Whether a value is NaN, read where the values live (one scalar back)."""
    with mx.stream(_kernels.stream_for(vals.dtype)):
        return bool(mx.any(mx.isnan(vals)).item())


def _line_extreme(vals, slots, n_out, largest):
    """The largest (smallest) value landing on each of n_out slots, -inf
    (inf) where none lands: one scatter."""
    start = mx.full((n_out,), -np.inf if largest else np.inf, dtype=vals.dtype).at[slots]
    return start.maximum(vals) if largest else start.minimum(vals)


def _lines(A):
    """Pattern side of an arg-reduction along A's major lines (rows of CSR,
    columns of CSC), worked out once per pattern on the host: each entry's
    line and position in it, each line's first entry, count, and scipy's
    first missing index (the first k whose k-th stored index is not k, else
    the count: the line is then not full where it is asked for)."""
    def compute():
        ptr = np.asarray(_arrays.to_np(A._indptr)).astype(np.int64)
        ind = np.asarray(_arrays.to_np(A._indices)).astype(np.int64)
        counts = np.diff(ptr)
        line = np.repeat(np.arange(counts.size), counts)
        pos = np.arange(ind.size) - ptr[line]
        missing = counts.copy()
        off = ind != pos
        np.minimum.at(missing, line[off], pos[off])
        # int32: MLX's GPU scatter refuses int64 values (the caller keeps nnz below 2**31)
        return tuple(mx.array(a.astype(np.int32)) for a in (line, pos, ptr[:-1], counts, missing))
    return _kernels.memo("arg-lines", (A._indices, A._indptr), compute)


def arg_extreme_axis(A, name, axis, explicit):
    """A.argmax(axis) / A.argmin(axis) of a canonical 2-D array in scipy's
    form (int64 numpy; np.matrix for the matrix flavour), worked out where
    the values live: the extreme of each line by a scatter, its first
    position by a second one, then scipy's rule for implicit zeros (its
    `min(position, first missing index)` where the extreme is zero
    included).  The minor axis goes through our conversion (scipy converts
    too); None (scipy's path) where a value is NaN or the form is not ours."""
    major = 1 if A.format == "csr" else 0 if A.format == "csc" else None
    if major != axis:
        A = A.tocsr() if axis == 1 else A.tocsc()
        if not applies(A) or not A._known_flag("has_canonical_format"):
            return None
    vals = A._values()
    if not mx.issubdtype(vals.dtype, mx.floating) or A.nnz >= 2 ** 31 - 2 \
            or max(A.shape) >= 2 ** 31:
        return None
    if _has_nan(vals):
        return None
    try:
        out = np.array(_arrays.to_np(_arg_lines(A, name, axis, explicit, vals))).astype(int)
    except (RuntimeError, ValueError):
        # not yet run on a GPU (checked with the device rule forced on a CPU):
        # should a GPU refuse one of its ops, scipy's path answers instead
        return None
    if A._is_array:
        return out
    return as_matrix(out.reshape(-1, 1) if axis == 1 else out.reshape(1, -1))


def _arg_lines(A, name, axis, explicit, vals):
    """The MLX part of arg_extreme_axis: the answer per line (lazy)."""
    line, pos, start, counts, missing = _lines(A)
    n_out, line_size = A.shape[1 - axis], A.shape[axis]
    with mx.stream(_kernels.stream_for(vals.dtype)):
        m = _line_extreme(vals, line, n_out, name == "argmax")
        hit = mx.where(vals == m[line], pos, mx.array(A.nnz + 1, dtype=pos.dtype))
        first = mx.full((n_out,), A.nnz + 1, dtype=pos.dtype).at[line].minimum(hit)
        has = counts > 0
        at_entry = mx.where(has, start + mx.minimum(first, mx.maximum(counts - 1, 0)), 0)
        col = mx.take(A._indices, at_entry).astype(pos.dtype)      # (the caller has nnz > 0)
        if explicit:
            ret = col
        else:
            beats = m > 0 if name == "argmax" else m < 0
            ret = mx.where(beats | (counts == line_size), col,
                           mx.where(m == 0, mx.minimum(first, missing), missing))
        return mx.where(has, ret, 0)


def arg_extreme_all(C, name):
    """A.argmax() / A.argmin() over every place, for C canonical and stored
    in row-major order (CSR or COO), worked out where the values live:
    the first entry holding the extreme, then scipy's rule for implicit
    zeros, including its `min(first missing place, entry position)` where
    the extreme is zero (scipy compares a flat place with a position in its
    data there; ours gives its answer).  A Python int, as scipy's; None
    where a value is NaN (scipy's order of comparing decides) or sizes
    pass int32."""
    vals = C._values()
    m, n = C.shape
    nnz = C.nnz
    if not mx.issubdtype(vals.dtype, mx.floating) or nnz >= 2 ** 31 - 1 or _has_nan(vals):
        return None
    rows, cols = C._coords if C.format == "coo" else \
        (_kernels.entry_rows(C._indptr, nnz), C._indices)
    largest = name == "argmax"
    with mx.stream(_kernels.stream_for(vals.dtype)):
        ext = mx.max(vals) if largest else mx.min(vals)
        at = mx.arange(nnz, dtype=mx.int32)
        k = mx.min(mx.where(vals == ext, at, nnz))      # the first, in a fixed order
        picked = mx.stack([k, rows[k].astype(mx.int32), cols[k].astype(mx.int32)])
    ext, (k, row, col) = ext.item(), _arrays.to_np(picked).tolist()
    if (ext > 0 if largest else ext < 0) or nnz == m * n:
        return row * n + col
    missing = _first_missing(C, rows, cols)
    return min(missing, np.intp(k)) if ext == 0 else missing     # (scipy's types too)


def _first_missing(C, rows, cols):
    """The first place (row-major flat index) of C holding no entry, kept
    per pattern: where the sorted flat indices first differ from 0, 1, 2 ..."""
    n = C.shape[1]

    def compute():
        with mx.stream(_kernels.stream_for(mx.int32)):
            flat = rows.astype(mx.int64) * n + cols.astype(mx.int64)
            at = mx.arange(flat.size, dtype=mx.int64)
            return int(mx.min(mx.where(flat != at, at, flat.size)).item())
    arrays = list(C._coords) if C.format == "coo" else [C._indices, C._indptr]
    return _kernels.memo(("first-missing", C.shape), arrays, compute)


# -- inside mx.compile: integer answers of traced values, kept in MLX ---------
# The answers have fixed shapes (only their contents depend on the values), so
# a compiled function can compute them; they come back as MLX int64 arrays in
# scipy's shapes.  Where values are NaN, MLX's comparisons decide (scipy's
# order of comparing cannot be followed without reading them).

def arg_extreme_axis_traced(A, name, axis, explicit):
    """A.argmax(axis) / A.argmin(axis) of a canonical array, as
    arg_extreme_axis works it out, left in MLX; None where it does not apply."""
    major = 1 if A.format == "csr" else 0 if A.format == "csc" else None
    if major != axis:
        A = A.tocsr() if axis == 1 else A.tocsc()
        if not A._known_flag("has_canonical_format"):
            return None
    vals = A._values()
    if not mx.issubdtype(vals.dtype, mx.floating) or A.nnz >= 2 ** 31 - 2 \
            or max(A.shape) >= 2 ** 31:
        return None
    r = _arg_lines(A, name, axis, explicit, vals).astype(mx.int64)
    return r if A._is_array else r.reshape((-1, 1) if axis == 1 else (1, -1))


def arg_extreme_all_traced(C, name):
    """A.argmax() / A.argmin() over every place (C canonical, row-major), as
    arg_extreme_all works it out, as an MLX int64 scalar; None where it does
    not apply."""
    vals = C._values()
    m, n = C.shape
    nnz = C.nnz
    if not mx.issubdtype(vals.dtype, mx.floating) or nnz >= 2 ** 31 - 1:
        return None
    ptr = None if C.format == "coo" else np.asarray(_arrays.to_np(C._indptr)).astype(np.int64)
    rows = np.asarray(_arrays.to_np(C._coords[0])).astype(np.int64) if ptr is None else \
        np.repeat(np.arange(m, dtype=np.int64), np.diff(ptr))
    cols = np.asarray(_arrays.to_np(C._coords[1] if ptr is None else C._indices)).astype(np.int64)
    flat_places = rows * n + cols
    off = np.flatnonzero(flat_places != np.arange(nnz))
    missing = int(off[0]) if off.size else nnz          # the first place holding no entry
    largest = name == "argmax"
    with mx.stream(_kernels.stream_for(vals.dtype)):
        ext = mx.max(vals) if largest else mx.min(vals)
        k = mx.min(mx.where(vals == ext, mx.arange(nnz, dtype=mx.int32), nnz))
        flat = mx.take(mx.array(flat_places), k)
        if nnz == m * n:
            return flat
        beats = ext > 0 if largest else ext < 0
        k, missing = k.astype(mx.int64), mx.array(missing, dtype=mx.int64)
        return mx.where(beats, flat, mx.where(ext == 0, mx.minimum(missing, k), missing))


def count_nonzero_traced(A, axis):
    """A.count_nonzero(axis) of a canonical array as MLX int64 counts; None
    where it does not apply."""
    if axis not in (None, 0, 1, -1, -2) or not A._known_flag("has_canonical_format"):
        return None
    vals = A._values()
    with mx.stream(_kernels.stream_for(vals.dtype)):
        nz = (vals != 0).astype(mx.int32)
        if axis is None:
            return mx.sum(nz.astype(mx.int64))
    slots = A._axis_slots(axis % 2)
    if slots is None:
        return None
    return _kernels.scatter_sum(nz, slots, A.shape[1 - axis % 2]).astype(mx.int64)
