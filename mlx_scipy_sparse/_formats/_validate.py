"""Input checks run before any kernel sees the arrays.

Errors follow scipy's types and wording (scipy 1.17 `check_format` / COO
`_check`), so code that catches scipy's errors keeps working.  Checks that
need values (bounds, monotonicity) run only when the arrays can be
evaluated: inside mx.compile tracing the structure is trusted, and the
format class asks again the next time it is used outside tracing.

Cost: one pass over the indices (min and max) and one over indptr, done once
per set of arrays; the format classes cache the result in ``_valid``.
"""
import operator

import numpy as np

from .. import _arrays

_I32 = np.iinfo(np.int32).max
_I64 = np.iinfo(np.int64).max


class UnsupportedDtypeError(TypeError, ValueError):
    """A dtype MLX cannot hold.  A TypeError (what the dtype is wrong for),
    and a ValueError too because scipy raises ValueError for dtypes it
    refuses itself (object, str), so scipy-style handlers still catch it."""


def dtype(d, what="data"):
    """The MLX dtype for ``d``, or a clear error naming it; never a downcast."""
    nd = _arrays.np_dtype(d) if d is not None else None
    if nd is not None and nd.kind in "OUSVMm":
        raise UnsupportedDtypeError(
            f"scipy.sparse does not support dtype {nd} ({what}); MLX cannot hold it either")
    try:
        return _arrays.mx_dtype(d)
    except TypeError as e:
        hint = " (use complex64 explicitly if that precision is enough)" \
            if nd.kind == "c" else " (use float64 explicitly)" if nd.kind == "f" else ""
        raise UnsupportedDtypeError(f"{what}: {e}{hint}") from None


def shape_2d(shape):
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError as e:
        raise TypeError(f"invalid shape {shape!r}: {e}") from None
    if len(shape) != 2:
        raise ValueError(f"shape must be a 2-tuple, got {shape}")
    if any(s < 0 for s in shape):
        raise ValueError("'shape' elements cannot be negative")
    if any(s > _I64 for s in shape):
        raise OverflowError(f"shape {shape} is too large: dimensions must fit in int64")
    return shape


def index_dtype(dtypes, maxval):
    """scipy's rule for sparse arrays (types, not contents): int32 while
    everything fits, else int64; an int64 input stays int64."""
    if maxval > _I32 or any(not np.can_cast(_arrays.np_dtype(d), np.int32) for d in dtypes):
        return np.dtype(np.int64)
    return np.dtype(np.int32)


def _index_kind(name, a):
    dt = _arrays.np_dtype(a.dtype)
    if dt.kind not in "iu":
        raise ValueError(f"{name} array has non-integer dtype ({dt})")


def _downcast(arrays, maxval):
    """scipy's rule for sparse *matrices* (it checks contents): int64 index
    arrays go to int32 when every value fits; call only once values are
    known valid (bounded by maxval), so the cast cannot wrap."""
    if maxval > _I32 or not arrays or arrays[0].dtype != _arrays.mx_dtype(np.int64):
        return arrays
    import mlx.core as mx
    return [a.astype(mx.int32) for a in arrays]


def compressed(data, indices, indptr, n_major, n_minor, full_check=True, downcast=False):
    """CSR/CSC arrays (of the CSR of shape (n_major, n_minor)).

    Returns (data, indices, indptr, checked): indices/indptr cast to one
    index dtype, data/indices pruned to indptr[-1] as scipy does; ``checked``
    is False when the values could not be read (tracing) or were not asked for.
    ``downcast``: the matrix flavour's int32-when-the-values-fit rule.
    """
    if indptr.ndim != 1 or indices.ndim != 1 or data.ndim != 1:
        raise ValueError("data, indices, and indptr should be 1-D")
    _index_kind("indices", indices)
    _index_kind("indptr", indptr)
    if indptr.size != n_major + 1:
        raise ValueError(f"index pointer size {indptr.size} should be {n_major + 1}")
    if indices.size != data.size:
        raise ValueError("indices and data should have the same size")
    idx = index_dtype((indices.dtype, indptr.dtype), max(n_major, n_minor, indices.size))
    if _arrays.np_dtype(indices.dtype) != idx:
        indices = indices.astype(_arrays.mx_dtype(idx))
    if _arrays.np_dtype(indptr.dtype) != idx:
        indptr = indptr.astype(_arrays.mx_dtype(idx))
    if not _arrays.evaluable(indptr):
        return data, indices, indptr, False
    ptr = _arrays.to_np(indptr)
    if ptr[0] != 0:
        raise ValueError("index pointer should start with 0")
    if ptr[-1] > indices.size:
        raise ValueError("Last value of index pointer should be less than "
                         "the size of index and data arrays")
    if ptr[-1] < indices.size:          # scipy prunes the unused tail
        data, indices = data[:int(ptr[-1])], indices[:int(ptr[-1])]
    if not full_check or not _arrays.evaluable(indices):
        return data, indices, indptr, False
    ind = _arrays.to_np(indices)
    if ind.size:
        if ind.max() >= n_minor:
            raise ValueError(f"indices must be < {n_minor}")
        if ind.min() < 0:
            raise ValueError("indices must be >= 0")
    if ptr.size > 1 and np.diff(ptr).min() < 0:
        raise ValueError("indptr must be a non-decreasing sequence")
    if downcast:
        indices, indptr = _downcast([indices, indptr], max(n_minor, int(ptr[-1])))
    return data, indices, indptr, True


def coo(data, row, col, shape, downcast=False, bounds=True):
    """COO arrays: returns (row, col, checked) with one index dtype
    (``downcast`` as for `compressed`).  ``bounds=False``: coordinates a
    pattern function made from checked ones, whose bounds are not read
    again (on a GPU that read copied every coordinate to the host)."""
    if not (data.ndim == row.ndim == col.ndim == 1):
        raise ValueError("row, column, and data arrays must be 1-D")
    _index_kind("row", row)
    _index_kind("col", col)
    if not (data.size == row.size == col.size):
        raise ValueError("all index and data arrays must have the same length")
    idx = _arrays.mx_dtype(index_dtype((row.dtype, col.dtype), max(shape)))
    row = row if row.dtype == idx else row.astype(idx)
    col = col if col.dtype == idx else col.astype(idx)
    if not _arrays.evaluable(row, col):
        return row, col, False
    if row.size and bounds:
        for axis, c in enumerate((row, col)):
            c = _arrays.to_np(c)
            if c.max() >= shape[axis]:
                raise ValueError(f"axis {axis} index {c.max()} exceeds "
                                 f"matrix dimension {shape[axis]}")
            if c.min() < 0:
                raise ValueError(f"negative axis {axis} index: {c.min()}")
    if downcast:
        row, col = _downcast([row, col], max(shape))
    return row, col, True


def matmul_shapes(a, b, right=False):
    """Shapes of A @ X (or X @ A when ``right``, with A's shape first):
    scipy's wording, which it computes for A.T @ X.T in the right case."""
    if right:
        a, b = a[::-1], b[::-1]
    n = a[-1]
    if b[0] != n:
        sig = "1?" if len(b) == 1 or b[1] == 1 else "m"
        raise ValueError(f"matmul: dimension mismatch with signature "
                         f"(n,k={n}),(k={b[0]},{sig})->(n,{sig})")


def sparse_matmul_shapes(a, b):
    """Shapes of sparse @ sparse, with scipy's wording for that case."""
    if a[-1] != b[0]:
        raise ValueError(f"matmul: dimension mismatch with signature "
                         f"(n,k={a[-1]}),(k={b[0]},m)->(n,m)")


def transpose_axes(axes):
    if axes is not None and axes != (1, 0):      # scipy compares exactly this way
        raise ValueError("Sparse arrays/matrices do not support an 'axes' parameter "
                         "because swapping dimensions is the only logical permutation.")
