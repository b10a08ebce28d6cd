"""mlx_scipy_sparse: scipy.sparse on MLX arrays.

``import mlx_scipy_sparse as sp`` in place of ``import scipy.sparse``.
"""
from . import _numpy_interop  # noqa: F401  (numpy reads mx.Dtype: see there)
from ._formats import (  # noqa: F401
    bsr_array, bsr_matrix, coo_array, coo_matrix, csc_array, csc_matrix, csr_array,
    csr_matrix, dia_array, dia_matrix, dok_array, dok_matrix, issparse, isspmatrix,
    lil_array, lil_matrix, sparray, spmatrix,
)
from . import _mlx_operators  # noqa: F401  (mx.array @ sparse: see there)
from ._construct import *  # noqa: F401,F403
from ._construct import _FROM_SCIPY, fromdense  # noqa: F401
from ._kernels import gpu_available, reuse_host_memory, use_cpu, use_gpu  # noqa: F401
from ._formats._bridge import wrap as from_scipy  # noqa: F401
import scipy.sparse as _ss
from scipy.sparse import SparseEfficiencyWarning, SparseWarning  # noqa: F401

__version__ = "0.1.0"


def _isspmatrix_of(fmt):
    def check(x):
        return isspmatrix(x) and getattr(x, "format", None) == fmt
    check.__name__ = f"isspmatrix_{fmt}"
    return check


for _fmt in ("csr", "csc", "coo", "bsr", "dia", "dok", "lil"):
    globals()[f"isspmatrix_{_fmt}"] = _isspmatrix_of(_fmt)

from ._construct import __dict__ as _cd  # noqa: E402
globals().update({n: _cd[n] for n in _FROM_SCIPY if n in _cd})
del _cd, _fmt
from . import linalg  # noqa: E402,F401  (scipy.sparse.linalg on our arrays)
from . import csgraph  # noqa: E402,F401  (scipy.sparse.csgraph on our arrays)
