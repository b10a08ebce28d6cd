"""Correctness of the GPU kernels against scipy in float64 (run on a GPU).

    python tests/gpu_check.py            # full check
    python tests/gpu_check.py --quick    # smaller, for compute-sanitizer
    python tests/gpu_check.py --quick --only csr_adaptive   # one variant's products

Every variant is forced in turn on matrices with empty rows, one huge row,
a power-law pattern, 0-row / 0-column / 0-nnz shapes and 0-width operands,
int32 and int64 indices, float32 / float16 / bfloat16; products A @ X and
A.T @ X, SDDMM, gradients of the values and of X against dense formulas,
the public API route, mx.compile and mx.vmap.  Outputs are poisoned (the
allocator is handed NaN-filled buffers first) so unwritten elements show.
Exit status 1 on any failure.  Not collected by pytest (needs a GPU).
"""
import os
import sys
import time

import numpy as np
import scipy.sparse as ss

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mlx.core as mx  # noqa: E402

import mlx_scipy_sparse as sp  # noqa: E402
from mlx_scipy_sparse._kernels import _gpu  # noqa: E402

QUICK = "--quick" in sys.argv
# Under compute-sanitizer: MLX's buffer cache off, so a freed buffer goes back
# to the driver and an out-of-bounds access is not hidden inside a cached one.
SANITIZE = "--sanitize" in sys.argv
# --only NAME: products of one SpMV/SpMM variant alone (a short sanitizer run)
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
TOL = {mx.float32: 1e-5, mx.float16: 3e-3, mx.bfloat16: 2e-2}
NPT = {mx.float32: np.float32, mx.float16: np.float16, mx.bfloat16: np.float32}
results = {"pass": 0, "fail": 0}
failures = []


def rel(y, ref):
    y = np.asarray(y, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if y.shape != ref.shape:
        return np.inf
    if not np.all(np.isfinite(y)):
        return np.inf
    den = np.linalg.norm(ref)
    num = np.linalg.norm(y - ref)
    return num / den if den > 0 else num


def check(label, y, ref, tol):
    e = rel(np.array(y.astype(mx.float32)) if isinstance(y, mx.array) else y, ref)
    ok = e <= tol
    results["pass" if ok else "fail"] += 1
    if not ok:
        failures.append(f"{label}: rel err {e:.3g} > {tol:g}")
        print("FAIL", failures[-1], flush=True)
    return ok


def poison(nbytes):
    """Hand the allocator NaN buffers so that unwritten outputs come back NaN."""
    if SANITIZE:
        return
    n = max(1, nbytes // 4)
    p = mx.full((n,), float("nan"), dtype=mx.float32)
    mx.eval(p)
    del p


def matrices(rng):
    s = 0.3 if QUICK else 1.0
    out = {}
    m, n = int(3000 * s), int(2000 * s)
    A = ss.random_array((m, n), density=0.004, format="csr", rng=rng)
    A = A.tolil()
    A[::7] = 0                       # many empty rows
    out["random_empty_rows"] = A.tocsr()
    B = ss.random_array((m, n), density=0.002, format="lil", rng=rng)
    B[5, :] = rng.standard_normal(n)  # one huge (dense) row
    B[m - 1, : n // 2] = rng.standard_normal(n // 2)
    out["one_huge_row"] = B.tocsr()
    lens = np.minimum((rng.pareto(1.2, m) * 3).astype(int), n)
    rows = np.repeat(np.arange(m), lens)
    cols = np.concatenate([rng.choice(n, size=L, replace=False) for L in lens])
    out["power_law"] = ss.csr_array((rng.standard_normal(rows.size), (rows, cols)), shape=(m, n))
    g = int(40 * s) + 5
    lap1 = ss.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(g, g), dtype=np.float64)
    out["laplace2d"] = ss.csr_array(ss.kronsum(lap1, lap1, format="csr"))
    out["dense_ish"] = ss.random_array((64, 300), density=0.5, format="csr", rng=rng)
    out["zero_rows"] = ss.csr_array((0, 17))
    out["zero_cols"] = ss.csr_array((9, 0))
    out["zero_nnz"] = ss.csr_array((12, 10))
    out["single"] = ss.csr_array(([2.0], ([0], [0])), shape=(1, 1))
    return out


def variants(k):
    if k == 1:
        return [("csr_rowthread", None)] + [("csr_vector", g) for g in (2, 8, 32)] + \
            [("csr_lb_vec", None)] + \
            [("csr_adaptive", 8, 1), ("csr_adaptive", 64, 2), ("csr_adaptive", 1024, 2),
             ("csr_adaptive", 1024, 8)]
    return [("csr_rowthread", None), ("csr_warp", None, 1), ("csr_warp", None, 2),
             ("csr_lb_mat", None)]


def run_products(rng, name, S, dtypes, widths):
    m, n = S.shape
    for idx in (mx.int32, mx.int64):
        data64 = S.data.astype(np.float64)
        indices = mx.array(S.indices.astype(np.int64 if idx == mx.int64 else np.int32))
        indptr = mx.array(S.indptr.astype(np.int64 if idx == mx.int64 else np.int32))
        for dt in dtypes:
            d = mx.array(data64.astype(np.float32)).astype(dt)
            dq = np.array(d.astype(mx.float32)).astype(np.float64)   # the values the GPU sees
            Sq = ss.csr_array((dq, S.indices, S.indptr), shape=S.shape)
            for k in widths:
                for transpose in (False, True):
                    rows_in = m if transpose else n
                    Xn = rng.standard_normal((rows_in,) if k == 1 else (rows_in, k))
                    X = mx.array(Xn.astype(np.float32)).astype(dt)
                    Xq = np.array(X.astype(mx.float32)).astype(np.float64)
                    ref = (Sq.T if transpose else Sq) @ Xq
                    vs = [None] if transpose else variants(k)
                    if ONLY:
                        vs = [v for v in vs if v is not None and v[0] == ONLY]
                    for v in vs:
                        poison(4 * (n if transpose else m) * max(k, 1) + 4096)
                        y = _gpu.spmm(d, indices, indptr, m, n, X, transpose, dt, variant=v)
                        mx.eval(y)
                        check(f"{name} idx={idx} {dt} k={k} T={transpose} v={v}", y, ref, TOL[dt])
            # SDDMM with G (m x k) and X (n x k)
            for k in () if ONLY else (1, 5, 32, 70):
                G = rng.standard_normal((m, k))
                Xn = rng.standard_normal((n, k))
                Gm, Xm = mx.array(G.astype(np.float32)).astype(dt), mx.array(Xn.astype(np.float32)).astype(dt)
                Gq = np.array(Gm.astype(mx.float32)).astype(np.float64)
                Xq = np.array(Xm.astype(mx.float32)).astype(np.float64)
                rows = np.repeat(np.arange(m), np.diff(S.indptr))
                ref = np.einsum("ij,ij->i", Gq[rows], Xq[S.indices]) if S.nnz else np.zeros(0)
                poison(4 * S.nnz + 4096)
                out = _gpu.sddmm(indices, indptr, m, Gm, Xm)
                mx.eval(out)
                check(f"{name} sddmm idx={idx} {dt} k={k}", out, ref, TOL[dt] * (3 if dt != mx.float32 else 1))


def run_grads(rng, name, S):
    m, n = S.shape
    indices, indptr = mx.array(S.indices.astype(np.int32)), mx.array(S.indptr.astype(np.int32))
    vals = mx.array(S.data.astype(np.float32))
    V = S.data.astype(np.float32).astype(np.float64)
    rows = np.repeat(np.arange(m), np.diff(S.indptr))
    for transpose in (False, True):
        for k in (1, 6, 40):
            xin, yout = (m, n) if transpose else (n, m)
            Xn = rng.standard_normal((xin,) if k == 1 else (xin, k)).astype(np.float32)
            Wn = rng.standard_normal((yout,) if k == 1 else (yout, k)).astype(np.float32)
            X, W = mx.array(Xn), mx.array(Wn)

            def loss(v, x):
                return mx.sum(_gpu.spmm(v, indices, indptr, m, n, x, transpose, mx.float32) * W)

            gv, gx = mx.grad(loss, argnums=(0, 1))(vals, X)
            mx.eval(gv, gx)
            X2 = Xn.reshape(xin, -1).astype(np.float64)
            W2 = Wn.reshape(yout, -1).astype(np.float64)
            A = ss.csr_array((V, S.indices, S.indptr), shape=S.shape)
            if not transpose:      # L = sum(W * (A X)): dA_p = <W[r], X[c]>, dX = A.T W
                ref_v = np.einsum("ij,ij->i", W2[rows], X2[S.indices]) if S.nnz else np.zeros(0)
                ref_x = A.T @ W2
            else:                  # L = sum(W * (A.T X)): dA_p = <X[r], W[c]>, dX = A W
                ref_v = np.einsum("ij,ij->i", X2[rows], W2[S.indices]) if S.nnz else np.zeros(0)
                ref_x = A @ W2
            check(f"{name} grad values T={transpose} k={k}", gv, ref_v, 1e-5)
            check(f"{name} grad X T={transpose} k={k}", gx, ref_x.reshape(Xn.shape), 1e-5)


def run_public(rng):
    S = ss.random_array((500, 400), density=0.02, format="csr", dtype=np.float32, rng=rng)
    A = sp.csr_array(S)
    for fmt in ("csr", "csc", "coo"):
        B = getattr(sp, fmt + "_array")(S)
        for shape in ((400,), (400, 3), (400, 64)):
            Xn = rng.standard_normal(shape).astype(np.float32)
            Y = B @ mx.array(Xn)
            assert isinstance(Y, mx.array)
            check(f"public {fmt} @ {shape}", Y, S.astype(np.float64) @ Xn.astype(np.float64), 1e-5)
        Yt = B.T @ mx.array(rng.standard_normal((500, 8)).astype(np.float32))
        mx.eval(Yt)
    # mx.compile over the values
    vals = mx.array(S.data)
    ind, ptr = mx.array(S.indices), mx.array(S.indptr)
    X = mx.array(rng.standard_normal((400, 16)).astype(np.float32))

    @mx.compile
    def f(v, x):
        return _gpu.spmm(v, ind, ptr, 500, 400, x, False, mx.float32) * 2.0

    check("mx.compile", f(vals, X), 2.0 * (S.astype(np.float64) @ np.array(X, dtype=np.float64)), 1e-5)
    # mx.vmap through the public API: must not crash (composed fallback)
    try:
        Xs = mx.array(rng.standard_normal((3, 400)).astype(np.float32))
        ys = mx.vmap(lambda x: A @ x)(Xs)
        check("mx.vmap public", ys, (S.astype(np.float64) @ np.array(Xs, dtype=np.float64).T).T, 1e-5)
    except Exception as e:  # report, don't hide
        results["fail"] += 1
        failures.append(f"mx.vmap public: {type(e).__name__}: {e}")
        print("FAIL", failures[-1])
    # mx.vmap of a gradient: the VJP's kernels fall back too
    try:
        w = mx.array(rng.standard_normal(500).astype(np.float32))
        gx = mx.vmap(mx.grad(lambda x: mx.sum((A @ x) * w)))(Xs)
        check("mx.vmap grad", gx, np.tile(S.T.astype(np.float64) @ np.array(w, dtype=np.float64), (3, 1)), 1e-5)
    except Exception as e:
        results["fail"] += 1
        failures.append(f"mx.vmap grad: {type(e).__name__}: {e}")
        print("FAIL", failures[-1])


def run_cg_step(rng):
    """One launch of the CG iteration (_dialect_cg) against the same step in
    float64 numpy, on square patterns with short, long, skewed and empty
    rows, int32 and int64 indices, first and later iterations, and a
    stopped state (which must copy its inputs)."""
    from mlx_scipy_sparse._kernels import cg_iteration
    mats = {}
    for name, S in matrices(rng).items():
        m = min(S.shape)
        if m:
            mats[name] = ss.csr_array(S[:m, :m])
    g = 30 if QUICK else 60
    mats["long_rows"] = ss.random_array((g * 10, g * 10), density=0.1, format="csr", rng=rng)
    for name, S in mats.items():
        n = S.shape[0]
        for idt in (np.int32, np.int64):
            d = mx.array(S.data.astype(np.float32))
            plan = cg_iteration(d, mx.array(S.indices.astype(idt)), mx.array(S.indptr.astype(idt)),
                                S.shape)
            step, nb = plan
            for iters, tol2, stopped in ((0, 0.0, 0), (5, 0.0, 0), (5, 1e30, 0), (7, 0.0, 1)):
                v = [rng.standard_normal(n).astype(np.float32) for _ in range(5)]
                part = rng.uniform(0.5, 2.0, 2 * nb).astype(np.float32)
                sc = np.array([0.7, 3.0, tol2], dtype=np.float32)
                flags = np.array([stopped, iters, 0, 0, 0], dtype=np.int32).view(np.float32)
                poison(40 * n + 64)
                rws = np.stack([v[1], v[2], v[4], np.zeros(n, np.float32)], axis=1).ravel()
                out = step(d, mx.array(np.concatenate([rws, v[0], v[3], np.zeros(8, np.float32)])),
                           mx.array(np.concatenate([part, sc, flags])))
                mx.eval(out)
                V2, aux2 = np.array(out[0], dtype=np.float64), np.array(out[1])
                x, r, w, p, sv = (a.astype(np.float64) for a in v)
                gamma, delta = part[:nb].astype(np.float64).sum(), part[nb:].astype(np.float64).sum()
                stop = stopped or gamma < tol2
                label = f"cg_step {name} {np.dtype(idt).name} it={iters} stop={stop}"
                if stop:
                    want = [x, r, w, p, sv]
                    sums = (gamma, delta)
                    sc_want, st_want = sc[:2], [1, iters]
                else:
                    beta = 0.0 if iters == 0 else gamma / 3.0
                    alpha = gamma / delta if iters == 0 else gamma / (delta - beta * gamma / 0.7)
                    p2, s2 = r + beta * p, w + beta * sv
                    r2 = r - alpha * s2
                    w2 = S.astype(np.float64) @ r2
                    want = [x + alpha * p2, r2, w2, p2, s2]
                    sums = (r2 @ r2, w2 @ r2)
                    sc_want, st_want = [alpha, gamma], [0, iters + 1]
                rec = V2[:4 * n].reshape(n, 4)
                got_v = [V2[4 * n:5 * n], rec[:, 0], rec[:, 1], V2[5 * n:6 * n], rec[:, 2]]
                for k, nm in enumerate(("x", "r", "w", "p", "s")):
                    check(f"{label} {nm}", got_v[k], want[k], 2e-5)
                got = aux2[:2 * nb].astype(np.float64)
                check(f"{label} partial sums", np.array([got[:nb].sum(), got[nb:].sum()]),
                      np.array(sums), 2e-5)
                tail = aux2[2 * nb:2 * nb + 5]
                check(f"{label} scalars", tail[:2], np.array(sc_want), 2e-5)
                ok = tail[3:5].view(np.int32).tolist() == st_want and tail[2] == sc[2]
                results["pass" if ok else "fail"] += 1
                if not ok:
                    failures.append(f"{label}: state {tail[3:5].view(np.int32).tolist()} != {st_want}")
        print(f"  cg_step {name} {S.shape}: {results}", flush=True)


def _cpu_stand_in():
    """--harness: check this script itself on a machine without a GPU by
    putting the composed/CPU backends behind _gpu's entry points."""
    from mlx_scipy_sparse._kernels import _composed, _cpu

    def spmm(d, ind, ptr, m, n, X, t, dt, variant=None):
        if min(m, n, d.size, X.size) == 0:
            return mx.zeros(((n if t else m),) + tuple(X.shape[1:]), dtype=dt)
        if dt == mx.float32:      # differentiable, for the gradient checks
            return _composed.spmm(d, ind, ptr, m, n, X, t, dt)
        y = _cpu.spmm(np.array(d.astype(mx.float32)), np.array(ind), np.array(ptr), m, n,
                      np.array(X.astype(mx.float32)), t)
        return mx.array(y).astype(dt)

    def sddmm(ind, ptr, m, L, R):
        return mx.array(_cpu.sddmm(np.array(ind), np.array(ptr), np.array(L.astype(mx.float32)),
                                   np.array(R.astype(mx.float32))))
    _gpu.spmm, _gpu.sddmm = spmm, sddmm
    _gpu.backend = lambda: "cpu-stand-in"


def main():
    if "--harness" in sys.argv:
        _cpu_stand_in()
    elif not mx.is_available(mx.gpu) or _gpu.backend() is None:
        print("no MLX GPU here: nothing to check")
        return 0
    if "--harness" not in sys.argv:
        mx.set_default_device(mx.gpu)
    if SANITIZE:
        mx.set_cache_limit(0)
    print("MLX", mx.__version__, "backend", _gpu.backend(), mx.default_device(), flush=True)
    rng = np.random.default_rng(12345)
    t0 = time.time()
    mats = matrices(rng)
    widths = (1, 3, 32, 70) if QUICK else (1, 3, 16, 32, 64, 70, 256)
    if ONLY == "cg_step":
        run_cg_step(rng)
        return report(t0)
    if ONLY:
        widths = (1,) if ONLY in _gpu._VEC_VARIANTS else widths[1:]
    for name, S in mats.items():
        S = ss.csr_array(S)
        S.sort_indices()
        dts = (mx.float32, mx.float16, mx.bfloat16)
        run_products(rng, name, S, dts, widths if S.shape[0] < 2000 or name != "dense_ish" else widths)
        print(f"  {name} {S.shape} nnz={S.nnz}: {results}  ({time.time() - t0:.0f}s)", flush=True)
        if S.nnz and not ONLY:
            run_grads(rng, name, S)
    if ONLY:
        return report(t0)
    # 0-width operands
    S = mats["random_empty_rows"]
    d = mx.array(S.data.astype(np.float32))
    for transpose in (False, True):
        rows_in = S.shape[0] if transpose else S.shape[1]
        y = _gpu.spmm(d, mx.array(S.indices), mx.array(S.indptr), *S.shape,
                      mx.zeros((rows_in, 0)), transpose, mx.float32)
        mx.eval(y)
        ok = y.shape == ((S.shape[1] if transpose else S.shape[0]), 0)
        results["pass" if ok else "fail"] += 1
    run_public(rng)
    if _gpu.backend() == "cuda":
        run_cg_step(rng)
    return report(t0)


def report(t0):
    print(f"\nRESULT pass={results['pass']} fail={results['fail']}  ({time.time() - t0:.0f}s)")
    for f in failures[:50]:
        print("  ", f)
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
