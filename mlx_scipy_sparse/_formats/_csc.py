"""Compressed Sparse Column: stored as the CSR arrays of the transpose."""
import scipy.sparse as _ss

from . import _bridge
from ._base import sparray, spmatrix
from ._compressed import _compressed_base
from ._entry import major_line
from ._minor import minor_line_of


class _csc_base(_compressed_base):
    _format = "csc"
    _flipped = "csr"

    @staticmethod
    def _major(shape):
        return shape[1]

    @staticmethod
    def _minor(shape):
        return shape[0]

    def _csr_operand(self):
        return self._data, self._indices, self._indptr, self._shape[::-1], True

    def tocsc(self, copy=False):
        return self.copy() if copy else self


class csc_array(_csc_base, sparray):
    """Compressed Sparse Column array (scipy.sparse.csc_array on MLX arrays)."""
    _scipy_array = _ss.csc_array


class csc_matrix(spmatrix, _csc_base):
    """Compressed Sparse Column matrix (scipy.sparse.csc_matrix on MLX arrays)."""
    _scipy_matrix = _ss.csc_matrix

    def getcol(self, j):
        return major_line(self, "getcol", j)

    def getrow(self, i):
        return minor_line_of(self, "getrow", i)


for _cls, _sc in ((csc_array, _ss.csc_array), (csc_matrix, _ss.csc_matrix)):
    _bridge.install(_cls, _sc)
_bridge.CLASSES["csc"] = (csc_array, csc_matrix)
