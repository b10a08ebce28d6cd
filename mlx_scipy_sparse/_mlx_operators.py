"""`mx.array <op> sparse` reaches our reflected operators.

MLX's binary operators raise TypeError for an operand type they do not know
instead of returning NotImplemented, so Python never asks the sparse right
operand (`x @ A`, `x + A`, `x * A` with an `mx.array` x would fail).  This
wraps those few operators of `mx.array`: when the right operand is one of our
sparse arrays, its reflected method answers; every other call goes straight
to MLX's own operator, unchanged.
"""
import mlx.core as mx

from ._formats._base import _spbase

_REFLECTED = {"__matmul__": "__rmatmul__", "__add__": "__radd__", "__sub__": "__rsub__",
              "__mul__": "__rmul__", "__truediv__": "__rtruediv__"}


def _forward(name, mlx_op):
    reflected = _REFLECTED[name]

    def op(self, other):
        if isinstance(other, _spbase):
            return getattr(other, reflected)(self)
        return mlx_op(self, other)
    op.__name__ = name
    op.__doc__ = mlx_op.__doc__
    op._mlx_scipy_sparse = True
    return op


for _name in _REFLECTED:
    _own = getattr(mx.array, _name)
    if not getattr(_own, "_mlx_scipy_sparse", False):      # once, even on a reload
        setattr(mx.array, _name, _forward(_name, _own))
del _name, _own
