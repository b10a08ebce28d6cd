"""Matrix functions and norms.

`norm` runs in MLX when A's values are traced by mx.grad / mx.compile
(Frobenius, 1, -1, inf, -inf norms of a matrix: differentiable, built from
our arrays' own MLX ops), and is scipy's exact answer otherwise.  `expm`,
`expm_multiply`, `inv`, `matrix_power`, `onenormest` and
`funm_multiply_krylov` are scipy's on the host: our arrays and MLX arrays
in, ours / MLX out, refused under mx.grad (their results would be cut off
from the values).
"""
import numpy as np
import mlx.core as mx
import scipy.sparse.linalg as _sl

from . import _hostcall as _h

__all__ = ["norm", "expm", "expm_multiply", "inv", "matrix_power", "onenormest",
           "funm_multiply_krylov"]

_INF = (np.inf, -np.inf)


def _mlx_norm(A, ord):
    """norm of a canonical one of ours whose values are traced, as an MLX scalar."""
    d = A.data
    with mx.stream(mx.cpu if d.dtype == mx.float64 else mx.default_device()):   # GPUs refuse float64
        if ord in (None, "fro", "f"):
            mag2 = mx.real(d * mx.conj(d)) if mx.issubdtype(d.dtype, mx.complexfloating) else d * d
            return mx.sqrt(mx.sum(mag2))
        sums = abs(A).sum(axis=0 if ord in (1, -1) else 1)
        sums = sums if isinstance(sums, mx.array) else _h.to_mx(np.asarray(sums))
        return mx.max(sums) if ord in (1, np.inf) else mx.min(sums)


def norm(x, ord=None, axis=None):
    """As scipy.sparse.linalg.norm; differentiable in MLX for traced values."""
    if _h.is_ours(x) and _h.is_mx(getattr(x, "data", None)) and axis is None \
            and ord in (None, "fro", "f", 1, -1, *_INF) and x.ndim == 2:
        st = _h.values_state(x)
        if st != "free":
            if not x.has_canonical_format:
                raise NotImplementedError(
                    "norm of traced values needs a canonical array (no duplicate entries): "
                    "call sum_duplicates() before the transformation")
            return _mlx_norm(x, ord)
    return _h.call(_sl.norm, (x,), dict(ord=ord, axis=axis), "norm")


expm = _h.hosted(_sl.expm)
expm_multiply = _h.hosted(_sl.expm_multiply)
inv = _h.hosted(_sl.inv)
matrix_power = _h.hosted(_sl.matrix_power)
onenormest = _h.hosted(_sl.onenormest)
funm_multiply_krylov = _h.hosted(_sl.funm_multiply_krylov)
