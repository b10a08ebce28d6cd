"""kron of our CSR, CSC and COO arrays for free values on the CPU: scipy's
COO branch (each entry of A times every entry of B, at A's block of B's
shape, then converted to the format asked for) on views of our arrays,
where the hand-off lent them to scipy and copied its answer back.

scipy's BSR branch (format None or "bsr" with B at least half full) stays
scipy's, but for its empty answer; so does a format other than COO, CSR or
CSC, which scipy converts to with its own classes."""
import math

import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _bridge, _stack


def _options(args, kwargs):
    """(A, B, format) of a call; None for what is left to scipy (operands
    by keyword, arguments scipy would refuse)."""
    if not 2 <= len(args) <= 3 or set(kwargs) - {"format"} or (len(args) == 3 and kwargs):
        return None
    return args[0], args[1], args[2] if len(args) == 3 else kwargs.get("format")


def kron(args, kwargs):
    """scipy's answer to kron(A, B, format), or None where this does not apply."""
    opts = None if _kernels.keep_in_mlx() else _options(args, kwargs)
    if opts is None:
        return None
    A, B, fmt = opts
    if not _stack.all_readable([A, B]):
        return None
    array = A._is_array or B._is_array
    shape = (A.shape[0] * B.shape[0], A.shape[1] * B.shape[1])
    if not _stack.fits(*shape, A.nnz * B.nnz):
        return None
    # scipy's BSR branch, taken for a B at least half full (an empty shape too)
    bsr = fmt in (None, "bsr") and 2 * B.nnz >= math.prod(B.shape)
    empty = A.nnz == 0 or B.nnz == 0
    if (bsr and not empty) or fmt not in _stack.FORMATS:
        return None
    if empty:                           # both branches: scipy's zero COO, float64
        return _zero(shape, array, fmt)
    # coordinates: A's COO index dtype widened by B's, as numpy adds them; a
    # matrix answer is narrowed again by its constructor (the sizes fit)
    wide = array and np.int64 in (_stack.coo_index(A), _stack.coo_index(B))
    idx = np.int64 if wide else np.int32
    dtype = np.result_type(A.dtype, B.dtype)
    operands = (_stack.entries(A, idx), _stack.entries(B, idx), B.shape, idx, dtype)
    if fmt in (None, "coo"):
        return _stack.coo_answer(shape, _kernels.kron_entries(*operands), array, fmt)
    # CSR / CSC: scipy's tocsr / tocsc of that COO, done on its numpy arrays
    # (no MLX COO in between: our COO's conversion sorts by argsort, 3x slower)
    data, row, col = _kernels.kron_entries(*operands, into_mlx=False)
    major, minor = (row, col) if fmt == "csr" else (col, row)
    n_major, n_minor = shape if fmt == "csr" else shape[::-1]
    made = _kernels.compressed_of_coo(data, major, minor, n_major, n_minor)
    cls = _bridge.CLASSES[fmt][0 if array else 1]
    # scipy's answer is flagged canonical (it summed duplicates or found none)
    return cls._built(shape, *made, sorted_indices=True, canonical=True)


def _zero(shape, array, fmt):
    """scipy's zero product: an empty COO of ``shape`` (float64, int32
    coordinates, flagged canonical), converted as scipy's asformat(fmt)."""
    data = mx.zeros((0,), dtype=mx.float64)
    _arrays.note_free(data)             # new, made here
    row, col = (mx.zeros((0,), dtype=mx.int32) for _ in range(2))
    out = _bridge.CLASSES["coo"][0 if array else 1]._built(shape, data, (row, col), True)
    return out if fmt in (None, "coo") else out.asformat(fmt)
