"""Triangles and blocks of sparse arrays for free values on the CPU: the
steps of scipy's tril / triu / hstack / bmat / block_diag (tocoo's expansion
of the line pointers, the triangle's mask, scipy's compiled csr_hstack, the
blocks' coordinates shifted and laid end to end) run on numpy views of our
arrays, with no scipy object built and no copy of the operands back and
forth.  Numpy views in, new MLX arrays out; the callers (_formats/_stack.py,
_formats/_triangles.py) pick the index dtypes and the answer's class as
scipy would."""
import numpy as np
import mlx.core as mx
from scipy.sparse import _sparsetools

from .. import _arrays
from . import _values

# values scipy has no type for: these keep the hand-off (lent as float32)
_NOT_SCIPYS = (mx.float16, mx.bfloat16)


def views_apply(*values):
    """Whether these values may be read as numpy views here: MLX arrays of a
    dtype scipy computes in, free, on the CPU."""
    return all(isinstance(v, mx.array) and v.dtype not in _NOT_SCIPYS for v in values) \
        and _values.bare_cpu(*values)


def view(a):
    """numpy view of an MLX array; MLX's 64-bit integers come out as
    longlong, seen here as numpy's int64 (scipy's index type)."""
    v = _arrays.to_np(a)
    return v.view(v.dtype.str) if v.dtype.char in "qQ" else v


def _buffer(n, dtype):
    """(new, out): a writeable numpy array ``out`` of ``n`` entries of numpy
    ``dtype`` for a result, and the MLX array it becomes (`_finished`).
    Small: numpy's own, copied into MLX when done (an MLX evaluation costs
    ~20 us); large: a new MLX buffer seen through numpy, so the result is
    written once and not copied again."""
    dtype = np.dtype(dtype)
    if n < _values._IN_MLX_BUFFERS:
        return None, np.empty(n, dtype=dtype)
    new = mx.zeros((n,), dtype=_arrays.mx_dtype(dtype), stream=mx.cpu)
    mx.eval(new)
    return new, _arrays.to_np(new, writeable=True).view(dtype)


def _finished(new, out, values=False):
    """The MLX array of a `_buffer` once written; ``values``: noted free
    (made from free values)."""
    if new is None:
        new = _arrays.to_mx(out)
    if values:
        _arrays.note_free(new)
    return new


def _made(n, dtype, fill, values=False):
    """A new MLX array of ``n`` entries of numpy ``dtype`` that ``fill(out)``
    writes."""
    new, out = _buffer(n, dtype)
    fill(out)
    return _finished(new, out, values)


def compressed_views(data, indices, indptr):
    """numpy views of a compressed pattern's MLX arrays."""
    return view(data), view(indices), view(indptr)


def compressed_entries(data, indices, indptr, column_major, index_dtype):
    """numpy (data, row, col) of every stored entry of a compressed pattern
    (CSC when ``column_major``), coordinates in ``index_dtype``, in storage
    order: scipy's tocoo (the line pointers expanded by its expandptr)."""
    idx = np.dtype(index_dtype)
    minor = view(indices).astype(idx, copy=False)
    ptr = view(indptr).astype(idx, copy=False)
    major = np.empty(len(minor), dtype=idx)
    _sparsetools.expandptr(len(ptr) - 1, ptr, major)
    return (view(data), minor, major) if column_major else (view(data), major, minor)


def coo_entries(data, row, col, index_dtype):
    """numpy (data, row, col) of COO arrays, coordinates in ``index_dtype``."""
    idx = np.dtype(index_dtype)
    return view(data), view(row).astype(idx, copy=False), view(col).astype(idx, copy=False)


def triangle(data, row, col, k, lower):
    """(data, row, col) (numpy, as the *_entries above give them) as MLX arrays
    of the entries on or below (``lower``) or on or above diagonal ``k``, in
    storage order: scipy's tril / triu, whose mask this computes with the
    same numpy expression (an offset the index dtype cannot hold raises as
    there).  The kept positions are found once and taken from each array
    (3 boolean selections cost 1.4x as much at 16M entries)."""
    shifted = row if k == 0 else row + k            # (no temporary for the usual k)
    keep = shifted >= col if lower else shifted <= col
    at = np.flatnonzero(keep)
    return tuple(_made(len(at), a.dtype, lambda out, a=a: np.take(a, at, out=out),
                       values=a is data) for a in (data, row, col))


def joined_lines(parts, n_lines, widths, index_dtype, into_mlx=False):
    """(data, indices, indptr) of compressed patterns of ``n_lines`` lines
    each (numpy views), joined line by line: each line holds block 0's
    entries, then block 1's, ..., minor indices shifted by the widths
    before.  scipy's csr_hstack, on scipy's concatenated inputs.  numpy
    results, or ``into_mlx`` MLX ones (written where they end)."""
    idx = np.dtype(index_dtype)
    data_cat = np.concatenate([d for d, _, _ in parts])
    n = data_cat.size
    made = [_buffer(n, data_cat.dtype), _buffer(n, idx), _buffer(n_lines + 1, idx)] \
        if into_mlx else [(None, np.empty(n, data_cat.dtype)), (None, np.empty(n, idx)),
                          (None, np.empty(n_lines + 1, idx))]
    (_, data), (_, indices), (_, indptr) = made
    if n == 0:                  # scipy's own branch for no entries at all
        indptr[:] = 0
    else:
        ptr_cat = np.concatenate([p for _, _, p in parts], dtype=idx)
        ind_cat = np.concatenate([i for _, i, _ in parts], dtype=idx)
        _sparsetools.csr_hstack(len(parts), n_lines, np.array(widths, dtype=idx), ptr_cat,
                                ind_cat, data_cat, indptr, indices, data)
    if not into_mlx:
        return data, indices, indptr
    return tuple(_finished(new, out, values=k == 0) for k, (new, out) in enumerate(made))


def lines_end_to_end(parts, index_dtype):
    """MLX (data, indices, indptr) of compressed patterns (numpy views) laid
    end to end along their lines, the line pointers shifted (vstack of CSR):
    the values in numpy's common dtype of theirs."""
    idx = np.dtype(index_dtype)
    dtype = np.result_type(*[d.dtype for d, _, _ in parts])
    n = sum(len(d) for d, _, _ in parts)

    def pointers(out):
        at, base = 0, 0
        for _, _, p in parts:
            np.add(p[:-1], base, out=out[at:at + len(p) - 1], dtype=idx)
            at, base = at + len(p) - 1, base + int(p[-1])
        out[at] = base
    return (_made(n, dtype, lambda out: np.concatenate([d for d, _, _ in parts], out=out),
                  values=True),
            _made(n, idx, lambda out: np.concatenate([i for _, i, _ in parts], out=out,
                                                     casting="same_kind")),
            _made(sum(len(p) - 1 for _, _, p in parts) + 1, idx, pointers))


def coords_end_to_end(parts, index_dtype, dtype):
    """MLX (data, row, col) of COO blocks (data, row, col, row_shift,
    col_shift: numpy views and ints) laid end to end, coordinates shifted
    by their block's place: the COO answer of scipy's bmat and block_diag,
    values in ``dtype``."""
    idx = np.dtype(index_dtype)
    n = sum(len(p[0]) for p in parts)

    def shifted(axis):
        def fill(out):
            at = 0
            for p in parts:
                c = p[1 + axis]
                np.add(c, p[3 + axis], out=out[at:at + len(c)], dtype=idx)
                at += len(c)
        return fill
    return (_made(n, dtype, lambda out: np.concatenate([p[0] for p in parts], out=out),
                  values=True),
            _made(n, idx, shifted(0)), _made(n, idx, shifted(1)))



def kron_entries(a, b, b_shape, index_dtype, dtype, into_mlx=True):
    """(data, row, col) of the Kronecker product of COO operands ``a`` and
    ``b`` ((data, row, col) numpy views, coordinates in ``index_dtype``): for
    each entry of a, in order, every entry of b in order, placed in a's block
    of b's ``b_shape``: the order and values of scipy's COO kron (outer
    products written straight into the answer's buffers).  New MLX arrays,
    or numpy ones unless ``into_mlx``."""
    idx = np.dtype(index_dtype)
    grid = (len(a[0]), len(b[0]))       # (a's entries, b's entries)

    def coords(axis):
        def fill(out):
            block_at = np.multiply(a[1 + axis], b_shape[axis], dtype=idx)
            np.add(block_at[:, None], b[1 + axis], out=out.reshape(grid), dtype=idx)
        return fill

    def values(out):        # as scipy's (a repeated) * (b tiled): the same ufunc loop
        np.multiply(a[0][:, None], b[0], out=out.reshape(grid))
    n = grid[0] * grid[1]
    if not into_mlx:
        made = [np.empty(n, dtype), np.empty(n, idx), np.empty(n, idx)]
        for fill, out in zip((values, coords(0), coords(1)), made):
            fill(out)
        return tuple(made)
    return (_made(n, dtype, values, values=True), _made(n, idx, coords(0)),
            _made(n, idx, coords(1)))


def compressed_of_coo(data, major, minor, n_major, n_minor):
    """MLX (data, indices, indptr) of COO entries (numpy; coordinates along
    the answer's major and minor axes, in one index dtype) as scipy's tocsr
    / tocsc of a COO not flagged canonical makes them: its compiled
    coo_tocsr, then, unless already canonical, the lines sorted and their
    duplicates summed in place (csr_sum_duplicates) and the tail pruned."""
    idx, n = major.dtype, len(data)
    indptr, indices, values = np.empty(n_major + 1, idx), np.empty(n, idx), np.empty(n, data.dtype)
    _sparsetools.coo_tocsr(n_major, n_minor, n, major, minor, data, indptr, indices, values)
    if not _sparsetools.csr_has_canonical_format(n_major, indptr, indices):
        if not _sparsetools.csr_has_sorted_indices(n_major, indptr, indices):
            _sparsetools.csr_sort_indices(n_major, indptr, indices, values)
        _sparsetools.csr_sum_duplicates(n_major, n_minor, indptr, indices, values)
        n = int(indptr[-1])
    new_values = _arrays.to_mx(values[:n])
    _arrays.note_free(new_values)
    return new_values, _arrays.to_mx(indices[:n]), _arrays.to_mx(indptr)
