"""QMR with left and right preconditioners M1, M2, scipy's iteration and
breakdown codes.  Vectors in MLX; scalar tests read on the host each
iteration (two syncs: the norms and <z, y> first, then <q, A p>)."""
import math

import numpy as np
import mlx.core as mx

from .._interface import LinearOperator, aslinearoperator
from ._common import as_scalar


def preconditioners(s, A_in, M1, M2):
    """(apply M1, M1^H, M2, M2^H) on the solve's MLX vectors, as scipy
    builds them (identity, or A.psolve(b, 'left'/'right') when A has one)."""
    if M1 is None and M2 is None:
        if hasattr(A_in, "psolve"):
            shape = s.A.shape
            M1 = LinearOperator(shape, matvec=lambda b: A_in.psolve(b, "left"),
                                rmatvec=lambda b: A_in.rpsolve(b, "left"))
            M2 = LinearOperator(shape, matvec=lambda b: A_in.psolve(b, "right"),
                                rmatvec=lambda b: A_in.rpsolve(b, "right"))
        else:
            ident = lambda v: v      # noqa: E731
            return ident, ident, ident, ident
    out = []
    for M in (M1, M2):
        if M is None:
            out += [lambda v: v, lambda v: v]
        else:
            op = aslinearoperator(M)
            out += [s._applier(op, "matvec"), s._applier(op, "rmatvec")]
    return out[0], out[1], out[2], out[3]


def run(s, atol, maxiter, callback, M1, M1H, M2, M2H):
    tol = float(np.finfo(np.dtype(s.dtype).char).eps)     # scipy's breakdown tolerances
    x, r = s.start()
    vtilde = r
    y = M1(vtilde)
    rho = float(as_scalar(s.norm(y)))
    wtilde = r
    z = M2H(wtilde)
    xi = float(as_scalar(s.norm(z)))
    gamma, eta, theta = 1.0, -1.0, 0.0
    epsilon = p = q = d = sv = None
    for it in range(maxiter):
        if float(as_scalar(s.norm(r))) < atol:
            return x, 0
        if abs(rho) < tol:
            return x, -10
        if abs(xi) < tol:
            return x, -15
        v = vtilde * (1 / rho)
        y = y * (1 / rho)
        w = wtilde * (1 / xi)
        z = z * (1 / xi)
        delta = as_scalar(s.vdot(z, y))
        if abs(delta) < tol:
            return x, -13
        ytilde = M2(y)
        ztilde = M1H(z)
        if it > 0:
            p = ytilde - _py(xi * delta / epsilon) * p
            q = ztilde - _py(rho * np.conj(delta / epsilon)) * q
        else:
            p, q = ytilde, ztilde
        ptilde = s.matvec(p)
        epsilon = as_scalar(s.vdot(q, ptilde))
        if abs(epsilon) < tol:
            return x, -14
        beta = epsilon / delta
        if abs(beta) < tol:
            return x, -11
        vtilde = ptilde - _py(beta) * v
        y = M1(vtilde)
        rho_prev = rho
        rho = float(as_scalar(s.norm(y)))
        wtilde = w * _py(-np.conj(beta)) + s.rmatvec(q)
        z = M2H(wtilde)
        xi = float(as_scalar(s.norm(z)))
        gamma_prev, theta_prev = gamma, theta
        theta = rho / (gamma_prev * abs(beta))
        gamma = 1 / math.sqrt(1 + theta ** 2)
        if abs(gamma) < tol:
            return x, -12
        eta *= -(rho_prev / beta) * (gamma / gamma_prev) ** 2
        if it > 0:
            f = (theta_prev * gamma) ** 2
            d = d * f + _py(eta) * p
            sv = sv * f + _py(eta) * ptilde
        else:
            d, sv = p * _py(eta), ptilde * _py(eta)
        x = x + d
        r = r - sv
        if callback is not None:
            callback(s.for_callback(x))
    return x, maxiter


def _py(v):
    """A Python scalar (numpy scalars would turn MLX operands into numpy, or
    promote float32 vectors to float64): real when it has no imaginary part."""
    v = complex(v)
    return v.real if v.imag == 0 else v
