"""Iterative solvers with scipy.sparse.linalg's signatures and answers.

MLX iterations: cg, bicg, bicgstab, cgs (stop codes read every few
iterations on a GPU), gmres, minres, tfqmr, qmr (a sync or two per
iteration for their small host problems).  scipy's own code on host data:
lgmres, gcrotmk, lsqr, lsmr (see _host).  Square solvers are differentiable with respect to
b and A's MLX values by the adjoint solve (linalg/_implicit.py).
"""
import warnings

import mlx.core as mx
import numpy as np
import scipy.sparse.linalg as _sl

from .. import _implicit
from . import _bicg, _cg, _gmres, _minres, _qmr, _tfqmr
from ._common import HostOnly, System, as_float, default_maxiter, tolerance
from ._host import host_operator, host_vector, mlx_callback, run_square

__all__ = ["cg", "bicg", "bicgstab", "cgs", "gmres", "lgmres", "minres", "qmr", "tfqmr",
           "gcrotmk", "lsqr", "lsmr"]


def _krylov(name, algo, A, b, x0, M, rtol, atol, maxiter, callback, hermitian, **extra):
    scipy_fn = getattr(_sl, name)

    def run(A_, b_, x0_, M_, adjoint=False):
        cb = None if adjoint else callback
        try:
            s = System(name, A_, b_, x0_, M_)
        except HostOnly:       # complex128: scipy's iteration on the host, exact
            return scipy_fn(host_operator(A_), host_vector(b_), x0=host_vector(x0_), rtol=rtol, atol=atol,
                            maxiter=maxiter, M=host_operator(M_), callback=cb, **extra)
        with mx.stream(s.stream):
            bnrm = as_float(s.norm(s.b))
            atol_ = tolerance(name, bnrm, atol, rtol)
            if bnrm == 0:
                return s.answer(s.b), 0
            x, info = algo(s, atol_, default_maxiter(s, maxiter), cb, **extra)
            return s.answer(x), int(info)
    return _implicit.solve(name, run, A, b, x0, M, hermitian=hermitian)


def cg(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M=None, callback=None):
    """Conjugate Gradient for Hermitian positive definite A: (x, info)."""
    return _krylov("cg", _cg.run, A, b, x0, M, rtol, atol, maxiter, callback, True)


def bicg(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M=None, callback=None):
    """BIConjugate Gradient: (x, info)."""
    return _krylov("bicg", _bicg.bicg, A, b, x0, M, rtol, atol, maxiter, callback, False)


def bicgstab(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M=None, callback=None):
    """BIConjugate Gradient STABilized: (x, info)."""
    return _krylov("bicgstab", _bicg.bicgstab, A, b, x0, M, rtol, atol, maxiter, callback, False)


def cgs(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M=None, callback=None):
    """Conjugate Gradient Squared: (x, info)."""
    return _krylov("cgs", _bicg.cgs, A, b, x0, M, rtol, atol, maxiter, callback, False)


def gmres(A, b, x0=None, *, rtol=1e-5, atol=0., restart=None, maxiter=None, M=None, callback=None,
          callback_type=None):
    """Restarted Generalized Minimal RESidual: (x, info)."""
    if callback is not None and callback_type is None:
        warnings.warn("scipy.sparse.linalg.gmres called without specifying `callback_type`. The default "
                      "value will be changed in a future release. For compatibility, specify a value for "
                      "`callback_type` explicitly, e.g., ``gmres(..., callback_type='pr_norm')``, or to "
                      "retain the old behavior ``gmres(..., callback_type='legacy')``",
                      category=DeprecationWarning, stacklevel=2)
    if callback_type is None:
        callback_type = "legacy"
    if callback_type not in ("x", "pr_norm", "legacy"):
        raise ValueError(f"Unknown callback_type: {callback_type!r}")
    if callback is None:
        callback_type = None

    def run(A_, b_, x0_, M_, adjoint=False):
        cb, ct = (None, None) if adjoint else (callback, callback_type)
        try:
            s = System("gmres", A_, b_, x0_, M_)
        except HostOnly:
            return _sl.gmres(host_operator(A_), host_vector(b_), x0=host_vector(x0_), rtol=rtol, atol=atol,
                             restart=restart, maxiter=maxiter, M=host_operator(M_), callback=cb,
                             callback_type=ct or "legacy")
        with mx.stream(s.stream):
            bnrm = as_float(s.norm(s.b))
            atol_ = tolerance("gmres", bnrm, atol, rtol)
            if bnrm == 0:
                return s.answer(s.b), 0
            x, info = _gmres.run(s, atol_, default_maxiter(s, maxiter), cb, restart, ct, bnrm)
            return s.answer(x), int(info)
    return _implicit.solve("gmres", run, A, b, x0, M)


def minres(A, b, x0=None, *, rtol=1e-5, shift=0.0, maxiter=None, M=None, callback=None, show=False,
           check=False):
    """MINimum RESidual for Hermitian (possibly indefinite) A - shift*I: (x, info)."""
    def run(A_, b_, x0_, M_, adjoint=False):
        cb = None if adjoint else callback
        try:
            s = System("minres", A_, b_, x0_, M_)
        except HostOnly:
            return _sl.minres(host_operator(A_), host_vector(b_), x0=host_vector(x0_), rtol=rtol, shift=shift,
                              maxiter=maxiter, M=host_operator(M_), callback=cb, show=show, check=check)
        with mx.stream(s.stream):
            x, info = _minres.run(s, rtol, default_maxiter(s, maxiter, 5), cb, shift, check, show)
            x = s.answer(x)
            if not s.mlx:       # the installed scipy's minres answer dtype
                x = x.astype(_minres_answer_dtype(x.dtype), copy=False)
            return x, int(info)
    # A - shift*I is Hermitian when A is: the adjoint solve is the same solve
    return _implicit.solve("minres", run, A, b, x0, M, hermitian=True)


_MINRES_DTYPE = {}


def _minres_answer_dtype(dtype):
    """The dtype the installed scipy's minres answers a system of this dtype
    in (scipy 1.17: float64 / complex128, its scalars are double; the GPU
    machine's scipy answered float32 for float32): read once from a 2 x 2 solve
    in the real dtype of the same precision (a complex probe makes scipy warn,
    and silencing that would touch the process-wide warning filters, which
    other threads share)."""
    dtype = np.dtype(dtype)
    if dtype not in _MINRES_DTYPE:
        real = np.empty(0, dtype=dtype).real.dtype
        x = _sl.minres(np.diag([2.0, 3.0]).astype(real), np.ones(2, dtype=real))[0]
        _MINRES_DTYPE[dtype] = np.result_type(dtype, x.dtype)
    return _MINRES_DTYPE[dtype]


def _delegated(name, precond=("M",)):
    fn = getattr(_sl, name)

    def solver(A, b, x0=None, *, callback=None, **kwargs):
        pre = {k: kwargs.pop(k, None) for k in precond}
        mlx = isinstance(b, mx.array)

        def run(A_, b_, x0_, M_, adjoint=False):
            return run_square(fn, A_, b_, x0_, M_, mlx, None if adjoint else callback, kwargs, precond)
        M = pre if len(precond) > 1 else pre[precond[0]]
        if len(precond) > 1 and all(v is None for v in pre.values()):
            M = None
        return _implicit.solve(name, run, A, b, x0, M)
    solver.__name__ = solver.__qualname__ = name
    solver.__doc__ = f"scipy.sparse.linalg.{name} on host data (MLX in -> MLX out; differentiable by the adjoint solve)."
    return solver


lgmres = _delegated("lgmres")
gcrotmk = _delegated("gcrotmk")
def tfqmr(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M=None, callback=None, show=False):
    """Transpose-Free Quasi-Minimal Residual: (x, info)."""
    def run(A_, b_, x0_, M_, adjoint=False):
        cb = None if adjoint else callback
        try:
            s = System("tfqmr", A_, b_, x0_, M_)
        except HostOnly:
            return _sl.tfqmr(host_operator(A_), host_vector(b_), x0=host_vector(x0_), rtol=rtol, atol=atol,
                             maxiter=maxiter, M=host_operator(M_), callback=cb, show=show)
        with mx.stream(s.stream):
            if as_float(s.norm(s.b)) == 0:
                return s.answer(s.b), 0
            n_max = min(10000, s.n_global * 10) if maxiter is None else int(maxiter)
            x, info = _tfqmr.run(s, rtol, atol, n_max, cb, show)
            return s.answer(x), int(info)
    return _implicit.solve("tfqmr", run, A, b, x0, M)
def qmr(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M1=None, M2=None, callback=None):
    """Quasi-Minimal Residual with left / right preconditioners M1, M2: (x, info)."""
    def run(A_, b_, x0_, M_, adjoint=False):
        cb = None if adjoint else callback
        m1, m2 = (M_ or {}).get("M1"), (M_ or {}).get("M2")
        try:
            s = System("qmr", A_, b_, x0_, None)
        except HostOnly:
            return _sl.qmr(host_operator(A_), host_vector(b_), x0=host_vector(x0_), rtol=rtol, atol=atol,
                           maxiter=maxiter, M1=_host_op(m1), M2=_host_op(m2), callback=cb)
        with mx.stream(s.stream):
            bnrm = as_float(s.norm(s.b))
            atol_ = tolerance("qmr", bnrm, atol, rtol)
            if bnrm == 0:
                return s.answer(s.b), 0
            pre = _qmr.preconditioners(s, A_, m1, m2)
            x, info = _qmr.run(s, atol_, default_maxiter(s, maxiter), cb, *pre)
            return s.answer(x), int(info)
    # the adjoint solve (A^H) takes M2^H on the left and M1^H on the right
    M = None if M1 is None and M2 is None else {"M1": M1, "M2": M2}
    return _implicit.solve("qmr", run, A, b, x0, M)


def _host_op(M):
    return None if M is None else _sl.aslinearoperator(host_operator(M))


def _least_squares(name):
    fn = getattr(_sl, name)

    def solver(A, b, *args, **kwargs):
        mlx = isinstance(b, mx.array)
        if mlx:
            from ... import _arrays
            if _arrays.trace_state(b) != _arrays.FREE or (
                    hasattr(A, "data") and isinstance(A.data, mx.array) and _arrays.trace_state(A.data) != _arrays.FREE):
                raise NotImplementedError(f"{name} is not differentiable yet (it runs scipy's code on the host)")
        if "x0" in kwargs:
            kwargs["x0"] = host_vector(kwargs["x0"])
        out = fn(host_operator(A), host_vector(b), *args, **kwargs)
        if mlx:
            from ... import _arrays
            out = (_arrays.to_mx(out[0]),) + tuple(out[1:])
        return out
    solver.__name__ = solver.__qualname__ = name
    solver.__doc__ = f"scipy.sparse.linalg.{name} on host data (MLX in -> MLX solution)."
    return solver


lsqr = _least_squares("lsqr")
lsmr = _least_squares("lsmr")
