"""Changes of shape and structure without a scipy object, for free values:
reshape of CSR / CSC / COO (scipy's answer is the COO form laid out again:
the entries in their order, the values shared with the array unless
copy=True, so only the coordinates are new, kept per pattern), resize of
CSR / CSC (on views), and the setdiag that rebuilds an array (on views)."""
import numpy as np
import mlx.core as mx
from scipy.sparse._sputils import check_shape

from .. import _arrays, _kernels
from . import _bridge, _values

_I32MAX = np.iinfo(np.int32).max


def reshaped(A, args, kwargs):
    """scipy's A.reshape(*args, **kwargs) for a 2-D result; None where
    scipy's path (or the traced one) decides."""
    if A.ndim != 2 or A._on_host() or set(kwargs) - {"order", "copy"} \
            or kwargs.get("order", "C") not in ("C", "F") \
            or _bridge.values_state(A) != _arrays.FREE:
        return None                     # (other keywords: scipy's errors)
    shape = check_shape(args, A.shape, allow_nd=range(1, 65))     # scipy's errors
    order, copy = kwargs.get("order", "C"), bool(kwargs.get("copy", False))
    if shape == A.shape:
        return A.copy() if copy else A
    if len(shape) != 2:
        return None
    A._ensure_valid()
    if not A._valid:
        return None
    if A.format == "coo":
        row, col = A._coords
        dtypes = (row.dtype, col.dtype)
    else:       # (the rows kept per pattern: the coordinates' memo knows them by identity)
        major = _kernels.entry_rows(A._indptr, A.nnz)
        row, col = (major, A._indices) if A.format == "csr" else (A._indices, major)
        dtypes = (A._indices.dtype,)        # scipy's COO form: both in the indices' dtype
    # scipy's index dtype along its way (COO form, reshape, COO constructor):
    # int64 past int32's range, or for arrays kept from int64 coordinates
    wide = max(*A.shape, *shape) > _I32MAX or (
        A._is_array and any(_arrays.np_dtype(d) == np.int64 for d in dtypes))
    coords = _kernels.reshaped_coords(row, col, A.shape, shape, order,
                                      np.int64 if wide else np.int32)
    data = _values.copy(A._values()) if copy else A.data   # shared, as scipy's
    cls = _bridge.CLASSES["coo"][0 if A._is_array else 1]
    return cls._built(shape, data, coords, False)


def resized(A, shape):
    """A checked 2-D CSR / CSC array with free CPU values resized to the
    2-D ``shape`` as scipy resizes one in place: lines past the new end
    cut off, entries past the new width dropped (the rest in their order),
    new lines empty.  A new array of ours (its index dtypes and flags kept,
    as scipy keeps them); None where this does not apply."""
    if A.format not in ("csr", "csc") or A.ndim != 2 or _kernels.keep_in_mlx():
        return None
    v = A._free_view()
    if v is None:
        return None
    n_major, n_minor = A._major(shape), A._minor(shape)
    got = _kernels.resized_lines(v, A._indices, A._indptr, n_major, n_minor)
    data, ind, ptr = (_arrays.to_mx(a) for a in got)
    _arrays.note_free(data)                 # made here from free values
    return type(A)._built(shape, data, ind, ptr, sorted_indices=A._sorted,
                          canonical=A._canonical)


def diagonal_rebuilt(A, values, k):
    """scipy's A.setdiag(values, k) where it rebuilds the array (a canonical
    CSR / CSC array with int32 index arrays, free CPU values, at least a
    thousandth of nnz new entries: scipy's COO route, no warning), as a new
    array of ours; None where scipy writes in place, inserts, or this cannot
    tell."""
    if A.format not in ("csr", "csc") or A.ndim != 2 or not all(A.shape) \
            or _arrays.is_mx(values) or _kernels.keep_in_mlx() \
            or isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        return None
    m, n = A.shape
    if (k > 0 and k >= n) or (k < 0 and -k >= m):
        return None                                     # scipy's error
    x = np.asarray(values)
    v = A._free_view()
    if v is None or x.ndim > 1 or (x.ndim and x.dtype != v.dtype) or x.dtype.kind not in "biufc" \
            or A._indices.dtype != mx.int32 or A._indptr.dtype != mx.int32 \
            or not A.has_canonical_format:
        return None
    size = min(m + k, n) if k < 0 else min(m, n - k)
    if x.ndim:
        size = min(size, len(x))
        x = x[:size]
    else:
        x = np.full(size, x, dtype=v.dtype)             # (cast as scipy fills its array)
    if not size or A.nnz + size > _I32MAX:
        return None
    k_lines = k if A.format == "csr" else -k            # CSC: the transposed frame
    got = _kernels.diagonal_replaced(v, A._indices, A._indptr, A._minor(A.shape), k_lines, x,
                                     min_added=max(A.nnz * 0.001, 1))
    if got is None:
        return None
    data, ind, ptr = (_arrays.to_mx(a) for a in got)
    _arrays.note_free(data)                             # made here from free values
    return type(A)._built(A.shape, data, ind, ptr, sorted_indices=True, canonical=True)


def places_set(A, key, x):
    """A[key] = x for a number x and a numpy-style key (integers, slices,
    integer or boolean arrays and lists) that reaches places A does not
    store: a canonical CSR / CSC array with int32 index arrays and free CPU
    values, on views.  The new array of ours (scipy's: the places inserted
    in order, every other entry as it was), or None where this does not
    apply (scipy's path then decides, errors included).  As in scipy, the
    stored places are written first in the values A shares with arrays made
    from it before (a transpose sees those, not the insertions)."""
    if A.format not in ("csr", "csc") or A.ndim != 2 or _kernels.keep_in_mlx() \
            or not _numpy_key(key) or A._indices.dtype != mx.int32 \
            or A._indptr.dtype != mx.int32:
        return None
    v = A._free_view()
    if v is None or not A.has_canonical_format:
        return None
    places = _selected(A.shape, key)
    if places is None or not places[0].size or A.nnz + places[0].size > _I32MAX:
        return None
    rows, cols = places
    major, minor = (rows, cols) if A.format == "csr" else (cols, rows)
    x = np.asarray(x, dtype=v.dtype)
    got = _kernels.places_written(v, A._indices, A._indptr, A._minor(A.shape), major, minor, x)
    if got is None:
        return None
    *got, written = got
    if written.size:
        shared = A._values_to_write()
        _arrays.forget(shared)                          # its node changes
        shared[mx.array(written)] = mx.array(x, dtype=shared.dtype)
    data, ind, ptr = (_arrays.to_mx(a) for a in got)
    _arrays.note_free(data)                             # made here from free values
    return type(A)._built(A.shape, data, ind, ptr, sorted_indices=True, canonical=True)


def _numpy_key(key):
    """Whether ``key`` selects places as numpy's indexing does (and scipy's):
    integers, slices, integer / boolean numpy arrays and flat lists of
    integers, alone or as a pair."""
    keys = key if type(key) is tuple else (key,)
    return 1 <= len(keys) <= 2 and all(_numpy_part(k) for k in keys)


def _numpy_part(k):
    if type(k) in (int, slice) or (isinstance(k, np.integer) and not isinstance(k, np.bool_)):
        return True
    if type(k) is np.ndarray:
        return k.dtype.kind in "iub" and k.ndim <= 2
    return type(k) is list and all(type(i) is int for i in k)


def _selected(shape, key):
    """(rows, cols) int64 of the places ``key`` selects, by numpy's own
    indexing of broadcast (memory-free) coordinate grids; None where numpy
    refuses the key (scipy's error then)."""
    m, n = shape
    rows = np.broadcast_to(np.arange(m, dtype=np.int64)[:, None], shape)
    cols = np.broadcast_to(np.arange(n, dtype=np.int64)[None, :], shape)
    try:
        return np.ravel(rows[key]), np.ravel(cols[key])
    except (IndexError, TypeError, ValueError):
        return None
