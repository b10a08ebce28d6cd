"""Host passes over the lines of a compressed pattern (rows of CSR, columns
of CSC) on numpy views of free CPU values, each scipy's answer in its types
and bits without a scipy object (the hand-off cost more than the work at
40k entries): min / max / argmin / argmax along an axis and over every
place (scipy's arg-reductions along an axis loop in Python over the lines:
vectorised here), densifying, COO's merge of repeats, and the rebuilds of a
pattern that resize, setdiag, a write adding entries and an all-True
comparison make.  numpy in, numpy out; no format class here."""
import numpy as np
from scipy.sparse import _sparsetools

from .. import _arrays
from ._cpu import rows_of


def _lines(ptr):
    """(lines holding entries, their first positions, their lengths)."""
    counts = np.diff(ptr)
    lines = np.flatnonzero(counts)
    return lines, ptr[lines], counts[lines]


def line_extremes(values, indptr, line_size, ufunc, explicit):
    """(lines, value): ``ufunc`` (np.maximum / np.minimum) over each line
    holding entries, an implicit zero counted where the line is not full
    (unless ``explicit``), the lines whose result is zero left out: the
    parts of scipy's COO answer to A.max(axis) / A.min(axis)."""
    ptr = _arrays.to_np(indptr)
    lines, starts, counts = _lines(ptr)
    if not lines.size:
        return lines, values[:0].copy()
    value = ufunc.reduceat(values, starts)
    if not explicit:
        short = counts < line_size
        value[short] = ufunc(value[short], 0)
    kept = value != 0
    return lines[kept], value[kept]


def line_arg_extremes(values, indices, indptr, line_size, largest, explicit):
    """Each line's argmax (``largest``) or argmin as scipy answers it for
    sorted lines without repeats: the minor index of the line's first
    extreme entry (NaN counts as the extreme, as np.argmax has it), or,
    where an implicit zero wins or ties, the first missing index (scipy
    takes the smaller of the extreme's position in the line and that index
    when the extreme is zero).  Empty lines answer 0.  int64, as scipy's."""
    ptr, ind = _arrays.to_np(indptr), _arrays.to_np(indices)
    out = np.zeros(len(ptr) - 1, dtype=np.int64)
    lines, starts, counts = _lines(ptr)
    if not lines.size:
        return out
    ufunc = np.maximum if largest else np.minimum
    ext = ufunc.reduceat(values, starts)            # NaN wherever a line holds one
    at_each = np.repeat(ext, counts)
    hit = values == at_each
    if values.dtype.kind in "fc":
        hit |= np.isnan(values) & np.isnan(at_each)
    position = np.arange(values.size)
    first = np.minimum.reduceat(np.where(hit, position, values.size), starts)
    minor = ind[first]
    if explicit:
        out[lines] = minor
        return out
    # sorted distinct indices run 0, 1, 2 ... up to a line's first missing one:
    # the count of entries sitting at their own rank is that index
    rank = position - np.repeat(starts, counts)
    missing = np.add.reduceat((ind == rank).astype(np.int64), starts)
    zero_wins = np.where(ext == 0, np.minimum(first - starts, missing), missing)
    decided = (np.greater(ext, 0) if largest else np.less(ext, 0)) | (counts == line_size)
    out[lines] = np.where(decided, minor, zero_wins)
    return out


def arg_extreme_all(values, indices, indptr, n_cols, largest, explicit):
    """scipy's A.argmax() / A.argmin() over every place of a canonical CSR
    pattern (its row-major order): the flat index of the first extreme
    entry, or of the first implicit zero where that wins (the smaller of
    the two flat positions where the extreme is zero, as scipy takes it)."""
    k = np.argmax(values) if largest else np.argmin(values)
    if explicit:
        return k
    ptr, ind = _arrays.to_np(indptr), _arrays.to_np(indices)
    n_rows, nnz = len(ptr) - 1, values.size
    value = values[k]
    if (value > 0 if largest else value < 0) or nnz == n_rows * n_cols:
        return _flat(ptr, ind, int(k), n_cols)
    gap = _first_gap(ptr, ind, n_cols, nnz, n_rows * n_cols)
    return min(gap, k) if value == 0 else gap     # (k stays numpy's integer, as there)


def _flat(ptr, ind, k, n_cols):
    row = int(np.searchsorted(ptr, k, side="right")) - 1
    return row * n_cols + int(ind[k])


def _first_gap(ptr, ind, n_cols, nnz, size):
    """The first flat index no entry holds.  Entry k's flat index minus k
    never decreases along a canonical pattern, so a bisection finds the
    first entry past the gap (log2(nnz) reads, not a pass over them)."""
    lo, hi = 0, nnz
    while lo < hi:
        mid = (lo + hi) // 2
        if _flat(ptr, ind, mid, n_cols) == mid:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < size else -1


def densify_into(values, indices, indptr, out):
    """Each entry added into the C-ordered numpy 2-D array ``out`` (n_major
    x n_minor) at its place: scipy's csr_todense."""
    n_major, n_minor = out.shape
    _sparsetools.csr_todense(n_major, n_minor, _arrays.to_np(indptr), _arrays.to_np(indices),
                             values, out)
    return out


def merged_repeats(values, row, col, dtype):
    """(values, row, col) of COO entries put in row-major order (a stable
    sort) with repeated places added in that order, in numpy dtype
    ``dtype``: scipy's COO sum_duplicates, on views, into new arrays."""
    row, col = _arrays.to_np(row), _arrays.to_np(col)
    order = np.lexsort((col, row))
    row, col, values = row[order], col[order], values[order]
    first = np.ones(row.size, dtype=np.bool_)          # the first entry at each place
    np.not_equal(row[1:], row[:-1], out=first[1:])
    first[1:] |= col[1:] != col[:-1]
    return np.add.reduceat(values, np.flatnonzero(first), dtype=dtype), row[first], col[first]


def resized_lines(values, indices, indptr, n_major, n_minor):
    """(values, indices, indptr) of a compressed pattern cut or extended to
    n_major lines and n_minor places a line, as new numpy arrays in the
    index arrays' dtypes: scipy's in-place resize of CSR / CSC."""
    ind, ptr = _arrays.to_np(indices), _arrays.to_np(indptr)
    old_major = len(ptr) - 1
    if n_major <= old_major:
        end = ptr[n_major]
        values, ind, ptr = values[:end], ind[:end], ptr[:n_major + 1]
    else:
        ptr = np.concatenate([ptr, np.full(n_major - old_major, ptr[-1], dtype=ptr.dtype)])
    kept = ind < n_minor
    if not kept.all():
        values, ind = values[kept], ind[kept]
        lines, starts, _ = _lines(ptr)
        counts = np.zeros(len(ptr) - 1, dtype=ptr.dtype)
        counts[lines] = np.add.reduceat(kept, starts)
        ptr = np.zeros_like(ptr)
        np.cumsum(counts, out=ptr[1:])
    return np.array(values), np.array(ind), np.array(ptr)


def diagonal_replaced(values, indices, indptr, n_minor, k, new_values, min_added=0):
    """(values, indices, indptr) of a canonical compressed
    pattern with the first len(new_values) places of its diagonal k (minor
    index minus line number) holding ``new_values``: the entries stored
    there replaced, the others inserted in order; new numpy arrays in the
    pattern's dtypes.  scipy's result where its setdiag rebuilds the array
    (its COO form with those places swapped for the new entries, then its
    indices sorted: for a canonical pattern, one order only).  None where
    fewer than ``min_added`` entries would be added (scipy inserts those)."""
    ind, ptr = _arrays.to_np(indices), _arrays.to_np(indptr)
    n = len(new_values)
    lines = np.arange(n) + (-k if k < 0 else 0)
    line_of = rows_of(ptr, ind.size)
    stored = (ind - line_of == k) & (line_of - (-k if k < 0 else 0) < n)
    added = n - int(np.count_nonzero(stored))
    if added < min_added:
        return None
    width = np.int64(max(n_minor, 1))
    kept_keys = (line_of * width + ind)[~stored]          # sorted: the pattern is canonical
    at = np.searchsorted(kept_keys, lines * width + lines + k)
    keep = ~stored
    data = np.insert(values[keep], at, new_values)
    new_ind = np.insert(ind[keep], at, (lines + k).astype(ind.dtype))
    counts = np.bincount(line_of[keep], minlength=len(ptr) - 1)
    counts[lines] += 1
    new_ptr = np.zeros_like(ptr)
    np.cumsum(counts, out=new_ptr[1:])
    return data, new_ind, new_ptr


def places_written(values, indices, indptr, n_minor, major, minor, x):
    """(values, indices, indptr) of a canonical compressed pattern after the
    value ``x`` (a numpy scalar of the values' dtype) is written at the
    places (major, minor) (int64 numpy arrays; repeats allowed): stored
    places take x, the others are inserted in order, as new numpy arrays in
    the pattern's dtypes, and the entry numbers of the stored places
    written.  scipy's answer to such a write (its insertion, then its sort
    of each line).  None where every place is stored already (an in-place
    write)."""
    ind, ptr = _arrays.to_np(indices), _arrays.to_np(indptr)
    width = np.int64(max(n_minor, 1))
    line_of = rows_of(ptr, ind.size).astype(np.int64)
    stored = line_of * width + ind                  # sorted: the pattern is canonical
    keys = _sorted_distinct(major * width + minor)
    at = np.searchsorted(stored, keys)
    hit = at < stored.size
    hit[hit] = stored[at[hit]] == keys[hit]
    if hit.all():
        return None
    written = at[hit]
    added, before = keys[~hit], at[~hit]        # before: stored entries ahead of each
    # the union in order: each new entry after the stored ones ahead of it and
    # the new ones before it; each stored entry after the new ones ahead of it
    new_at = before + np.arange(added.size)
    old_at = np.arange(stored.size) + np.cumsum(
        np.bincount(before, minlength=stored.size + 1))[:stored.size]
    data = np.empty(stored.size + added.size, dtype=values.dtype)
    data[old_at] = values
    data[old_at[written]] = x
    data[new_at] = x
    new_ind = np.empty(data.size, dtype=ind.dtype)
    new_ind[old_at] = ind
    new_ind[new_at] = added % width
    counts = np.diff(ptr) + np.bincount(added // width, minlength=len(ptr) - 1).astype(ptr.dtype)
    new_ptr = np.zeros_like(ptr)
    np.cumsum(counts, out=new_ptr[1:])
    return data, new_ind, new_ptr, written


def _sorted_distinct(keys):
    """keys sorted, repeats dropped.  A selection of slices or masks comes
    in row-major order already: one pass checks that.  (numpy's unique
    hashes integers first: 270 ms for 400k keys here, a sort 25 ms.)"""
    if keys.size > 1 and not np.all(keys[1:] > keys[:-1]):
        keys = np.sort(keys)
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys


def complement_lines(indices, indptr, n_minor):
    """(indices, indptr) of every place of a compressed shape that a
    canonical pattern does not hold, line by line in order, in the
    pattern's index dtype."""
    ind, ptr = _arrays.to_np(indices), _arrays.to_np(indptr)
    n_major = len(ptr) - 1
    free = np.ones((n_major, n_minor), dtype=np.bool_)
    free[rows_of(ptr, ind.size), ind] = False
    new_ptr = np.zeros(n_major + 1, dtype=ptr.dtype)
    np.cumsum(np.count_nonzero(free, axis=1), out=new_ptr[1:])
    return np.nonzero(free)[1].astype(ind.dtype), new_ptr
