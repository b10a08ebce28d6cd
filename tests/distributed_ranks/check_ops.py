"""Run by every rank of `mlx.launch -n P`: distributed products, reductions,
solvers and gradients against the single-process answers.  Writes
<out>/rank<r>.json = {check name: [passed, detail]}; tests/test_distributed.py
reads them.  A check compares; an exception in one is recorded, not raised
(the other ranks are inside the same collectives)."""
import os
import sys

import numpy as np
import scipy.sparse as ss
import scipy.sparse.linalg as ssl
import mlx.core as mx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlx_scipy_sparse as sp                           # noqa: E402
import mlx_scipy_sparse.distributed as D                # noqa: E402
from _verdicts import Verdicts                          # noqa: E402
from _problems import partitions, poisson2d, random_general, random_spd  # noqa: E402

out_dir = sys.argv[1]
g = mx.distributed.init(backend="ring", strict=True)
rank, size = g.rank(), g.size()
verdicts = Verdicts(out_dir, rank, size)
record = verdicts.record


def close(a, b, rtol):
    a, b = np.asarray(a, dtype=np.complex128), np.asarray(b, dtype=np.complex128)
    if a.shape != b.shape:
        return False, f"shapes {a.shape} {b.shape}"
    err = np.abs(a - b).max(initial=0) / max(np.abs(b).max(initial=0), 1e-300)
    return err <= rtol, f"rel err {err:.3g} (tol {rtol:g})"


def build(A, counts, how, exchange):
    """The distributed array by one of the three constructors."""
    if how == "global":
        return D.from_global(sp.csr_array(A), rows=counts, exchange=exchange)
    offs = D.from_global(sp.csr_array(A), rows=counts).rows.offsets   # the same split
    lo, hi = int(offs[rank]), int(offs[rank + 1])
    if how == "local":
        return D.from_local_rows(A[lo:hi], exchange=exchange)
    return D.scatter(A if rank == 0 else None, root=0, rows=counts, exchange=exchange)


def lanczos_extremes(op, n_local, steps, vdot):
    """Plain Lanczos, every inner product over all ranks: alpha and beta
    through vdot, full reorthogonalization by one all_sum of V @ w (run on
    the package's communication stream, as its docs ask of a caller's own
    collectives).  Returns the tridiagonal matrix's eigenvalues."""
    v = mx.array(np.random.default_rng(7).uniform(-1, 1, n_local), dtype=mx.float64)
    V = [v / mx.sqrt(vdot(v, v))]
    al, be = [], []
    for j in range(steps):
        w = op(V[j])
        al.append(float(vdot(V[j], w).item()))
        for _ in range(2):
            Vm = mx.stack(V)
            h = mx.distributed.all_sum(Vm @ w, stream=D.comm_stream()) if size > 1 else Vm @ w
            w = w - h @ Vm
        if j + 1 < steps:
            be.append(float(mx.sqrt(vdot(w, w)).item()))
            V.append(w / be[-1])
    T = np.diag(al) + np.diag(be, 1) + np.diag(be, -1)
    return np.sort(np.linalg.eigvalsh(T))


class Single:
    """The one-process operator the contract code runs on for reference."""

    def __init__(self, A):
        self.A = sp.csr_array(A)

    def __matmul__(self, x):
        return self.A @ x

    def vdot(self, x, y):
        return mx.sum(x * y)


def contract_cg(A, b, rtol, maxiter):
    """Plain CG through A @ p and A.vdot only (float64 MLX vectors)."""
    x = mx.zeros_like(b)
    r, p = b, b
    rr = A.vdot(r, r)
    stop = rtol * float(mx.sqrt(rr).item())
    for it in range(maxiter):
        if float(mx.sqrt(rr).item()) < stop:
            return x, it
        q = A @ p
        alpha = rr / A.vdot(p, q)
        x, r = x + alpha * p, r - alpha * q
        rr_new = A.vdot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, maxiter


def checks_for(pname, A_spd, A_gen, counts, how, exchange):
    tag = f"{pname}/{how}/{'even' if counts is None else counts}/{exchange}"
    dA = build(A_spd, counts, how, exchange)
    dG = build(A_gen, counts, how, exchange)
    lo, hi = dA.rows.start, dA.rows.stop
    n = A_spd.shape[0]
    rng = np.random.default_rng(11)
    x = rng.standard_normal(n)
    X = rng.standard_normal((n, 3))
    w = rng.uniform(0.5, 1.5, n)

    record(f"layout {tag}", lambda: (dA.local_shape == (hi - lo, hi - lo) and dA.shape == A_spd.shape
                                      and dA.nnz == A_spd.nnz and dA.reduces_across_ranks,
                                      f"{dA!r}"))
    record(f"gather_global {tag}", lambda: (abs(dA.gather_global() - A_spd).max() == 0, ""))
    record(f"product numpy float64 {tag}", lambda: (
        isinstance(dG @ x[lo:hi], np.ndarray) and (dG @ x[lo:hi]).dtype == np.float64
        and close(dG @ x[lo:hi], (A_gen @ x)[lo:hi], 1e-14)[0], close(dG @ x[lo:hi], (A_gen @ x)[lo:hi], 1e-14)[1]))
    record(f"product mlx float64 {tag}", lambda: close(
        np.array(dG @ mx.array(x[lo:hi], dtype=mx.float64)), (A_gen @ x)[lo:hi], 1e-14))
    d32 = dG.with_values(dG.data.astype(mx.float32))
    record(f"product mlx float32 {tag}", lambda: close(
        np.array(d32 @ mx.array(x[lo:hi].astype(np.float32))),
        (A_gen.astype(np.float32).astype(np.float64) @ x.astype(np.float32))[lo:hi], 2e-6))
    record(f"product matmat {tag}", lambda: close(
        np.array(dG @ mx.array(X[lo:hi], dtype=mx.float64)), (A_gen @ X)[lo:hi], 1e-14))
    record(f"product transposed {tag}", lambda: close(
        np.array(dG.T @ mx.array(x[lo:hi], dtype=mx.float64)), (A_gen.T @ x)[lo:hi], 1e-14))
    vx = D.like_cols(dG, mx.array(x[lo:hi], dtype=mx.float64))
    record(f"product vector {tag}", lambda: close(np.array((dG @ vx).local), (A_gen @ x)[lo:hi], 1e-14))
    compiled = mx.compile(lambda v: dG @ v)
    record(f"product mx.compile {tag}", lambda: close(
        np.array(compiled(mx.array(x[lo:hi], dtype=mx.float64))), (A_gen @ x)[lo:hi], 1e-14))

    # reductions
    y = rng.standard_normal(n)
    v64 = D.like_rows(dA, mx.array(x[lo:hi], dtype=mx.float64))
    u64 = D.like_rows(dA, mx.array(y[lo:hi], dtype=mx.float64))
    record(f"vdot {tag}", lambda: close(np.array(dA.vdot(v64.local, u64.local)), x @ y, 1e-13))
    record(f"vdot numpy {tag}", lambda: close(dA.vdot(x[lo:hi], y[lo:hi]), x @ y, 1e-13))
    Vm = np.stack([x, y, x - y])
    record(f"vdots (one all_sum for several) {tag}", lambda: close(
        np.array(dA.vdots(mx.array(Vm[:, lo:hi], dtype=mx.float64), u64.local)), Vm @ y, 1e-13))
    record(f"norm {tag}", lambda: close(np.array(v64.norm()), np.linalg.norm(x), 1e-14))
    record(f"sum {tag}", lambda: close(np.array(v64.sum()), x.sum(), 1e-12))
    record(f"vector arithmetic {tag}", lambda: close(
        np.array((2.0 * v64 - u64 / 4.0 + 1.0).gather_global()), 2 * x - y / 4 + 1, 1e-15))
    x32 = mx.array(x[lo:hi].astype(np.float32))
    record(f"vdot float32 accumulates in float64 {tag}", lambda: close(
        np.array(dA.vdot(x32, x32)), np.dot(x.astype(np.float32).astype(np.float64),
                                            x.astype(np.float32).astype(np.float64)), 1e-7))

    # a CG written to the solver contract (every reduction through A.vdot)
    # against the same code on the single-process operator
    b = A_spd @ np.ones(n)
    ref = ssl.spsolve(A_spd.tocsc(), b)
    x_d, it_d = contract_cg(dA, mx.array(b[lo:hi], dtype=mx.float64), 1e-10, 10 * n)
    x_s, it_s = contract_cg(Single(A_spd), mx.array(b, dtype=mx.float64), 1e-10, 10 * n)
    record(f"contract cg {tag}", lambda: close(np.array(x_d), ref[lo:hi], 1e-8))
    record(f"contract cg same iterates as one process {tag}", lambda: (
        abs(it_d - it_s) <= 1 and close(np.array(x_d), np.array(x_s)[lo:hi], 1e-9)[0],
        f"iterations {it_d} vs {it_s}"))
    ev_ref = np.sort(ssl.eigsh(A_spd, k=3, which="LA")[0])
    record(f"contract lanczos {tag}", lambda: close(
        lanczos_extremes(lambda v: dA @ v, hi - lo, min(40, n - 1), dA.vdot)[-3:], ev_ref, 1e-8))

    # gradients: L = sum_i w_i (A x)_i^2 over all ranks (dA.vdot's all_sum)
    Ag = A_gen.tocsr()
    Ag.sort_indices()
    yg = Ag @ x
    gx_ref = Ag.T @ (2 * w * yg)
    rows_of = np.repeat(np.arange(n), np.diff(Ag.indptr))
    gd_ref = 2 * w[rows_of] * yg[rows_of] * x[Ag.indices]
    a, b_ = int(Ag.indptr[lo]), int(Ag.indptr[hi])
    dGs = build(Ag, counts, how, exchange)
    w_loc = mx.array(w[lo:hi], dtype=mx.float64)

    def loss(d, xv):
        yv = dGs.with_values(d) @ xv
        return dGs.vdot(w_loc, yv * yv)
    d0 = dGs.data
    x0 = mx.array(x[lo:hi], dtype=mx.float64)
    gd, gx = mx.grad(loss, argnums=(0, 1))(d0, x0)
    record(f"grad values {tag}", lambda: close(np.array(gd), gd_ref[a:b_], 1e-12))
    record(f"grad x {tag}", lambda: close(np.array(gx), gx_ref[lo:hi], 1e-12))
    # central differences of the global loss in two global entries of x
    for k in (0, n - 1):
        def fd(k=k):
            h = 1e-6
            e = np.zeros(n)
            e[k] = h
            lp = float(np.array(loss(d0, mx.array((x + e)[lo:hi], dtype=mx.float64))))
            lm = float(np.array(loss(d0, mx.array((x - e)[lo:hi], dtype=mx.float64))))
            return close((lp - lm) / (2 * h), gx_ref[k], 1e-6)
        record(f"grad x finite difference entry {k} {tag}", fd)

    # the transposed product's gradient (the exchange's reverse inside a VJP)
    gT_ref = Ag @ (2 * w * (Ag.T @ x))

    def loss_t(xv):
        yv = dGs.T @ xv
        return dGs.vdot(w_loc, yv * yv)
    record(f"grad x through A.T {tag}", lambda: close(np.array(mx.grad(loss_t)(x0)), gT_ref[lo:hi], 1e-12))


A_st = poisson2d(9, 11)
A_rs = random_spd(90)
A_rg = random_general(90)
hows = ["global", "local", "scatter"]
quick = len(sys.argv) > 2 and sys.argv[2] == "quick"
if quick:       # the default test run: one stencil and one random layout, an empty rank
    A_st, A_rs, A_rg = poisson2d(6, 7), random_spd(40), random_general(40)
    checks_for("stencil", A_st, A_st, None, "global", "neighbour")
    checks_for("random", A_rs, A_rg, [0] + [40 // (size - 1)] * (size - 2)
               + [40 - 40 // (size - 1) * (size - 2)], "local",
               "all_gather")
i = 0
for pname, counts in ([] if quick else partitions(A_st.shape[0], size).items()):
    # the stencil with point-to-point messages where the layout allows it
    # (an empty middle rank puts halo owners two ranks apart: all_gather)
    checks_for("stencil", A_st, A_st, counts, hows[i % 3],
               "neighbour" if size == 2 or pname == "even" else "auto")
    i += 1
for pname, counts in ([] if quick else partitions(A_rs.shape[0], size).items()):
    checks_for("random", A_rs, A_rg, counts, hows[i % 3], "auto")
    i += 1

# the route each pattern takes
dS = D.from_global(sp.csr_array(A_st))
dR = D.from_global(sp.csr_array(A_rg))
# small halos: all_gather (ring's send/recv latency, see _plan.NEIGHBOUR_FROM)
record("exchange route stencil", lambda: (dS.plan.mode == "all_gather", dS.plan.mode))
record("exchange route random", lambda: (dR.plan.mode == "all_gather", dR.plan.mode))
dN = D.from_global(sp.csr_array(A_st), exchange="neighbour")
record("exchange route neighbour asked for", lambda: (dN.plan.mode == "neighbour", dN.plan.mode))
big = poisson2d(1 << 16, 2 * size)          # a halo of 65536 entries a side
dB = D.from_global(sp.csr_array(big))
record("exchange route large halo", lambda: (dB.plan.mode == "neighbour", dB.plan.mode))
dF = D.from_global(sp.csr_array(A_st), exchange="all_gather")
record("exchange route asked for", lambda: (dF.plan.mode == "all_gather", dF.plan.mode))
if size >= 3:
    dE = D.from_global(sp.csr_array(A_st), rows=partitions(A_st.shape[0], size)["empty"])
    record("exchange route across an empty rank", lambda: (dE.plan.mode == "all_gather", dE.plan.mode))

    def refused():
        try:
            D.from_global(sp.csr_array(A_rg), exchange="neighbour")
        except ValueError as e:
            return "r - 1 and r + 1" in str(e), str(e)
        return False, "no error"
    record("exchange route neighbour refused for a random pattern", refused)

# complex values: MLX complex64 and numpy complex128
nz = A_rg.shape[0]
Z = (A_rg + 1j * ss.random(nz, nz, density=0.05, random_state=9)).tocsr()
dZ = D.from_global(sp.csr_array(Z.astype(np.complex64)))
rng = np.random.default_rng(2)
z = rng.standard_normal(nz) + 1j * rng.standard_normal(nz)
lo, hi = dZ.rows.start, dZ.rows.stop
z64 = mx.array(z[lo:hi].astype(np.complex64))
Z64 = Z.astype(np.complex64).astype(np.complex128)
z_64 = z.astype(np.complex64).astype(np.complex128)
record("complex64 product", lambda: close(np.array(dZ @ z64), (Z64 @ z_64)[lo:hi], 1e-5))
record("complex64 adjoint product", lambda: close(np.array(dZ.H @ z64), (Z64.conj().T @ z_64)[lo:hi], 1e-5))
record("complex64 transpose product", lambda: close(np.array(dZ.T @ z64), (Z64.T @ z_64)[lo:hi], 1e-5))
record("complex128 numpy product", lambda: (
    (dZ @ z[lo:hi]).dtype == np.complex128 and close(dZ @ z[lo:hi], (Z64 @ z)[lo:hi], 1e-14)[0], ""))
record("complex vdot", lambda: close(np.array(dZ.vdot(z64, z64 * 2)), 2 * np.vdot(z_64, z_64), 1e-6))

verdicts.finish()
