"""vstack of CSR arrays and hstack of CSC arrays for free values on the CPU:
scipy's own fast case (the blocks' arrays laid end to end, the line pointers
shifted), done on views of our arrays instead of a hand-off to scipy and a
copy back (80k entries: 65 us for scipy's, 216 us through the hand-off)."""
import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _bridge

_MAJOR = {"vstack": ("csr", 0), "hstack": ("csc", 1)}
STACKS = tuple(_MAJOR)
_I32MAX = np.iinfo(np.int32).max


def stacked(name, args, kwargs):
    """scipy's answer to ``name(blocks)`` where scipy would stack the
    blocks end to end; None where it would not (or this cannot tell)."""
    fmt, axis = _MAJOR[name]
    if len(args) != 1 or set(kwargs) - {"format"} or kwargs.get("format") not in (None, fmt):
        return None
    blocks = args[0]
    if type(blocks) not in (list, tuple) or not blocks or not all(
            _bridge.is_ours(b) and b.format == fmt and b.ndim == 2
            and _arrays.is_mx(getattr(b, "_data", None)) for b in blocks):
        return None
    other = blocks[0].shape[1 - axis]
    if any(b.shape[1 - axis] != other for b in blocks):
        return None                                     # scipy's error
    for b in blocks:
        b._ensure_valid()
        if not b._valid:
            return None
    # scipy's index dtype for the stack: int64 past int32's range, or for an
    # array result when a block's indptr is int64 (a matrix result is narrowed
    # again by its constructor wherever the contents fit)
    nnz, n = sum(b.nnz for b in blocks), sum(b.shape[axis] for b in blocks)
    array = any(b._is_array for b in blocks)
    wide = max(nnz, other, n if not array else 0) > _I32MAX or \
        (array and any(b._indptr.dtype != mx.int32 for b in blocks))
    idx = np.int64 if wide else np.int32
    got = _kernels.stack_lines([(b._data, b._indices, b._indptr) for b in blocks], idx)
    if got is None:
        return None
    cls = _bridge.CLASSES[fmt][0 if array else 1]
    return cls._built((n, other) if axis == 0 else (other, n), *got)
