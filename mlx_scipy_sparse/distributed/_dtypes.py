"""numpy <-> MLX dtypes by name (MLX has no complex128; numpy no bfloat16)."""
import numpy as np
import mlx.core as mx


def to_mx(dtype):
    dtype = np.dtype(dtype)
    got = getattr(mx, dtype.name, None) if dtype.name != "complex128" else None
    if not isinstance(got, mx.Dtype):
        raise TypeError(f"MLX has no {dtype} arrays")
    return got


def to_np(dtype):
    name = str(dtype).rsplit(".", 1)[-1]
    return np.dtype(np.float32 if name == "bfloat16" else name)


def array(a):
    """numpy -> MLX keeping the dtype (mx.array alone turns float64 into
    float32); complex128, which MLX lacks, is refused."""
    a = np.asarray(a)
    return mx.array(a, dtype=to_mx(a.dtype))
