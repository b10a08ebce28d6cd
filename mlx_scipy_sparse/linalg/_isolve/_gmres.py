"""Restarted GMRES with scipy's stopping rules and callbacks.

The Krylov basis lives in MLX; one inner step builds its modified
Gram-Schmidt lazily and reads its handful of scalars (the new Hessenberg
column) in one sync.  The (restart+1) x restart Hessenberg problem, its
Givens rotations and the triangular solve are tiny and held on the host
in the working dtype, as scipy holds them.
"""
import numpy as np
import mlx.core as mx
from scipy.linalg import get_lapack_funcs

from ._common import as_float


def run(s, atol, maxiter, callback, restart, callback_type, bnrm2):
    dt = np.dtype(s.dtype)
    eps = np.finfo(dt.char).eps
    # the global size (scipy's n): every rank of a distributed solve takes the same restart
    restart = min(20 if restart is None else int(restart), s.n_global)
    lartg = get_lapack_funcs("lartg", dtype=dt)
    Mb_nrm2 = as_float(s.norm(s.apply_M(s.b)))
    ptol_max_factor = 1.0
    ptol = Mb_nrm2 * min(ptol_max_factor, atol / bnrm2)
    presid = 0.0
    inner_iter = 0
    x, r = s.start()
    if as_float(s.norm(r)) < atol:
        return x, 0
    rnorm = None
    for _ in range(maxiter):
        v0 = s.apply_M(r)
        nrm = s.norm(v0)
        V = [v0 * (1 / nrm).astype(v0.dtype)]
        S = np.zeros(restart + 1, dtype=dt)
        S[0] = as_float(nrm)
        h = np.zeros((restart, restart + 1), dtype=dt)
        givens = np.zeros((restart, 2), dtype=dt)
        breakdown = False
        for col in range(restart):
            w = s.apply_M(s.matvec(V[col]))
            h0 = s.norm(w)
            hk = []
            for k in range(col + 1):
                t = s.vdot(V[k], w)
                hk.append(t)
                w = w - t * V[k]
            h1 = s.norm(w)
            vals = np.array(mx.stack([h0.astype(hk[0].dtype), *hk, h1.astype(hk[0].dtype)]))
            h0v, h1v = float(np.real(vals[0])), float(np.real(vals[-1]))
            h[col, :col + 1] = vals[1:-1]
            h[col, col + 1] = h1v
            if h1v <= eps * h0v:
                h[col, col + 1] = 0
                breakdown = True
                V.append(w)
            else:
                V.append(w * (1 / h1v))
            for k in range(col):
                c, sn = givens[k, 0], givens[k, 1]
                n0, n1 = h[col, k], h[col, k + 1]
                h[col, k], h[col, k + 1] = c * n0 + sn * n1, -np.conj(sn) * n0 + c * n1
            c, sn, mag = lartg(h[col, col], h[col, col + 1])
            givens[col] = c, sn
            h[col, col], h[col, col + 1] = mag, 0
            tmp = -np.conj(sn) * S[col]
            S[col], S[col + 1] = c * S[col], tmp
            presid = np.abs(tmp)              # a numpy scalar, as scipy hands its callback
            inner_iter += 1
            if callback_type in ("legacy", "pr_norm"):
                callback(presid / bnrm2)
            if callback_type == "legacy" and inner_iter == maxiter:
                break
            if presid <= ptol or breakdown:
                break
        if h[col, col] == 0:
            S[col] = 0
        y = np.array(S[:col + 1], dtype=dt)        # back substitution, singular-tolerant
        for k in range(col, 0, -1):
            if y[k] != 0:
                y[k] /= h[k, k]
                y[:k] -= y[k] * h[k, :k]
        if y[0] != 0:
            y[0] /= h[0, 0]
        upd = V[0] * y[0].item()
        for k in range(1, col + 1):
            upd = upd + V[k] * y[k].item()
        x = x + upd
        r = s.b - s.matvec(x)
        rnorm = as_float(s.norm(r))
        if callback_type == "legacy" and inner_iter == maxiter:
            return x, 0 if rnorm <= atol else maxiter
        if callback_type == "x":
            callback(s.for_callback(x))
        if rnorm <= atol or breakdown:
            break
        if presid <= ptol:
            ptol_max_factor = max(eps, 0.25 * ptol_max_factor)
        else:
            ptol_max_factor = min(1.0, 1.5 * ptol_max_factor)
        ptol = presid * min(ptol_max_factor, atol / rnorm)
    return x, 0 if (rnorm is not None and rnorm <= atol) else maxiter
