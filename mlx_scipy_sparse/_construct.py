"""Construction functions of the scipy.sparse namespace.

They build with scipy's compiled routines on the host and hand back our
arrays (MLX storage); sparse inputs of ours are lent to scipy as views.
`fromdense` is the seed notebook's extension.
"""
import functools

import numpy as np
import scipy.sparse as _ss

from . import _arrays
from ._formats import _bridge, _kron, _on_views, _select, _stack, _triangles
from ._kernels import keep_in_mlx

_FROM_SCIPY = (
    "random", "random_array", "rand", "eye", "eye_array", "identity", "diags",
    "diags_array", "spdiags", "kron", "kronsum", "hstack", "vstack", "bmat",
    "block_array", "block_diag", "tril", "triu", "find",
    "expand_dims", "permute_dims", "swapaxes", "get_index_dtype", "safely_cast_index_arrays",
)


# scipy copies the diagonals into an array of its own: MLX diagonals are lent
# as read-only views (a copy of a 1M diagonal was half the call's time)
_COPY_THEIR_INPUT = frozenset({"diags", "diags_array"})


def _lift(name):
    f = getattr(_ss, name)
    keeps_f16 = name in _bridge.KEEPS_F16

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        # float16 operands are lent as float32 (scipy has no float16): what
        # only moves their values (stacking, tril, find ...) comes back float16
        state = _bridge.values_state(*args, *kwargs.values())
        free = state == _arrays.FREE
        # traced values, or free ones under the device rule (a GPU): moved in
        # MLX where they can be, as the methods do (_bridge.call)
        if not free or keep_in_mlx():
            r = _in_mlx(name, f, args, kwargs, free)
            if r is not None:
                return r
        _bridge.transformed(name, state=state)
        if name == "find" and len(args) == 1 and not kwargs and _bridge.is_ours(args[0]):
            r = _on_views.find(args[0])      # free CPU values: on views
            if r is not None:
                return r
        if name in _stack.STACKS:           # free CPU values: laid end to end on views
            r = _stack.stacked(name, args, kwargs)
            if r is not None:
                return r
        if name == "kron":                  # free CPU values: the outer product on views
            r = _kron.kron(args, kwargs)
            if r is not None:
                return r
        if name in _triangles.TRIANGLES:    # free CPU values: the mask on views
            r = _triangles.triangle(name, args, kwargs)
            if r is not None:
                return r
        views = name in _COPY_THEIR_INPUT
        r = _bridge.wrap(f(*_bridge.unwrap(args, views=views),
                           **{k: _bridge.unwrap(v, views=views) for k, v in kwargs.items()}))
        _bridge.refuse_detached(name, state, r)
        if keeps_f16 and _bridge.f16_result(*args, *kwargs.values()):
            r = _bridge.narrow(r)
        return r
    wrapper.__module__ = __name__
    return wrapper


def _in_mlx(name, f, args, kwargs, free):
    """The op with its values moved in MLX, or None where scipy's path applies."""
    from ._formats._moves import diags_moved, kron_moved, moved
    if name == "kron":
        return kron_moved(f, args, kwargs, free)
    if name in ("diags", "diags_array"):
        return None if free else diags_moved(f, args, kwargs)
    if name == "find" and len(args) == 1 and not kwargs:
        A = args[0]
        if _select.applies(A):
            return _select.find(A)
        if not free and _bridge.is_ours(A) and A.ndim == 2 and A.format in ("csr", "csc", "coo") \
                and hasattr(A, "_data") and not A._on_host():
            return _select.find(A, traced=True)
        return None
    return moved(name, lambda a, k: f(*a, **k), args, kwargs, free=free)


globals().update({name: _lift(name) for name in _FROM_SCIPY if hasattr(_ss, name)})
# ours: CSR / CSC / COO written from and read into our arrays (scipy's path for the rest)
from ._npz import load_npz, save_npz  # noqa: E402,F401


def fromdense(A, format="csr", dtype=None):
    """Sparse array of the nonzeros of a dense numpy or MLX array."""
    cls = _bridge.CLASSES[format][0]
    host = np.array(_arrays.to_np(A)) if _arrays.is_mx(A) else np.asarray(A)
    return cls(host, dtype=dtype)
