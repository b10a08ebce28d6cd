"""The Laplacian of MLX values (our CSR/CSC/COO arrays and MLX dense arrays).

Every step is a value primitive of the kernel table (gather, scatter_sum)
or an MLX elementwise op, over index maps computed once per pattern, so the
result is differentiable with respect to the edge weights and compiles.
The steps follow scipy's own order (degree = axis sum minus the diagonal,
two divisions for the normalisation, the diagonal appended after the
off-diagonal entries), so float64 values agree with scipy's to rounding and
the COO entries come in scipy's order.
"""
import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _inputs, _laplacian_ops, _pattern


def route(g):
    """The MLX function that takes ``g``, or None (scipy's function does)."""
    if _inputs.is_ours(g):
        if g.format not in ("csr", "csc", "coo") or g._on_host() or not _mlx_kind(g.dtype):
            return None
        return sparse_laplacian
    if _arrays.is_mx(g) and _mlx_kind(_arrays.np_dtype(g.dtype)):
        return _laplacian_ops.dense_laplacian
    return None


def _mlx_kind(dtype):
    """Floating, complex and signed integer values; scipy's treatment of
    unsigned and boolean graphs (casting errors, wrap-around) stays scipy's."""
    return np.dtype(dtype).kind in "fci"


def sparse_laplacian(A, normed, out_degree, copy, form, dtype, symmetrized):
    state = _inputs.state_of(A)
    graph = A.astype(np.float64) if normed and A.dtype.kind == "i" else A
    out = np.dtype(graph.dtype if dtype is None else dtype)
    row, col, vals = _pattern.coo_arrays(graph)
    n = A.shape[0]
    if form != "array":
        return _laplacian_ops.operator(graph, (row, col, vals), n, normed, out_degree, form,
                                       out, symmetrized, state)
    with mx.stream(_kernels.stream_for(vals.dtype)):
        if symmetrized:
            row, col, vals = _symmetrized(row, col, vals, n)
        keep, diag, lap_row, lap_col = _laplacian_pattern(row, col, n)
        wide = vals.astype(_laplacian_ops.sum_dtype(vals.dtype))
        w = _kernels.scatter_sum(wide, col if not out_degree else row, n) \
            - _kernels.scatter_sum(_kernels.gather(wide, diag), _kernels.gather(row, diag), n)
        if normed:
            iso = w == 0
            w = mx.where(iso, 1, mx.sqrt(mx.where(iso, 1, w))).astype(w.dtype)
            # scipy divides every entry in place: by w[row], then by w[col]
            scaled = vals / _kernels.gather(w, row) / _kernels.gather(w, col)
            entries = -scaled
            new_diag = mx.logical_not(iso).astype(entries.dtype)
        else:
            entries = -vals
            new_diag = w
        lap_vals = mx.concatenate([_kernels.gather(entries, keep).astype(w.dtype),
                                   new_diag.astype(w.dtype)])
        mo = _arrays.mx_dtype(out)
        L_vals, d = _laplacian_ops.cast(lap_vals, mo), _laplacian_ops.cast(w, mo)
    cls = _inputs.coo_class(A)
    if _sorted_by_scipy(graph.dtype, normed, out):
        L = _sorted(cls, L_vals, lap_row, lap_col, n)
    else:
        L = cls((L_vals, (lap_row, lap_col)), shape=(n, n))
    if not copy and not symmetrized and graph is A:
        _in_place(A, entries, L)
    return L, _laplacian_ops.diag_out(d, state)


def _sorted(cls, vals, row, col, n):
    """The COO of these entries in scipy's canonical order: a permutation
    kept per pattern (a gather of the values, scipy's bits), unless entries
    repeat (a COO input with duplicates), whose sums follow scipy's order."""
    def compute():
        r, c = _arrays.to_np(row), _arrays.to_np(col)
        key = r.astype(np.int64) * n + c
        perm = _merge_diagonal(key, n)
        if perm is None:                        # off-diagonal entries out of order
            perm = np.argsort(key, kind="stable")
        key = key[perm]
        repeats = bool(np.any(key[1:] == key[:-1]))
        idx = np.int32 if perm.size < 2 ** 31 else np.int64
        return (mx.array(perm.astype(idx)), mx.array(r[perm]), mx.array(c[perm]), repeats)
    perm, r, c, repeats = _kernels.memo("csgraph-sorted", (row, col, n), compute)
    if repeats:
        return _pattern.canonical(cls((vals, (row, col)), shape=(n, n)))
    return cls((_kernels.gather(vals, perm), (r, c)), shape=(n, n), canonical=True)


def _merge_diagonal(key, n):
    """The sorting permutation when the off-diagonal entries (all but the
    last n, the diagonal) are sorted already, as from a canonical CSR
    input: the diagonal is merged in (no sort), or None."""
    m = key.size - n
    off = key[:m]
    if m and not np.all(off[1:] > off[:-1]):
        return None
    at = np.searchsorted(off, key[m:]) + np.arange(n)     # the diagonal's places
    perm = np.empty(key.size, dtype=np.int64)
    perm[at] = np.arange(m, key.size)
    rest = np.ones(key.size, dtype=bool)
    rest[at] = False
    perm[rest] = np.arange(m)
    return perm


def _sorted_by_scipy(dtype, normed, out):
    """scipy appends the diagonal (degrees of the sum dtype; 1 - isolated as
    int64 when normed), which may widen the values, and its final astype to
    ``out`` then sums duplicates, leaving the COO sorted (canonical); when
    nothing widens, the entries stay in the order setdiag left."""
    wide = np.result_type(dtype, np.int64 if normed else
                          _arrays.np_dtype(_laplacian_ops.sum_dtype(_arrays.mx_dtype(dtype))))
    return wide != out


def _in_place(A, entries, L):
    """copy=False, as scipy: a COO input becomes the Laplacian; a CSR/CSC
    input keeps its pattern with its values negated (normalised)."""
    mo = _arrays.mx_dtype(A.dtype)
    if A.format == "coo":
        A.coords = _pattern.coords(L)
        A.data = L.data.astype(mo)
    else:
        A.data = entries.astype(mo)


def _laplacian_pattern(row, col, n):
    """(off-diagonal entries, diagonal entries, rows, cols): the Laplacian's
    COO pattern as scipy's setdiag leaves it (the input's off-diagonal
    entries in their order, then the n diagonal ones)."""
    def compute():
        r, c = _arrays.to_np(row), _arrays.to_np(col)
        off = r != c
        keep, diag = np.flatnonzero(off), np.flatnonzero(~off)
        ar = np.arange(n, dtype=r.dtype)
        idx = np.int32 if r.size < 2 ** 31 else np.int64
        return (mx.array(keep.astype(idx)), mx.array(diag.astype(idx)),
                mx.array(np.concatenate([r[keep], ar])), mx.array(np.concatenate([c[keep], ar])))
    return _kernels.memo("csgraph-laplacian", (row, col, n), compute)


def _symmetrized(row, col, vals, n):
    """A + A^H with duplicates merged: scipy's ``m + m.T.conj()`` in its
    canonical (row-major, sorted) order; entries that cancel stay stored."""
    def compute():
        both_r = mx.concatenate([row, col])
        both_c = mx.concatenate([col, row])
        slot, indices, indptr, count = _kernels.merge_pattern(both_r, both_c, n, n)
        rows = _kernels.entry_rows(indptr, count)
        return slot, rows.astype(row.dtype), indices.astype(col.dtype), count
    slot, rows, cols, count = _kernels.memo("csgraph-symmetrized", (row, col, n), compute)
    conj = mx.conj(vals) if mx.issubdtype(vals.dtype, mx.complexfloating) else vals
    both = mx.concatenate([vals, conj])
    return rows, cols, (both if slot is None else _kernels.scatter_sum(both, slot, count))
