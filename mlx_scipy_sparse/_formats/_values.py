"""Where a format keeps its values.

An MLX array, except for the numeric dtypes MLX cannot hold (complex128,
longdouble, clongdouble): those stay a numpy array on the host, which is
scipy's own storage, so nothing is downcast.  Every operation on host values
runs through the scipy bridge; MLX kernels never see them, and asking for them
as MLX (mx.array operands, traced values) raises the dtype error.
Indices are always MLX arrays.
"""
import numpy as np
import mlx.core as mx

from .. import _arrays
from . import _validate


def store(a, dtype=None):
    """Values as kept by a format: MLX where MLX holds the dtype, else host."""
    if _arrays.is_mx(a):
        return _arrays.to_mx(a, None if dtype is None else _validate.dtype(dtype))
    a = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
    if _arrays.supported_dtype(a.dtype):
        return _arrays.to_mx(a)
    if a.dtype.kind not in "biufc":
        _validate.dtype(a.dtype)            # object, str, ...: scipy refuses these too
    return np.array(a, copy=True, order="C")     # writeable, as scipy's .data


def on_host(a):
    return isinstance(a, np.ndarray)


def copy(a):
    return mx.array(a) if _arrays.is_mx(a) else store(a)


def holdable(dtype):
    """True if values of this dtype can be kept (MLX or host)."""
    return _arrays.np_dtype(dtype).kind in "biufc"
