"""Pattern functions where the pattern lives, for a GPU: MLX ops on int32
index arrays, so a new pattern costs no copy to the host and back (a 16M
entry pattern is ~130 MB each way through managed memory, where scipy's
merge on the host then takes most of a second).

Each answers what its host twin in `_cpu` answers (the same arrays, the
same order), so `_values` can pick either by where the default device is.
A merge of two canonical patterns needs no sort: both are sorted already,
so a binary search of each entry in the other's same line says where it
falls and which places both hold.
"""
import mlx.core as mx

from .. import _arrays
from ._composed import running_sum

_I32MAX = 2 ** 31 - 1


def fits(arrays, total):
    """Whether the device path takes these: int32 pattern arrays and int32
    entry numbers (``total`` entries in all)."""
    return all(a.dtype == mx.int32 for a in arrays) and total < _I32MAX


def entry_lines(indptr, nnz):
    """The line (a CSR's row) of every stored entry: ones at the line starts,
    then a running sum (an empty line starts where the next one does)."""
    starts = mx.minimum(indptr[1:-1], nnz)
    marks = mx.zeros((nnz + 1,), dtype=mx.int32).at[starts].add(
        mx.ones(starts.shape, dtype=mx.int32))
    return running_sum(marks[:nnz])


def _settled(*arrays):
    return tuple(_arrays.settled(a) for a in arrays)


def transpose(indices, indptr, n_rows, n_cols):
    """(perm, indices, indptr) of A.T's CSR: the order of A.T's entries is a
    sort of column * nnz + entry number, so within a column the entries keep
    A's order, as scipy's csr_tocsc; A.T's line starts count the columns."""
    nnz = indices.size
    with mx.stream(mx.default_device()):
        if nnz == 0:
            zero = mx.zeros((0,), dtype=mx.int32)
            return _settled(zero, zero, mx.zeros((n_cols + 1,), dtype=mx.int32))
        rows = entry_lines(indptr, nnz)
        key = indices.astype(mx.int64) * nnz + mx.arange(nnz, dtype=mx.int64)
        perm = mx.argsort(key).astype(mx.int32)
        counts = mx.zeros((n_cols,), dtype=mx.int32).at[indices].add(
            mx.ones((nnz,), dtype=mx.int32))
        t_ptr = mx.concatenate([mx.zeros((1,), dtype=mx.int32), running_sum(counts)])
        return _settled(perm, mx.take(rows, perm), t_ptr)


def _count_below(cols, ptr, lines, queries, inclusive, longest):
    """For each query (a line and an index in it), how many entries of the
    sorted pattern (cols, ptr) lie in earlier lines or in its line below it
    (at most it with ``inclusive``): a binary search of every query at once
    inside its own line, so as many halvings as the longest line needs (a
    query whose range closed stays)."""
    lo, hi = mx.take(ptr, lines), mx.take(ptr, lines + 1)
    if cols.size == 0:
        return lo
    last = cols.size - 1
    for _ in range(int(longest).bit_length() + 1):
        mid = lo + (hi - lo) // 2         # (lo + hi could pass int32)
        v = mx.take(cols, mx.minimum(mid, last))
        right = (v <= queries) if inclusive else (v < queries)
        open_ = lo < hi
        lo = mx.where(open_ & right, mid + 1, lo)
        hi = mx.where(open_ & mx.logical_not(right), mid, hi)
    return lo


def _longest(*ptrs):
    """The longest line of each pattern (one read back for all)."""
    tops = [mx.max(p[1:] - p[:-1]) if p.size > 1 else mx.array(0, dtype=p.dtype) for p in ptrs]
    return mx.stack(tops).tolist()


def _meeting(a_ind, a_ptr, b_ind, b_ptr):
    """(below_a, upto_b, met_b, met_before): for A's entries how many of B's
    entries lie below their place, for B's how many of A's lie at or below
    theirs, which of B's entries meet one of A's (0 / 1), and how many of
    B's first k entries do (k = 0..nb).  Both patterns are sorted, so no
    sort is needed: each entry is searched for in the other's same line."""
    na, nb = a_ind.size, b_ind.size
    long_a, long_b = _longest(a_ptr, b_ptr)
    line_a, line_b = entry_lines(a_ptr, na), entry_lines(b_ptr, nb)
    below_a = _count_below(b_ind, b_ptr, line_a, a_ind, False, long_b)
    upto_b = _count_below(a_ind, a_ptr, line_b, b_ind, True, long_a)
    if na:
        met_b = (upto_b > mx.take(a_ptr, line_b)) & \
            (mx.take(a_ind, mx.maximum(upto_b - 1, 0)) == b_ind)
    else:
        met_b = mx.zeros(b_ind.shape, dtype=mx.bool_)
    met_i = met_b.astype(mx.int32)
    met_before = mx.concatenate([mx.zeros((1,), dtype=mx.int32), running_sum(met_i)])
    return below_a, upto_b, met_i, met_before


def union(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
    """(slot_a, slot_b, indices, indptr, n) of the union of two canonical
    patterns, as `_cpu.union_slots` (one scalar comes back: n; n_minor is
    not needed here, taken for the host twin's signature).  A place's
    number in the union counts the distinct places below it: those of A and
    of B, less the met pairs among them."""
    na, nb = a_ind.size, b_ind.size
    with mx.stream(mx.default_device()):
        if na + nb == 0:
            zero = mx.zeros((0,), dtype=mx.int32)
            return _settled(zero, zero, zero, mx.zeros((n_major + 1,), dtype=mx.int32)) + (0,)
        below_a, upto_b, met_b, met_before = _meeting(a_ind, a_ptr, b_ind, b_ptr)
        slot_a = mx.arange(na, dtype=mx.int32) + below_a - mx.take(met_before, below_a)
        slot_b = mx.arange(nb, dtype=mx.int32) + upto_b - met_before[:nb] - met_b
        n = na + nb - int(met_before[-1].item())
        # both entries of a met pair write the same index
        ind = mx.zeros((n,), dtype=mx.int32).at[slot_a].maximum(a_ind).at[slot_b].maximum(b_ind)
        ptr = a_ptr + b_ptr - mx.take(met_before, b_ptr)
        return _settled(slot_a, slot_b, ind, ptr) + (n,)


def intersection(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
    """(pick_a, pick_b, indices, indptr) of the places two canonical
    patterns share, as `_cpu.intersection_slots` (one scalar comes back)."""
    na, nb = a_ind.size, b_ind.size
    with mx.stream(mx.default_device()):
        if na == 0 or nb == 0:
            zero = mx.zeros((0,), dtype=mx.int32)
            return _settled(zero, zero, zero, mx.zeros((n_major + 1,), dtype=mx.int32))
        _, upto_b, met_b, met_before = _meeting(a_ind, a_ptr, b_ind, b_ptr)
        n = int(met_before[-1].item())
        spot = mx.where(met_b > 0, met_before[1:] - 1, n)     # the rest land on a spare slot n
        pick_b = mx.zeros((n + 1,), dtype=mx.int32).at[spot].maximum(
            mx.arange(nb, dtype=mx.int32))[:n]
        pick_a = mx.zeros((n + 1,), dtype=mx.int32).at[spot].maximum(upto_b - 1)[:n]
        ptr = mx.take(met_before, b_ptr)
        return _settled(pick_a, pick_b, mx.take(b_ind, pick_b), ptr)


def pick_lines(indices, indptr, lines):
    """(src, indices, indptr) of the lines ``lines`` (int32 numbers in range,
    any order, repeats allowed) of a compressed pattern, each line's entries
    in their order; src says which entry each new one is.  None where the
    result would pass int32 entry numbers."""
    with mx.stream(mx.default_device()):
        lines = mx.array(lines, dtype=mx.int32)
        starts = mx.take(indptr, lines)
        ends = running_sum((mx.take(indptr, lines + 1) - starts).astype(mx.int64))
        n = int(ends[-1].item()) if lines.size else 0
        if n >= _I32MAX:
            return None
        ptr = mx.concatenate([mx.zeros((1,), dtype=mx.int32), ends.astype(mx.int32)])
        if n == 0:
            zero = mx.zeros((0,), dtype=mx.int32)
            return _settled(zero, zero, ptr)
        line = entry_lines(ptr, n)
        src = mx.take(starts, line) + mx.arange(n, dtype=mx.int32) - mx.take(ptr, line)
        return _settled(src, mx.take(indices, src), ptr)
