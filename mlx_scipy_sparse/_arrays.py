"""Host-side conversions between numpy and MLX arrays.

No device is touched here (but for the public arrays' own ops of dtypes MLX's
GPUs refuse, which run on the CPU stream): MLX arrays are created lazily and numpy views are
taken of evaluated buffers.  The one rule enforced everywhere: a dtype is
never changed silently (MLX would turn numpy float64 into float32).
"""
import functools
import operator
import threading
import weakref

import numpy as np
import mlx.core as mx

_NP_TO_MX = {
    np.dtype(np.bool_): mx.bool_,
    np.dtype(np.int8): mx.int8, np.dtype(np.int16): mx.int16,
    np.dtype(np.int32): mx.int32, np.dtype(np.int64): mx.int64,
    np.dtype(np.uint8): mx.uint8, np.dtype(np.uint16): mx.uint16,
    np.dtype(np.uint32): mx.uint32, np.dtype(np.uint64): mx.uint64,
    np.dtype(np.float16): mx.float16, np.dtype(np.float32): mx.float32,
    np.dtype(np.float64): mx.float64, np.dtype(np.complex64): mx.complex64,
}
_MX_TO_NP = {v: k for k, v in _NP_TO_MX.items()}
# numpy has no bfloat16; report it as float32 on the numpy side (values exact).
_MX_TO_NP[mx.bfloat16] = np.dtype(np.float32)


def is_mx(x):
    return isinstance(x, mx.array)


def np_dtype(dtype):
    """numpy dtype for a numpy/MLX dtype or anything np.dtype accepts."""
    if isinstance(dtype, mx.Dtype):
        return _MX_TO_NP[dtype]
    return np.dtype(dtype)


def mx_dtype(dtype):
    """MLX dtype for a numpy/MLX dtype; TypeError for what MLX cannot hold."""
    if isinstance(dtype, mx.Dtype):
        return dtype
    d = np.dtype(dtype)
    try:
        return _NP_TO_MX[d]
    except KeyError:
        raise TypeError(
            f"dtype {d} is not supported: MLX cannot hold it "
            f"(supported: {', '.join(sorted(str(k) for k in _NP_TO_MX))})"
        ) from None


def supported_dtype(dtype):
    try:
        mx_dtype(dtype)
        return True
    except TypeError:
        return False


def to_mx(x, dtype=None):
    """An MLX array with exactly the dtype asked for (or the input's own)."""
    if is_mx(x):
        return x if dtype is None or x.dtype == mx_dtype(dtype) else x.astype(mx_dtype(dtype))
    a = np.asarray(x) if dtype is None else np.asarray(x, dtype=np_dtype(dtype))
    target = mx_dtype(a.dtype if dtype is None else dtype)
    if not a.flags.c_contiguous or any(st < 0 for st in a.strides):
        a = np.array(a, order="C")      # a copy: MLX refuses negative strides, and
                                        # ascontiguousarray keeps them on size-1 views
    return mx.array(a, dtype=target)


def to_np(x, writeable=False):
    """numpy view of an MLX array (evaluates it); numpy input passes through.

    The view shares MLX's buffer, so it is read-only unless asked otherwise.
    """
    if not is_mx(x):
        return np.asarray(x)
    if x.dtype == mx.bfloat16:
        return np.array(x.astype(mx.float32))
    v = np.array(x, copy=False)
    if not writeable:
        v.flags.writeable = False
    return v


FREE, GRAD, TRACED = "free", "grad", "traced"


def grad_tracers(arrays):
    """Whether any of these evaluated arrays is a tracer of mx.grad / mx.vjp.

    A tracer the caller evaluated inside the loss (`mx.eval(v)`,
    `np.array(v)`, `v.any().item()`) passes mx.async_eval like a free array,
    but a new node made from it is an unevaluated tracer, which async_eval
    refuses.  stop_gradient makes that node without touching the data (a
    few microseconds, the cost of scheduling it); integer arrays carry no
    gradient and are not probed."""
    # float64 lives on the CPU stream (a GPU stream refuses it, which would
    # read as a tracer here)
    probe = [mx.stop_gradient(a, stream=mx.cpu if a.dtype == mx.float64 else None)
             for a in arrays if is_mx(a) and mx.issubdtype(a.dtype, mx.inexact)]
    if not probe:
        return False
    try:
        mx.async_eval(*probe)
    except ValueError:
        return True
    return False


# Format values found free.  A tracer is made a tracer when it is created, so
# an array object found free stays free unless something writes into it (an
# MLX write rebinds the object to a new node, which may be traced).  Only a
# format's own values objects are noted (its internal array, or the
# PublicArray it hands out as `.data`, whose in-place methods all call
# forget(); never a caller's array), and the library's writes into them call
# forget().  Saves the probe (~8 us a call on the CPU) on every later op.
_KNOWN_FREE = {}


def note_free(a):
    """Remember that the format-owned values object ``a`` is free."""
    if type(a) is mx.array or type(a) is PublicArray:
        k = id(a)
        _KNOWN_FREE[k] = weakref.ref(a, functools.partial(_drop_known, k))


def _drop_known(k, ref):
    if _KNOWN_FREE.get(k) is ref:
        del _KNOWN_FREE[k]


def forget(a):
    """``a`` is about to be written: its node may change."""
    _KNOWN_FREE.pop(id(a), None)


def known_free(a):
    r = _KNOWN_FREE.get(id(a))
    return r is not None and r() is a


def trace_state(*arrays):
    """FREE: no transformation sees these arrays, so no gradient can flow
    through an op on them; GRAD: under mx.grad / mx.vjp, where mx.eval still
    works; TRACED: mx.compile / mx.vmap, where evaluation is refused.

    mx.async_eval answers without waiting for pending work (a product of a
    still-lazy operand queues behind it instead of syncing); it refuses
    unevaluated tracers.  Evaluated tracers are found by grad_tracers."""
    if all(known_free(a) for a in arrays):
        return FREE
    try:
        mx.async_eval(*arrays)          # the hot path: every argument an mx.array
    except TypeError:
        return trace_state(*[a for a in arrays if is_mx(a)])
    except ValueError:
        try:
            mx.eval(*arrays)
            return GRAD
        except ValueError:
            return TRACED
    return GRAD if grad_tracers(arrays) else FREE


def is_free(a):
    """trace_state(a) == FREE for one array, without evaluating a tracer."""
    if known_free(a):
        return True
    try:
        mx.async_eval(a)
    except ValueError:
        return False
    return not grad_tracers((a,))


def fresh_copy(a, dtype):
    """(new, w): a new MLX array holding a C-contiguous copy of the numpy
    array ``a`` and a writeable numpy view of its buffer, for numpy to finish
    a result in place before anyone else sees ``new``; None where the view
    would not be that buffer laid out flat (MLX keeps a strided layout it is
    given, and numpy would then write into a copy)."""
    if not a.flags.c_contiguous or any(st < 0 for st in a.strides):
        a = np.array(a, order="C")      # MLX refuses negative strides (kept on size-1 views)
    new = mx.array(a, dtype=dtype)
    w = to_np(new, writeable=True)
    if not w.flags.c_contiguous or np.may_share_memory(w, a):
        return None
    return new, w


def evaluable(*arrays):
    """False inside mx.compile / mx.vmap tracing, where evaluation is refused."""
    try:
        mx.async_eval(*[a for a in arrays if is_mx(a)])
    except ValueError:
        try:
            mx.eval(*[a for a in arrays if is_mx(a)])
        except ValueError:
            return False
    return True


def own(x):
    """A new MLX array object for ``x`` that shares its buffer (no copy) and
    its graph node (gradients flow).  MLX's in-place writes (`x[i] = v`,
    `x += 1`) rebind the Python object written to a new buffer and never
    write into a buffer another array object holds, so what a format keeps
    through its own object cannot be changed by the caller's writes."""
    return x.reshape(x.shape) if is_mx(x) else x


def settled(x):
    """``x`` evaluated where it can be (not under mx.compile / mx.vmap).
    State a format object keeps and other threads may read must be: MLX
    streams belong to the thread that made them, so another thread could
    not evaluate a lazy array made here ("There is no Stream(cpu, 0) in
    current thread"); a tracer stays as it is."""
    if is_mx(x) and evaluable(x):
        mx.eval(x)
    return x


# Guards a format object's lazily made state (public handles, structure
# checks, kept products) against two threads making it at once.
STATE_LOCK = threading.RLock()


class PublicArray(mx.array):
    """What `.data`, `.indices`, `.indptr`, `.coords`, `.row` and `.col` return:
    an `mx.array` (same object type for MLX: lazy, differentiable, `.dtype` an
    `mx.Dtype`, every MLX op and method unchanged) with the numpy methods scipy
    code calls on those arrays and MLX lacks or spells differently:

    * `copy()`: an independent array (assigning into it leaves the original);
    * `astype(dtype)`: also takes numpy dtypes (`A.indices.astype(np.int64)`),
      never changing a dtype silently (`mx_dtype` refuses what MLX cannot hold);
    * `repeat(n, axis=None)` and `nonzero()` (which must evaluate: its shape
      depends on the values);
    * `any`/`all` also take numpy's `out=None` (`np.any(a)` passes it);
    * indexing and comparisons return a `PublicArray`, so numpy-style chains
      (`(a == 0).nonzero()`, `np.any(a < 0)`, `a[i:j][::-1].copy()`) work, and
      slice bounds may be 0-d arrays (what iterating an index array yields).

    Other results of MLX operations on it are plain `mx.array`s.  It is a
    subclass, not a patch: `mx.array` itself is left alone.
    """

    __slots__ = ()
    __hash__ = mx.array.__hash__        # defining __eq__ would drop it

    def copy(self, order="K"):
        return PublicArray(mx.array(self))

    def astype(self, dtype, stream=None, copy=True):
        return mx.array.astype(self, mx_dtype(dtype), stream)

    def repeat(self, repeats, axis=None):
        if isinstance(repeats, (int, np.integer)):
            return PublicArray(mx.repeat(self, int(repeats), axis))
        # per-element counts (numpy's other form): MLX has no such op
        return PublicArray(to_mx(np.repeat(to_np(self), to_np(repeats), axis)))

    def nonzero(self):
        return tuple(PublicArray(to_mx(i)) for i in np.nonzero(to_np(self)))

    def any(self, axis=None, keepdims=False, *, out=None, stream=None):
        _no_out(out)
        return mx.array.any(self, axis, keepdims, stream=stream)

    def all(self, axis=None, keepdims=False, *, out=None, stream=None):
        _no_out(out)
        return mx.array.all(self, axis, keepdims, stream=stream)

    def _mask(op):
        def compare(self, other):
            return public(op(self, other))
        return compare

    __eq__, __ne__ = _mask(mx.array.__eq__), _mask(mx.array.__ne__)
    __lt__, __le__ = _mask(mx.array.__lt__), _mask(mx.array.__le__)
    __gt__, __ge__ = _mask(mx.array.__gt__), _mask(mx.array.__ge__)
    del _mask

    def __getitem__(self, key):
        return PublicArray(mx.array.__getitem__(self, _int_slices(key)))

    def __setitem__(self, key, value):
        return mx.array.__setitem__(self, _int_slices(key), value)

    @property
    def flags(self):
        return Flags(self)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()


# What MLX's GPUs refuse: float64 in every op, and in a scatter (index
# assignment, `.at[].add`) 64-bit integers and complex64 too.  The kernel
# table routes such products to the CPU; on a GPU-default MLX a public array's
# own ops of these dtypes run on the CPU stream (the buffers are shared), so
# scipy-style code on `A.data` works there as it does on the CPU.
GPU_REFUSED = frozenset({mx.float64})
GPU_SCATTER_REFUSED = frozenset({mx.float64, mx.int64, mx.uint64, mx.complex64})


# Public arrays written in place (`A.indices[i] = v`, `A.indptr += 1`): MLX
# updates the same Python object, so a format object's cached structure check
# (and the kernel table's caches keyed by the arrays' identity) would not see
# it.  id -> [weak reference, number of writes]; an entry goes with its array.
_WRITES = {}


def writes(*arrays):
    """How many times each of these public arrays was written in place."""
    if not _WRITES:                     # the common case: nothing ever was
        return (0,) * len(arrays)
    return tuple(e[1] if e is not None and e[0]() is a else 0
                 for a, e in ((a, _WRITES.get(id(a))) for a in arrays))


def _drop_writes(key, ref):
    e = _WRITES.get(key)
    if e is not None and e[0] is ref:
        del _WRITES[key]


# Public arrays the caller made read-only (`a.flags.writeable = False`, numpy's
# way, which scipy's tests and joblib-style callers use): id -> weak reference.
_READ_ONLY = {}


def _is_read_only(a):
    e = _READ_ONLY.get(id(a))
    return e is not None and e() is a


class Flags:
    """numpy's `.flags` for a public array.  WRITEABLE is real: set to False,
    every in-place write through that array (`a[i] = v`, `a += 1`) raises
    numpy's ValueError; copies are writeable.  The layout flags are those of
    a contiguous buffer the array owns."""

    _ALIASES = {"W": "WRITEABLE", "C": "C_CONTIGUOUS", "F": "F_CONTIGUOUS",
                "O": "OWNDATA", "A": "ALIGNED", "X": "WRITEBACKIFCOPY"}

    def __init__(self, a):
        self._a = a

    def _key(self, key):
        key = str(key).upper()
        key = self._ALIASES.get(key, key)
        if key not in self._ALIASES.values():
            raise KeyError(f"Unknown flag {key}")
        return key

    def __getitem__(self, key):
        key = self._key(key)
        if key == "WRITEABLE":
            return not _is_read_only(self._a)
        if key == "F_CONTIGUOUS":
            return self._a.ndim <= 1
        return key != "WRITEBACKIFCOPY"

    def __setitem__(self, key, value):
        if self._key(key) != "WRITEABLE":
            raise ValueError(f"cannot set {key} flag")
        k = id(self._a)
        if value:
            _READ_ONLY.pop(k, None)
        else:
            _READ_ONLY[k] = weakref.ref(self._a, functools.partial(_drop_read_only, k))

    writeable = property(lambda self: self["WRITEABLE"],
                         lambda self, v: self.__setitem__("WRITEABLE", v))
    c_contiguous = property(lambda self: self["C_CONTIGUOUS"])
    f_contiguous = property(lambda self: self["F_CONTIGUOUS"])
    owndata = property(lambda self: self["OWNDATA"])

    def __repr__(self):
        return "\n".join(f"  {k} : {self[k]}" for k in
                         ("C_CONTIGUOUS", "F_CONTIGUOUS", "OWNDATA", "WRITEABLE", "ALIGNED",
                          "WRITEBACKIFCOPY"))


def _drop_read_only(key, ref):
    if _READ_ONLY.get(key) is ref:
        del _READ_ONLY[key]


def _counts_writes(fn):
    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        if _READ_ONLY and _is_read_only(self):
            raise ValueError("assignment destination is read-only")
        forget(self)                    # the write may bring a tracer in
        r = fn(self, *args, **kwargs)
        k = id(self)
        e = _WRITES.get(k)
        if e is None or e[0]() is not self:
            e = _WRITES[k] = [weakref.ref(self, functools.partial(_drop_writes, k)), 0]
        e[1] += 1
        return r
    return method


def _host_stream_for(kinds, fn):
    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        if self.dtype in kinds:
            with mx.stream(mx.cpu):
                return fn(self, *args, **kwargs)
        return fn(self, *args, **kwargs)
    return method


for _name in ("copy", "astype", "repeat", "any", "all", "__getitem__", "__eq__", "__ne__",
              "__lt__", "__le__", "__gt__", "__ge__", "__neg__", "__abs__", "__add__",
              "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
              "__rtruediv__", "__pow__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
              "sum", "max", "min"):
    setattr(PublicArray, _name, _host_stream_for(GPU_REFUSED, getattr(PublicArray, _name)))
PublicArray.__setitem__ = _host_stream_for(GPU_SCATTER_REFUSED, PublicArray.__setitem__)
_IN_PLACE = ("__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
             "__ifloordiv__", "__imod__", "__ipow__", "__imatmul__", "__iand__", "__ior__",
             "__ixor__", "__ilshift__", "__irshift__")
for _name in _IN_PLACE:
    setattr(PublicArray, _name, _counts_writes(getattr(PublicArray, _name)))
del _name


def _no_out(out):
    if out is not None:
        raise TypeError("out= is not supported: MLX arrays are immutable results")


def _int_slices(key):
    """MLX takes only ints as slice bounds; numpy also takes 0-d arrays."""
    if isinstance(key, slice):
        b = (key.start, key.stop, key.step)
        if any(is_mx(x) for x in b):
            return slice(*(x if x is None else operator.index(x) for x in b))
    elif isinstance(key, tuple) and any(isinstance(k, slice) for k in key):
        return tuple(_int_slices(k) for k in key)
    return key


def public(x):
    """`x` as handed out by a format's public attributes: MLX arrays as
    `PublicArray` (same graph node, so tracing and gradients flow), anything
    else (host values of a dtype MLX cannot hold) unchanged."""
    if is_mx(x) and type(x) is not PublicArray:
        return PublicArray(x)
    return x
