"""Writes to stored entries, in place: `A[i, j] = v`, `A[rows, cols] = x`,
`A.setdiag(v)` where every place written already holds an entry.

scipy writes such values into `A.data` itself, so views taken before (`A.T`)
see them; so do ours: the values object is written in place (MLX rebinds it
to a new buffer, which every view holding that object sees).  The places
come from scipy's own indexing run once on a stand-in whose values are the
entry numbers (a pattern function, kept per pattern and key); the write is
one scatter in MLX, differentiable with respect to the old values and to `v`
(an MLX `v` may be traced).  Anything else -- a write that adds entries, a
non-canonical array, a cast scipy would refuse -- is scipy's, through the
bridge (it may change the structure, and views then go their own way, as in
scipy).
"""
import numbers
import warnings

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss

from .. import _arrays, _kernels
from . import _bridge, _select, _structure
from ._moves import _index_arrays, _key

_MAX_PLACES = 1 << 22       # a larger selection is scipy's (no dense map of it)


def _selects_nothing(A, key):
    """Whether ``key`` (a slice of rows, or a pair of slices) selects no
    place of the 2-D A: an empty range along either axis."""
    if A.ndim != 2:
        return False
    keys = (key, slice(None)) if type(key) is slice else key
    if type(keys) is not tuple or len(keys) != 2 or \
            not all(type(k) is slice for k in keys):
        return False
    try:
        return any(len(range(*k.indices(n))) == 0 for k, n in zip(keys, A.shape))
    except (TypeError, ValueError):
        return False                    # a bad slice: scipy's error


def _takes(A, x):
    """Whether scipy would take ``x`` as one value of A's dtype without a
    word: a number numpy converts with no error (errstate is per thread; a
    warnings filter would reach other threads)."""
    if not isinstance(x, (numbers.Number, np.number, np.bool_)):
        return False
    if isinstance(x, (complex, np.complexfloating)) and A.dtype.kind != "c":
        return False                    # numpy's ComplexWarning / TypeError
    try:
        with np.errstate(all="raise"):
            np.asarray(x, dtype=A.dtype)
    except (TypeError, ValueError, OverflowError, FloatingPointError):
        return False
    return True


class InPlaceOps:
    """Mixin of CSR and CSC."""

    def __setitem__(self, key, x):
        if _selects_nothing(self, key) and _takes(self, x):
            return                      # a number written nowhere: nothing to do, as in scipy
        # whole ranges (slices, masks): whether a place is new is read on views
        # first (the stored-places probe runs scipy on a stand-in once per key)
        many = any(type(k) is slice or getattr(k, "dtype", None) == np.bool_
                   for k in (key if type(key) is tuple else (key,)))
        new = _structure.places_set(self, key, x) if many and _takes(self, x) else None
        if new is None and self._write_stored(lambda S: S[key], ("getitem", _hashable(key)), x):
            return
        if new is None and not many and _takes(self, x):
            new = _structure.places_set(self, key, x)
        if new is not None:             # free CPU values: on views, with scipy's warning
            warnings.warn(f"Changing the sparsity structure of a {type(self).__name__} is "
                          "expensive. lil and dok are more efficient.",
                          _ss.SparseEfficiencyWarning, stacklevel=2)
            _select.adopt(self, new)
        elif not _restructure(self, _set_tagged(key), ("setitem", _hashable(key)), x,
                              warns_on_insert=True):
            _bridge.call(self, "__setitem__", (key, x), {})

    def setdiag(self, values, k=0):
        if self._write_stored(lambda S: S.diagonal(k), ("diagonal", k), values, prefix=True):
            return
        new = _structure.diagonal_rebuilt(self, values, k)     # free CPU values: on views
        if new is not None:
            _select.adopt(self, new)
        elif not _restructure(self, lambda S, t: S.setdiag(t, k), ("setdiag", k), values):
            _bridge.call(self, "setdiag", (values, k), {})

    def resize(self, *shape):
        """scipy's; the shape it already has returns at once, and a 2-D
        array that only grows takes empty rows/columns by extending indptr
        (no entry moves; scipy's own call cost 10x the op on 40k entries)."""
        if len(shape) == 1 and isinstance(shape[0], tuple):
            shape = shape[0]
        shape = tuple(shape)
        if shape == self.shape and all(type(n) is int for n in shape):
            return None
        if len(shape) == 2 and self.ndim == 2 and all(type(n) is int for n in shape) \
                and shape[0] >= self.shape[0] and shape[1] >= self.shape[1] \
                and max(shape) < 2**31 - 1 and self._pattern_ready() \
                and not self._handles_written():        # (past int32: scipy's index rules)
            grow = self._major(shape) - self._major(self.shape)
            if grow:
                ptr = self._indptr
                self._drop_handle("indptr")
                if not _kernels.gpu_default():      # numpy: no MLX evaluation (~15 us here)
                    p = _arrays.to_np(ptr)
                    self._indptr = mx.array(np.concatenate([p, np.full(grow, p[-1], p.dtype)]))
                else:
                    with mx.stream(mx.cpu if ptr.dtype == mx.int64 else _kernels.stream_for(ptr.dtype)):
                        tail = mx.full((grow,), ptr[-1], dtype=ptr.dtype)
                        self._indptr = _arrays.settled(mx.concatenate([ptr, tail]))
            self._shape = shape
            return None
        if len(shape) == 2 and all(type(n) is int and n >= 0 for n in shape):
            new = _structure.resized(self, shape)         # free CPU values: on views
            if new is not None:
                return _select.adopt(self, new)
            if _restructure(self, lambda S, t: S.resize(shape), ("resize", shape)):
                return None
        return _bridge.call(self, "resize", shape, {})

    def _write_stored(self, select, key, x, prefix=False):
        """Write ``x`` at the places ``select`` picks, if all hold entries.
        ``prefix``: setdiag's rule (a sequence sets the first len(x) places)."""
        own = self.__dict__.get("_owned")      # taken before anything reads _data
        if key[1] is None or self.ndim != 2 or self._on_host() \
                or not _arrays.is_mx(self._data) or not self._pattern_ready() \
                or not self.has_canonical_format:
            return False
        # a transpose shares these index arrays: the format tells the two apart
        places = _kernels.memo(("stored-places", self.format, self.shape) + key,
                               _index_arrays(self), lambda: _places(self, select))
        if places is None or places.size == 0:     # nothing stored there: scipy's rules
            return False
        vals = _values_for(x, self.dtype)
        if vals is None:
            return False
        dtype = self._data.dtype
        shape = places.shape
        if prefix and vals.ndim == 1:      # setdiag: as many places as values, at most all
            n = min(vals.shape[0], places.shape[0])
            with mx.stream(_kernels.stream_for(vals.dtype)):
                places, vals = places[:n], vals[:n]
            shape = places.shape
        try:
            target = np.broadcast_shapes(tuple(vals.shape), shape)
        except ValueError:
            return False
        if target != shape:
            return False
        if own is not None and _wrote_owned(self, own, places, x):
            return True
        with mx.stream(_kernels.stream_for(dtype)):
            vals = mx.broadcast_to(vals.astype(dtype), shape).reshape(-1)
            d = self._values_to_write()
            _arrays.forget(d)                   # x may be traced: d's node changes
            d[places.reshape(-1)] = vals
        return True


def _wrote_owned(A, own, places, x):
    """A number x written at ``places`` by numpy straight into the buffer A
    made from free values and alone holds (``own``: see _formats._values),
    as scipy writes its data, where it still is A's values' buffer: no MLX
    scatter and evaluation (the first write after a copy of 16M values took
    0.4-0.6 ms that way, numpy's a few us).  False where this does not apply.
    (Two live buffers never overlap: overlapping bounds mean the same one.)"""
    if not _takes(A, x) or not np.may_share_memory(own, _arrays.to_np(A._peek())):
        return False
    own[_arrays.to_np(places).reshape(-1)] = np.asarray(x, dtype=own.dtype)
    A.__dict__["_owned"] = own      # (the checks above kept nothing of the values)
    return True


def _hashable(key):
    try:
        return _key(key)
    except TypeError:
        return None


def _places(A, select):
    """Entry numbers of the places select(A) picks (an MLX int array of the
    selection's shape), or None if a place holds no entry, a place repeats,
    or the selection is too large to map densely."""
    ids = np.arange(1, A.nnz + 1, dtype=np.float64)
    S = A._with_values(mx.array(ids, dtype=mx.float64))._to_sp()
    try:
        r = select(S)
    except Exception:       # scipy's error comes from scipy's own path
        return None
    if _bridge.is_sparse(r):
        if np.prod(r.shape) > _MAX_PLACES:
            return None
        r = r.toarray()
    r = np.asarray(r)
    if r.dtype != np.float64 or r.size > _MAX_PLACES:
        return None
    pos = r.astype(np.int64) - 1
    if pos.size and (pos.min() < 0 or np.unique(pos).size != pos.size):
        return None
    return _arrays.settled(mx.array(pos.astype(np.int32 if A.nnz < 2**31 else np.int64)))


def _values_for(x, dtype):
    """x as an MLX array to write into values of ``dtype``, or None where
    numpy's rules would not cast it safely (scipy decides then)."""
    if _bridge.is_sparse(x):
        return None
    if _arrays.is_mx(x):
        src = _arrays.np_dtype(x.dtype)
        return x if np.can_cast(src, dtype, "same_kind") else None
    try:
        a = np.asarray(x)
    except Exception:
        return None
    if a.dtype == object or not np.can_cast(a.dtype, dtype, "same_kind") \
            or not _arrays.supported_dtype(np.dtype(dtype)):
        return None
    return mx.array(a.astype(dtype), dtype=_arrays.mx_dtype(dtype))    # float64 stays so


def _set_tagged(key):
    def run(S, tags):
        S[key] = tags
    return run


def sorted_in_mlx(A):
    """A with its indices sorted in each line, the values permuted in MLX
    (where they live); None where this path does not apply."""
    return _restructured(A, lambda S, t: S.sort_indices(), ("sort",), None, canonical=False)


_NO_VALUES = object()     # an op that writes no new values (resize)


def _restructure(A, mutate, key, x=_NO_VALUES, warns_on_insert=False):
    """In place, under the device rule (free values) or with traced values:
    scipy's op ``mutate(S, tags)`` that changes A's structure (a write that
    adds entries, a shrinking resize), its values moved in MLX.  False where
    this path does not apply (scipy's, through the bridge)."""
    if key[1] is None or not (_bridge.values_state(A) != _arrays.FREE or _select.applies(A)):
        return False
    if x is not _NO_VALUES:
        x = _values_for(x, A.dtype)
        if x is None:
            return False
    new = _restructured(A, mutate, key, None if x is _NO_VALUES else x, True,
                        warns_on_insert)
    if new is None:
        return False
    _select.adopt(A, new)
    return True


def _restructured(A, mutate, key, x, canonical=True, warns_on_insert=False):
    """A after scipy's in-place op ``mutate``, as a new array of ours: the
    op runs once per pattern (and key, and x's shape) on a stand-in whose
    values are the entry numbers 1, 2, ... and x's element numbers negated,
    so the result says where each entry's value comes from; the values then
    follow by two gathers (differentiable with respect to A's values and x)."""
    if A.ndim != 2 or A._on_host() or not _arrays.is_mx(A._data) or not A._pattern_ready() \
            or (canonical and not A.has_canonical_format) or A.nnz >= 2 ** 31 - 1:
        return None
    x_shape = None if x is None else tuple(x.shape)
    if x_shape is not None and int(np.prod(x_shape)) >= 2 ** 31 - 1:
        return None

    first = []

    def compute():
        ids = np.arange(1, A.nnz + 1, dtype=np.float64)
        S = A._with_values(mx.array(ids, dtype=mx.float64))._to_sp(copy=True)
        tags = None if x_shape is None else \
            -np.arange(1, int(np.prod(x_shape)) + 1, dtype=np.float64).reshape(x_shape)
        name, before = type(S).__name__, S.nnz
        first.append(True)
        try:
            # scipy's own warnings of this run reach the caller as they are
            # (not captured: the warning filters are process-wide, other threads
            # share them); a filter that turns them into errors sends the call
            # to scipy's own path, which raises them again
            mutate(S, tags)
        except Exception:       # scipy's error comes from scipy's own path
            return None
        code = np.asarray(S.data).astype(np.int64)
        moved = code[code > 0]
        n_x = 0 if x_shape is None else int(np.prod(x_shape))
        if code.size and (np.any(code == 0) or code.max() > A.nnz or code.min() < -n_x
                          or np.unique(moved).size != moved.size):
            return None         # numbers were added together (or lost): not a move
        shell = _bridge.wrap(S)
        shell._ensure_valid()
        idx = np.int32
        old = _arrays.settled(mx.array(np.where(code > 0, code - 1, -1).astype(idx)))
        new = _arrays.settled(mx.array(np.where(code < 0, -code - 1, -1).astype(idx)))
        # scipy's write warns when it adds entries (its setdiag and resize do not)
        said = (f"Changing the sparsity structure of a {name} is expensive. lil and dok "
                "are more efficient.") if warns_on_insert and S.nnz > before else None
        return shell, old, new, said
    kept = _kernels.memo(("restructure", A.format, A.shape, key, x_shape), _index_arrays(A),
                         compute)
    if kept is None:
        return None
    shell, old, new, said = kept
    if said is not None and not first:  # said again on every later call, as scipy says it
        warnings.warn(said, _ss.SparseEfficiencyWarning, stacklevel=4)
    dtype = A._data.dtype
    with mx.stream(_kernels.stream_for(dtype)):
        data = _kernels.gather(A._values(), mx.maximum(old, 0)) if A.nnz else \
            mx.zeros(old.shape, dtype)
        if x is not None:
            xs = x.astype(dtype).reshape(-1)
            data = mx.where(old >= 0, data, _kernels.gather(xs, mx.maximum(new, 0)))
    return shell._with_values(data)
