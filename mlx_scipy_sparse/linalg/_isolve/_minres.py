"""MINRES (Hermitian, possibly indefinite A) with scipy's stopping tests.

Lanczos vectors and the iterate live in MLX; the scalar recurrences
(rotations, norm and condition estimates) are a few host numbers per
iteration, read in two syncs (alpha with beta, then |x|).
"""
import math

import numpy as np
import mlx.core as mx

from ._common import as_float


def _re(v):
    return mx.real(v) if mx.issubdtype(v.dtype, mx.complexfloating) else v


def run(s, rtol, maxiter, callback, shift, check, show=False):
    dt = np.dtype(s.dtype)
    eps = float(np.finfo(dt).eps)
    x, r1 = s.start()
    y = s.apply_M(r1)
    beta1 = as_float(_re(s.vdot(r1, y)))
    if beta1 < 0:
        raise ValueError("indefinite preconditioner")
    if beta1 == 0:
        return x, 0
    if as_float(s.norm(s.b)) == 0:
        return s.b, 0
    beta1 = math.sqrt(beta1)
    if check:
        w = s.matvec(y)
        r2 = s.matvec(w)
        a, b = as_float(_re(s.vdot(w, w))), as_float(_re(s.vdot(y, r2)))
        if abs(a - b) > (a + eps) * eps ** (1 / 3):
            raise ValueError("non-symmetric matrix")
        r2 = s.apply_M(y)
        a, b = as_float(_re(s.vdot(y, y))), as_float(_re(s.vdot(r1, r2)))
        if abs(a - b) > (a + eps) * eps ** (1 / 3):
            raise ValueError("non-symmetric preconditioner")
    oldb, beta, dbar, epsln = 0.0, beta1, 0.0, 0.0
    phibar, rhs1, rhs2, tnorm2 = beta1, beta1, 0.0, 0.0
    gmax, gmin = 0.0, float(np.finfo(dt).max)
    cs, sn = -1.0, 0.0
    w = w2 = mx.zeros(s.b.shape, dtype=s.mx_dtype)
    r2 = r1
    istop, itn = 0, 0
    while itn < maxiter:
        itn += 1
        v = y * (1.0 / beta)
        y = s.matvec(v)
        if shift != 0:
            y = y - shift * v
        if itn >= 2:
            y = y - (beta / oldb) * r1
        alfa_l = _re(s.vdot(v, y))
        y = y - (alfa_l / beta).astype(y.dtype) * r2
        r1, r2 = r2, y
        y = s.apply_M(r2)
        beta_l = _re(s.vdot(r2, y))
        ab = np.array(mx.stack([alfa_l, beta_l]).astype(mx.float64 if dt.char in "dD" else mx.float32))
        alfa, beta_sq = float(ab[0]), float(ab[1])
        oldb = beta
        if beta_sq < 0:
            raise ValueError("non-symmetric matrix")
        beta = math.sqrt(beta_sq)
        tnorm2 += alfa ** 2 + oldb ** 2 + beta ** 2
        if itn == 1 and beta / beta1 <= 10 * eps:
            istop = -1
        oldeps = epsln
        delta = cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsln = sn * beta
        dbar = -cs * beta
        root = math.hypot(gbar, dbar)
        gamma = max(math.hypot(gbar, beta), eps)
        cs, sn = gbar / gamma, beta / gamma
        phi = cs * phibar
        phibar = sn * phibar
        w1, w2 = w2, w
        w = (v - oldeps * w1 - delta * w2) * (1.0 / gamma)
        x = x + phi * w
        gmax, gmin = max(gmax, gamma), min(gmin, gamma)
        z = rhs1 / gamma
        rhs1, rhs2 = rhs2 - delta * z, -epsln * z
        Anorm = math.sqrt(tnorm2)
        ynorm = as_float(s.norm(x))
        epsx = Anorm * ynorm * eps
        rnorm = phibar
        test1 = math.inf if (ynorm == 0 or Anorm == 0) else rnorm / (Anorm * ynorm)
        test2 = math.inf if Anorm == 0 else root / Anorm
        Acond = gmax / gmin
        if istop == 0:
            if 1 + test2 <= 1:
                istop = 2
            if 1 + test1 <= 1:
                istop = 1
            if itn >= maxiter:
                istop = 6
            if Acond >= 0.1 / eps:
                istop = 4
            if epsx >= beta1:
                istop = 3
            if test2 <= rtol:
                istop = 2
            if test1 <= rtol:
                istop = 1
        if show:
            print(f"{itn:6g} {test1:10.3e} {test2:10.3e} {Anorm:8.1e} {Acond:8.1e}")
        if callback is not None:
            callback(s.for_callback(x))
        if istop != 0:
            break
    return x, (maxiter if istop == 6 else 0)
