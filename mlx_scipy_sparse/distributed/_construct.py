"""Ways to build a DistributedCSR and its vectors."""
import numpy as np

from .. import csr_array
from . import _comm, _partition
from ._array import DistributedCSR, _Pattern
from ._vector import DistributedVector


def _as_csr(block):
    """Our csr_array of any sparse or dense input (scipy's dtype rules)."""
    if isinstance(block, csr_array):
        return block
    if hasattr(block, "tocsr"):
        block = block.tocsr()
    return csr_array(block)


def _build(block, rows, cols, group, exchange):
    n_cols = cols.n
    if block.shape != (rows.n_local, n_cols):
        raise ValueError(f"rank {group.rank()}: a block of {rows.n_local} rows x {n_cols} "
                         f"columns expected, got {block.shape}")
    ind = np.asarray(block.indices)
    if ind.size and (ind.min() < 0 or ind.max() >= n_cols):
        raise ValueError("column index out of range")
    nnz = int(_comm.sum_host(group, np.array(block.nnz, dtype=np.int64)))
    pattern = _Pattern(ind, block.indptr, rows, cols, group, nnz, exchange)
    return DistributedCSR(block.data, pattern, (rows.n, n_cols))


def _col_partition(cols, rows, n_cols, group):
    """x's layout: the rows' own partition for a square array, even blocks
    otherwise, unless given."""
    if cols is None and rows.n == n_cols:
        return rows
    return _partition.as_partition(cols, n_cols, group)


def from_local_rows(block, cols=None, group=None, exchange="auto"):
    """Each rank passes its own block of consecutive rows (any sparse or
    dense input; global column numbers; zero rows allowed).  Blocks follow
    rank order.  A collective call: every rank of the group makes it.

    cols: how x is split (a RowPartition, per-rank counts or offsets);
    default: like the rows for a square array, even blocks otherwise.
    exchange: "auto" (point-to-point between neighbour ranks where the
    pattern allows, the backend has send/recv and the halo is large enough
    to repay ring's send/recv latency, all_gather otherwise), "neighbour" or
    "all_gather" to insist on one."""
    group = _comm.world(group)
    block = _as_csr(block)
    rows = _partition.from_local_count(block.shape[0], group)
    n_cols = int(np.max(np.concatenate(_comm.allgather_host(
        group, np.array([block.shape[1]], dtype=np.int64)))))
    if block.shape[1] != n_cols:
        raise ValueError(f"rank {group.rank()}: blocks differ in their number of columns "
                         f"({block.shape[1]}, {n_cols})")
    return _build(block, rows, _col_partition(cols, rows, n_cols, group), group, exchange)


def _row_block(A, start, stop):
    """Rows start:stop of our csr_array, values sliced on the MLX graph."""
    ptr = np.asarray(A.indptr).astype(np.int64)
    a, b = int(ptr[start]), int(ptr[stop])
    ind = np.asarray(A.indices)[a:b]
    return csr_array((A.data[a:b], ind, ptr[start:stop + 1] - a), shape=(stop - start, A.shape[1]))


def from_global(A, rows=None, cols=None, group=None, exchange="auto"):
    """Every rank holds the whole matrix (or generates the same one) and keeps
    the rows its partition gives it.  rows / cols: None (even blocks), a
    RowPartition, per-rank counts or offsets."""
    group = _comm.world(group)
    A = _as_csr(A)
    rows = _partition.as_partition(rows, A.shape[0], group)
    block = _row_block(A, rows.start, rows.stop)
    return _build(block, rows, _col_partition(cols, rows, A.shape[1], group), group, exchange)


def scatter(A, root=0, rows=None, cols=None, group=None, exchange="auto"):
    """The matrix held by rank ``root`` alone (other ranks pass None) sent
    out by row blocks.  Each block goes to every rank in turn (a broadcast
    through all_sum, which every backend has), so no rank holds more than
    one block besides the root."""
    group = _comm.world(group)
    me = group.rank()
    head = np.zeros(4, dtype=np.int64)
    if me == root:
        A = _as_csr(A)
        head[:] = (*A.shape, A.nnz, np.dtype(A.dtype).num)
    head = _comm.broadcast_host(group, head, root, (4,), np.int64)
    shape, num = (int(head[0]), int(head[1])), int(head[3])
    dtype = next(t for t in map(np.dtype, np.typecodes["All"]) if t.num == num)
    rows = _partition.as_partition(rows, shape[0], group)
    block = None
    for s in range(group.size()):
        lo, hi = rows.offsets[s], rows.offsets[s + 1]
        parts = None
        nnz = np.zeros(1, dtype=np.int64)
        if me == root:
            part = _row_block(A, lo, hi)
            nnz[0] = part.nnz
            parts = (np.asarray(part.indptr).astype(np.int64), np.asarray(part.indices).astype(
                np.int64), np.asarray(part.data))
        nnz = int(_comm.broadcast_host(group, nnz, root, (1,), np.int64)[0])
        got = [_comm.broadcast_host(group, parts[i] if parts else None, root, shp, dt)
               for i, (shp, dt) in enumerate([((hi - lo + 1,), np.int64), ((nnz,), np.int64),
                                              ((nnz,), dtype)])]
        if s == me:
            block = csr_array((got[2], got[1], got[0]), shape=(int(hi - lo), shape[1]))
    return _build(block, rows, _col_partition(cols, rows, shape[1], group), group, exchange)


def vector(local, group=None):
    """A distributed vector from each rank's own slice (a collective call:
    the partition follows the slices' lengths, in rank order)."""
    group = _comm.world(group)
    rows = _partition.from_local_count(local.shape[0], group)
    return DistributedVector(local, rows, group)


def vector_from_global(x, rows=None, group=None):
    """Every rank holds the whole vector and keeps its rows."""
    group = _comm.world(group)
    rows = _partition.as_partition(rows, x.shape[0], group)
    return DistributedVector(x[rows.start:rows.stop], rows, group)


def like_rows(A, local):
    """A vector laid out as A's rows (A @ x's result) from this rank's slice."""
    return DistributedVector(local, A.rows, A.group)


def like_cols(A, local):
    """A vector laid out as A's columns (x in A @ x) from this rank's slice."""
    return DistributedVector(local, A.cols, A.group)


