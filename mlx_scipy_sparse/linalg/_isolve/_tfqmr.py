"""TFQMR (transpose-free QMR, left preconditioner), scipy's iteration and tests.

Vectors live in MLX; the few scalar recurrences are host numbers read each
iteration (<r*, v> on even steps, |w|, <r*, w> on odd ones).
"""
import math

import numpy as np
import mlx.core as mx

from ._common import as_scalar, tolerance


def run(s, rtol, atol, maxiter, callback, show=False):
    x = s.x0 if s.x0 is not None else mx.zeros(s.b.shape, dtype=s.mx_dtype)
    r = s.b if s.x0 is None else s.b - s.matvec(x)
    cplx = np.dtype(s.dtype).kind == "c"
    u, w, rstar = r, r, r
    v = s.apply_M(s.matvec(r))
    uhat = v
    d = mx.zeros(s.b.shape, dtype=s.mx_dtype)
    theta = eta = 0.0
    rho = float(np.real(as_scalar(s.vdot(rstar, r))))
    rho_last = rho
    r0norm = math.sqrt(rho)
    tau = r0norm
    if r0norm == 0:
        return x, 0
    atol = tolerance("tfqmr", r0norm, atol, rtol)
    alpha = u_next = None
    for it in range(maxiter):
        even = it % 2 == 0
        if even:
            vtr = as_scalar(s.vdot(rstar, v))
            if vtr == 0:
                return x, -1
            alpha = rho / vtr
            u_next = u - _c(alpha, cplx) * v
        w = w - _c(alpha, cplx) * uhat
        d = u + _c((theta ** 2 / alpha) * eta, cplx) * d
        theta = float(as_scalar(s.norm(w))) / tau
        c = math.sqrt(1.0 / (1 + theta ** 2))
        tau *= theta * c
        eta = (c ** 2) * alpha
        x = x + _c(eta, cplx) * s.apply_M(d)
        if callback is not None:
            callback(s.for_callback(x))
        if tau * math.sqrt(it + 1) < atol:
            if show:
                print(f"TFQMR: Linear solve converged due to reach TOL iterations {it + 1}")
            return x, 0
        if not even:
            rho = as_scalar(s.vdot(rstar, w))
            beta = rho / rho_last
            u = w + _c(beta, cplx) * u
            v = _c(beta, cplx) * uhat + _c(beta ** 2, cplx) * v
            uhat = s.apply_M(s.matvec(u))
            v = v + uhat
        else:
            uhat = s.apply_M(s.matvec(u_next))
            u = u_next
            rho_last = rho
    if show:
        print(f"TFQMR: Linear solve not converged due to reach MAXIT iterations {maxiter}")
    return x, maxiter


def _c(v, cplx):
    """A host scalar for MLX arithmetic: real systems take its real part
    (scipy's would be real there too), complex ones keep it complex."""
    return complex(v) if cplx else float(np.real(v))
