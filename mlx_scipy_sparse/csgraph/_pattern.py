"""Index arrays of our sparse arrays as the MLX traversals read them.

Read from the formats' own (never written) index arrays, so nothing is
copied but what a pattern function makes, once per pattern (kept by the
kernel table's memo while the index arrays live).  Like `_inputs`, this
reads a format's storage; nothing else in the package does.
"""
import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels

_I32 = np.iinfo(np.int32).max


def _int32(a):
    """Index arrays as int32 (GPU scatters refuse 64-bit integers); callers
    only come here for graphs whose sizes fit."""
    return a if a.dtype == mx.int32 else a.astype(mx.int32)


def fits(A):
    """Sizes the int32 traversals can index: an undirected search reads
    every edge twice (a row and its transpose)."""
    return max(A.shape[0] + 1, 2 * A.nnz) < _I32


def edges(A):
    """(source, target) of every stored entry, MLX int32 (duplicates kept)."""
    C = A.tocoo()
    C._ensure_valid()
    row, col = C._coords
    return _int32(row), _int32(col)


def coo_arrays(A):
    """(row, col, values) of our CSR/CSC/COO array in its COO order (for
    CSR/CSC the order of ``A.data``): the values keep their graph node."""
    C = A.tocoo()
    C._ensure_valid()
    row, col = C._coords
    return row, col, C._data


def coords(C):
    """A COO array's own coordinate arrays (no copy)."""
    C._ensure_valid()
    return C._coords


def canonical(C):
    """A COO array with its coordinates sorted and duplicates summed, as
    scipy's sum_duplicates leaves them (differentiable in the values)."""
    r = C._canonical_form()
    return r if r is not None else C.tocsr().tocoo()


def csr_pattern(A, directed=True):
    """(indptr, indices) of the CSR graph scipy's traversals read: the
    undirected view of a CSC array is its transpose (scipy's validation
    swaps it rather than convert), every other array its CSR form."""
    if not directed and A.format == "csc":
        A = A.T
    G = A.tocsr()
    G._ensure_valid()
    return G._indptr, G._indices


def adjacency(A, directed=True):
    """(indptr, indices), MLX int32, of the neighbour lists a breadth-first
    search visits: a row of the CSR graph; undirected, a row followed by
    the same row of its transpose (scipy's order for directed=False)."""
    indptr, indices = csr_pattern(A, directed)
    if directed:
        return _int32(indptr), _int32(indices)
    n = A.shape[0]

    def compute():
        _, t_ind, t_ptr = _kernels.transpose_pattern(indices, indptr, n, n)
        p1, i1 = _arrays.to_np(indptr).astype(np.int64), _arrays.to_np(indices)
        p2, i2 = _arrays.to_np(t_ptr).astype(np.int64), _arrays.to_np(t_ind)
        d1 = np.diff(p1)
        ptr = p1 + p2
        out = np.empty(i1.size + i2.size, dtype=np.int32)
        r1 = np.repeat(np.arange(n), d1)
        out[ptr[r1] + np.arange(i1.size) - p1[r1]] = i1
        r2 = np.repeat(np.arange(n), np.diff(p2))
        out[ptr[r2] + d1[r2] + np.arange(i2.size) - p2[r2]] = i2
        return mx.array(ptr.astype(np.int32)), mx.array(out)
    return _kernels.memo("csgraph-undirected", (indices, indptr, n), compute)
