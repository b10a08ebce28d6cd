"""Input checks run before any kernel sees the arrays.

Errors follow scipy's types and wording.  Checks that need values (bounds,
monotonicity) run only when the arrays can be evaluated: inside mx.compile
tracing the structure is trusted.
"""
import operator

import numpy as np

from .. import _arrays


def shape_2d(shape):
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError("invalid shape: dimensions must be integers") from None
    if len(shape) != 2:
        raise ValueError(f"shape must be a 2-tuple, got {shape}")
    if any(s < 0 for s in shape):
        raise ValueError("'shape' elements cannot be negative")
    return shape


def compressed(data, indices, indptr, n_major, n_minor, full_check=True):
    """CSR/CSC arrays: lengths always; contents when they can be read."""
    if indptr.ndim != 1 or indices.ndim != 1 or data.ndim != 1:
        raise ValueError("data, indices, and indptr should be 1-D")
    for name, a in (("indices", indices), ("indptr", indptr)):
        if _arrays.np_dtype(a.dtype).kind not in "iu":
            raise ValueError(f"{name} array has non-integer dtype ({_arrays.np_dtype(a.dtype)})")
    if indptr.size != n_major + 1:
        raise ValueError(f"index pointer size {indptr.size} should be {n_major + 1}")
    if indices.size != data.size:
        raise ValueError("indices and data should have the same size")
    if not full_check or not _arrays.evaluable(indices, indptr):
        return
    ptr = _arrays.to_np(indptr)
    ind = _arrays.to_np(indices)
    if ptr[0] != 0:
        raise ValueError("index pointer should start with 0")
    if ptr[-1] > ind.size:
        raise ValueError("Last value of index pointer should be less than the size "
                         "of index and data arrays")
    if ptr[-1] != ind.size:
        raise ValueError(f"index pointer ends at {ptr[-1]} but there are {ind.size} "
                         "indices and values")
    if np.any(np.diff(ptr) < 0):
        raise ValueError("index pointer values must form a non-decreasing sequence")
    if ind.size:
        if ind.min() < 0:
            raise ValueError("column index values must be >= 0")
        if ind.max() >= n_minor:
            raise ValueError(f"column index values must be < {n_minor}")


def coo(data, row, col, shape):
    if not (data.ndim == row.ndim == col.ndim == 1):
        raise ValueError("row, column, and data arrays must be 1-D")
    if not (data.size == row.size == col.size):
        raise ValueError("row, column, and data array must all be the same length")
    if not _arrays.evaluable(row, col) or row.size == 0:
        return
    r, c = _arrays.to_np(row), _arrays.to_np(col)
    if r.max() >= shape[0]:
        raise ValueError("row index exceeds matrix dimensions")
    if c.max() >= shape[1]:
        raise ValueError("column index exceeds matrix dimensions")
    if r.min() < 0:
        raise ValueError("negative row index found")
    if c.min() < 0:
        raise ValueError("negative column index found")


def transpose_axes(axes):
    if axes is not None and tuple(axes) != (1, 0):
        raise ValueError("Sparse arrays/matrices do not support an 'axes' parameter "
                         "because swapping dimensions is the only logical permutation.")
