"""DIA, BSR, DOK and LIL: constructible, convertible and fully usable, held
as scipy objects on the host.  They exist so code (and scipy's tests) that
builds them to feed CSR/CSC/COO keeps working; products convert to CSR."""
import scipy.sparse as _ss

from .. import _arrays
from . import _bridge, _values
from ._base import _spbase, sparray, spmatrix


class _host_base(_spbase):
    _mutable_host = True

    def __init__(self, arg1, shape=None, dtype=None, copy=False, **kwargs):
        cls = self._scipy_array if self._is_array else self._scipy_matrix
        self._S = cls(_bridge.unwrap(_values.host_input(arg1)), shape=shape, dtype=dtype, copy=copy,
                      **kwargs)

    @classmethod
    def _from_scipy(cls, S):
        self = cls.__new__(cls)
        self._S = S
        return self

    def _assign_from(self, S):
        self._S = S

    def _to_sp(self, copy=False):
        return self._S.copy() if copy else self._S

    @property
    def _shape(self):
        return tuple(self._S.shape)

    @property
    def dtype(self):
        return self._S.dtype

    @property
    def nnz(self):
        return self._S.nnz

    @property
    def maxprint(self):
        return self._S.maxprint

    def _on_host(self):
        return not _arrays.supported_dtype(self._S.dtype)

    def _spmm(self, X, transpose=False):
        return self.tocsr()._spmm(X, transpose)

    def __setattr__(self, name, value):
        # A.data = ..., A.has_canonical_format = ...: scipy's attributes live on _S
        if not name.startswith("_") and hasattr(self._S, name) \
                and not isinstance(getattr(type(self), name, None), property):
            setattr(self._S, name, _bridge.unwrap(value))
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # format-specific attributes (offsets, blocksize, rows, ...) come from scipy
        if name.startswith("_"):
            raise AttributeError(name)
        return _bridge.wrap(getattr(self._S, name))


_DATA_ONLY = ("__mul__", "__rmul__", "__truediv__", "__neg__", "copy", "astype", "conjugate", "conj",
              "count_nonzero", "tocsr", "tocsc", "tocoo")
_classes = {}
for _fmt in ("dia", "bsr", "dok", "lil"):
    _arr, _mat = getattr(_ss, _fmt + "_array"), getattr(_ss, _fmt + "_matrix")
    A = type(_fmt + "_array", (_host_base, sparray),
             {"_format": _fmt, "_scipy_array": _arr, "__module__": __name__,
              "__doc__": f"{_arr.__doc__.splitlines()[0] if _arr.__doc__ else _fmt} (held by scipy)"})
    M = type(_fmt + "_matrix", (spmatrix, _host_base),
             {"_format": _fmt, "_scipy_matrix": _mat, "__module__": __name__})
    for _cls, _sc in ((A, _arr), (M, _mat)):
        for _name in _DATA_ONLY:
            setattr(_cls, _name, _bridge._delegate(_name))
        _bridge.install(_cls, _sc)
    _bridge.CLASSES[_fmt] = (A, M)
    _classes[_fmt] = (A, M)

dia_array, dia_matrix = _classes["dia"]
bsr_array, bsr_matrix = _classes["bsr"]
dok_array, dok_matrix = _classes["dok"]
lil_array, lil_matrix = _classes["lil"]
