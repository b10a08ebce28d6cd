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
from . import _bridge, _validate


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


def host_only(data, dtype=None):
    """True for values given as numpy (or lists) of a numeric dtype MLX cannot
    hold: they are built on the host, as scipy would, even when the index
    arrays that come with them are MLX."""
    if _arrays.is_mx(data):
        return False
    try:
        dt = np.dtype(dtype) if dtype is not None else np.asarray(data).dtype
    except (TypeError, ValueError):
        return False
    return holdable(dt) and not _arrays.supported_dtype(dt)


def host_input(arg1):
    """Constructor input with MLX arrays turned into numpy (scipy builds it)."""
    if _arrays.is_mx(arg1):
        return np.array(_arrays.to_np(arg1))
    if type(arg1) is tuple:
        return tuple(host_input(a) for a in arg1)
    return arg1


def assign(value, index_name=None):
    """A public-array assignment: dtype checked now (cheap), values on next use."""
    a = value if _arrays.is_mx(value) else np.asarray(value)
    if index_name:
        _validate._index_kind(index_name, a)
        return _arrays.to_mx(a)
    return store(a)


def check_host_dtypes(arg1, dtype):
    """Refuse non-numeric dtypes before scipy builds anything, by name.
    Numeric dtypes MLX cannot hold are kept on the host (_values)."""
    data = arg1[0] if type(arg1) is tuple and arg1 else arg1
    dt = dtype if dtype is not None else getattr(data, "dtype", None)
    if dt is not None and not _bridge.is_sparse(data) and not holdable(dt):
        _validate.dtype(dt)


class HeldValues:
    """Mixin of formats that keep their values in ``self._data`` and take
    a scipy object's arrays with ``_adopt``."""

    @classmethod
    def _from_scipy(cls, S):
        self = cls.__new__(cls)
        self._adopt(S)
        return self

    def _values(self):
        return self._data

    @property
    def data(self):
        self._data = _arrays.public(self._data)
        return self._data

    @data.setter
    def data(self, value):
        self._data = assign(value)
        self._valid = False     # checked again before next use
