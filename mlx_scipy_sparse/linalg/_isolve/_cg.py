"""Conjugate gradients (Hermitian positive definite A), scipy's iteration.

Each iteration builds its MLX work lazily; the stopping test (scipy's
``|r| < atol`` at the top of the iteration) is read every few iterations.
Without a preconditioner rho = <r, r>, so the residual norm costs nothing.
"""
import math

import mlx.core as mx
import numpy as np

from ... import _arrays, _kernels
from .._interface import _device_dot
from ._common import _our_matrix, bare_matvec, host_matvec, iterate, stats
from ._hostvec import HostVectors


# the vector updates with their scalar divisions, each one fused kernel on a GPU
@mx.compile
def _update(x, r, p, q, rho, pq):
    alpha = (rho / pq).astype(x.dtype)
    return x + alpha * p, r - alpha * q


@mx.compile
def _direction(z, p, rho, rho_prev):
    return z + (rho / rho_prev).astype(z.dtype) * p


@mx.compile
def _tail(x, r, p, q, rho):
    """Everything of an unpreconditioned iteration after its product, and
    the next direction: one compiled call (its elementwise work fused)."""
    alpha = (rho / _device_dot(p, q)).astype(x.dtype)
    x2, r2 = x + alpha * p, r - alpha * q
    rho2 = _device_dot(r2, r2)
    return x2, r2, r2 + (rho2 / rho).astype(x.dtype) * p, rho2


def _real(v):
    return mx.real(v) if mx.issubdtype(v.dtype, mx.complexfloating) else v


def run(s, atol, maxiter, callback):
    if s.on_cpu:
        return run_host(s, atol, maxiter, callback)
    if callback is None and s.psolve is None and s.local_reductions:
        plan = one_kernel_plan(s)
        if plan is not None:
            return run_one_kernel(s, atol, maxiter, *plan)
    product = bare_matvec(s) if s.psolve is None and s.local_reductions else None
    if product is not None:
        return run_fused(s, atol, maxiter, callback, product)
    x, r = s.start()
    z = s.apply_M(r)
    rho = s.vdot(r, z)
    state = dict(x=x, r=r, z=z, rho=rho, p=z)

    def step(st, it):
        x, r, z, rho = st["x"], st["r"], st["z"], st["rho"]
        rr = _real(rho) if s.psolve is None else _real(s.vdot(r, r))     # |r|^2, tested on the host
        p = z if it == 0 else _direction(z, st["p"], rho, st["rho_prev"])
        q = s.matvec(p)
        x2, r2 = _update(x, r, p, q, rho, s.vdot(p, q))
        z2 = s.apply_M(r2)
        new = dict(x=x2, r=r2, z=z2, rho=s.vdot(r2, z2), rho_prev=rho, p=p)
        return new, rr, lambda c: (x, 0)
    return iterate(step, state, maxiter, callback, s, top=lambda st: s.norm(st["r"]) < atol,
                   stops=lambda rr: np.sqrt(np.abs(rr)) < atol)


def run_fused(s, atol, maxiter, callback, product):
    """The device loop without a preconditioner, on untraced operands: per
    iteration one bare product launch and one compiled call (GPU, float32:
    the general step above spends most of its time in Python, building ~10
    ops and checking each product's operands)."""
    x, r = s.start()
    rho = _device_dot(r, r)
    state = dict(x=x, r=r, p=r, rho=rho)

    def step(st, it):
        x, r, p, rho = st["x"], st["r"], st["p"], st["rho"]
        x2, r2, p2, rho2 = _tail(x, r, p, product(p), rho)
        return dict(x=x2, r=r2, p=p2, rho=rho2), _real(rho), lambda c: (x, 0)
    return iterate(step, state, maxiter, callback, s, stops=lambda rr: np.sqrt(np.abs(rr)) < atol)


def one_kernel_plan(s):
    """(step, nb, A @ v) where the kernel table runs a whole iteration in
    one GPU launch: our CSR float32 array, free inputs, no preconditioner
    (a CSC array is A.T read as CSR: left to the general loop)."""
    ours = _our_matrix(s, mx.float32)
    product = bare_matvec(s)
    if ours is None or ours[2] or product is None:
        return None
    data = ours[0].data
    plan = _kernels.cg_iteration(data, ours[0].indices, ours[0].indptr, ours[0].shape)
    if plan is None:
        return None
    step, nb = plan
    return (lambda V, aux: step(data, V, aux)), nb, product


def run_one_kernel(s, atol, maxiter, step, nb, product):
    """CG in its Chronopoulos-Gear form, one launch an iteration (see
    _kernels/_dialect_cg: the same iterates as scipy's in exact arithmetic,
    both inner products at one point of the iteration).  The stop test is
    made on the device at the top of each iteration, as scipy's, so the
    answer is the iterate scipy's test picks, never one past it."""
    x, r = s.start()
    if maxiter <= 0:                # scipy: no iteration, x0 back with info = maxiter
        stats["iterations"] = 0
        return x, maxiter
    n = s.N
    w = product(r)
    z = mx.zeros((n,), dtype=mx.float32)
    rws = mx.stack([r, w, z, z], axis=1).reshape(-1)         # (r, w, s, 0) a row, then x, p
    V = mx.concatenate([rws, x, mx.zeros((n + 8,), dtype=mx.float32)])
    zp = mx.zeros((nb - 1,), dtype=mx.float32)
    state = mx.array(np.array([1.0, 1.0, atol * atol, 0, 0, 0, 0, 0], dtype=np.float32))
    aux = mx.concatenate([_device_dot(r, r)[None], zp, _device_dot(w, r)[None], zp, state])
    # Batches of launches go to the GPU with async_eval; the stop flag of a
    # batch is read while the next one runs, so the GPU does not wait for
    # Python to build launches (~10 us each).  Launches past the stop copy
    # their inputs: the answer is the same whichever batch it is read from.
    # The flags are sliced out in the batch's own graph: a slice made later
    # would queue behind the next batch and wait for it.
    done, batch, last = 0, 8, None
    while True:
        if done < maxiter:
            for _ in range(min(batch, maxiter - done)):
                V, aux = step(V, aux)
                done += 1
            flags = aux[2 * nb + 3:2 * nb + 5]          # stopped, count: int32 by their bits
            mx.async_eval(V, flags)
            batch = min(2 * batch, 64)
        if last is not None:
            Vl, fl = last
            stopped, iters = np.array(fl).view(np.int32).tolist()
            stats["iterations"] = iters
            if stopped:
                return Vl[4 * n:5 * n], 0
            if Vl is V:
                return V[4 * n:5 * n], maxiter
        last = (V, flags)


def run_host_chunked(s, atol, maxiter, callback, product, rows):
    """run_host's iteration without a preconditioner over our CSR array, in
    three passes over row chunks on the CPU backend's threads: the product
    with each chunk's part of <p, q> taken right after it (q's chunk still
    in cache); x += alpha p, r -= alpha q and the chunk's part of <r, r>;
    then p = r + beta p.  numpy's calls release the GIL (scipy's BLAS
    wrappers do not), and the parts are added in chunk order."""
    hv = HostVectors(s.dtype)
    x0, r0 = s.start()
    x, r = hv.own(x0), hv.own(r0)
    p, q, tmp = np.empty_like(r), np.empty_like(r), np.empty_like(r)
    rr = sum(rows(lambda a, b: hv.dot(r[a:b], r[a:b])))
    stats["iterations"] = 0
    for it in range(maxiter):
        if math.sqrt(abs(rr)) < atol:
            return _arrays.to_mx(x), 0
        stats["iterations"] = it + 1
        if it == 0:
            p[...] = r
        else:
            beta = rr / rr_prev

            def direction(a, b):
                np.multiply(p[a:b], beta, out=p[a:b])
                np.add(p[a:b], r[a:b], out=p[a:b])
            rows(direction)
        alpha = rr / sum(product(p, q, lambda a, b: hv.dot(p[a:b], q[a:b])))

        def update(a, b):
            np.multiply(p[a:b], alpha, out=tmp[a:b])
            np.add(x[a:b], tmp[a:b], out=x[a:b])
            np.multiply(q[a:b], alpha, out=tmp[a:b])
            np.subtract(r[a:b], tmp[a:b], out=r[a:b])
            return hv.dot(r[a:b], r[a:b])
        rr_prev, rr = rr, sum(rows(update))
        if callback is not None:
            callback(s.for_callback(_arrays.to_mx(x)) if s.mlx else np.array(x))
    return _arrays.to_mx(x), maxiter


def run_host(s, atol, maxiter, callback):
    """The same iteration bare on the CPU: vectors in host memory updated in
    place by BLAS (see _hostvec), products through our operator on an MLX
    vector that shares p's buffer, every iteration's test read at once
    (nothing is pending on the host).  A distributed operator's inner
    products go through its vdot (the local BLAS dot, then one all_sum)."""
    ours = _our_matrix(s, s.mx_dtype)
    if s.psolve is None and s.local_reductions and ours is not None and not ours[2]:
        host = _kernels.host_product(ours[0].data, ours[0].indices, ours[0].indptr, ours[1])
        if host is not None:
            return run_host_chunked(s, atol, maxiter, callback, *host)
    hv = HostVectors(s.dtype)
    dot = hv.dot if s.local_reductions else (lambda u, v: s.A.vdot(u, v)[()])
    x0, r0 = s.start()
    x, r = hv.own(x0), hv.own(r0)
    p_mx = mx.zeros((s.N,), dtype=s.mx_dtype)        # p lives in this MLX buffer
    mx.eval(p_mx)
    p = _arrays.to_np(p_mx, writeable=True)
    product = host_matvec(s, p_mx)

    def precond(v):
        if s.psolve is None:
            return v
        return np.array(_arrays.to_np(s.psolve(_arrays.to_mx(v))), dtype=hv.dtype)
    stats["iterations"] = 0
    rho_prev = None
    for it in range(maxiter):
        rr = dot(r, r)                               # scipy's test comes before M is applied
        if math.sqrt(abs(rr)) < atol:
            return _arrays.to_mx(x), 0
        z = precond(r)
        rho = rr if s.psolve is None else dot(r, z)
        stats["iterations"] = it + 1
        if it == 0:
            p[...] = z
        else:
            p *= rho / rho_prev
            p += z
        qn = product(p_mx, p)                        # done before p is rewritten below
        alpha = rho / dot(p, qn)
        hv.axpy(alpha, p, x)
        hv.axpy(-alpha, qn, r)
        rho_prev = rho
        if callback is not None:
            callback(s.for_callback(_arrays.to_mx(x)) if s.mlx else np.array(x))
    return _arrays.to_mx(x), maxiter
