"""Pieces of the MLX Laplacian: the dense form, the matrix-free forms
('function' and 'lo'), and the dtype rules they share with the sparse form."""
import warnings

import numpy as np
import mlx.core as mx
from scipy.sparse.linalg import LinearOperator

from .. import _arrays, _kernels


def sum_dtype(dtype):
    """The dtype degrees are summed in: scipy's (numpy's) for sums, i.e.
    64-bit for signed integers; float32 for the half floats scipy lacks."""
    if mx.issubdtype(dtype, mx.signedinteger):
        return mx.int64
    if dtype in (mx.float16, mx.bfloat16):
        return mx.float32
    return dtype


def cast(x, out):
    """x.astype(out), with numpy's warning when a complex value loses its
    imaginary part (scipy's astype warns)."""
    if mx.issubdtype(x.dtype, mx.complexfloating) and not mx.issubdtype(out, mx.complexfloating):
        warnings.warn("Casting complex values to real discards the imaginary part",
                      np.exceptions.ComplexWarning, stacklevel=4)
    return x.astype(out)


def diag_out(d, state):
    """The returned diagonal: numpy as scipy's, unless the values are traced
    (then an MLX array that carries the gradient)."""
    return d if state != _arrays.FREE else np.array(_arrays.to_np(d))


def _safe_sqrt(w):
    """scipy's ``where(w == 0, 1, sqrt(w))``, with a gradient that is not
    NaN at isolated nodes (sqrt is never evaluated at 0)."""
    iso = w == 0
    return mx.where(iso, 1, mx.sqrt(mx.where(iso, 1, w))).astype(w.dtype), iso


def dense_laplacian(g, normed, out_degree, copy, form, dtype, symmetrized):
    """scipy's dense Laplacian of an MLX array (MLX results, differentiable)."""
    if normed and mx.issubdtype(g.dtype, mx.signedinteger):
        g = g.astype(mx.float64, stream=mx.cpu)
    out = _arrays.mx_dtype(np.dtype(dtype)) if dtype is not None else g.dtype
    axis = 1 if out_degree else 0
    if form != "array":
        return _dense_operator(g, normed, axis, form, out, symmetrized)
    n = g.shape[0]
    with mx.stream(_kernels.stream_for(g.dtype)):
        m = g + _conj(g.T) if symmetrized else g
        eye = mx.eye(n, dtype=mx.bool_)
        m = mx.where(eye, 0, m).astype(m.dtype)
        w = mx.sum(m.astype(sum_dtype(m.dtype)), axis=axis)
        if normed:
            w, iso = _safe_sqrt(w)
            m = -(m / w / w[:, None])
            m = mx.where(eye, mx.logical_not(iso).astype(m.dtype)[None, :], m)
        else:
            m = mx.where(eye, w[None, :].astype(m.dtype), -m)
        return cast(m, out), cast(w, out)


def _conj(x):
    return mx.conj(x) if mx.issubdtype(x.dtype, mx.complexfloating) else x


def _dense_operator(g, normed, axis, form, out, symmetrized):
    with mx.stream(_kernels.stream_for(g.dtype)):
        wide = g.astype(sum_dtype(g.dtype))
        gsum = mx.sum(wide, axis=axis)
        gdiag = mx.diagonal(wide)
        if symmetrized:
            gsum = gsum + mx.sum(wide, axis=1 - axis)
        diag = gsum - gdiag - (gdiag if symmetrized else 0)
        fn, d = _forms(g, gsum, diag, normed, symmetrized)
    return _shaped(fn, d, g.shape, form, out), cast(d, out)


def operator(graph, coo, n, normed, out_degree, form, out, symmetrized, state):
    """'function' / 'lo' of our sparse array: products with ``graph`` itself."""
    row, col, vals = coo
    with mx.stream(_kernels.stream_for(vals.dtype)):
        wide = vals.astype(sum_dtype(vals.dtype))
        by, other = (row, col) if out_degree else (col, row)
        gsum = _kernels.scatter_sum(wide, by, n)
        on_diag = mx.array(np.flatnonzero(_arrays.to_np(row) == _arrays.to_np(col)))
        gdiag = _kernels.scatter_sum(_kernels.gather(wide, on_diag),
                                     _kernels.gather(row, on_diag), n)
        if symmetrized:
            gsum = gsum + _kernels.scatter_sum(wide, other, n)
        diag = gsum - gdiag - (gdiag if symmetrized else 0)
        fn, d = _forms(graph, gsum, diag, normed, symmetrized)
    return _shaped(fn, d, graph.shape, form, out), diag_out(cast(d, _arrays.mx_dtype(out)),
                                                            state)


def _forms(m, gsum, diag, normed, symmetrized):
    """scipy's matrix-free Laplacian: v -> v * gsum - m v (- (v^H m)^H when
    symmetrized), scaled on both sides by 1/w when normed; and the diagonal
    it returns (w when normed, else the degrees)."""
    nd = None
    if normed:
        w, _ = _safe_sqrt(diag)
        nd = 1 / w
        ret = w
    else:
        ret = diag

    def apply(v):
        if _arrays.is_mx(v):
            return _apply_mx(m, gsum, nd, symmetrized, v)
        return _apply_np(m, gsum, nd, symmetrized, np.asarray(v))
    return apply, ret


def _apply_mx(m, gsum, nd, symmetrized, v):
    with mx.stream(_kernels.stream_for(mx.float64 if mx.float64 in (v.dtype, gsum.dtype)
                                       else v.dtype)):
        x = v * nd[:, None] if nd is not None else v
        y = x * gsum[:, None] - m @ x
        if symmetrized:         # (x^H m)^H = conj(m^T conj(x)); MLX's @ refuses ours on the right
            y = y - _conj(m.T @ _conj(x))
        return y * nd[:, None] if nd is not None else y


def _apply_np(m, gsum, nd, symmetrized, v):
    m = _arrays.to_np(m) if _arrays.is_mx(m) else m
    gsum = _arrays.to_np(gsum)
    nd = None if nd is None else _arrays.to_np(nd)
    x = v * nd[:, np.newaxis] if nd is not None else v
    y = x * gsum[:, np.newaxis] - m @ x
    if symmetrized:
        y = y - np.transpose(np.conjugate(np.transpose(np.conjugate(x)) @ m))
    return y * nd[:, np.newaxis] if nd is not None else y


def _shaped(fn, d, shape, form, out):
    if form == "function":
        return fn
    return LinearOperator(matvec=fn, matmat=fn, shape=shape, dtype=np.dtype(_arrays.np_dtype(out)))
