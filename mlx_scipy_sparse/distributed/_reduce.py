"""Reductions over distributed vectors: an accurate local part, then one
all_sum.  MLX's float32 sum on the CPU loses ~3e-4 at 1M entries, which an
iterative solver cannot afford: local parts accumulate in float64 (on the
CPU stream, the only one that holds float64) and go back to the vectors'
dtype after the all_sum.  Everything stays on the MLX graph (differentiable:
all_sum's VJP passes the cotangent through, i.e. the gradient on each rank
is that of the global value with respect to its own entries)."""
import numpy as np
import mlx.core as mx

from . import _comm, _dtypes

_WIDE = {mx.float16: mx.float64, mx.bfloat16: mx.float64, mx.float32: mx.float64,
         mx.float64: mx.float64}


def _all_sum(v, group):
    if group.size() == 1:
        return v
    return mx.distributed.all_sum(v, group=group, stream=_comm.comm_stream())


def _all_sum_np(local, group):
    """all_sum of a numpy 0-d value without losing precision (MLX has no
    complex128: complex values travel as two float64)."""
    local = np.asarray(local)
    if group.size() == 1:
        return local
    if np.iscomplexobj(local):
        pair = np.array(_all_sum(_dtypes.array(np.array([local.real, local.imag], np.float64)),
                                 group))
        return np.asarray(pair[0] + 1j * pair[1], dtype=local.dtype)
    return np.array(_all_sum(_dtypes.array(local), group)).astype(local.dtype)


def _real_dot64(a, b):
    with mx.stream(mx.cpu):
        return mx.sum(a.astype(mx.float64) * b.astype(mx.float64))


def vdot(x, y, group):
    """sum(conj(x) * y) over every rank's entries; numpy in -> numpy 0-d out
    (numpy's own accurate dot, then the all_sum), MLX in -> MLX 0-d out."""
    if not isinstance(x, mx.array) and not isinstance(y, mx.array):
        x, y = np.asarray(x).ravel(), np.asarray(y).ravel()
        out = np.result_type(x.dtype, y.dtype)
        if out in (np.float16, np.float32, np.complex64):   # BLAS's sdot sums in float32
            wide = np.complex128 if out.kind == "c" else np.float64
            return _all_sum_np(np.vdot(x.astype(wide), y.astype(wide)), group).astype(out)
        return _all_sum_np(np.vdot(x, y), group)
    x = x if isinstance(x, mx.array) else _dtypes.array(x)
    y = y if isinstance(y, mx.array) else _dtypes.array(y)
    out = mx.result_type(x.dtype, y.dtype) if hasattr(mx, "result_type") else (x + y).dtype
    if mx.issubdtype(out, mx.complexfloating):
        xr, xi = mx.real(x), mx.imag(x) if mx.issubdtype(x.dtype, mx.complexfloating) else None
        yr, yi = mx.real(y), mx.imag(y) if mx.issubdtype(y.dtype, mx.complexfloating) else None
        zero = mx.array(0.0, dtype=mx.float64)
        re = _real_dot64(xr, yr) + (_real_dot64(xi, yi) if xi is not None and yi is not None
                                    else zero)
        im = (_real_dot64(xr, yi) if yi is not None else zero) - \
            (_real_dot64(xi, yr) if xi is not None else zero)
        both = _all_sum(mx.stack([re, im]), group)
        with mx.stream(mx.cpu):
            return (both[0].astype(mx.float32) + 1j * both[1].astype(mx.float32)).astype(out)
    if out not in _WIDE:                           # integers, bool: exact in their own type
        with mx.stream(mx.cpu):
            return _all_sum(mx.sum(x.astype(out) * y.astype(out)), group)
    s = _all_sum(_real_dot64(x, y), group)
    with mx.stream(mx.cpu):
        return s.astype(out)


def vdots(V, y, group):
    """conj(V) @ y over every rank: one all_sum for all rows of V (float64
    accumulation on the CPU stream for real float inputs)."""
    if not isinstance(V, mx.array) and not isinstance(y, mx.array):
        return _all_sum_vec_np(np.conj(np.asarray(V)) @ np.asarray(y), group)
    V = V if isinstance(V, mx.array) else _dtypes.array(V)
    y = y if isinstance(y, mx.array) else _dtypes.array(y)
    out = mx.result_type(V.dtype, y.dtype)
    if out in _WIDE:
        with mx.stream(mx.cpu):
            local = V.astype(mx.float64) @ y.astype(mx.float64)
        s = _all_sum(local, group)
        with mx.stream(mx.cpu):
            return s.astype(out)
    with mx.stream(mx.cpu):
        local = (mx.conj(V) if mx.issubdtype(V.dtype, mx.complexfloating) else V) @ y
    return _all_sum(local, group)


def _all_sum_vec_np(local, group):
    local = np.asarray(local)
    if group.size() == 1:
        return local
    if np.iscomplexobj(local):
        pair = np.array(_all_sum(_dtypes.array(np.stack([local.real, local.imag])), group))
        return (pair[0] + 1j * pair[1]).astype(local.dtype)
    return np.array(_all_sum(_dtypes.array(local), group)).astype(local.dtype)


def norm(x, group):
    """2-norm, sqrt(real(vdot(x, x)))."""
    v = vdot(x, x, group)
    if isinstance(v, mx.array):
        with mx.stream(mx.cpu):
            return mx.sqrt(mx.real(v) if mx.issubdtype(v.dtype, mx.complexfloating) else v)
    return np.sqrt(np.real(v))


def total(x, group):
    """sum of every rank's entries (float64 accumulation, as vdot)."""
    if not isinstance(x, mx.array):
        x = np.asarray(x)
        return _all_sum_np(x.sum(), group)
    if mx.issubdtype(x.dtype, mx.complexfloating):
        return vdot(mx.ones(x.shape, dtype=mx.float32), x, group)
    if x.dtype not in _WIDE:
        with mx.stream(mx.cpu):
            return _all_sum(mx.sum(x), group)
    with mx.stream(mx.cpu):
        s = _all_sum(mx.sum(x.astype(mx.float64)), group)
        return s.astype(x.dtype)
