"""The `scipy.sparse.linalg` seen by the rewritten tests: ours first, scipy's for the rest."""
from ._swap import subpackage_getattr

__getattr__ = subpackage_getattr("linalg")
