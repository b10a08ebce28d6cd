"""Conjugate gradients (Hermitian positive definite A), scipy's iteration.

Each iteration builds its MLX work lazily; the stopping test (scipy's
``|r| < atol`` at the top of the iteration) is read every few iterations.
Without a preconditioner rho = <r, r>, so the residual norm costs nothing.
"""
import mlx.core as mx

from ._common import first, iterate


@mx.compile
def _update(x, r, p, q, alpha):
    return x + alpha * p, r - alpha * q


@mx.compile
def _direction(z, p, beta):
    return z + beta * p


def _real(v):
    return mx.real(v) if mx.issubdtype(v.dtype, mx.complexfloating) else v


def run(s, atol, maxiter, callback):
    x, r = s.start()
    z = s.apply_M(r)
    rho = s.vdot(r, z)
    state = dict(x=x, r=r, z=z, rho=rho, p=z)

    def step(st, it):
        x, r, z, rho = st["x"], st["r"], st["z"], st["rho"]
        rnorm = mx.sqrt(_real(rho)) if s.psolve is None else s.norm(r)
        code = first((rnorm < atol, 0))
        p = z if it == 0 else _direction(z, st["p"], rho / st["rho_prev"])
        q = s.matvec(p)
        alpha = rho / s.vdot(p, q)
        x2, r2 = _update(x, r, p, q, alpha.astype(x.dtype))
        z2 = s.apply_M(r2)
        new = dict(x=x2, r=r2, z=z2, rho=s.vdot(r2, z2), rho_prev=rho, p=p)
        return new, code, lambda c: (x, 0)
    return iterate(step, state, maxiter, callback, s)
