"""Selections across the minor axis of a compressed pattern (columns of CSR,
rows of CSC): scipy's own compiled routines (get_csr_submatrix,
csr_column_index1 / csr_column_index2) run on numpy views of free CPU
values, with no scipy object around them.

numpy in, new numpy arrays out: nothing shares the input's memory (the
callers copy the results into MLX buffers).  Index arrays come out in the
pattern's index dtype; the caller applies the flavour's dtype rule.  Each
function returns None for what the routines lack (half precision, index
arrays of two dtypes): the caller then takes scipy's own path.
"""
import numpy as np
from scipy.sparse import _sparsetools as st

from ._cpu import chunks, native_dtype, rows_of, rows_shared


def _routines_take(data, indices, indptr):
    """Whether sparsetools computes on these arrays as they are."""
    return data.dtype == native_dtype(data.dtype) and indices.dtype == indptr.dtype \
        and indices.dtype.kind == "i"


def minor_range(data, indices, indptr, n_minor, i0, i1, j0, j1):
    """(data, indices, indptr) of lines i0 .. i1-1 cut to minor indices
    j0 .. j1-1 (renumbered from 0), each line's entries in their stored
    order, duplicates kept: scipy's get_csr_submatrix.  A large range is
    cut in line chunks over the CPU threads (the routine releases the GIL;
    it reads every entry of the range, so a 16M-entry pattern spends tens
    of ms there), the pieces then laid end to end."""
    if not _routines_take(data, indices, indptr):
        return None
    n_major = len(indptr) - 1
    # chunk bounds of the whole pattern that fall inside the range
    bounds = [i0] + [b for b in chunks(indptr) if i0 < b < i1] + [i1]

    def piece(r0, r1):
        return st.get_csr_submatrix(n_major, n_minor, indptr, indices, data, r0, r1, j0, j1)
    if len(bounds) <= 2:
        ptr, ind, d = piece(i0, i1)
        return d, ind, ptr
    pieces = rows_shared(bounds, piece)
    ptr = np.empty(i1 - i0 + 1, dtype=indptr.dtype)
    ptr[0], base = 0, 0
    for (r0, r1), (p, _, _) in zip(zip(bounds, bounds[1:]), pieces):
        ptr[r0 - i0 + 1:r1 - i0 + 1] = p[1:] + base
        base += int(p[-1])
    return (np.concatenate([d for _, _, d in pieces]),
            np.concatenate([ind for _, ind, _ in pieces]), ptr)


def minor_pick(data, indices, indptr, n_minor, picks):
    """(data, indices, indptr) of the minor indices ``picks`` (in range, any
    order, repeats allowed; new index k is picks[k]) of every line: scipy's
    csr_column_index1 / csr_column_index2.  Within a line the entries come in
    the line's stored order, each followed out to every place it is picked
    at, in the order of np.argsort(picks) taken in the pattern's index
    dtype, as scipy takes it (the order of repeated picks depends on it)."""
    if not _routines_take(data, indices, indptr):
        return None
    idx = indptr.dtype
    picks = picks.astype(idx, copy=False)
    n_major = len(indptr) - 1
    offsets = np.zeros(n_minor, dtype=idx)
    ptr = np.empty(n_major + 1, dtype=idx)
    st.csr_column_index1(picks.size, picks, n_major, n_minor, indptr, indices, offsets, ptr)
    order = np.argsort(picks).astype(idx, copy=False)
    n = int(ptr[-1])
    out_ind, out_data = np.empty(n, dtype=idx), np.empty(n, dtype=data.dtype)
    st.csr_column_index2(order, offsets, len(indices), indices, data, out_ind, out_data)
    return out_data, out_ind, ptr


def line_positions(indptr, dtype):
    """The line of each entry of a pattern's indptr (the coordinates a
    single minor index's selection keeps, as a 1-D vector), in ``dtype``."""
    return rows_of(indptr, int(indptr[-1])).astype(dtype, copy=False)
