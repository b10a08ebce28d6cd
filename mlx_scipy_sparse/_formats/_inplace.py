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
import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _bridge
from ._moves import _index_arrays, _key

_MAX_PLACES = 1 << 22       # a larger selection is scipy's (no dense map of it)


class InPlaceOps:
    """Mixin of CSR and CSC."""

    def __setitem__(self, key, x):
        if not self._write_stored(lambda S: S[key], ("getitem", _hashable(key)), x):
            _bridge.call(self, "__setitem__", (key, x), {})

    def setdiag(self, values, k=0):
        if not self._write_stored(lambda S: S.diagonal(k), ("diagonal", k), values,
                                  prefix=True):
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
                with mx.stream(mx.cpu if ptr.dtype == mx.int64 else _kernels.stream_for(ptr.dtype)):
                    tail = mx.full((grow,), ptr[-1], dtype=ptr.dtype)
                    self._drop_handle("indptr")
                    self._indptr = _arrays.settled(mx.concatenate([ptr, tail]))
            self._shape = shape
            return None
        return _bridge.call(self, "resize", shape, {})

    def _write_stored(self, select, key, x, prefix=False):
        """Write ``x`` at the places ``select`` picks, if all hold entries.
        ``prefix``: setdiag's rule (a sequence sets the first len(x) places)."""
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
        with mx.stream(_kernels.stream_for(dtype)):
            vals = mx.broadcast_to(vals.astype(dtype), shape).reshape(-1)
            d = self._values_to_write()
            d[places.reshape(-1)] = vals
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
