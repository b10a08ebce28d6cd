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

from .. import _arrays, _kernels
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
    return copy_owned(a)[0]


def copy_owned(a):
    """(a copy of the values, a writeable numpy view of its buffer or None).
    Free values on the CPU: numpy's copy now (5 us for 40k values) rather
    than an MLX copy evaluated later (~20 us), a new values object, noted
    free, whose buffer nobody else holds."""
    if not _arrays.is_mx(a):                # host values (scipy's): a copy made here
        a = np.asarray(a)
        if a.dtype.kind in "biufc" and _arrays.supported_dtype(a.dtype):
            made = _arrays.fresh_copy(a, _arrays.mx_dtype(a.dtype))
            if made is not None:
                _arrays.note_free(made[0])
                return made
        return store(a), None
    if a.dtype != mx.bfloat16 and _kernels.bare_cpu(a):
        made = _arrays.fresh_copy(_arrays.to_np(a), a.dtype)
        if made is not None:
            _arrays.note_free(made[0])
            return made
    with mx.stream(_kernels.stream_for(a.dtype)):      # float64: the CPU stream
        return mx.array(a), None


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

    # The values object lives in __dict__["_vals"].  Beside it, "_owned" may
    # hold a writeable numpy view of its buffer, set only by code that just
    # made that buffer from free values on the host (a copy, an in-place
    # scale): nobody else holds the buffer and no lazy computation reads it,
    # so an in-place scale may write it as scipy writes its own data.  Any
    # read of _data could keep the array or read it later, so every read and
    # every assignment drops the view (the in-place path reads __dict__).
    @property
    def _data(self):
        self.__dict__.pop("_owned", None)
        return self._peek()

    @_data.setter
    def _data(self, value):
        d = self.__dict__
        d.pop("_owned", None)
        d["_vals"] = value

    def _peek(self):
        """The values object for a check that neither keeps it nor reads it
        later (the owned view stays)."""
        try:
            return self.__dict__["_vals"]
        except KeyError:
            raise AttributeError("_data") from None

    def _set_values(self, values, copy=False):
        """self._data = values, or a copy of them whose buffer this object
        owns (free values on the CPU: see _owned above)."""
        view = None
        if copy:
            values, view = copy_owned(values)
        self._data = values
        if view is not None:
            self.__dict__["_owned"] = view

    def _values(self):
        return self._data

    def _glance(self):
        # dtype, size and kind only: an owned buffer stays owned
        return self._peek()

    def _free_canonical_view(self, canonical=True):
        """A read-only numpy view of the values for a reduction on the CPU
        default (scipy's own reduction of its data), where the values are
        already known free, the array checked and (``canonical``) canonical,
        and no device rule applies; None otherwise (the op's general path
        decides).  The cheapest checks first: a reduction of 40k values
        costs scipy 9 us."""
        d = self.__dict__
        if (canonical and d.get("_canonical") is not True) or d.get("_valid") is not True \
                or len(self._shape) != 2:
            return None
        v = d.get("_vals")
        if not isinstance(v, mx.array) or not _arrays.known_free(v) or _kernels.keep_in_mlx() \
                or v.dtype == mx.bfloat16 or (v.dtype != mx.float64 and _kernels.gpu_default()):
            return None
        a = _arrays.to_np(v)
        # MLX's 64-bit integers come out as longlong: numpy's int64 is scipy's type
        return a.view(a.dtype.str) if a.dtype.char in "qQ" else a

    @property
    def data(self):
        d = self._data
        if _arrays.is_mx(d) and type(d) is not _arrays.PublicArray:
            with _arrays.STATE_LOCK:        # one public object, made once, evaluated
                d = self._data
                if type(d) is not _arrays.PublicArray:
                    d = self._data = _arrays.settled(_arrays.public(d))
        return d

    def _values_to_write(self):
        """The values object an in-place write goes into.  Views and shares of
        free values hold the public object (A.data), made when first asked
        for: written when it exists; until then nobody else holds ours, and
        writing it saves making that object (~37 us of a ~50 us `A *= 2`
        on 40k entries here)."""
        d = self._data
        return d if type(d) is not _arrays.PublicArray else self.data

    @data.setter
    def data(self, value):
        self._data = _arrays.own(assign(value))
        self._valid = False     # checked again before next use


def read_only(a):
    """Values for a scipy object that must not change them: MLX as a
    read-only numpy view, host values as a read-only view of the host array
    (scipy's read-only methods sum duplicates in place; the bridge retries
    such calls on copies when the view refuses the write)."""
    if isinstance(a, np.ndarray):
        v = a.view()
        v.flags.writeable = False
        return v
    return _arrays.to_np(a)


class IndexHandles:
    """Index arrays a format keeps apart from the ones it hands out.

    A format computes with its own index arrays (``_index(key)``), objects
    nobody else holds: MLX never writes into a buffer in place behind
    another array object, so nothing the caller does can change them.  The
    public attribute (`A.indices`, `A.row`) is a copy made on first access,
    a handle: an MLX write through it (`A.indices[0] = 1`, `A.indptr += 1`)
    is counted, and the format adopts a copy of the written handle (and
    checks it again) before its next use, as scipy's arrays see such writes.
    A write through a numpy view of a handle (`np.asarray(A.indices)[0] = 1`)
    cannot be seen by anyone, and since the handle is a copy it never
    reaches the arrays the kernels read.

    A transpose shares its source's handles (scipy's `A.T.indices is
    A.indices`); a derived array (`A * 2`, `A.copy()`) shares the internal
    arrays and none of the handles.
    """

    _handles = None         # key -> PublicArray handed out; shared with transposes
    _seen = None            # key -> writes to that handle already adopted

    def _index(self, key):
        raise NotImplementedError

    def _set_index(self, key, value):
        raise NotImplementedError

    def _handle(self, key):
        h = self._handles.get(key) if self._handles else None
        if h is not None:
            return h
        with _arrays.STATE_LOCK:
            if self._handles is None:
                self._handles = {}
            h = self._handles.get(key)
            if h is None:
                self._sync_handles()
                # PublicArray(x) copies x's buffer, so numpy views of the
                # handle never alias the arrays the kernels read
                h = self._handles[key] = _arrays.settled(_arrays.PublicArray(self._index(key)))
            return h

    def _handles_written(self):
        hs = self._handles
        if not hs:
            return False
        seen = self._seen or {}
        return any(_arrays.writes(h)[0] != seen.get(k, 0) for k, h in list(hs.items()))

    def _sync_handles(self):
        """Adopt handles written through since last seen; True if any was."""
        if not self._handles_written():
            return False
        with _arrays.STATE_LOCK:
            seen = dict(self._seen or {})
            for k, h in list(self._handles.items()):
                n = _arrays.writes(h)[0]
                if n != seen.get(k, 0):
                    # a copy through the host, where the structure check reads
                    # it anyway (on a GPU, MLX ran an int64 write on the CPU
                    # stream, and a device copy of it failed there)
                    self._set_index(k, _arrays.to_mx(np.array(_arrays.to_np(h))))
                    seen[k] = n
            self._seen = seen
            self._valid = False
        return True

    def _drop_handle(self, key):
        """A public index array replaced by assignment: this object stops
        sharing the old handle (with its transposes too)."""
        hs = dict(self._handles or {})
        hs.pop(key, None)
        self._handles = hs

    def _share_handles(self, new, keys=None):
        """``new`` (a transpose of self) shares self's handles; ``keys`` maps
        self's keys to new's where they differ (COO's row is its
        transpose's col), and then the handles are made now."""
        with _arrays.STATE_LOCK:
            if keys is None:
                if self._handles is None:
                    self._handles = {}
                new._handles, new._seen = self._handles, dict(self._seen or {})
                return
            seen = self._seen or {}
            new._handles = {keys[k]: self._handle(k) for k in keys}
            new._seen = {keys[k]: seen.get(k, 0) for k in keys}


def takes_ours(arg1, shape, dtype):
    """Whether a constructor given ``arg1`` builds from one of our arrays in
    MLX (its values keep their graph: `csr_array(A)` under mx.grad), rather
    than through scipy on the host."""
    return (_bridge.is_ours(arg1) and hasattr(arg1, "_data") and arg1.ndim == 2
            and not arg1._on_host() and _arrays.is_mx(arg1._data)
            and (shape is None or tuple(shape) == arg1.shape)
            # a cast of free values stays scipy's (its dtype rules and refusals)
            and (dtype is None or (not _arrays.is_free(arg1._data)
                                   and _arrays.supported_dtype(np.dtype(dtype)))))


def take_ours(self, X, dtype, copied):
    """Give ``self`` the storage of X (ours, already of self's format): the
    values shared as scipy shares them (copied when ``copy``; both keep the
    graph), the internal index arrays shared (nobody writes them), no
    handles and no kept products."""
    X._ensure_valid()
    skip = ("_handles", "_seen", "_fast", "_owned")
    self.__dict__.update({k: v for k, v in X.__dict__.items() if k not in skip})
    # free values: X's public values object, so later in-place writes reach both
    # (scipy's copy=False shares .data); traced ones: the node itself
    vals = X._data
    free = _arrays.is_free(vals)
    if free:
        _arrays.note_free(vals)         # X's own values object: later calls skip the probe
    data = copy(vals) if copied else X.data if free else vals
    if dtype is not None and np.dtype(dtype) != X.dtype:
        out = _arrays.mx_dtype(np.dtype(dtype))
        with mx.stream(_kernels.stream_for(out)):
            data = data.astype(out)
    self._data = data
