"""save_npz / load_npz of our CSR, CSC and COO arrays with no scipy object:
the file scipy's save_npz writes (the same keys, in its order, holding the
same arrays), written from numpy views of our arrays, and read back into
new MLX arrays, the structure checked before first use as for a pickled
array (_formats._base._unpickle_parts).  Files scipy writes load here and
ours load in scipy.  Other formats, values scipy or MLX cannot hold as
they are (float16, traced ones, ...) and files this does not read take
scipy's path (_construct._lift), errors included."""
import functools

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss

from . import _arrays, _kernels
from ._formats import _bridge, _validate

_FORMATS = ("csr", "csc", "coo")
# values both scipy and MLX hold (scipy refuses float16; MLX has no complex128)
_VALUE_DTYPES = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
    np.uint64, np.float32, np.float64, np.complex64))
_INDEX_DTYPES = frozenset(np.dtype(t) for t in (np.int32, np.int64))


@functools.cache
def _scipy_path(name):
    from ._construct import _lift       # (a cycle: _construct imports this module)
    return _lift(name)


def save_npz(file, matrix, compressed=True):
    parts = _saved_arrays(matrix)
    if parts is None:
        return _scipy_path("save_npz")(file, matrix, compressed=compressed)
    (np.savez_compressed if compressed else np.savez)(file, **parts)


save_npz.__doc__ = _ss.save_npz.__doc__


def _saved_arrays(A):
    """The arrays scipy's save_npz writes for ``A``, in its order, as numpy
    views of ours; None where scipy's path applies."""
    if not (_bridge.is_ours(A) and A.format in _FORMATS and A.ndim == 2) \
            or _kernels.keep_in_mlx():
        return None
    A._ensure_valid()                   # (pruned to the stored entries, as scipy sees them)
    if A._valid is not True or not _kernels.views_apply(A.__dict__.get("_vals")):
        return None
    if A.format == "coo":
        idx = np.int64 if A._coords[0].dtype == mx.int64 else np.int32
        data, row, col = _kernels.coo_entries(A._peek(), *A._coords, idx)
        parts = {"row": row, "col": col}
    else:
        data, indices, indptr = _kernels.compressed_views(A._peek(), A._indices, A._indptr)
        parts = {"indices": indices, "indptr": indptr}
    parts.update(format=A.format.encode("ascii"), shape=A.shape, data=data)
    if A._is_array:
        parts.update(_is_array=True)
    return parts


def load_npz(file):
    start = file.tell() if hasattr(file, "seek") and hasattr(file, "tell") else None
    with np.load(file, allow_pickle=False) as loaded:
        A = _loaded(loaded)
    if A is not None:
        return A
    if start is not None:               # read again, by scipy
        file.seek(start)
    return _scipy_path("load_npz")(file)


load_npz.__doc__ = _ss.load_npz.__doc__


def _loaded(loaded):
    """Our array of a file scipy's save_npz wrote for CSR / CSC / COO; None
    where scipy's path applies (other formats, no format at all: its error)."""
    fmt = loaded.get("format")
    if fmt is None or fmt.shape != ():
        return None
    fmt = fmt.item()
    fmt = fmt.decode("ascii") if isinstance(fmt, bytes) else fmt
    keys = ("indices", "indptr") if fmt in ("csr", "csc") else ("row", "col")
    if fmt not in _FORMATS or not all(k in loaded for k in keys):
        return None                     # (a COO of "coords": scipy's path)
    shape, data = loaded["shape"], loaded["data"]
    index = [loaded[k] for k in keys]
    if shape.shape != (2,) or data.dtype not in _VALUE_DTYPES or data.ndim != 1 \
            or any(a.dtype not in _INDEX_DTYPES or a.ndim != 1 for a in index):
        return None
    cls = _bridge.CLASSES[fmt][0 if loaded.get("_is_array") else 1]
    return _built(cls, fmt, _validate.shape_2d(shape), _arrays.to_mx(data),
                  [_arrays.to_mx(a) for a in index])


def _built(cls, fmt, shape, values, index):
    """``cls`` of the loaded arrays, checked as scipy's constructor checks
    them (lengths, the line pointers' ends); the rest (bounds, order) before
    first use.  A matrix's int64 index arrays are narrowed as scipy narrows
    them, where their contents fit: checked in full first (the cast of an
    index out of bounds could wrap into them)."""
    maxval = max(shape) if fmt == "coo" else max(*shape, index[0].size)    # (as _validate's)
    narrow = not cls._is_array and \
        _validate.index_dtype([a.dtype for a in index], maxval) == np.int64
    if fmt == "coo":
        row, col, _ = _validate.coo(values, *index, shape, downcast=narrow, bounds=narrow)
        A = cls._built(shape, values, (row, col), False)    # (scipy's COO is not canonical)
    else:
        major, minor = shape if fmt == "csr" else shape[::-1]
        values, indices, indptr, _ = _validate.compressed(
            values, *index, major, minor, full_check=narrow, downcast=narrow)
        A = cls._built(shape, values, indices, indptr)
    _arrays.note_free(A._peek())        # new, made here (pruned or not)
    A._valid = narrow                   # (checked in full only when narrowed)
    return A
