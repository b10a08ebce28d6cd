"""Compressed Sparse Row."""
import scipy.sparse as _ss

from . import _bridge, _float64
from ._base import sparray, spmatrix
from ._compressed import _compressed_base
from ._entry import major_line
from ._minor import minor_line_of


class _csr_base(_compressed_base):
    _format = "csr"
    _flipped = "csc"

    @staticmethod
    def _major(shape):
        return shape[0] if len(shape) == 2 else 1       # a 1-D CSR array is one row

    @staticmethod
    def _minor(shape):
        return shape[-1]

    def _csr_operand(self):
        return self._data, self._indices, self._indptr, self._shape, False

    @_float64.guards_itself          # copy() puts float64 on the CPU stream itself
    def tocsr(self, copy=False):
        return self.copy() if copy else self


class csr_array(_csr_base, sparray):
    """Compressed Sparse Row array (scipy.sparse.csr_array on MLX arrays)."""
    _scipy_array = _ss.csr_array


class csr_matrix(spmatrix, _csr_base):
    """Compressed Sparse Row matrix (scipy.sparse.csr_matrix on MLX arrays)."""
    _scipy_matrix = _ss.csr_matrix

    def getrow(self, i):
        return major_line(self, "getrow", i)

    def getcol(self, j):
        return minor_line_of(self, "getcol", j)


for _cls, _sc in ((csr_array, _ss.csr_array), (csr_matrix, _ss.csr_matrix)):
    _bridge.install(_cls, _sc)
_bridge.CLASSES["csr"] = (csr_array, csr_matrix)
