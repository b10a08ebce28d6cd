"""scipy's answers for CSR / CSC arrays whose values are free on the CPU,
computed on views of our arrays by the kernel table with no scipy object
made (`_kernels._host_lines`): min / max / argmin / argmax along an axis and
over every place, toarray / todense, + and - with a numpy dense operand,
A / B, the all-True comparisons of two sparse arrays, count_nonzero along
an axis, nonzero, find and COO's sum_duplicates.  Each returns None where
its path does not apply, and the caller's general path (MLX for traced
values or the device rule; scipy's otherwise) decides."""
import numpy as np
from scipy.sparse._sputils import get_index_dtype, upcast_char

from .. import _arrays, _kernels
from . import _bridge, _device_reduce

_AXES = (0, 1, -1, -2)


def _view(A, canonical=True):
    """A read-only numpy view of A's values where these paths apply: a
    checked CSR / CSC array with free CPU values (no float16, which scipy
    lacks), canonical where asked, no empty side; None otherwise."""
    if A.format not in ("csr", "csc") or A.ndim != 2 or not all(A.shape):
        return None
    v = A._free_view()
    if v is None or (canonical and (not v.size or not A.has_canonical_format)):
        return None
    return v


def _lines_over(A, v, axis):
    """(values, indices, indptr, line length) of the lines a reduction over
    ``axis`` runs along: A's own lines, or its transposed pattern's (kept
    per pattern), the values permuted to match."""
    if axis == (1 if A.format == "csr" else 0):
        return v, A._indices, A._indptr, A.shape[axis]
    perm, ind, ptr = _kernels.transpose_pattern(A._indices, A._indptr, A._major(A.shape),
                                                A._minor(A.shape))
    return v[_arrays.to_np(perm)], ind, ptr, A.shape[axis]


def _ordered_lines(A, axis):
    """(axis, values, indices, indptr, line length) for an order reduction
    over ``axis`` of a canonical array with ordered (not complex) values;
    None where scipy's path decides."""
    if type(axis) is not int or axis not in _AXES:
        return None
    v = _view(A)
    if v is None or v.dtype.kind not in "biuf":
        return None
    return (axis % 2,) + _lines_over(A, v, axis % 2)


def extreme_along(A, name, axis, explicit):
    """A.max(axis) / A.min(axis): scipy's COO answer (the nonzero results)."""
    got = _ordered_lines(A, axis)
    if got is None:
        return None
    axis, values, _, ptr, size = got
    ufunc = np.maximum if name == "max" else np.minimum
    lines, value = _kernels.line_extremes(values, ptr, size, ufunc, explicit)
    n_out = A.shape[1 - axis]
    idx = lines.astype(np.int32 if n_out <= np.iinfo(np.int32).max else np.int64)
    return _bridge.wrap(_device_reduce._coo_form(A, axis, value, idx, n_out, A.dtype))


def arg_extreme_along(A, name, axis, explicit):
    """A.argmax(axis) / A.argmin(axis): int64 per line (a column or row
    np.matrix for the matrix flavour), as scipy's."""
    got = _ordered_lines(A, axis)
    if got is None:
        return None
    axis, values, ind, ptr, size = got
    r = _kernels.line_arg_extremes(values, ind, ptr, size, name == "argmax", explicit)
    if A._is_array:
        return r
    return _device_reduce.as_matrix(r.reshape((-1, 1) if axis == 1 else (1, -1)))


def arg_extreme_all(A, name, explicit):
    """A.argmax() / A.argmin() of a canonical CSR array (its entries lie in
    the row-major order scipy's answer is counted in)."""
    v = _view(A) if A.format == "csr" else None
    if v is None or v.dtype.kind not in "biuf":
        return None
    return _kernels.arg_extreme_all(v, A._indices, A._indptr, A.shape[1], name == "argmax",
                                    explicit)


def dense(A, name, order):
    """A.toarray() / A.todense() in A's own order (C for CSR, F for CSC):
    each entry added at its place in new zeros, repeats summed, as scipy's."""
    natural = "C" if A.format == "csr" else "F"
    v = _view(A, canonical=False) if order in (None, natural) else None
    if v is None:
        return None
    out = np.zeros(A.shape, dtype=A.dtype, order=natural)
    _add_into(A, v, out)
    return _device_reduce.as_matrix(out) if name == "todense" and not A._is_array else out


def with_numpy_dense(A, D, how):
    """A + D, A - D or D - A (``how``: "add", "sub", "rsub") for a numpy
    array D: a dense numpy answer.  scipy adds A's entries into a copy of D
    in the upcast dtype; it subtracts by densifying A first."""
    if type(D) is not np.ndarray or D.dtype.kind not in "biufc" or A.ndim != 2:
        return None
    try:
        D = np.broadcast_to(D, A.shape)
    except ValueError:
        return None                                 # scipy's error
    if how != "add":
        a = dense(A, "todense", None)
        return None if a is None else (a - D if how == "sub" else D - a)
    natural = "C" if A.format == "csr" else "F"
    v = _view(A, canonical=False)
    if v is None:
        return None
    out = np.array(D, dtype=upcast_char(A.dtype.char, D.dtype.char), order=natural, copy=True)
    _add_into(A, v, out)
    return out if A._is_array else _device_reduce.as_matrix(out)


def _add_into(A, v, out):
    """A's entries added into the dense ``out`` laid out in A's order (a
    CSC array fills the transposed C-ordered view of an F-ordered out)."""
    _kernels.densify_into(v, A._indices, A._indptr, out if A.format == "csr" else out.T)


def count_nonzero_along(A, axis):
    """A.count_nonzero(axis) of a canonical array (scipy merges repeats in
    place first): per line, np.diff of the pointers (their dtype) when no
    stored value is zero, else int64 counts; across lines a bincount."""
    if type(axis) is not int or axis not in _AXES:
        return None
    v = _view(A)
    if v is None:
        return None
    nonzero = v != 0
    every = bool(nonzero.all())
    if axis % 2 == (1 if A.format == "csr" else 0):
        ptr = _arrays.to_np(A._indptr)
        return np.diff(ptr) if every else _kernels.line_sums(nonzero.astype(np.int64), A._indptr, np.int64)
    ind = _arrays.to_np(A._indices)
    return np.bincount(ind if every else ind[nonzero], minlength=A.shape[1 - axis % 2])


def nonzero(A):
    """A.nonzero(): rows and columns of the stored entries that are not
    zero (repeats each on their own): in storage order for CSR, as scipy's
    COO form of it lists them; CSC's sorted by row, stably, as scipy sorts
    them (its index dtype, no COO made there)."""
    v = _view(A, canonical=False)
    if v is None:
        return None
    if A.format == "csr":
        return _positions(A, v)
    keep = v != 0
    cols = _arrays.to_np(_kernels.entry_rows(A._indptr, A.nnz))[keep]
    rows = _arrays.to_np(A._indices)[keep]
    order = np.argsort(rows, kind="stable")
    return rows[order], cols[order].astype(rows.dtype, copy=False)


def find(A):
    """find(A) of a canonical CSR array: rows, columns and values of its
    nonzero entries in row-major order, which is its storage order."""
    v = _view(A) if A.format == "csr" else None
    if v is None:
        return None
    rows, cols = _positions(A, v)
    return rows, cols, v[v != 0]


def _positions(A, v):
    """Rows and columns of a CSR array's nonzero entries, in storage order."""
    keep = v != 0
    cols = _arrays.to_np(A._indices)
    rows = _arrays.to_np(_kernels.entry_rows(A._indptr, A.nnz)).astype(cols.dtype, copy=False)
    # the index dtype scipy's COO form takes (the matrix flavour narrows by contents)
    idx = get_index_dtype((rows, cols), maxval=max(A.shape), check_contents=not A._is_array)
    return rows[keep].astype(idx, copy=False), cols[keep].astype(idx, copy=False)


def coo_merged(A):
    """A 2-D COO array with free CPU values, its repeats added as scipy's
    sum_duplicates adds them (row-major order), as a new array of ours."""
    if A.ndim != 2 or not A.nnz:
        return None
    v = A._free_view()
    if v is None:
        return None
    data, row, col = _kernels.merged_repeats(v, *A._coords, A.dtype)
    new = _arrays.to_mx(data)
    _arrays.note_free(new)                  # made here from free values
    return type(A)._built(A.shape, new, (_arrays.to_mx(row), _arrays.to_mx(col)), True)


def divided(A, B):
    """A / B of two canonical CSR arrays with free CPU values: scipy's dense
    answer.  scipy divides in float64 by its compiled routine over the
    union of the patterns, then lays the quotients on a dense array of NaN
    (0 / 0 where neither stores a place) with zeros where B stores a
    nonzero value; so does this, on views."""
    if not (_bridge.is_ours(B) and A.format == "csr" and B.format == "csr"
            and A.ndim == 2 and B.ndim == 2 and A.shape == B.shape):
        return None
    va, vb = _view(A), _view(B)
    if va is None or vb is None or va.dtype.kind not in "biuf" or vb.dtype.kind not in "biuf":
        return None
    t = np.float64
    m, n = A.shape
    data, ind, ptr = _kernels.elementwise_pair(
        "_eldiv_", m, n, *[(v.astype(t), _arrays.to_np(X._indices), _arrays.to_np(X._indptr))
                           for v, X in ((va, A), (vb, B))], bool_result=False)
    out = np.full(A.shape, np.nan, dtype=t)
    out[_positions(B, vb)] = 0
    out[_kernels.rows_of(ptr, ind.size), ind] = data
    return out if A._is_array else _device_reduce.as_matrix(out)


def complement(C):
    """The places a canonical CSR / CSC array of ours does not store, as an
    array of its class holding True there: scipy's answer to A == B (and <=,
    >=) of two sparse arrays, all-True minus the opposite comparison.  None
    past 2**31 places."""
    n_major, n_minor = C._major(C.shape), C._minor(C.shape)
    if n_major * n_minor > np.iinfo(np.int32).max:
        return None
    ind, ptr = _kernels.complement_lines(C._indices, C._indptr, n_minor)
    values = _arrays.to_mx(np.ones(ind.size, dtype=np.bool_))
    _arrays.note_free(values)
    return type(C)._built(C.shape, values, _arrays.to_mx(ind), _arrays.to_mx(ptr),
                          sorted_indices=True, canonical=True)
