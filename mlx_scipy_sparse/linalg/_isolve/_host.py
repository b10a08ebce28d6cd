"""Solvers run by scipy's own code on host data (qmr, tfqmr, lgmres,
gcrotmk, lsqr, lsmr): not yet ported to MLX iterations.

numpy callers get scipy's answer exactly.  MLX callers get MLX answers; the
product inside still goes through our operator (on numpy vectors), and the
square solvers are differentiable by the adjoint solve (see _implicit),
since that needs only a forward solve.
"""
import numpy as np
import mlx.core as mx
import scipy.sparse as _ss
import scipy.sparse.linalg as _sl

from ... import _arrays
from .._interface import is_ours, MatrixLinearOperator, aslinearoperator


def host_operator(A):
    """Something scipy's solvers accept, computing on numpy vectors."""
    if A is None or isinstance(A, (np.ndarray, _sl.LinearOperator)) or _ss.issparse(A):
        return A
    if isinstance(A, mx.array):
        return _arrays.to_np(A)
    if is_ours(A):
        return A.to_scipy()
    if isinstance(A, MatrixLinearOperator) and type(A) is MatrixLinearOperator:
        return host_operator(A.A)
    op = aslinearoperator(A)

    def mv(v):
        return np.asarray(_arrays.to_np(op.matvec(np.asarray(v))))

    def rmv(v):
        return np.asarray(_arrays.to_np(op.rmatvec(np.asarray(v))))
    return _sl.LinearOperator(op.shape, matvec=mv, rmatvec=rmv, dtype=op.dtype)


def host_vector(v):
    return None if v is None else (v if isinstance(v, str) else np.array(_arrays.to_np(v)))


def mlx_callback(callback, mlx):
    if callback is None or not mlx:
        return callback
    return lambda xk, *rest: callback(_arrays.to_mx(np.asarray(xk)), *rest)


def run_square(fn, A, b, x0, M, mlx, callback, kwargs, precond=("M",)):
    """fn(A, b, x0=..., M=..., callback=..., **kwargs) on the host."""
    def as_op(v):        # qmr calls M1.matvec itself: hand it an operator
        return None if v is None else _sl.aslinearoperator(host_operator(v))
    if isinstance(M, dict):
        pre = {k: as_op(v) for k, v in M.items()}
    else:
        pre = {} if (M is None and len(precond) > 1) else {precond[0]: host_operator(M)}
    x, info = fn(host_operator(A), host_vector(b), x0=host_vector(x0), callback=mlx_callback(callback, mlx),
                 **pre, **kwargs)
    if mlx:
        x = _arrays.to_mx(x)
    return x, info
