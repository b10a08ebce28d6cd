"""numpy's dtype protocol on `mlx.core.Dtype`.

scipy code hands `A.data.dtype` to numpy everywhere (`np.issubdtype(A.data.dtype,
np.floating)`, `np.zeros(n, dtype=A.data.dtype)`, `A.data.dtype.type(0)`).  Ours is
an `mx.Dtype` and must stay one (`== mx.float32`, `x.astype(A.data.dtype)`), but MLX
gives it no numpy protocol.  numpy reads any object's `.dtype` attribute as its
dtype, so this adds, on import:

* `Dtype.dtype`: the equivalent numpy dtype (bfloat16 reads as float32, as in
  `_arrays.np_dtype`);
* `Dtype.type`: that dtype's numpy scalar type.

Additive only: an attribute MLX already defines is left as it is, and no existing
MLX behaviour changes.
"""
import mlx.core as mx

from ._arrays import np_dtype


def _add(name, fget, doc):
    if not hasattr(mx.Dtype, name):
        setattr(mx.Dtype, name, property(fget, doc=doc))


_add("dtype", np_dtype, "The equivalent numpy dtype (added by mlx_scipy_sparse).")
_add("type", lambda d: np_dtype(d).type,
     "The equivalent numpy scalar type (added by mlx_scipy_sparse).")
