"""CSR and CSC share everything but the meaning of their axes: a CSC array
of shape (m, n) is stored exactly like the CSR array of its transpose."""
import numpy as np
import mlx.core as mx
import scipy.sparse as _ss
from scipy.sparse import _sparsetools as _st

from .. import _arrays, _kernels
from . import _bridge, _structure, _validate, _values
from ._binary import BinaryOps
from ._elementwise import ElementwiseOps
from ._entry import ScalarEntry
from ._inplace import InPlaceOps
from ._base import _spbase


class _compressed_base(ScalarEntry, _values.IndexHandles, _values.HeldValues, ElementwiseOps,
                       BinaryOps, InPlaceOps, _spbase):
    _scipy_array = None    # scipy class of the same format and flavour
    _scipy_matrix = None

    def __init__(self, arg1, shape=None, dtype=None, copy=False, *, maxprint=None,
                 sorted_indices=None, canonical=None):
        if (isinstance(arg1, tuple) and len(arg1) == 3 and any(_arrays.is_mx(a) for a in arg1)
                and not _values.host_only(arg1[0], dtype)):
            if maxprint is not None:
                self.maxprint = maxprint
            self._init_mx(arg1, shape, dtype, sorted_indices, canonical, copy)
            return
        if _values.takes_ours(arg1, shape, dtype):
            _values.take_ours(self, arg1.asformat(self._format), dtype, copy)
            if maxprint is not None:
                self.maxprint = maxprint
            return
        _values.check_host_dtypes(arg1, dtype)
        S = self._scipy_cls()(_bridge.unwrap(_values.host_input(arg1)), shape=shape, dtype=dtype,
                              copy=copy, maxprint=maxprint)
        self._adopt(S)
        self._ensure_valid()    # scipy checks only lengths at construction
        if sorted_indices is not None:
            self._sorted = bool(sorted_indices)
        if canonical is not None:
            self._canonical = bool(canonical)

    def _init_mx(self, arg1, shape, dtype, sorted_indices, canonical, copy=False):
        """(data, indices, indptr) with MLX arrays: values keep their graph
        node, so they may be traced by mx.grad / mx.compile.  The arrays are
        held through objects of our own (sharing the buffers unless ``copy``),
        so the caller's later writes to the arrays passed in never reach
        them (MLX writes rebind the written object; see _arrays.own)."""
        keep = mx.array if copy else _arrays.own
        data, indices, indptr = (keep(_arrays.to_mx(a)) if _arrays.is_mx(a) else a
                                 for a in arg1)
        indices = _arrays.to_mx(indices)
        indptr = _arrays.to_mx(indptr)
        data = _arrays.to_mx(data, None if dtype is None else _validate.dtype(dtype))
        _validate.dtype(data.dtype)
        if shape is None:       # scipy's inference: rows from indptr, columns from indices
            if not _arrays.evaluable(indices, indptr) or indices.size == 0:
                raise ValueError("unable to infer matrix dimensions")
            major, minor = indptr.size - 1, int(mx.max(indices).item()) + 1
            shape = (minor, major) if self._format == "csc" else (major, minor)
        shape = _validate.shape_2d(shape)
        data, indices, indptr, self._valid = _validate.compressed(
            data, indices, indptr, self._major(shape), self._minor(shape),
            downcast=not self._is_array)
        self._shape = shape
        self._data = data
        self._indices, self._indptr = _arrays.settled(indices), _arrays.settled(indptr)
        self._sorted = sorted_indices
        self._canonical = canonical

    # -- storage -----------------------------------------------------------
    @classmethod
    def _scipy_cls(cls):
        return cls._scipy_array if cls._is_array else cls._scipy_matrix

    def _adopt(self, S):
        """Take a scipy object's arrays (copied into MLX) and flags."""
        self._shape = tuple(int(s) for s in S.shape)
        self._set_values(S.data, copy=True)     # our copy: its buffer ours alone
        self._indices = _arrays.to_mx(S.indices)
        self._indptr = _arrays.to_mx(S.indptr)
        self._handles = self._seen = None
        self.maxprint = S.maxprint
        self._valid = False     # checked on first use (_ensure_valid)
        self._sorted = S.__dict__.get("_has_sorted_indices")
        self._canonical = S.__dict__.get("_has_canonical_format")
        if self._sorted is not None:
            self._sorted = bool(self._sorted)
        if self._canonical is not None:
            self._canonical = bool(self._canonical)

    _assign_from = _adopt

    def _ensure_valid(self):
        """Full structure check before scipy or a kernel reads the arrays;
        kept until the index arrays are reassigned or written through."""
        if self._handles:
            self._sync_handles()
        if not self._valid:
            with _arrays.STATE_LOCK:
                if not self._valid:
                    own, vals = self.__dict__.get("_owned"), self._peek()
                    d, i, p, ok = _validate.compressed(
                        vals, self._indices, self._indptr,
                        self._major(self._shape), self._minor(self._shape))
                    # kept state is evaluated: another thread may read it
                    self._data, self._indices, self._indptr = d, _arrays.settled(i), \
                        _arrays.settled(p)
                    if own is not None and d is vals:   # only checked: still ours alone
                        self.__dict__["_owned"] = own
                    self._fast = None
                    self._valid = ok

    # the arrays the kernels read, and what a public index array is a copy of
    def _index(self, key):
        return self._indices if key == "indices" else self._indptr

    def _set_index(self, key, value):
        if key == "indices":
            self._indices = value
        else:
            self._indptr = value

    def _to_sp(self, copy=False):
        self._ensure_valid()
        conv = (lambda a: np.array(_arrays.to_np(a))) if copy else _values.read_only
        data, ind, ptr = conv(self._data), conv(self._indices), conv(self._indptr)
        cls = self._scipy_cls()
        if ind.dtype == ptr.dtype == np.int32 and data.dtype.isnative \
                and ind.size == data.size == ptr[-1]:
            # checked already (_ensure_valid), and int32 is the index dtype scipy's
            # constructor would choose: skip its O(nnz) checks (150 us at 40k entries)
            S = cls.__new__(cls)
            S._shape, S.data, S.indices, S.indptr = self._shape, data, ind, ptr
        else:
            S = cls((data, ind, ptr), shape=self._shape, copy=False)
        S.maxprint = self.maxprint
        if self._sorted is not None:
            S.has_sorted_indices = self._sorted
        # worked out once and kept here, where scipy would check it on every call
        S.has_canonical_format = self.has_canonical_format
        return S

    def _with_values(self, values, copy=False):
        """A new array of this pattern: it shares the internal index arrays
        (which nobody writes) and none of the public handles."""
        if self._handles:
            self._sync_handles()
        new = self.__class__.__new__(self.__class__)
        new._shape = self._shape
        new._set_values(values, copy)
        # the index arrays are shared even by a copy: nothing writes them in
        # place (public handles are copies of their own), and the kernels'
        # pattern caches, keyed by these very arrays, then serve the copy too
        new._indices, new._indptr = self._indices, self._indptr
        new._sorted, new._canonical = self._sorted, self._canonical
        new._valid = self._valid
        return new

    # -- public arrays --------------------------------------------------------
    @property
    def indices(self):
        return self._handle("indices")

    @indices.setter
    def indices(self, value):
        self._drop_handle("indices")
        self._indices = _arrays.own(_values.assign(value, "indices"))
        self._valid = False     # flags kept, as scipy keeps its memo (see has_canonical_format)

    @property
    def indptr(self):
        return self._handle("indptr")

    @indptr.setter
    def indptr(self, value):
        self._drop_handle("indptr")
        self._indptr = _arrays.own(_values.assign(value, "indptr"))
        self._valid = False     # flags kept, as scipy keeps its memo (see has_canonical_format)

    @property
    def nnz(self):
        return int(self._glance().size)

    # -- canonical flags ---------------------------------------------------------
    @property
    def has_sorted_indices(self):
        if self._sorted is None:
            self._ensure_valid()
            self._sorted = self._ordered(strict=False)
        return self._sorted

    @has_sorted_indices.setter
    def has_sorted_indices(self, value):
        self._sorted = bool(value)

    @property
    def has_canonical_format(self):
        if self._canonical is None:
            self._ensure_valid()
            self._canonical = self._ordered(strict=True)
        return self._canonical

    def _ordered(self, strict):
        """Whether the indices ascend in every row (strictly: canonical),
        worked out once per pair of index arrays (a copy and a transpose
        share them).  On a GPU, where the pattern lives, one reduction and
        a scalar read (reading 16M indices to the host took 40 ms on the H200)."""
        return _kernels.memo(("ordered", strict), [self._indices, self._indptr],
                             lambda: self._read_order(strict))

    def _read_order(self, strict):
        ind, ptr = self._indices, self._indptr
        n = ind.shape[0]
        if _kernels.gpu_default() and n > 1 and _arrays.is_mx(ind) and _arrays.evaluable(ind, ptr):
            # entry k starts a row when some indptr[i] == k (n + 1 slots: an
            # empty last row points one past the end)
            starts = mx.zeros((n + 1,), dtype=mx.int32).at[ptr[1:-1]].add(1)[1:n] > 0
            up = ind[1:] > ind[:-1] if strict else ind[1:] >= ind[:-1]
            return bool(mx.all(up | starts).item())
        ptr, ind = _arrays.to_np(ptr), _arrays.to_np(ind)
        check = _st.csr_has_canonical_format if strict else _st.csr_has_sorted_indices
        return bool(check(len(ptr) - 1, ptr, ind))

    @has_canonical_format.setter
    def has_canonical_format(self, value):
        self._canonical = bool(value)
        if value:
            self._sorted = True

    def sorted_indices(self):
        A = self.copy()
        A.sort_indices()
        return A

    def check_format(self, full_check=True):
        d, i, p, ok = _validate.compressed(self._data, self._indices, self._indptr,
                                           self._major(self._shape), self._minor(self._shape),
                                           full_check=full_check)
        self._data, self._indices, self._indptr = d, _arrays.settled(i), _arrays.settled(p)
        self._valid = self._valid or ok

    @property
    def T(self):
        return self.transpose()

    def transpose(self, axes=None, copy=False):
        """The transpose shares this array's buffers: CSR <-> CSC relabelling."""
        if self.ndim != 2:
            return _bridge.call(self, "transpose", (axes,), {"copy": copy})
        _validate.transpose_axes(axes)
        cls = _bridge.CLASSES[self._flipped][0 if self._is_array else 1]
        src = self.copy() if copy else self
        if src._handles:
            src._sync_handles()
        new = cls.__new__(cls)
        new._shape = self._shape[::-1]
        new._data, new._indices, new._indptr = src.data, src._indices, src._indptr
        src._share_handles(new)     # A.T.indices is A.indices, as in scipy
        new._sorted, new._canonical = src._sorted, src._canonical
        new._valid = src._valid
        return new

    # -- conversions in MLX ----------------------------------------------------------
    def _pattern_ready(self):
        """Values in MLX and a checked pattern that can be read (not traced)."""
        if self.ndim != 2 or self._on_host():
            return False
        self._ensure_valid()
        return self._valid

    def reshape(self, *args, **kwargs):
        """scipy's reshape (a COO answer sharing the values unless copy=True)."""
        r = _structure.reshaped(self, args, kwargs)
        return _bridge.call(self, "reshape", args, kwargs) if r is None else r

    def _convert_in_mlx(self, fmt, copy):
        if fmt == self._flipped and self._pattern_ready():
            return self._flip()
        if fmt == "coo" and self._pattern_ready():
            return self._to_coo(copy)
        return None

    def _flip(self):
        """CSR <-> CSC of the same matrix: the values permuted as scipy's
        csr_tocsc orders them (sorted indices)."""
        perm, ind, ptr = _kernels.transpose_pattern(
            self._indices, self._indptr, self._major(self._shape), self._minor(self._shape),
            narrow=not self._is_array)
        cls = _bridge.CLASSES[self._flipped][0 if self._is_array else 1]
        return cls._built(self._shape, _kernels.gather(self._data, perm), ind, ptr,
                          sorted_indices=True)

    @classmethod
    def _built(cls, shape, data, indices, indptr, sorted_indices=None, canonical=None):
        """An array of a pattern a pattern function made from a checked one:
        no check again, and the index arrays kept as they are (the kernels'
        caches know them by identity)."""
        new = cls.__new__(cls)
        new._shape = shape
        new._data, new._indices, new._indptr = data, indices, indptr
        new._sorted, new._canonical = sorted_indices, canonical
        new._valid = True
        return new

    def _to_coo(self, copy):
        """COO of the same entries in the same order: the values are shared
        (scipy's copy=False) and the rows expanded from indptr."""
        major = _kernels.entry_rows(self._indptr, self.nnz)
        rc = (major, self._indices) if self._format == "csr" else (self._indices, major)
        cls = _bridge.CLASSES["coo"][0 if self._is_array else 1]
        data = _values.copy(self._data) if copy else self._data
        canonical = self.has_canonical_format if self._format == "csr" else False
        return cls._built(self._shape, data, rc, canonical)

    # -- products ---------------------------------------------------------------
    def _csr_operand(self):
        """(data, indices, indptr, shape, transposed): this array as CSR arrays,
        possibly of its transpose (a CSC array is the CSR of its transpose)."""
        raise NotImplementedError

    def _spmm(self, X, transpose=False):
        self._ensure_valid()
        data, indices, indptr, shape, flipped = self._csr_operand()
        return _kernels.spmm(data, indices, indptr, shape, X, transpose=transpose != flipped)

    _fast = None

    def _spmm_fast(self, X):
        """self @ X for an MLX X, through the kernel table's prepared product
        when one is kept for X's shape and dtype and these very arrays."""
        key = (X.shape, X.dtype)
        hit = self._fast.get(key) if self._fast else None
        if hit is not None and hit[0] is self._data and hit[1] is self._indices \
                and hit[2] is self._indptr and not self._handles_written():
            Y = hit[3](X)
            if Y is not None:
                return Y
        self._ensure_valid()
        data, indices, indptr, shape, flipped = self._csr_operand()
        fn = _kernels.fast_product(data, indices, indptr, shape, X, transpose=flipped)
        if fn is not None:
            with _arrays.STATE_LOCK:
                fast = {} if self._fast is None or len(self._fast) >= 8 else dict(self._fast)
                fast[key] = (data, indices, indptr, fn)
                self._fast = fast
        return _kernels.spmm(data, indices, indptr, shape, X, transpose=flipped)
