"""Format classes.  One module a format; shared semantics in the bases."""
from ._base import _spbase, issparse, isspmatrix, sparray, spmatrix  # noqa: F401
from ._coo import coo_array, coo_matrix  # noqa: F401
from ._csc import csc_array, csc_matrix  # noqa: F401
from ._csr import csr_array, csr_matrix  # noqa: F401
from ._host import (bsr_array, bsr_matrix, dia_array, dia_matrix, dok_array,  # noqa: F401
                    dok_matrix, lil_array, lil_matrix)
