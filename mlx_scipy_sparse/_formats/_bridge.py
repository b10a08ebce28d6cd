"""The scipy bridge: run a scipy.sparse method on our arrays and bring the
result back as ours.

Our arrays are lent to scipy as read-only numpy views (no copy).  If a scipy
routine would write into them, it fails on the read-only flag and the call is
retried on copies, so a non-mutating method can never change its operand.
Mutating methods (`sort_indices`, `__setitem__`, ...) run on a copy whose
arrays are then adopted by the operand.

float16 values (which MLX holds and scipy refuses) are lent to scipy as a
float32 copy (exact); what scipy only moves (indexing, conversions,
transposes) comes back float16, what it computes comes back as scipy computes
for float16 operands (dense ones: it upcasts them): float32.

A scipy sparse operand on the left of ours (``ss_A - sp_B``) makes scipy's
operator give way to our reflected one; that runs scipy's own forward
operator (``ss_A.__sub__``) on a view of ours, so the result has the format
and flavour scipy-with-scipy gives, brought back as ours.
"""
import types

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss

from .. import _arrays, _kernels
from .._kernels._device import keep_in_mlx

# format name -> (array class, matrix class), filled in by each format module
CLASSES = {}

MUTATING = frozenset({
    "sort_indices", "sum_duplicates", "eliminate_zeros", "prune", "setdiag",
    "resize", "__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
    "__idiv__", "__ipow__", "__imatmul__", "_setdiag",
})


_SPBASE = []    # our base class, filled on first use (_base imports this module)


def is_ours(x):
    if not _SPBASE:
        from ._base import _spbase
        _SPBASE.append(_spbase)
    return isinstance(x, _SPBASE[0])


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


def unwrap(x, copy=False, views=False):
    """ours -> scipy; mx.array -> numpy (a copy: scipy may keep what it is
    given; ``views``: read-only views, for calls that copy their input);
    containers element-wise."""
    if is_ours(x):
        return lend(x, copy)
    if _arrays.is_mx(x):
        return _arrays.to_np(x) if views else np.array(_arrays.to_np(x))
    if type(x) is tuple:
        return tuple(unwrap(v, copy, views) for v in x)
    if type(x) is list:
        return [unwrap(v, copy, views) for v in x]
    return x


def is_scipy(x):
    return isinstance(x, (_ss.sparray, _ss.spmatrix))


# -- float16: held in MLX, lent to scipy as float32 ---------------------------------
F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)

# what only moves (or picks) values, and the elementwise unary functions: for
# float16 operands the result is float16 (numpy's rule; numpy's float16 loops
# also compute in float32 and round once), though scipy worked on float32 values
KEEPS_F16 = frozenset({
    "__getitem__", "__iter__", "tocsr", "tocsc", "tocoo", "toarray", "todense", "reshape",
    "transpose", "copy", "sorted_indices", "diagonal", "resize", "getrow", "getcol",
    "eliminate_zeros", "max", "min", "nanmax", "nanmin", "find", "tril", "triu", "hstack",
    "vstack", "bmat", "block_array", "block_diag", "expand_dims", "permute_dims", "swapaxes",
    "__str__", "__repr__",
    "__abs__", "__round__", "sign", "sqrt", "sin", "tan", "arcsin", "arctan", "sinh", "tanh",
    "arcsinh", "arctanh", "expm1", "log1p", "deg2rad", "rad2deg", "floor", "ceil", "trunc",
    "rint",
})


def _sparse_dtypes(x, depth=0):
    if is_sparse(x):
        return [x.dtype]
    if type(x) in (tuple, list) and depth < 3:
        return [d for v in x for d in _sparse_dtypes(v, depth + 1)]
    return []


def f16_result(*operands):
    """Whether numpy gives float16 for the sparse operands among these
    (nested in lists and tuples too, as bmat's blocks)."""
    dts = _sparse_dtypes(operands)
    return bool(dts) and np.result_type(*dts) == F16


def lend(x, copy=False):
    """Ours as a scipy object for scipy to work on: views of our arrays, but
    float16 values (scipy refuses them) as a float32 copy, which is exact."""
    if x.dtype == F16:
        x = x._with_values(x._values().astype(mx.float32))
    return x._to_sp(copy=copy)


def narrow(r):
    """A result scipy computed from float16 values widened to float32 and only
    moved, back to float16: ours, numpy arrays and scalars, the dtype in a
    printed header; generators, tuples and lists element-wise."""
    if is_ours(r) and r.dtype == _F32 and r.format in ("csr", "csc", "coo") \
            and not r._on_host() and r._values().dtype == mx.float32:
        return r._with_values(r._values().astype(mx.float16))
    if isinstance(r, np.ndarray) and r.dtype == _F32:
        return r.astype(F16)
    if isinstance(r, np.float32):
        return np.float16(r)
    if isinstance(r, str):
        return r.replace("dtype 'float32'", "dtype 'float16'", 1)
    if isinstance(r, types.GeneratorType):
        return (narrow(x) for x in r)
    if type(r) is tuple:
        return tuple(narrow(v) for v in r)
    if type(r) is list:
        return [narrow(v) for v in r]
    return r        # scipy's DIA/BSR/DOK/LIL have no float16 storage: float32


# reflected operator -> scipy's forward operator, run with scipy's operand first
REFLECTED = {"__radd__": "__add__", "__rsub__": "__sub__", "__rmul__": "__mul__",
             "__rmatmul__": "__matmul__", "__rtruediv__": "__truediv__"}


def _had_mx(args, kwargs):
    return any(_arrays.is_mx(a) for a in args) or any(_arrays.is_mx(v) for v in kwargs.values())


def _mx_result(r):
    if isinstance(r, np.ndarray) and not isinstance(r, np.matrix) and _arrays.supported_dtype(r.dtype):
        return _arrays.to_mx(r)
    return r


def _values_of(operands, inexact, exact, depth=0):
    """Sort the MLX values among these operands (ours, MLX arrays, nested in
    tuples and lists) into those that could carry a gradient (inexact) and
    the bool / integer ones; ours are read without dropping an owned buffer."""
    for x in operands:
        if isinstance(x, mx.array):
            (inexact if mx.issubdtype(x.dtype, mx.inexact) else exact).append(x)
        elif is_ours(x) and hasattr(x, "_data"):
            v = x._peek() if hasattr(x, "_peek") else x._data
            if isinstance(v, mx.array):
                (inexact if mx.issubdtype(v.dtype, mx.inexact) else exact).append(v)
        elif type(x) in (tuple, list) and depth < 3:
            _values_of(x, inexact, exact, depth + 1)


def _carries_values(r, depth=0):
    """Whether a result hands back inexact MLX values (ours or MLX arrays),
    or values a later conversion would hand back as MLX (ours held on the
    host: DIA/BSR/DOK/LIL)."""
    if is_ours(r) and not hasattr(r, "_data"):
        return np.dtype(r.dtype).kind in "fc"
    if is_ours(r):
        r = getattr(r, "_data", None)
    if _arrays.is_mx(r):
        return mx.issubdtype(r.dtype, mx.inexact)
    if type(r) in (tuple, list) and depth < 3:
        return any(_carries_values(x, depth + 1) for x in r)
    return False


def _inexact_numpy(r, depth=0):
    """numpy float/complex results: computed on the host from traced values
    they are constants to mx.grad, and a loss that adds them would lose that
    term without a word (integer results -- positions, counts -- carry no
    gradient and pass)."""
    if isinstance(r, (np.ndarray, np.generic)):
        return r.dtype.kind in "fc"
    if type(r) in (tuple, list) and depth < 3:
        return any(_inexact_numpy(x, depth + 1) for x in r)
    return False


def values_state(*operands):
    """The state of the MLX values among ``operands`` (_arrays.FREE when
    there are none).  Bool and integer values carry no gradient, but inside
    mx.compile / mx.vmap (a comparison's answer in a compiled function) they
    are tracers scipy cannot read: TRACED."""
    _kernels.make_room()            # nearly every op asks this first (see there)
    inexact, exact = [], []
    _values_of(operands, inexact, exact)
    known = all(_arrays.known_free(a) for a in inexact)
    state = _arrays.FREE if known else _arrays.trace_state(*inexact)
    if state == _arrays.FREE and exact and not all(_arrays.known_free(a) for a in exact):
        if not _arrays.evaluable(*exact):
            return _arrays.TRACED
        known = False       # bool / integer values noted free as well (views read them)
    if state == _arrays.FREE and not known:
        _note_values(operands)
    return state


def _note_values(operands, depth=0):
    """Note the formats' own values objects among free operands (never the
    caller's MLX arrays).  Reading ``_data`` gives up an owned buffer: the
    probe that found them free made MLX nodes of them."""
    for x in operands:
        if is_ours(x) and hasattr(x, "_data"):
            _arrays.note_free(x._data)
        elif type(x) in (tuple, list) and depth < 3:
            _note_values(x, depth + 1)


def transformed(name, *operands, state=None):
    """values_state, where under mx.compile / mx.vmap scipy cannot run at
    all: the call is refused here with the op's name."""
    state = values_state(*operands) if state is None else state
    if state == _arrays.TRACED:
        raise NotImplementedError(
            f"{name} runs through scipy on the host, which cannot run inside mx.compile / "
            f"mx.vmap (the values are traced)")
    return state


def refuse_detached(name, state, r):
    """No silent gradients: under mx.grad, a result of scipy's code that hands
    back MLX values would be cut off from the values it came from (its
    gradient would be zero without a word), so it is refused."""
    if state == _arrays.GRAD and (_carries_values(r) or _inexact_numpy(r)):
        raise NotImplementedError(
            f"{name} is not differentiable yet: it runs through scipy on the host, and its "
            f"result would be cut off from the values under mx.grad (a zero gradient). "
            f"Use an op that runs in MLX, or take the values out of the graph first "
            f"(mx.stop_gradient)")
    return r


def call(obj, name, args, kwargs, state=None):
    """obj.name(*args, **kwargs) run by scipy, result wrapped back; ``state``:
    values_state of the operands, where the caller has it already."""
    if state is None:
        state = values_state(obj, *args, *kwargs.values())
    if state != _arrays.FREE or keep_in_mlx():  # values moved in MLX where they can be
        from ._moves import moved
        r = moved(name, lambda a, k: getattr(a[0], name)(*a[1:], **k), (obj, *args), kwargs,
                  free=state == _arrays.FREE)
        if r is not None:
            return r
    transformed(name, state=state)
    if state == _arrays.GRAD and name in MUTATING and _carries_values(obj):
        refuse_detached(name, state, obj)
    return refuse_detached(name, state, _call(obj, name, args, kwargs))


def _call(obj, name, args, kwargs):
    if name in MUTATING:
        S = lend(obj, copy=not obj._mutable_host)
        r = getattr(S, name)(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()})
        if obj.dtype == F16 and S.dtype == _F32:
            S.data = S.data.astype(F16)     # lent as float32: the operand stays float16
        obj._assign_from(S)
        return obj if r is S else wrap(r)
    if name in REFLECTED and args and is_scipy(args[0]):
        # scipy's operand is on the left: scipy's own forward operator, so the
        # result is what scipy gives with two of its own
        left, forward = args[0], REFLECTED[name]

        def run(S, copy):
            return getattr(left, forward)(S)
    else:
        def run(S, copy):
            return getattr(S, name)(*unwrap(args, copy),
                                    **{k: unwrap(v, copy) for k, v in kwargs.items()})
    S = lend(obj)
    try:
        r = run(S, False)
    except ValueError as e:
        if "read-only" not in str(e):
            raise
        S = lend(obj, copy=True)
        r = run(S, True)
    if r is S:          # scipy answered "self" (asfptype, reshape to the same shape ...)
        return obj
    if r is NotImplemented:
        return r
    r = (wrap(x) for x in r) if isinstance(r, types.GeneratorType) else wrap(r)  # __iter__
    if name in KEEPS_F16 and f16_result(obj, *args, *kwargs.values()):
        r = narrow(r)
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
