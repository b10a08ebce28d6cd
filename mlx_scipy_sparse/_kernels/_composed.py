"""Composed-MLX-ops backend: what runs while mx.compile / mx.vmap trace.

Slow on the CPU (MLX's gather and scatter are not kernels there), but lazy,
device-agnostic and differentiable by MLX itself, so it needs no VJP.
"""
import mlx.core as mx


def rows_of(indptr, nnz):
    """Row of every stored entry, from indptr alone (traceable)."""
    marks = mx.zeros((nnz + 1,), dtype=mx.int32).at[indptr[1:-1]].add(1)
    return mx.cumsum(marks)[:nnz]


def spmm(data, indices, indptr, n_rows, n_cols, X, transpose=False, out_dtype=None):
    rows = rows_of(indptr, data.size)
    src, dst, m_out = (indices, rows, n_rows) if not transpose else (rows, indices, n_cols)
    vec = X.ndim == 1
    Xg = X[src]
    vals = data if vec else data[:, None]
    contrib = vals.astype(out_dtype) * Xg.astype(out_dtype)
    shape = (m_out,) if vec else (m_out, X.shape[1])
    if data.size == 0 or m_out == 0:    # MLX's scatter refuses some empty updates
        return mx.zeros(shape, dtype=out_dtype)
    return mx.zeros(shape, dtype=out_dtype).at[dst].add(contrib)
