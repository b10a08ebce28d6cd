"""Behaviour shared by every format: shape, conversions, products, and the
scipy bridge that covers the long tail of the API.

A format class holds MLX arrays and never touches a device: products and
structural work go through the kernel table (`_kernels`).  Methods that have
no MLX implementation yet run scipy's own code on zero-copy, read-only views
of our arrays (`_bridge`), so results match scipy exactly.
"""
import numbers
from types import GenericAlias

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss

from .. import _arrays, _kernels
from . import _bridge, _device_reduce, _float64, _on_views, _validate, _values

_F64 = mx.float64
_F16 = mx.float16
_NP_F16 = np.dtype(np.float16)
_NP_F32 = np.dtype(np.float32)
# value dtypes whose product with float16 dense operands numpy leaves float16
# and scipy's sparsetools (which have no float16) compute in float32
_HALF_UPCAST = frozenset(np.dtype(t) for t in (np.bool_, np.int8, np.uint8))


class _spbase:
    """Common base of our sparse arrays and matrices."""

    __array_priority__ = 10.1
    _format = None          # 'csr', 'csc', 'coo', ...
    _is_array = True        # sparray (True) or spmatrix flavour (False)
    _mutable_host = False   # True where the storage is a scipy object we own
    maxprint = 50           # scipy's MAXPRINT; an instance attribute when given

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _float64.guard_class(cls)

    # -- basic attributes -------------------------------------------------
    @property
    def format(self):
        return self._format

    @property
    def shape(self):
        return self._shape

    @property
    def ndim(self):
        return len(self._shape)

    @property
    def size(self):
        return self.nnz

    @property
    def dtype(self):
        """numpy dtype of the values (scipy's contract); `.data.dtype` is MLX's."""
        return _arrays.np_dtype(self._glance().dtype)

    @property
    def nnz(self):
        return int(self._glance().size)

    def _glance(self):
        """The values object, for its dtype or size only (nothing keeps it)."""
        return self._values()

    @property
    def real(self):
        r = _bridge.wrap(_bridge.lend(self).real)
        return _bridge.narrow(r) if self.dtype == _NP_F16 else r

    @property
    def imag(self):
        r = _bridge.wrap(_bridge.lend(self).imag)
        return _bridge.narrow(r) if self.dtype == _NP_F16 else r

    __class_getitem__ = classmethod(GenericAlias)   # csr_array[np.float64], as scipy

    def __len__(self):
        raise TypeError("sparse array length is ambiguous; use getnnz() or shape[0]")

    # -- conversions -------------------------------------------------------
    def to_scipy(self):
        """An independent scipy.sparse object (no memory shared with self).
        float16 values, which scipy cannot hold, come as float32 (exact)."""
        return _bridge.lend(self, copy=True)

    def toarray(self, order=None, out=None):
        if self.dtype == _NP_F16:
            return self._dense_f16("toarray", order, out)
        return self._to_sp().toarray(order=order, out=out)

    def todense(self, order=None, out=None):
        if self.dtype == _NP_F16:
            return self._dense_f16("todense", order, out)
        return self._to_sp().todense(order=order, out=out)

    def _dense_f16(self, name, order, out):
        """float16 values (scipy has none): densified as float32 (exact), then cast."""
        S = _bridge.lend(self)
        if out is not None and (out.shape != self.shape or out.dtype != _NP_F16):
            return getattr(S, name)(order=order, out=out)   # scipy's checks and messages
        d = getattr(S, name)(order=order).astype(_NP_F16, order="K")
        if out is None:
            return d
        out[...] = d
        return out

    def asformat(self, format, copy=False):
        if format is None or format == self.format:
            return self.copy() if copy else self
        try:
            convert = getattr(self, "to" + format)
        except AttributeError as e:
            raise ValueError(f"Format {format} is unknown.") from e
        try:
            return convert(copy=copy)
        except TypeError:       # toarray/todense take no copy (scipy does the same)
            return convert()

    def tocsr(self, copy=False):
        return self._convert("tocsr", copy)

    def tocsc(self, copy=False):
        return self._convert("tocsc", copy)

    def tocoo(self, copy=False):
        return self._convert("tocoo", copy)

    def _convert_in_mlx(self, fmt, copy):
        """The conversion as a pattern function plus value primitives (lazy,
        differentiable), or None where scipy does it."""
        return None

    def _convert(self, name, copy=False):
        r = self._convert_in_mlx(name[2:], copy)
        if r is not None:
            return r
        if self.dtype != _NP_F16:
            return _bridge.wrap(getattr(self._to_sp(), name)())
        # float16 (scipy has none): converted as float32, values cast back
        return _bridge.narrow(_bridge.wrap(getattr(_bridge.lend(self), name)()))

    def __reduce__(self):
        if self.dtype == _NP_F16:
            return (_unpickle_f16, (self.to_scipy(),))
        parts = self._pickled_parts()
        if parts is not None:
            return (_unpickle_parts, parts)
        # views, not copies: pickle reads them at once, and loading copies into MLX
        # (a fresh 300 KB copy made pickling 12x slower: 750 us against 62 us here)
        return (_bridge.wrap, (self._to_sp(),))

    def _pickled_parts(self):
        """(class, shape, values, index arrays, COO's canonical flag, maxprint)
        as numpy views for pickle (which copies them) of a checked 2-D CSR,
        CSC or COO array with free values (bfloat16 has no numpy form); no
        scipy object made either way.  None elsewhere."""
        if self.format not in ("csr", "csc", "coo") or self.ndim != 2 or self._on_host() \
                or self._values().dtype == mx.bfloat16 \
                or _bridge.values_state(self) != _arrays.FREE:
            return None
        self._ensure_valid()
        if not self._valid:
            return None
        coo = self.format == "coo"
        index = self._coords if coo else (self._indices, self._indptr)
        return (type(self), self._shape, _arrays.to_np(self._values()),
                tuple(_arrays.to_np(a) for a in index), bool(self._canonical) if coo else None,
                self.__dict__.get("maxprint"))

    # -- products ------------------------------------------------------------
    def _kernel_operand(self, other):
        """The dense operand our kernels take, or None where scipy does it."""
        if isinstance(other, mx.array):      # the hot path, first
            return other if other.ndim in (1, 2) and self.ndim == 2 and not self._on_host() \
                else None
        if np.isscalar(other) or isinstance(other, numbers.Number):
            raise ValueError("Scalar operands are not allowed, use '*' instead")
        return None if self._on_host() or self.ndim != 2 else self._dense_operand(other)

    @_float64.guards_itself
    def __matmul__(self, other):
        # The hot path (a small product is bound by host time): an MLX operand,
        # a checked array and no float64 on either side; all else goes the
        # float64-guarded way.
        if isinstance(other, mx.array) and other.ndim in (1, 2) and self.ndim == 2 \
                and getattr(self, "_valid", False) and other.shape[0] == self._shape[1] \
                and other.dtype != _F64 and not self._on_host() and self._data.dtype != _F64 \
                and (other.dtype != _F16 or self._data.dtype == _F16):
            return self._spmm_fast(other)
        return self._matmul(other)

    def _spmm_fast(self, X):
        return self._spmm(X)

    @_float64.guard
    def _matmul(self, other):
        if not isinstance(other, mx.array) and _bridge.is_sparse(other):
            _refuse_traced_product(self, other)
            r = _sparse_product(self, other)
            return _bridge.call(self, "__matmul__", (other,), {}) if r is None else r
        X = self._half_operand(self._kernel_operand(other))
        if X is None:
            return _bridge.call(self, "__matmul__", (other,), {})
        _validate.matmul_shapes(self.shape, X.shape)
        return self._spmm(X)

    def __rmatmul__(self, other):
        if _bridge.is_sparse(other):       # scipy's, which gave way to us
            _refuse_traced_product(other, self)
            r = _sparse_product(other, self)
            return _bridge.call(self, "__rmatmul__", (other,), {}) if r is None else r
        X = self._half_operand(self._kernel_operand(other))
        if X is None:
            return _bridge.call(self, "__rmatmul__", (other,), {})
        _validate.matmul_shapes(self.shape, X.shape, right=True)
        # X @ A = (A.T @ X.T).T without materialising A.T
        if X.ndim == 1:
            return self._spmm(X, transpose=True)
        # the result may be float64 by promotion (int32 values, float32 X): its
        # transpose must run where float64 can
        Y = self._spmm(X.T, transpose=True)
        return _kernels.map_values(mx.transpose, Y) if _arrays.is_mx(Y) else Y.T

    def matmul(self, other):
        return self @ other

    def dot(self, other):
        if np.isscalar(other):
            return self * other
        return self @ other

    def _half_operand(self, X):
        """A float16 dense operand as scipy takes it: numpy would keep bool/int8/
        uint8 values times float16 in float16, scipy's sparsetools (no float16)
        compute it in float32.  float16 values are ours alone: numpy's rule."""
        if X is None or self.dtype not in _HALF_UPCAST:
            return X
        if isinstance(X, mx.array):
            return X.astype(mx.float32) if X.dtype == _F16 else X
        return X.astype(np.float32) if X.dtype == _NP_F16 else X

    @staticmethod
    def _dense_operand(other):
        """A numpy operand as our product kernels take it, or None to let
        scipy handle it (sparse operands, np.matrix, int/bool/odd dtypes);
        MLX operands are taken in _kernel_operand."""
        if type(other) is not np.ndarray or other.ndim not in (1, 2):
            return None
        if other.dtype.kind not in "fc" or not _arrays.supported_dtype(other.dtype):
            return None
        return other

    # -- data-only operations kept in MLX (lazy and differentiable) --------
    def _on_host(self):
        """Values of a dtype MLX cannot hold: scipy does all the work."""
        return _values.on_host(self._glance())

    def _scale(self, scalar):
        """self * scalar in MLX, with numpy's (NEP 50) rules, as scipy's
        ``data * scalar``: the result dtype is numpy's, and a Python int the
        result dtype cannot hold raises OverflowError (it is not wrapped)."""
        out = np.result_type(self.dtype, scalar)
        if not _arrays.supported_dtype(out):
            return None
        value = np.array(scalar, dtype=out)     # raises as numpy does
        mo = _arrays.mx_dtype(out)
        return self._with_values(_kernels.map_values(
            lambda d: d.astype(mo) * mx.array(value, dtype=mo), self._values(), mo))

    def __mul__(self, other):
        if np.isscalar(other) and not isinstance(other, (str, bytes)):
            r = self._scale(other)
            if r is not None:
                return r
        return _bridge.call(self, "__mul__", (other,), {})

    def __rmul__(self, other):
        if np.isscalar(other) and not isinstance(other, (str, bytes)):
            r = self._scale(other)
            if r is not None:
                return r
        return _bridge.call(self, "__rmul__", (other,), {})

    def __truediv__(self, other):
        """A / scalar as scipy: values that cast to float64 are divided in
        float64 (as a product with 1 / other, scipy's bits), others keep
        their dtype."""
        if _isscalarlike(other) and not self._on_host():
            wide = np.can_cast(self.dtype, np.float64)
            r = (self.astype(np.float64, copy=False) if wide else self)._scale(1 / other)
            if r is not None:
                return r
        return _bridge.call(self, "__truediv__", (other,), {})

    def __neg__(self):
        if self.dtype == np.bool_:
            raise NotImplementedError("negating a boolean sparse array is not supported")
        if self._on_host():
            return _bridge.call(self, "__neg__", (), {})
        return self._with_values(_kernels.map_values(mx.negative, self._values()))

    # no __pos__: scipy's sparse arrays refuse unary plus (TypeError), so do ours

    def copy(self):
        return self._with_values(self._values(), copy=True)

    def astype(self, dtype, casting="unsafe", copy=True):
        dt = np.dtype(dtype)
        if dt == self.dtype and _arrays.np_dtype(self._values().dtype) == dt:
            return self.copy() if copy else self
        if not np.can_cast(self.dtype, dt, casting=casting):
            raise TypeError(f"Cannot cast array data from {self.dtype} to {dt} "
                            f"according to the rule '{casting}'")
        mlx_cast = not self._on_host() and _arrays.supported_dtype(dt)
        if mlx_cast and dt != _NP_F16 and self._cast_sums_duplicates():
            # scipy casts, then sums the duplicates in the new dtype
            mo = _arrays.mx_dtype(dt)
            cast = self._with_values(_kernels.map_values(lambda d: d.astype(mo),
                                                         self._values(), mo))
            merged = getattr(cast, "_canonical_form", lambda: None)()
            if merged is not None:
                return merged
        if not mlx_cast or self._cast_sums_duplicates():
            if dt == _NP_F16 and not self._on_host():
                # scipy has no float16: duplicates summed (as scipy's astype
                # does) in float32 (float64 values: float64), then cast in MLX
                wide = np.dtype(np.float64 if self.dtype == np.float64 else np.float32)
                W = self.astype(wide, casting="unsafe") if self.dtype != wide else self.copy()
                W.sum_duplicates()
                return W._with_values(_kernels.map_values(
                    lambda d: d.astype(_F16), W._values(), _F16))
            return _bridge.call(self, "astype", (dt,), {"casting": casting, "copy": copy})
        mo = _arrays.mx_dtype(dt)
        return self._with_values(_kernels.map_values(lambda d: d.astype(mo), self._values(), mo))

    def _cast_sums_duplicates(self):
        """scipy's astype sums duplicates (in the new dtype) unless the array is
        canonical; structure traced by mx.compile cannot be read: MLX path."""
        idx = [a for a in (getattr(self, "_indices", None), getattr(self, "_indptr", None))
               if a is not None]
        return _arrays.evaluable(*idx) and not self.has_canonical_format

    def conjugate(self, copy=True):
        if self.dtype.kind != "c":
            return self.copy() if copy else self
        if self._on_host():
            return _bridge.call(self, "conjugate", (), {"copy": copy})
        return self._with_values(_kernels.map_values(mx.conjugate, self._values()))

    conj = conjugate

    def count_nonzero(self, axis=None):
        v = self._free_canonical_view() if axis is None and hasattr(self, "_vals") else None
        if v is not None:
            return np.intp(np.count_nonzero(v))     # scipy's count of its data, its type
        if axis is not None and not _kernels.keep_in_mlx():
            r = _on_views.count_nonzero_along(self, axis)    # free CPU values: on views
            if r is not None:
                return r
        kw = {} if axis is None else {"axis": axis}
        state = _bridge.values_state(self) if self.ndim == 2 and not self._on_host() else None
        if state == _arrays.TRACED:     # inside mx.compile: MLX int64 counts
            r = _device_reduce.count_nonzero_traced(self, axis)
            if r is not None:
                return r
        if state == _arrays.FREE and _device_reduce.applies(self):
            r = _device_reduce.count_nonzero(self, axis)
            if r is not None:
                return r
        # via the bridge: scipy sums duplicates in place first, which needs copies
        return _bridge.call(self, "count_nonzero", (), kw)


_float64.guard_class(_spbase)


def _unpickle_parts(cls, shape, values, index, canonical, maxprint):
    """An array pickled by _pickled_parts: new MLX arrays of the loaded ones.
    Its structure is checked before first use, as for an array scipy built
    (a full check here cost 3x scipy's whole load at 40k entries)."""
    vals, index = _arrays.to_mx(values), tuple(_arrays.to_mx(a) for a in index)
    _arrays.note_free(vals)             # new, made here
    if canonical is None:
        A = cls._built(tuple(shape), vals, *index)
    else:                               # (scipy's pickle keeps COO's flag)
        A = cls._built(tuple(shape), vals, index, canonical)
    A._valid = False
    if maxprint is not None:
        A.maxprint = maxprint
    return A


def _unpickle_f16(S):
    """A pickled float16 array: stored as scipy's float32 (exact), cast back."""
    return _bridge.narrow(_bridge.wrap(S))
_float64.guard_class(_values.HeldValues)

# value dtypes of sparse @ sparse in the kernel: those where scipy's result
# dtype is numpy's (scipy computes float16 in float32) and the values are MLX
_SPGEMM_DTYPES = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
    np.uint64, np.float32, np.float64, np.complex64))


def _refuse_traced_product(A, B):
    """sparse @ sparse has no gradient: under mx.grad it raises (as the kernel
    table's SpGEMM does) for every format, before a conversion (COO -> CSR,
    the scipy bridge) could cut the graph and give a silent zero gradient.
    Checked on our operands' own values; traced by mx.compile / mx.vmap it is
    refused too (the size of the result depends on the values)."""
    # DIA/BSR/DOK/LIL hold a scipy object (host values): nothing to trace
    vals = [S._values() for S in (A, B) if isinstance(S, _values.HeldValues)]
    vals = [v for v in vals if _arrays.is_mx(v)]
    if not vals:
        return
    state = _arrays.trace_state(*vals)
    if state == _arrays.GRAD:
        raise NotImplementedError("gradients through sparse @ sparse are not supported: "
                                  "differentiate a sparse @ dense product instead")
    if state == _arrays.TRACED:
        raise ValueError("sparse @ sparse needs concrete arrays (not traced by mx.compile "
                         "or mx.vmap): the size of its result depends on the values")


def _spgemm_ready(S):
    if S.ndim != 2 or S.format not in ("csr", "csc", "coo") or S.dtype not in _SPGEMM_DTYPES:
        return False
    return not _bridge.is_ours(S) or not (S._on_host() or S._values().dtype == mx.bfloat16)


def _sparse_product(A, B):
    """A @ B of two sparse operands (ours or scipy's) by the SpGEMM kernel, in
    the format and flavour scipy gives (A's; CSR for COO); None where scipy
    does it (1-D, other formats, dtypes on the host or that scipy upcasts)."""
    if not (_spgemm_ready(A) and _spgemm_ready(B)):
        return None
    if np.result_type(A.dtype, B.dtype) not in _SPGEMM_DTYPES:
        return None
    _validate.sparse_matmul_shapes(A.shape, B.shape)
    fmt = "csc" if A.format == "csc" else "csr"
    is_array = not isspmatrix(A)
    (m, k), n = A.shape, B.shape[1]
    # a CSC array is stored as the CSR of its transpose: C^T = B^T @ A^T
    first, second, dims = (A, B, (m, k, n)) if fmt == "csr" else (B, A, (n, k, m))
    arrays = [x for S in (first, second) for x in _compressed(S, fmt)]
    data, indices, indptr = _kernels.spgemm(*arrays, *dims)
    return _bridge.CLASSES[fmt][0 if is_array else 1]((data, indices, indptr), shape=(m, n))


def _compressed(S, fmt):
    """(data, indices, indptr) of S in ``fmt`` (CSR or CSC), ours or scipy's."""
    if S.format != fmt:
        S = S.asformat(fmt)
    if _bridge.is_ours(S):
        S._ensure_valid()
        return S._data, S._indices, S._indptr
    return S.data, S.indices, S.indptr


class sparray:
    """Marker base of the sparse *array* classes (as in scipy.sparse)."""

    def __pow__(self, *args, **kwargs):     # elementwise (spmatrix: matrix power)
        return self.power(*args, **kwargs)


class spmatrix:
    """Marker base of the sparse *matrix* classes: `*` is the matrix product."""

    _is_array = False

    def __mul__(self, other):
        if _isscalarlike(other):
            return _spbase.__mul__(self, other)
        return self.__matmul__(other)

    def __rmul__(self, other):
        if _isscalarlike(other):
            return _spbase.__rmul__(self, other)
        if _bridge.is_sparse(other) and not isspmatrix(other):
            return _bridge.call(self, "__rmul__", (other,), {})   # an array's `*`: elementwise
        return self.__rmatmul__(other)

    def getnnz(self, axis=None):
        return _bridge.lend(self).getnnz(axis=axis)

    @property
    def shape(self):
        return self._shape

    @shape.setter
    def shape(self, new_shape):
        S = _bridge.lend(self).reshape(new_shape).asformat(self.format)
        if self.dtype == _NP_F16:
            S.data = S.data.astype(_NP_F16)     # lent as float32: stays float16
        self._assign_from(S)


_float64.guard_class(spmatrix)


def issparse(x):
    return isinstance(x, (_spbase, _ss.sparray, _ss.spmatrix))


def isspmatrix(x):
    return isinstance(x, (spmatrix, _ss.spmatrix))


def _isscalarlike(x):
    """scipy's rule: a scalar, or a 0-d dense array."""
    return np.isscalar(x) or (isinstance(x, np.ndarray) and x.ndim == 0)
