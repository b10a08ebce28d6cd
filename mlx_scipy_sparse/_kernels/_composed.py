"""Composed-MLX-ops backend: what runs while mx.compile / mx.vmap trace.

Slow on the CPU (MLX's gather and scatter are not kernels there), but lazy,
device-agnostic and differentiable by MLX itself, so it needs no VJP.
"""
import mlx.core as mx

from ._device import gpu_default

_SCAN_WIDTH = 1024


def running_sum(x):
    """mx.cumsum of a 1-D integer array.  On a GPU as a scan along rows of
    1024 and a running sum of the rows' totals: MLX 0.32.4's CUDA scan of
    one long axis took 9.3 ms for 16M int32 on an H200, this form 0.31 ms
    (the same integers).  The CPU keeps MLX's one pass (faster there)."""
    n = x.size
    if n <= _SCAN_WIDTH or not gpu_default():
        return mx.cumsum(x)
    pad = (-n) % _SCAN_WIDTH
    y = mx.concatenate([x, mx.zeros((pad,), dtype=x.dtype)]) if pad else x
    y = mx.cumsum(y.reshape(-1, _SCAN_WIDTH), axis=1)
    before = running_sum(y[:, -1])
    y = y + mx.concatenate([mx.zeros((1,), dtype=y.dtype), before[:-1]])[:, None]
    return y.reshape(-1)[:n]


def rows_of(indptr, nnz):
    """Row of every stored entry, from indptr alone (traceable)."""
    marks = mx.zeros((nnz + 1,), dtype=mx.int32).at[indptr[1:-1]].add(1)
    return running_sum(marks)[:nnz]


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


_I32MAX = (1 << 31) - 1


def _positions(mask, n):
    """Positions where ``mask`` holds (``n`` of them, counted by the caller):
    a compaction by scatter, each kept entry's rank naming its slot."""
    rank = running_sum(mask.astype(mx.int32)) - 1
    slot = mx.where(mask, rank, n)          # the rest land in a spare slot, dropped
    pos = mx.arange(mask.size, dtype=mx.int32)
    return mx.zeros((n + 1,), dtype=mx.int32).at[slot].maximum(pos)[:n]


def spgemm(ad, ai, ap, bd, bi, bp, n_rows, n_cols, out_dtype):
    """CSR arrays of A @ B from composed ops (the GPU path; runs on any
    stream): expand every product a_ik * b_kj, sort the (row, col) keys, sum
    runs of equal keys and drop the sums that are zero, as scipy does.
    Output sizes depend on the values, so they are read on the host: this
    cannot run under mx.compile.  Indices come out sorted; their dtype is
    scipy's: int32 unless an input's is wider or the result needs int64."""
    wide = any(a.dtype not in (mx.int32, mx.int16, mx.int8, mx.uint8, mx.uint16)
               for a in (ai, ap, bi, bp))
    index_dtype = mx.int64 if wide else mx.int32

    def empty():
        idx = mx.int64 if max(n_rows, n_cols) > _I32MAX else mx.int32
        return (mx.zeros((0,), out_dtype), mx.zeros((0,), idx), mx.zeros((n_rows + 1,), idx))
    if ai.size == 0 or bi.size == 0 or n_cols == 0:
        return empty()
    counts = (bp[1:] - bp[:-1])[ai].astype(mx.int64)     # products of each entry of A
    ends = running_sum(counts)
    total = int(ends[-1].item())
    if total == 0:
        return empty()
    starts = ends - counts
    if total <= _I32MAX:                         # 32-bit positions where they fit
        starts = starts.astype(mx.int32)
    # owner[p]: the entry of A product p comes from (the last entry starting
    # at or before p; entries without products share the next one's start)
    marks = mx.zeros((total + 1,), dtype=mx.int32).at[starts].add(1)
    owner = running_sum(marks[:total]) - 1
    b_pos = bp[ai[owner]] + (mx.arange(total, dtype=starts.dtype) - starts[owner])
    key_dt = mx.int64 if n_rows * n_cols > _I32MAX else mx.int32
    rows = rows_of(ap, ai.size)[owner].astype(key_dt)
    key = rows * n_cols + bi[b_pos].astype(key_dt)
    vals = ad.astype(out_dtype)[owner] * bd.astype(out_dtype)[b_pos]
    order = mx.argsort(key)
    key, vals = key[order], vals[order]
    first = mx.concatenate([mx.array([True]), key[1:] != key[:-1]])
    seg = running_sum(first.astype(mx.int32)) - 1
    n_unique = int(seg[-1].item()) + 1
    sums = mx.zeros((n_unique,), dtype=out_dtype).at[seg].add(vals)
    ukey = key[_positions(first, n_unique)]
    keep = sums != 0
    n_keep = int(keep.sum().item())
    if n_keep < n_unique:
        sel = _positions(keep, n_keep)
        sums, ukey = sums[sel], ukey[sel]
    if n_keep == 0:
        return empty()
    if n_keep > _I32MAX:
        index_dtype = mx.int64
    out_rows = (ukey // n_cols).astype(mx.int32)
    per_row = mx.zeros((n_rows,), dtype=mx.int32).at[out_rows].add(1)
    indptr = mx.concatenate([mx.zeros((1,), index_dtype), running_sum(per_row).astype(index_dtype)])
    return sums, (ukey % n_cols).astype(index_dtype), indptr


@mx.custom_function
def quotient(a, b):
    """a / b elementwise, whose VJP sends nothing back where the cotangent
    is zero: a place whose quotient is inf or NaN (b zero) and that a loss
    leaves out then adds 0, not 0 * inf = NaN, to the gradient (the dense
    answer of sparse / sparse is NaN and inf wherever B stores nothing)."""
    return a / b


@quotient.vjp
def _quotient_vjp(primals, cotangent, output):
    a, b = primals
    # (run after the forward pass, outside its stream: float64 stays on the CPU)
    with mx.stream(mx.cpu if cotangent.dtype == mx.float64 else mx.default_device()):
        used = cotangent != 0
        zero = mx.zeros((), dtype=cotangent.dtype)
        return (mx.where(used, cotangent / b, zero),
                mx.where(used, -cotangent * output / b, zero))
