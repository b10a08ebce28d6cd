"""Selections across the minor axis of CSR / CSC (A[:, c0:c1], A[:, idx],
A[:, mask], A[:, ::3], A[:, j] and getcol of CSR; the same along the rows
of CSC; a single line of either as a 1-D array) for free CPU values,
without a scipy object: scipy's own routines on views (_kernels._columns),
the result built as scipy's constructor would build it (class and
flavour, index dtype, the same entries in the same order).  Each function
returns None where it does not apply (traced values, a GPU, float16, keys
it does not know, anything out of range): scipy's path then answers, and
raises its errors.
"""
import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _bridge, _entry

_ALL = slice(None)
_I32MAX = np.iinfo(np.int32).max


def select(A, key):
    """scipy's answer for A[key] (A 2-D CSR or CSC) where key selects across
    the minor axis, or a single whole line; None elsewhere."""
    if type(key) is tuple:
        if len(key) != 2:
            return None
        major, minor = key if A.format == "csr" else key[::-1]
    elif A.format == "csr":
        major, minor = key, _ALL            # A[i], A[rows]: rows of CSR
    else:
        major, minor = _ALL, key            # the same rows, the minor axis of CSC
    n_major, n_minor = A._major(A._shape), A._minor(A._shape)
    if type(minor) is slice and minor == _ALL:
        i = _entry._index(major, n_major)
        if i is None:
            return None
        if A._is_array:
            return _major_vector(A, i)
        return _entry.major_range(A, i, i + 1) if _on_views(A) else None
    if type(major) is not slice or major.step not in (None, 1):
        return None
    lines = _span(major, n_major)
    if lines is None:
        return None
    if type(minor) is slice and minor.step in (None, 1):
        cut = _span(minor, n_minor)
        return None if cut is None else _minor_range(A, *lines, *cut)
    j = _entry._index(minor, n_minor)
    if j is not None:
        return _minor_line(A, *lines, j)
    if major != _ALL:           # (scipy slices the major axis first: other dtype rules)
        return None
    picks = _picks(minor, n_minor)
    return None if picks is None else _minor_pick(A, picks)


def minor_line_of(A, name, k):
    """A.getcol(k) of a CSR matrix / A.getrow(k) of a CSC one (a CSR matrix
    there, as scipy's); scipy's path where this does not apply."""
    j = _entry._index(k, A._minor(A._shape))
    r = None
    if j is not None and _on_views(A):
        r = _minor_range(A, 0, A._major(A._shape), j, j + 1, as_csr=A.format == "csc")
    return r if r is not None else _bridge.call(A, name, (k,), {})


def _span(s, n):
    """(start, stop) of a slice of step 1 over an axis of n (an empty one
    for stop < start, as scipy's), or None for a slice Python refuses
    (scipy's path raises its error)."""
    try:
        i0, i1, _ = s.indices(n)
    except (TypeError, ValueError):
        return None
    return i0, max(i0, i1)


def _on_views(A):
    """Whether A's arrays are read on views here: free values on the CPU
    (not the device rule's MLX), in a dtype scipy's routines compute in."""
    return not _kernels.keep_in_mlx() and _entry._readable(A) and A._data.dtype != mx.float16


def _picks(key, n):
    """A minor key (a slice with a step, a 1-D integer or boolean array or
    list) as the in-range minor indices it picks, or None."""
    if type(key) is slice:
        try:
            return np.arange(*key.indices(n))
        except (TypeError, ValueError):     # (a step of 0, indices not integers)
            return None
    if type(key) is not np.ndarray and type(key) is not list:
        return None
    k = np.asarray(key)
    if k.ndim != 1:
        return None
    if k.dtype == np.bool_:
        return np.flatnonzero(k) if k.size == n else None
    if k.dtype.kind not in "iu":
        return None
    return k if k.size == 0 else _entry._in_range(k, n)


def _index_dtype(A, shape, nnz):
    """The index dtype scipy's constructor gives a result of ``shape`` with
    nnz entries made from A's index arrays: the array flavour keeps A's (an
    index of int64 stays int64), the matrix flavour narrows to int32 what
    fits; int64 for a dimension past int32."""
    if 0 not in shape and max(shape) > _I32MAX:
        return np.int64
    if A._is_array:
        return _arrays.np_dtype(A._indices.dtype)
    return np.int32 if nnz <= _I32MAX else np.int64


def _views(A):
    return tuple(_arrays.to_np(a) for a in (A._data, A._indices, A._indptr))


def _compressed(cls, shape, got, index_dtype, sorted_indices=None, canonical=None):
    """An array of class cls from the numpy arrays (data, indices, indptr):
    copied into new MLX buffers (nothing shared with A, as scipy's copies)."""
    d, ind, ptr = got
    data = _arrays.to_mx(d)
    _arrays.note_free(data)                 # made here from free values
    return cls._built(shape, data, _arrays.to_mx(ind, index_dtype),
                      _arrays.to_mx(ptr, index_dtype), sorted_indices=sorted_indices,
                      canonical=canonical)


def _shape(A, n_major, n_minor):
    return (n_major, n_minor) if A.format == "csr" else (n_minor, n_major)


def _minor_range(A, i0, i1, j0, j1, as_csr=False):
    """Lines i0 .. i1-1 cut to minor indices j0 .. j1-1, of A's format and
    class (scipy's _get_submatrix); as_csr: CSC's one row as a CSR matrix
    (scipy's csc getrow: the row's entries in column order, its sorted
    flag set)."""
    if not _on_views(A):
        return None
    got = _kernels.minor_range(*_views(A), A._minor(A._shape), i0, i1, j0, j1)
    if got is None:
        return None
    if as_csr:
        d, _, ptr = got
        cls = _bridge.CLASSES["csr"][0 if A._is_array else 1]
        shape = (1, i1 - i0)
        columns = _kernels.line_positions(ptr, ptr.dtype)
        return _compressed(cls, shape, (d, columns, np.array([0, d.size], dtype=ptr.dtype)),
                           _index_dtype(A, shape, d.size), sorted_indices=True)
    shape = _shape(A, i1 - i0, j1 - j0)
    # a range keeps the order of each line: sorted / canonical where A's are
    return _compressed(type(A), shape, got, _index_dtype(A, shape, got[0].size),
                       sorted_indices=True if A._sorted else None,
                       canonical=True if A._canonical else None)


def _minor_line(A, i0, i1, j):
    """A[r0:r1, j] of CSR (A[j, c0:c1] of CSC): the matrix flavour keeps the
    2-D line, the array flavour gives scipy's 1-D array (a COO array)."""
    if not A._is_array:
        return _minor_range(A, i0, i1, j, j + 1)
    if not _on_views(A):
        return None
    got = _kernels.minor_range(*_views(A), A._minor(A._shape), i0, i1, j, j + 1)
    if got is None:
        return None
    d, _, ptr = got
    coords_dtype = _index_dtype(A, (i1 - i0,), d.size)
    return _vector(i1 - i0, d, _kernels.line_positions(ptr, coords_dtype))


def _major_vector(A, i):
    """A[i] of a CSR array (A[:, i] of CSC): line i as scipy's 1-D array, a
    COO array of the line's entries in their stored order."""
    if not _on_views(A):
        return None
    d, ind, ptr = _views(A)
    s, e = int(ptr[i]), int(ptr[i + 1])
    n = A._minor(A._shape)
    return _vector(n, d[s:e], ind[s:e].astype(_index_dtype(A, (n,), e - s)))


def _vector(n, d, coords):
    """A 1-D COO array of n with numpy values d at numpy coordinates coords
    (copied into new MLX buffers).  scipy makes it by reshaping a single
    line, whose result it does not call canonical."""
    data = _arrays.to_mx(d)
    _arrays.note_free(data)
    cls = _bridge.CLASSES["coo"][0]
    new = cls.__new__(cls)          # as COO's _built, for one coordinate array
    new._shape, new._data, new._coords = (n,), data, (_arrays.to_mx(coords),)
    new._canonical, new._valid = False, True
    return new


def _minor_pick(A, picks):
    """A[:, picks] of CSR (A[picks, :] of CSC): scipy's fancy minor
    indexing; no picks gives scipy's empty array (int32 index arrays)."""
    n_major = A._major(A._shape)
    shape = _shape(A, n_major, picks.size)
    if picks.size == 0:
        if not _on_views(A):
            return None
        ptr = np.zeros(n_major + 1, dtype=np.int64 if max(shape) > _I32MAX else np.int32)
        empty = np.zeros(0, dtype=_arrays.np_dtype(A._data.dtype))
        return _compressed(type(A), shape, (empty, ptr[:0], ptr), ptr.dtype,
                           sorted_indices=True, canonical=True)
    if not _on_views(A):
        return None
    got = _kernels.minor_pick(*_views(A), A._minor(A._shape), picks)
    if got is None:
        return None
    # strictly rising picks keep each line's order (a mask, a positive step)
    rising = picks.size < 2 or bool(np.all(picks[1:] > picks[:-1]))
    known = (lambda flag: True if flag and rising else None)
    return _compressed(type(A), shape, got, _index_dtype(A, shape, got[0].size),
                       sorted_indices=known(A._sorted), canonical=known(A._canonical))
