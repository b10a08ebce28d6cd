"""COOrdinate format: one index array per axis, duplicates allowed."""
import numpy as np
import mlx.core as mx
import scipy.sparse as _ss

from .. import _arrays, _kernels
from . import _bridge, _structure, _validate, _values
from ._binary import BinaryOps
from ._elementwise import ElementwiseOps
from ._base import _spbase, sparray, spmatrix


# value dtypes scipy sums in as they are (not float16, which it refuses)
_SCIPY_SUMS = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
    np.uint64, np.float32, np.float64, np.complex64))


class _coo_base(_values.IndexHandles, _values.HeldValues, ElementwiseOps, BinaryOps,
                _spbase):
    _format = "coo"

    def __init__(self, arg1, shape=None, dtype=None, copy=False, *, maxprint=None,
                 canonical=None, sorted_indices=None):
        if (isinstance(arg1, tuple) and len(arg1) == 2 and isinstance(arg1[1], tuple)
                and any(_arrays.is_mx(a) for a in (arg1[0], *arg1[1]))
                and not _values.host_only(arg1[0], dtype)):
            if maxprint is not None:
                self.maxprint = maxprint
            self._init_mx(arg1, shape, dtype, canonical, copy)
            return
        if _values.takes_ours(arg1, shape, dtype):
            _values.take_ours(self, arg1.asformat("coo"), dtype, copy)
            # scipy keeps the canonical flag only for a copy of a COO (it cannot
            # vouch for coordinates it shares)
            self._canonical = bool(self._canonical) and copy and arg1.format == "coo"
            if maxprint is not None:
                self.maxprint = maxprint
            return
        _values.check_host_dtypes(arg1, dtype)
        cls = _ss.coo_array if self._is_array else _ss.coo_matrix
        self._adopt(cls(_bridge.unwrap(_values.host_input(arg1)), shape=shape, dtype=dtype, copy=copy,
                        maxprint=maxprint))
        self._ensure_valid()    # scipy skips it when built from a sparse input
        if canonical is not None:
            self._canonical = bool(canonical)

    def _init_mx(self, arg1, shape, dtype, canonical, copy=False):
        """As CSR's _init_mx: held through objects of our own."""
        keep = mx.array if copy else _arrays.own
        data, (row, col) = arg1
        data, row, col = (keep(a) if _arrays.is_mx(a) else a for a in (data, row, col))
        data = _arrays.to_mx(data, None if dtype is None else _validate.dtype(dtype))
        _validate.dtype(data.dtype)
        row, col = _arrays.to_mx(row), _arrays.to_mx(col)
        if shape is None:
            if not _arrays.evaluable(row, col):
                raise ValueError("shape is required when coordinates are traced")
            if row.size == 0:       # scipy's rule: no coordinates, no shape to infer
                raise ValueError("cannot infer dimensions from zero sized index arrays")
            shape = (int(mx.max(row).item()) + 1 if row.size else 0,
                     int(mx.max(col).item()) + 1 if col.size else 0)
        shape = _validate.shape_2d(shape)
        row, col, self._valid = _validate.coo(data, row, col, shape,
                                              downcast=not self._is_array)
        self._shape, self._data = shape, data
        self._coords = (_arrays.settled(row), _arrays.settled(col))
        self._canonical = canonical

    def _adopt(self, S):
        self._shape = tuple(int(s) for s in S.shape)
        self._set_values(S.data, copy=True)     # our copy: its buffer ours alone
        self._coords = tuple(_arrays.to_mx(c) for c in S.coords)
        self._handles = self._seen = None
        self.maxprint = S.maxprint
        self._canonical = bool(S.has_canonical_format)
        self._valid = False     # checked on first use (_ensure_valid)

    _assign_from = _adopt

    def _ensure_valid(self):
        """Bounds check before scipy or a kernel reads the coordinates;
        kept until they are reassigned or written through."""
        if self._handles:
            self._sync_handles()
        if not self._valid and self.ndim == 2:
            with _arrays.STATE_LOCK:
                if not self._valid:
                    row, col, ok = _validate.coo(self._peek(), *self._coords, self._shape)
                    self._coords = (_arrays.settled(row), _arrays.settled(col))
                    self._valid = ok

    # the coordinates the kernels read (by axis), and what a public one copies
    def _index(self, key):
        return self._coords[key]

    def _set_index(self, key, value):
        c = list(self._coords)
        c[key] = value
        self._coords = tuple(c)

    def _to_sp(self, copy=False):
        self._ensure_valid()
        conv = (lambda a: np.array(_arrays.to_np(a))) if copy else _values.read_only
        cls = _ss.coo_array if self._is_array else _ss.coo_matrix
        S = cls((conv(self._data), tuple(conv(c) for c in self._coords)),
                shape=self._shape, copy=False)
        S.has_canonical_format = bool(self._canonical)
        S.maxprint = self.maxprint
        return S

    def _with_values(self, values, copy=False):
        """A new array of these coordinates: shares the internal ones, none
        of the public handles."""
        if self._handles:
            self._sync_handles()
        new = self.__class__.__new__(self.__class__)
        new._shape = self._shape
        new._set_values(values, copy)
        new._coords = self._coords      # shared even by a copy, as CSR's index arrays
        if getattr(self, "_csr_cache", None) is not None:
            new._csr_cache = self._csr_cache        # same coordinates, same CSR view
        new._canonical = self._canonical
        new._valid = self._valid
        return new

    # -- public arrays ---------------------------------------------------------
    @property
    def coords(self):
        return tuple(self._handle(k) for k in range(len(self._coords)))

    @coords.setter
    def coords(self, value):
        self._coords = tuple(_arrays.own(_values.assign(c, "coords")) for c in value)
        self._handles = self._seen = None
        self._canonical = self._valid = False

    @property
    def row(self):
        if self.ndim < 2:       # scipy: a 1-D array has row 0 everywhere
            return _arrays.public(mx.zeros_like(self._coords[-1]))
        return self.coords[-2]

    @row.setter
    def row(self, value):
        if self.ndim < 2:
            raise ValueError("cannot set row attribute of a 1-dimensional sparse array")
        self._drop_handle(len(self._coords) - 2)
        self._set_index(len(self._coords) - 2, _arrays.own(_values.assign(value, "row")))
        self._canonical = self._valid = False

    @property
    def col(self):
        return self.coords[-1]

    @col.setter
    def col(self, value):
        self._drop_handle(len(self._coords) - 1)
        self._set_index(len(self._coords) - 1, _arrays.own(_values.assign(value, "col")))
        self._canonical = self._valid = False

    @property
    def has_canonical_format(self):
        return bool(self._canonical)

    @has_canonical_format.setter
    def has_canonical_format(self, value):
        self._canonical = bool(value)

    def reshape(self, *args, **kwargs):
        """scipy's reshape; like scipy, the result shares .data unless copy=True."""
        if _bridge.values_state(self) == _arrays.TRACED:
            return self._reshape_traced(*args, **kwargs)
        r = _structure.reshaped(self, args, kwargs)
        if r is not None:
            return r
        S = _bridge.lend(self)          # float16 goes to scipy as float32
        r = S.reshape(*args, **kwargs)
        if r is S:
            return self
        out = _bridge.wrap(r)
        if self.dtype == np.float16:
            return _bridge.narrow(out)
        if np.may_share_memory(r.data, S.data):
            out._data = self.data       # the same public object: y.data is x.data
        return out

    def _reshape_traced(self, *args, **kwargs):
        """Under mx.compile (values traced, coordinates concrete): scipy
        reshapes the coordinates of stand-in values, keeping the entries'
        order, and the traced values follow as they are."""
        self._ensure_valid()
        cls = _ss.coo_array if self._is_array else _ss.coo_matrix
        S = cls((np.zeros(self.nnz, dtype=np.float32),
                 tuple(np.array(_arrays.to_np(c)) for c in self._coords)), shape=self._shape)
        r = S.reshape(*args, **kwargs)
        if r is S:
            return self
        out = _bridge.wrap(r)._with_values(_arrays.own(self._values()))
        out._valid = True               # coordinates scipy made from checked ones
        return out

    def tocoo(self, copy=False):
        return self.copy() if copy else self

    @classmethod
    def _built(cls, shape, data, coords, canonical):
        """An array of coordinates a pattern function made from checked ones."""
        row, col, _ = _validate.coo(data, *coords, shape, downcast=not cls._is_array,
                                    bounds=False)
        new = cls.__new__(cls)
        new._shape, new._data, new._coords = shape, data, (row, col)
        new._canonical, new._valid = canonical, True
        return new

    def _canonical_form(self):
        """Coordinates sorted, duplicates summed (scipy's sum_duplicates, which
        it runs in place; ours leaves self as it is): the merge pattern of
        tocsr with the values added into their slots, differentiably."""
        if self._canonical:
            return self
        C = self._convert_in_mlx("csr", False, merge="sum_duplicates")
        if C is None:
            return None
        rows = _kernels.entry_rows(C._indptr, C.nnz)
        return type(self)._built(self._shape, C._data, (rows, C._indices), canonical=True)

    def _convert_in_mlx(self, fmt, copy, merge=None):
        """COO -> CSR/CSC: the coordinates sorted and duplicates merged (as
        scipy's tocsr/tocsc), values added into their slots.  ``merge``:
        the scipy routine whose order of adding duplicates the values follow
        when scipy computes them (the conversion's own by default; COO's
        sum_duplicates, which sorts row-major too, for the canonical form)."""
        if fmt not in ("csr", "csc") or self.ndim != 2 or self._on_host():
            return None
        self._ensure_valid()
        (m, n), (row, col) = self._shape, self._coords
        if not self._valid or m * n >= 2 ** 62:     # traced, or keys would overflow
            return None
        major, minor, n_major, n_minor = (row, col, m, n) if fmt == "csr" else (col, row, n, m)
        slot, ind, ptr, size = _kernels.merge_pattern(major, minor, n_major, n_minor,
                                                      narrow=not self._is_array)
        if slot is None:
            data = _arrays.own(self._data)
        elif _kernels.bare_cpu(self._data) and self.dtype in _SCIPY_SUMS:
            # scipy adds duplicates in its own order (it sorts each row's
            # entries first): its values, for its bits
            if merge == "sum_duplicates":
                S = self._to_sp(copy=True)
                S.sum_duplicates()
            else:
                S = getattr(self._to_sp(), "to" + fmt)()
            data = _arrays.to_mx(S.data)
        else:
            data = _kernels.scatter_sum(self._data, slot, size)
        cls = _bridge.CLASSES[fmt][0 if self._is_array else 1]
        return cls._built(self._shape, data, ind, ptr, sorted_indices=True, canonical=True)

    @property
    def T(self):
        return self.transpose()

    def transpose(self, axes=None, copy=False):
        if self.ndim != 2 or (axes is not None and axes != (1, 0)):   # scipy permutes n-D axes
            return _bridge.call(self, "transpose", (axes,), {"copy": copy})
        _validate.transpose_axes(axes)
        src = self.copy() if copy else self
        if src._handles:
            src._sync_handles()
        new = self.__class__.__new__(self.__class__)
        new._shape = self._shape[::-1]
        new._data, new._coords = src.data, src._coords[::-1]
        src._share_handles(new, {0: 1, 1: 0})     # A.T.row is A.col, as in scipy
        new._canonical = False
        new._valid = src._valid
        return new

    def dot(self, other):
        """scipy's COO dot: n-D operands contract like np.dot (not matmul)."""
        if np.isscalar(other):
            return self * other
        if self.ndim == 2 and (_arrays.is_mx(other) or isinstance(other, np.ndarray)
                               or _bridge.is_sparse(other)) and other.ndim <= 2:
            return self @ other
        return _bridge.call(self, "dot", (other,), {})

    def check_format(self):
        self._valid = False
        self._ensure_valid()

    # -- products ------------------------------------------------------------------
    def _spmm(self, X, transpose=False):
        if self.ndim != 2:
            return _bridge.wrap(_bridge.call(self, "__matmul__", (X,), {}))
        self._ensure_valid()
        order, indices, indptr = self._csr_pattern()
        data = self._data
        if order is not None:
            # the gather runs where the dtype can live (float64: the CPU stream)
            data = (_kernels.map_values(lambda d: d[order], data) if _arrays.is_mx(data)
                    else data[np.asarray(order)])
        return _kernels.spmm(data, indices, indptr, self._shape, X, transpose=transpose)

    def _csr_pattern(self):
        """(order, indices, indptr): the row-sorted CSR view of the coordinates,
        order None when they are sorted already.  Worked out once per set of
        coordinates (a host sort) and kept until they are reassigned, so
        repeated products reuse one pattern (and the GPU's cache of it)."""
        cached = getattr(self, "_csr_cache", None)
        if cached is None or cached[0] is not self._coords:
            order, indices, indptr = _kernels.coo_csr_pattern(*self._coords, self._shape[0])
            in_order = bool(np.all(order[1:] > order[:-1])) if order.size else True
            cached = self._csr_cache = (self._coords, None if in_order else mx.array(order),
                                        mx.array(indices), mx.array(indptr))
        return cached[1:]


class coo_array(_coo_base, sparray):
    """COOrdinate sparse array (scipy.sparse.coo_array on MLX arrays)."""


class coo_matrix(spmatrix, _coo_base):
    """COOrdinate sparse matrix (scipy.sparse.coo_matrix on MLX arrays)."""


for _cls, _sc in ((coo_array, _ss.coo_array), (coo_matrix, _ss.coo_matrix)):
    _bridge.install(_cls, _sc)
_bridge.CLASSES["coo"] = (coo_array, coo_matrix)
