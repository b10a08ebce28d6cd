"""Pattern functions where the pattern lives, for a GPU: MLX ops on int32
index arrays, so a new pattern costs no copy to the host and back (a 16M
entry pattern is ~130 MB each way through managed memory, where scipy's
merge on the host then takes most of a second).

Each answers what its host twin in `_cpu` answers (the same arrays, the
same order), so `_values` can pick either by where the default device is.
The keys of a merge are line * n_other + index in int64, doubled with a
tag (A's even, B's odd) so that no two are equal and A's entry sorts first
when both hold a place: MLX's argsort need not be stable.
"""
import mlx.core as mx

from .. import _arrays

_I32MAX = 2 ** 31 - 1


def fits(arrays, n_major, n_minor, total):
    """Whether the device path takes these: int32 pattern arrays, int32
    entry numbers, tagged keys inside int64."""
    return all(a.dtype == mx.int32 for a in arrays) and total < _I32MAX \
        and 2 * (n_major + 1) * (n_minor + 1) < 2 ** 62


def entry_lines(indptr, nnz):
    """The line (a CSR's row) of every stored entry: ones at the line starts,
    then a running sum (an empty line starts where the next one does)."""
    starts = mx.minimum(indptr[1:-1], nnz)
    marks = mx.zeros((nnz + 1,), dtype=mx.int32).at[starts].add(
        mx.ones(starts.shape, dtype=mx.int32))
    return mx.cumsum(marks[:nnz])


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
        t_ptr = mx.concatenate([mx.zeros((1,), dtype=mx.int32), mx.cumsum(counts)])
        return _settled(perm, mx.take(rows, perm), t_ptr)


def _merged(a_ind, a_ptr, b_ind, b_ptr, n_minor):
    """(order, met): the merged order of both operands' entries (entry
    numbers, B's after A's na) and, at each merged place, whether it holds
    the same place as the one before (B's entry meeting A's)."""
    na, nb = a_ind.size, b_ind.size
    ka = entry_lines(a_ptr, na).astype(mx.int64) * n_minor + a_ind.astype(mx.int64)
    kb = entry_lines(b_ptr, nb).astype(mx.int64) * n_minor + b_ind.astype(mx.int64)
    keys = mx.concatenate([ka * 2, kb * 2 + 1])
    order = mx.argsort(keys).astype(mx.int32)
    place = mx.take(keys, order) // 2
    met = mx.concatenate([mx.zeros((1,), dtype=mx.bool_), place[1:] == place[:-1]])
    return order, met


def _starts_before(count, a_ptr, b_ptr):
    """How many of the counted merged places lie in earlier lines: the first
    a_ptr + b_ptr merged places are those of the lines before."""
    before = mx.concatenate([mx.zeros((1,), dtype=mx.int32), mx.cumsum(count)])
    return mx.take(before, a_ptr + b_ptr)


def union(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
    """(slot_a, slot_b, indices, indptr, n) of the union of two canonical
    patterns, as `_cpu.union_slots` (one scalar comes back: n)."""
    na, nb = a_ind.size, b_ind.size
    with mx.stream(mx.default_device()):
        if na + nb == 0:
            zero = mx.zeros((0,), dtype=mx.int32)
            return _settled(zero, zero, zero, mx.zeros((n_major + 1,), dtype=mx.int32)) + (0,)
        order, met = _merged(a_ind, a_ptr, b_ind, b_ptr, n_minor)
        uid = mx.cumsum(mx.logical_not(met).astype(mx.int32)) - 1
        slot = mx.zeros((na + nb,), dtype=mx.int32).at[order].add(uid)
        n = int(uid[-1].item()) + 1
        cols = mx.take(mx.concatenate([a_ind, b_ind]), order)
        # both places of a met pair write the same column
        ind = mx.zeros((n,), dtype=mx.int32).at[uid].maximum(cols)
        ptr = a_ptr + b_ptr - _starts_before(met.astype(mx.int32), a_ptr, b_ptr)
        return _settled(slot[:na], slot[na:], ind, ptr) + (n,)


def intersection(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
    """(pick_a, pick_b, indices, indptr) of the places two canonical
    patterns share, as `_cpu.intersection_slots` (one scalar comes back)."""
    na, nb = a_ind.size, b_ind.size
    with mx.stream(mx.default_device()):
        if na == 0 or nb == 0:
            zero = mx.zeros((0,), dtype=mx.int32)
            return _settled(zero, zero, zero, mx.zeros((n_major + 1,), dtype=mx.int32))
        order, met = _merged(a_ind, a_ptr, b_ind, b_ptr, n_minor)
        count = met.astype(mx.int32)
        seen = mx.cumsum(count)
        n = int(seen[-1].item())
        spot = mx.where(met, seen - 1, n)               # the rest land on a spare slot n
        a_of = mx.concatenate([mx.zeros((1,), dtype=mx.int32), order[:-1]])   # the A entry met
        pick_a = mx.zeros((n + 1,), dtype=mx.int32).at[spot].maximum(a_of)[:n]
        pick_b = mx.zeros((n + 1,), dtype=mx.int32).at[spot].maximum(order - na)[:n]
        ptr = _starts_before(count, a_ptr, b_ptr)
        return _settled(pick_a, pick_b, mx.take(a_ind, pick_a), ptr)


def pick_lines(indices, indptr, lines):
    """(src, indices, indptr) of the lines ``lines`` (int32 numbers in range,
    any order, repeats allowed) of a compressed pattern, each line's entries
    in their order; src says which entry each new one is.  None where the
    result would pass int32 entry numbers."""
    with mx.stream(mx.default_device()):
        lines = mx.array(lines, dtype=mx.int32)
        starts = mx.take(indptr, lines)
        ends = mx.cumsum((mx.take(indptr, lines + 1) - starts).astype(mx.int64))
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
