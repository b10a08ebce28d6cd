"""float64 on a GPU-default MLX: every op on float64 values must run on the
CPU stream (MLX refuses float64 on GPUs, and would fail a slice or a cast of
our values there).  Rather than thread a stream through every method, each
public method of a format class is wrapped once, at class creation: when the
default device is a GPU and the call involves float64 values (the operand's
own, or an argument's), it runs inside the kernel table's CPU-stream context.
Products pick their own stream inside the kernel table, so float32 work still
goes to the GPU.  Off the GPU the wrapper costs one device check.
"""
import functools

import numpy as np
import mlx.core as mx

from .. import _kernels

# cheap accessors and hooks that never run an MLX op
_SKIP = frozenset({
    "__init_subclass__", "__class_getitem__", "__getattr__", "__len__", "__hash__",
    "__reduce__", "format", "shape", "ndim", "dtype", "nnz", "size", "maxprint",
})


_F64 = mx.float64


def _is_f64(x, depth=0):
    """Whether an argument carries float64 values: arrays (MLX, numpy, ours,
    scipy's), dtypes, Python floats, or tuples/lists of those."""
    if isinstance(x, mx.array):         # the hot path: products with MLX operands
        return x.dtype == _F64
    if x is None or isinstance(x, (bool, int)):
        return False
    if isinstance(x, float):
        return True
    if isinstance(x, mx.Dtype):
        return x == mx.float64
    if isinstance(x, (tuple, list)):
        return depth < 3 and any(_is_f64(e, depth + 1) for e in x)
    if isinstance(x, (str, np.dtype, type)):
        try:
            return np.dtype(x) == np.float64
        except TypeError:
            return False
    dt = getattr(x, "dtype", None)
    return dt is not None and not callable(dt) and _is_f64(dt, depth)


def _involves_f64(self, args, kwargs):
    if _is_f64(getattr(self, "_data", None)):
        return True
    for a in args:
        if _is_f64(a):
            return True
    return bool(kwargs) and any(_is_f64(v) for v in kwargs.values())


def _guard(fn):
    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        if _kernels.gpu_default() and _involves_f64(self, args, kwargs):
            with _kernels.cpu_stream():
                return fn(self, *args, **kwargs)
        return fn(self, *args, **kwargs)
    method._f64_guarded = True
    return method


def guards_itself(fn):
    """Mark a method that checks float64 itself (a hot path), so that
    guard_class leaves it unwrapped."""
    fn._f64_guarded = True
    return fn


guard = _guard


def guard_class(cls):
    """Wrap the public methods, operators and properties ``cls`` defines."""
    for name, attr in list(vars(cls).items()):
        if name in _SKIP or (name.startswith("_") and not name.startswith("__")
                             and name != "_from_scipy"):
            continue
        if isinstance(attr, property):
            setattr(cls, name, property(*(f and _guard(f) for f in (attr.fget, attr.fset)),
                                        attr.fdel, attr.__doc__))
        elif isinstance(attr, classmethod):
            setattr(cls, name, classmethod(_guard(attr.__func__)))   # cls has no _data
        elif callable(attr) and not isinstance(attr, (type, staticmethod)) \
                and not getattr(attr, "_f64_guarded", False):
            setattr(cls, name, _guard(attr))
    return cls

