"""Entries picked by their values, under the device rule (a GPU, or
MSS_KEEP_IN_MLX=1) for free values: `nonzero`, `find`, `eliminate_zeros`.

The test (value != 0) runs where the values live and only its count comes
back (one scalar); the kept positions are compacted there too, and what
scipy hands back (index arrays, values) is all that comes to the host.
Before, each of these copied every value to the host for scipy (90 ms for
`nonzero` of 16M entries on the H200).  The pattern of the result depends
on the values, so traced values keep scipy's path (which refuses them).
"""
import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _bridge, _device_reduce


def applies(A):
    """Free values of a dtype the device holds, in a checked 2-D CSR, CSC
    or COO array."""
    if not (_bridge.is_ours(A) and hasattr(A, "_data") and A.ndim == 2
            and A.format in ("csr", "csc", "coo") and _device_reduce.applies(A)
            and _bridge.values_state(A) == _arrays.FREE):
        return False
    A._ensure_valid()
    return bool(A._valid)


def _host(a, dtype=None):
    out = np.array(_arrays.to_np(a))
    return out if dtype is None else out.astype(dtype, copy=False)


def nonzero(A):
    """scipy's A.nonzero(): the coordinates of the stored entries that are
    not zero, in A's COO order (duplicates not summed, as scipy's); CSC's
    in row-major order, as scipy's stable sort by row leaves them (the
    order of the CSR conversion)."""
    C = (A._flip() if A.format == "csc" else A).tocoo()
    keep = _kernels.nonzero_mask(C._values())
    src, _ = _kernels.compact(keep)
    dtype = _arrays.np_dtype(C._coords[0].dtype)
    if src is None:
        return tuple(_host(c, dtype) for c in C._coords)
    with mx.stream(_kernels.stream_for(mx.int32)):
        picked = [mx.take(c, src) for c in C._coords]
    return tuple(_host(c, dtype) for c in picked)


def find(A, traced=False):
    """scipy's find(A): rows, columns and values of the nonzero entries in
    row-major order, duplicates summed; None where the canonical row-major
    form cannot be made in MLX.  ``traced`` values: every stored entry (which
    are zero depends on the values, which a trace cannot read), the values
    as MLX with their gradient, the rows and columns scipy's numpy."""
    from ._binary import _canonical
    C = A._canonical_form() if A.format == "coo" else _canonical(A, "csr")
    if C is None:
        return None
    if C.format == "coo":
        rows, cols = C._coords
    else:
        rows, cols = _kernels.entry_rows(C._indptr, C.nnz), C._indices
    vals = C._values()
    src, _ = (None, None) if traced else _kernels.compact(_kernels.nonzero_mask(vals))
    if src is not None:
        with mx.stream(_kernels.stream_for(mx.int32)):
            rows, cols = mx.take(rows, src), mx.take(cols, src)
        vals = _kernels.gather(vals, src)
    idx = np.result_type(_arrays.np_dtype(C._indices.dtype if C.format != "coo"
                                          else cols.dtype), np.int32)
    return _host(rows, idx), _host(cols, idx), vals if traced else _host(vals)


def eliminate_zeros(A):
    """A.eliminate_zeros() in place: the stored zeros dropped, the order
    (and so the canonical flags) kept, as scipy's."""
    if dropped_by_host_pass(A):
        return
    vals = A._values()
    keep = _kernels.nonzero_mask(vals)
    src, _ = _kernels.compact(keep)
    if src is None:
        return
    if A.format == "coo":
        with mx.stream(_kernels.stream_for(mx.int32)):
            coords = tuple(_arrays.settled(mx.take(c, src)) for c in A._coords)
        new = type(A)._built(A.shape, _kernels.gather(vals, src), coords, A._canonical)
    else:
        from ._binary import kept_entries
        data, ind, ptr = kept_entries(A, keep, src)
        new = type(A)._built(A.shape, data, ind, ptr, sorted_indices=A._sorted,
                             canonical=A._canonical)
    adopt(A, new)


def dropped_by_host_pass(A, has_zeros=False):
    """Whether A's stored zeros were dropped in place by the CPU's compiled
    pass (free values on the CPU, a checked CSR or CSC array); False where
    that pass does not apply."""
    if A.format == "coo" or A.ndim != 2 or not _arrays.is_mx(A._values()):
        return False
    A._ensure_valid()
    if not A._valid:
        return False
    n_lines, n_other = A.shape if A.format == "csr" else A.shape[::-1]
    vals = A._values()
    got = _kernels.drop_zeros(vals, A._indices, A._indptr, n_lines, n_other, has_zeros)
    if got is None:
        return False
    if got[0] is vals:                  # nothing was zero: nothing changes
        return True
    adopt(A, type(A)._built(A.shape, *got, sorted_indices=A._sorted, canonical=A._canonical))
    return True


def adopt(A, new):
    """In place: A now holds new's storage (ours, A's format and flavour),
    as after scipy restructures an array in place.  Handles handed out
    before (A.indices, A.data) and views (A.T) keep the old arrays: with a
    new structure they go their own way, as the bridge's in-place calls do."""
    state = {k: v for k, v in new.__dict__.items() if k != "maxprint"}   # A's own stays
    with _arrays.STATE_LOCK:
        for k in ("_handles", "_seen", "_fast", "_csr_cache"):
            A.__dict__.pop(k, None)
        A.__dict__.update(state)
