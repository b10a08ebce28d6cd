"""BiCG, BiCGSTAB and CGS (general square A), scipy's iterations.

As in _cg: lazily built iterations whose stop codes (scipy's early returns:
0 converged, -10 rho breakdown, -11 other breakdowns) are read every few
iterations; the first one wins.
"""
import mlx.core as mx

from ._common import eps2, first, iterate


def _conj(v):
    return mx.conj(v) if mx.issubdtype(v.dtype, mx.complexfloating) else v


def bicg(s, atol, maxiter, callback):
    x, r = s.start()
    rhotol = eps2(s.dtype)
    state = dict(x=x, r=r, rt=r)

    def step(st, it):
        x, r, rt = st["x"], st["r"], st["rt"]
        z, zt = s.apply_M(r), s.apply_MH(rt)
        rho = s.vdot(rt, z)
        if it > 0:
            beta = rho / st["rho"]
            p, pt = z + beta * st["p"], zt + _conj(beta) * st["pt"]
        else:
            p, pt = z, zt
        q, qt = s.matvec(p), s.rmatvec(pt)
        rv = s.vdot(pt, q)
        code = first((s.norm(r) < atol, 0), (mx.abs(rho) < rhotol, -10), (rv == 0, -11))
        alpha = rho / rv
        new = dict(x=x + alpha * p, r=r - alpha * q, rt=rt - _conj(alpha) * qt, rho=rho, p=p, pt=pt)
        return new, code, lambda c: (x, c)
    return iterate(step, state, maxiter, callback, s, top=lambda st: s.norm(st["r"]) < atol)


def bicgstab(s, atol, maxiter, callback):
    x, r = s.start()
    rhotol = omegatol = eps2(s.dtype)
    state = dict(x=x, r=r)
    rt = r

    def step(st, it):
        x, r = st["x"], st["r"]
        rho = s.vdot(rt, r)
        conds = [(s.norm(r) < atol, 0), (mx.abs(rho) < rhotol, -10)]
        if it > 0:
            omega = st["omega"]
            conds.append((mx.abs(omega) < omegatol, -11))
            beta = (rho / st["rho"]) * (st["alpha"] / omega)
            p = (st["p"] - omega * st["v"]) * beta + r
        else:
            p = r
        phat = s.apply_M(p)
        v = s.matvec(phat)
        rv = s.vdot(rt, v)
        conds.append((rv == 0, -11))
        alpha = rho / rv
        r = r - alpha * v
        xh = x + alpha * phat                 # scipy adds the two parts in turn
        conds.append((s.norm(r) < atol, 1))   # converged half way: x + alpha*phat
        shat = s.apply_M(r)
        t = s.matvec(shat)
        omega = s.vdot(t, r) / s.vdot(t, t)
        new = dict(x=xh + omega * shat, r=r - omega * t, rho=rho, alpha=alpha, omega=omega, p=p, v=v)
        return new, first(*conds), lambda c: (xh, 0) if c == 1 else (x, c)
    return iterate(step, state, maxiter, callback, s, top=lambda st: s.norm(st["r"]) < atol)


def cgs(s, atol, maxiter, callback):
    x, r = s.start()
    rhotol = eps2(s.dtype)
    rt = r
    state = dict(x=x, r=r)

    def step(st, it):
        x, r = st["x"], st["r"]
        rho = s.vdot(rt, r)
        if it > 0:
            beta = rho / st["rho"]
            q = st["q"]
            u = r + beta * q
            p = u + beta * (q + beta * st["p"])
        else:
            p = u = r
        phat = s.apply_M(p)
        vhat = s.matvec(phat)
        rv = s.vdot(rt, vhat)
        code = first((s.norm(r) < atol, 0), (mx.abs(rho) < rhotol, -10), (rv == 0, -11))
        alpha = rho / rv
        q = u - alpha * vhat
        uhat = s.apply_M(u + q)
        x2 = x + alpha * uhat
        # the true residual, as scipy (the recurrence drifts)
        new = dict(x=x2, r=s.b - s.matvec(x2), rho=rho, p=p, q=q)
        return new, code, lambda c: (x, c)
    return iterate(step, state, maxiter, callback, s, top=lambda st: s.norm(st["r"]) < atol)
