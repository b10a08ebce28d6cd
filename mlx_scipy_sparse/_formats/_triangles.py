"""tril / triu of our CSR, CSC and COO arrays for free values on the CPU:
scipy's steps (its COO of the operand, the triangle's mask over the
coordinates, a COO answer never flagged canonical) on views of our arrays,
where the hand-off lent them to scipy and copied its answer back."""
import numpy as np

from .. import _kernels
from . import _stack

TRIANGLES = {"tril": True, "triu": False}       # name -> the lower triangle?


def _options(args, kwargs):
    """(A, k, format) of a call; None for what is left to scipy (an offset
    not an integer, another format, arguments scipy would refuse)."""
    given = dict(zip(("k", "format"), args[1:]))
    if not 1 <= len(args) <= 3 or set(kwargs) - {"k", "format"} or set(kwargs) & set(given):
        return None
    given.update(kwargs)
    k, fmt = given.get("k", 0), given.get("format")
    if not isinstance(k, (int, np.integer)) or fmt not in _stack.FORMATS:
        return None
    return args[0], k, fmt


def triangle(name, args, kwargs):
    """scipy's answer to tril / triu, or None where this does not apply."""
    opts = None if _kernels.keep_in_mlx() else _options(args, kwargs)
    if opts is None:
        return None
    A, k, fmt = opts
    if not _stack.all_readable([A]):
        return None
    if not _stack.fits(*A.shape):
        return None
    kept = _kernels.triangle(*_stack.entries(A, _stack.coo_index(A)), k, TRIANGLES[name])
    return _stack.coo_answer(A.shape, kept, A._is_array, fmt)
