"""The scipy bridge: run a scipy.sparse method on our arrays and bring the
result back as ours.

Our arrays are lent to scipy as read-only numpy views (no copy).  If a scipy
routine would write into them, it fails on the read-only flag and the call is
retried on copies, so a non-mutating method can never change its operand.
Mutating methods (`sort_indices`, `__setitem__`, ...) run on a copy whose
arrays are then adopted by the operand.
"""
import numpy as np
import scipy.sparse as _ss

from .. import _arrays

# format name -> (array class, matrix class), filled in by each format module
CLASSES = {}

MUTATING = frozenset({
    "sort_indices", "sum_duplicates", "eliminate_zeros", "prune", "setdiag",
    "resize", "__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
    "__idiv__", "__ipow__", "__imatmul__", "_setdiag",
})


def is_ours(x):
    from ._base import _spbase
    return isinstance(x, _spbase)


def is_sparse(x):
    return is_ours(x) or isinstance(x, (_ss.sparray, _ss.spmatrix))


def wrap(r):
    """scipy sparse -> ours (same format and flavour); tuples and lists
    element-wise; anything else unchanged."""
    if isinstance(r, (_ss.sparray, _ss.spmatrix)):
        is_array = isinstance(r, _ss.sparray)
        try:
            cls = CLASSES[r.format][0 if is_array else 1]
        except KeyError:
            return r
        return cls._from_scipy(r)
    if type(r) is tuple:
        return tuple(wrap(x) for x in r)
    if type(r) is list:
        return [wrap(x) for x in r]
    return r


def unwrap(x, copy=False):
    """ours -> scipy; mx.array -> numpy; containers element-wise."""
    if is_ours(x):
        return x._to_sp(copy=copy)
    if _arrays.is_mx(x):
        return np.array(_arrays.to_np(x))
    if type(x) is tuple:
        return tuple(unwrap(v, copy) for v in x)
    if type(x) is list:
        return [unwrap(v, copy) for v in x]
    return x


def _had_mx(args, kwargs):
    return any(_arrays.is_mx(a) for a in args) or any(_arrays.is_mx(v) for v in kwargs.values())


def _mx_result(r):
    if isinstance(r, np.ndarray) and not isinstance(r, np.matrix) and _arrays.supported_dtype(r.dtype):
        return _arrays.to_mx(r)
    return r


def call(obj, name, args, kwargs):
    """obj.name(*args, **kwargs) run by scipy, result wrapped back."""
    if name in MUTATING:
        S = obj._to_sp(copy=not obj._mutable_host)
        r = getattr(S, name)(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()})
        obj._assign_from(S)
        return obj if r is S else wrap(r)
    uargs = unwrap(args)
    ukw = {k: unwrap(v) for k, v in kwargs.items()}
    S = obj._to_sp()
    try:
        r = getattr(S, name)(*uargs, **ukw)
    except ValueError as e:
        if "read-only" not in str(e):
            raise
        S = obj._to_sp(copy=True)
        r = getattr(S, name)(*unwrap(args, True), **{k: unwrap(v, True) for k, v in kwargs.items()})
    if r is S:          # scipy answered "self" (asfptype, reshape to the same shape ...)
        return obj
    if r is NotImplemented:
        return r
    r = wrap(r)
    return _mx_result(r) if _had_mx(args, kwargs) else r


def _delegate(name):
    def method(self, *args, **kwargs):
        return call(self, name, args, kwargs)
    method.__name__ = name
    method.__doc__ = f"As scipy.sparse's `{name}` (run by scipy on views of our arrays)."
    return method


# dunders scipy defines that Python looks up on the type
DUNDERS = (
    "__add__", "__radd__", "__sub__", "__rsub__", "__truediv__", "__rtruediv__",
    "__pow__", "__abs__", "__round__", "__eq__", "__ne__", "__lt__", "__gt__",
    "__le__", "__ge__", "__getitem__", "__setitem__", "__iadd__", "__isub__",
    "__imul__", "__itruediv__", "__iter__", "__bool__", "__str__", "__repr__",
    "__nonzero__", "__rsub__", "__div__", "__rdiv__", "__idiv__", "_broadcast_to",
)


def install(cls, scipy_cls):
    """Give ``cls`` every public scipy method (and the operator dunders) it
    does not define itself, each run through the bridge."""
    names = [n for n in dir(scipy_cls) if not n.startswith("_")] + list(DUNDERS)
    for name in names:
        if not hasattr(scipy_cls, name) or _defined(cls, name):
            continue
        attr = getattr(scipy_cls, name)
        if isinstance(attr, property) or not callable(attr):
            continue
        setattr(cls, name, _delegate(name))
    cls.__hash__ = None


def _defined(cls, name):
    for klass in cls.__mro__:
        if klass is object:
            return False
        if name in klass.__dict__:
            return True
    return False
