"""CG on the 2-D Poisson matrix of an N x N grid (N^2 unknowns), to rtol 1e-6,
ours against the peers, side by side in one process.

    python -m benchmarks.solvers                    # CPU: ours float64/float32 vs scipy's cg
    python -m benchmarks.solvers --n 300            # a quicker CPU run
    python -m benchmarks.solvers --parts            # and one iteration's pieces, best of 15
    python -m benchmarks.solvers --gpu              # GPU machine: ours float32 vs JAX / torch / CuPy

b = ones.  Columns: iterations (updates of x; ours and scipy's by their own
count, torch's loop by its own, JAX's and CuPy's by a second run with a
counting callback where one exists), the final true residual |b - A x| / |b|
computed in float64 on the host, the time of one solve (the best of
--repeats, after one untimed warm-up call on the GPU), and ratio = the
reference peer's time / ours (above 1: ours faster).  CPU reference: scipy's
cg in float64; GPU reference: the fastest peer.
BLAS threads are pinned to one (env vars set before numpy loads).
"""
import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
# JAX would otherwise take 75% of the GPU's memory at its first call, with
# MLX, torch and CuPy sharing the device in this process
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import argparse             # noqa: E402
import time                 # noqa: E402

import numpy as np          # noqa: E402
import scipy.sparse as ss   # noqa: E402
import scipy.sparse.linalg as sl  # noqa: E402
import mlx.core as mx       # noqa: E402

import mlx_scipy_sparse as sp                       # noqa: E402
from mlx_scipy_sparse.linalg._isolve import cg       # noqa: E402
from mlx_scipy_sparse.linalg._isolve import _common  # noqa: E402

RTOL = 1e-6


def poisson(n):
    T = ss.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(n, n))
    return (ss.kron(T, ss.eye_array(n)) + ss.kron(ss.eye_array(n), T)).tocsr()


def true_residual(S, x, b):
    x = np.asarray(x, dtype=np.float64)
    return float(np.linalg.norm(b - S @ x) / np.linalg.norm(b))


def best(fn, repeats):
    """(best seconds, last result) over `repeats` calls of fn()."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


# ---------------------------------------------------------------- CPU
def cpu_rows(S, b, repeats):
    """Every solver once per round, the rounds repeated and each row's best
    kept: a load that comes and goes on a shared box then falls on all rows
    alike rather than on whichever ran during it."""
    runs = []                       # (label, fn -> (x, info, iterations))
    for dt in (np.float64, np.float32):
        Sd, bd = S.astype(dt), b.astype(dt)

        def run_scipy(Sd=Sd, bd=bd):
            count = [0]
            x, info = sl.cg(Sd, bd, rtol=RTOL,
                            callback=lambda xk: count.__setitem__(0, count[0] + 1))
            return x, info, count[0]
        runs.append((f"scipy cg {np.dtype(dt).name}", run_scipy))
    for dt, mdt in ((np.float64, mx.float64), (np.float32, mx.float32)):
        A = sp.csr_array(S.astype(dt))
        bm = mx.array(b.astype(dt), dtype=mdt)
        mx.eval(bm)

        def run_ours(A=A, bm=bm):
            with mx.stream(mx.cpu):
                x, info = cg(A, bm, rtol=RTOL)
                mx.eval(x)
            return np.array(x), info, _common.stats["iterations"]
        runs.append((f"ours cg {np.dtype(dt).name} (MLX in/out)", run_ours))

    def run_numpy():
        x, info = cg(S, b, rtol=RTOL)
        return x, info, _common.stats["iterations"]
    runs.append(("ours cg float64 (numpy/scipy in/out)", run_numpy))
    times = {label: [] for label, _ in runs}
    outs = {}
    for _ in range(repeats):
        for label, fn in runs:
            t0 = time.perf_counter()
            outs[label] = fn()
            times[label].append(time.perf_counter() - t0)
    rows = [(label, outs[label][2], true_residual(S, outs[label][0], b), min(times[label]),
             outs[label][1]) for label, _ in runs]
    return rows, rows[0][3]


# ---------------------------------------------------------------- GPU
def gpu_rows(S, b, repeats):
    rows = []
    S32, b32 = S.astype(np.float32), b.astype(np.float32)
    atol = RTOL * float(np.linalg.norm(b32))
    n = S.shape[0]

    # ours: MLX on its default device (a GPU), float32
    mx.set_default_device(mx.gpu)
    A = sp.csr_array(S32)
    bm = mx.array(b32)
    mx.eval(bm)

    def run_ours():
        x, info = cg(A, bm, rtol=RTOL)
        mx.eval(x)
        return x, info
    run_ours()
    t, (x, info) = best(run_ours, repeats)
    rows.append(("ours cg float32 (MLX, GPU)", _common.stats["iterations"], true_residual(S, np.array(x), b), t, info))

    try:    # JAX: jitted cg over a BCOO product
        import jax
        import jax.numpy as jnp
        from jax.experimental import sparse as jsparse
        Aj = jsparse.BCOO.from_scipy_sparse(S32)
        bj = jnp.asarray(b32)
        solve = jax.jit(lambda bb: jax.scipy.sparse.linalg.cg(lambda v: Aj @ v, bb, tol=RTOL, maxiter=10 * n)[0])
        solve(bj).block_until_ready()
        t, xj = best(lambda: solve(bj).block_until_ready(), repeats)
        rows.append(("JAX cg float32 (jit, BCOO)", None, true_residual(S, np.asarray(xj), b), t, 0))
    except Exception as e:      # noqa: BLE001 (a peer that cannot run is reported, not fatal)
        rows.append((f"JAX: {type(e).__name__}: {e}"[:70], None, None, None, None))

    try:    # torch: a CG loop over a sparse CSR tensor, the test read each iteration
        import torch
        dev = torch.device("cuda")
        At = torch.sparse_csr_tensor(torch.from_numpy(S32.indptr.astype(np.int64)),
                                     torch.from_numpy(S32.indices.astype(np.int64)),
                                     torch.from_numpy(S32.data), size=S32.shape, device=dev)
        bt = torch.from_numpy(b32).to(dev)

        def torch_cg():
            x = torch.zeros_like(bt)
            r = bt.clone()
            p = r.clone()
            rs = torch.dot(r, r)
            it = 0
            while it < 10 * n:
                if rs.sqrt().item() < atol:
                    break
                q = torch.mv(At, p)
                alpha = rs / torch.dot(p, q)
                x += alpha * p
                r -= alpha * q
                rs_new = torch.dot(r, r)
                p = r + (rs_new / rs) * p
                rs = rs_new
                it += 1
            torch.cuda.synchronize()
            return x, it
        torch_cg()
        t, (xt, it) = best(torch_cg, repeats)
        rows.append(("torch CG loop float32 (sparse CSR)", it, true_residual(S, xt.cpu().numpy(), b), t, 0))
    except Exception as e:      # noqa: BLE001
        rows.append((f"torch: {type(e).__name__}: {e}"[:70], None, None, None, None))

    try:    # CuPy: cupyx.scipy.sparse.linalg.cg
        import cupy
        import cupyx.scipy.sparse as cs
        import cupyx.scipy.sparse.linalg as csl
        Ac = cs.csr_matrix(ss.csr_matrix(S32))
        bc = cupy.asarray(b32)

        def cupy_cg(callback=None):
            try:
                x, info = csl.cg(Ac, bc, tol=RTOL, maxiter=10 * n, callback=callback)
            except TypeError:
                x, info = csl.cg(Ac, bc, rtol=RTOL, maxiter=10 * n, callback=callback)
            cupy.cuda.Device().synchronize()
            return x, info
        cupy_cg()
        t, (xc, info) = best(cupy_cg, repeats)
        count = [0]
        cupy_cg(lambda xk: count.__setitem__(0, count[0] + 1))
        rows.append(("CuPy cg float32", count[0], true_residual(S, cupy.asnumpy(xc), b), t, info))
    except Exception as e:      # noqa: BLE001
        rows.append((f"CuPy: {type(e).__name__}: {e}"[:70], None, None, None, None))
    peers = [r[3] for r in rows[1:] if r[3] is not None]
    return rows, (min(peers) if peers else None)


def parts(S, k=15):
    """The cost of one CG iteration's pieces (best of k), which a loaded box
    blurs less than whole solves: the product (scipy's csr @ x against the
    kernel table's prepared product ours runs) and the vector work (scipy's
    cg: 2 dots, x += a p, r -= a q, p *= b, p += z; ours: 2 dots, 2 BLAS
    axpys in place, p *= b, p += z)."""
    from scipy.linalg import blas
    from mlx_scipy_sparse import _kernels

    def tmin(f):
        f()
        ts = []
        for _ in range(k):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return min(ts) * 1e3
    print(f"\nper-iteration pieces, ms (best of {k})")
    print(f"{'dtype':8s} {'scipy A@x':>10s} {'our A@x':>9s} {'dot':>6s} {'x+=a*p':>7s} {'axpy':>6s} {'p=z+b*p':>8s}"
          f" {'scipy it':>9s} {'our it':>7s} {'ratio':>6s}")
    for dt, mdt in ((np.float64, mx.float64), (np.float32, mx.float32)):
        Sd = S.astype(dt)
        x = np.random.default_rng(0).random(S.shape[0]).astype(dt)
        y = x.copy()
        with mx.stream(mx.cpu):
            A = sp.csr_array(Sd)
            X = mx.array(x, dtype=mdt)
            mx.eval(X)
            fn = _kernels.fast_product(A.data, A.indices, A.indptr, A.shape, X)
            t_sp, t_ours = tmin(lambda: Sd @ x), tmin(lambda: mx.eval(fn(X)))
        axpy = blas.get_blas_funcs("axpy", dtype=dt)
        t_dot, t_np_axpy = tmin(lambda: np.dot(x, y)), tmin(lambda: np.add(y, 1e-12 * x, out=y))
        t_axpy = tmin(lambda: axpy(x, y, a=1e-12))
        t_p = tmin(lambda: (np.multiply(y, 1.0, out=y), np.add(y, x, out=y)))
        it_sp = t_sp + 2 * t_dot + 2 * t_np_axpy + t_p
        it_ours = t_ours + 2 * t_dot + 2 * t_axpy + t_p
        print(f"{np.dtype(dt).name:8s} {t_sp:10.2f} {t_ours:9.2f} {t_dot:6.2f} {t_np_axpy:7.2f} {t_axpy:6.2f} "
              f"{t_p:8.2f} {it_sp:9.2f} {it_ours:7.2f} {it_sp / it_ours:6.2f}")


def table(title, rows, ref, ref_name, same=None):
    """same: {dtype name: scipy's time in that dtype} for a second ratio column."""
    print(f"\n{title}")
    extra = f" {'vs same dtype':>13s}" if same else ""
    print(f"{'solver':44s} {'iters':>6s} {'true resid':>11s} {'time s':>9s} {'ratio':>7s}{extra} {'info':>5s}")
    for name, it, res, t, info in rows:
        if t is None:
            print(f"{name:44s}   (not run)")
            continue
        ratio = f"{ref / t:7.2f}" if ref else "      -"
        if same:
            dt = next((d for d in same if d in name), None)
            ratio += f" {same[dt] / t:13.2f}" if dt else " " * 14
        print(f"{name:44s} {it if it is not None else '-':>6} {res:11.2e} {t:9.3f} {ratio} {info:>5}")
    print(f"ratio = {ref_name} time / this time" + ("; vs same dtype = scipy's time in the row's dtype / this time"
                                                     if same else ""))


def main():
    ap = argparse.ArgumentParser(description="CG on the 2-D Poisson matrix: ours against peers")
    ap.add_argument("--n", type=int, default=1000, help="grid side (N^2 unknowns); default 1000")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--gpu", action="store_true", help="ours float32 on the GPU against JAX, torch, CuPy")
    ap.add_argument("--parts", action="store_true", help="CPU: also time one iteration's pieces")
    a = ap.parse_args()
    S = poisson(a.n)
    b = np.ones(S.shape[0])
    print(f"2-D Poisson {a.n} x {a.n}: {S.shape[0]} unknowns, {S.nnz} stored entries, rtol {RTOL}, "
          f"BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS')}")
    if a.gpu:
        rows, ref = gpu_rows(S, b, a.repeats)
        table("GPU (float32)", rows, ref, "fastest peer")
    else:
        rows, ref = cpu_rows(S, b, a.repeats)
        table("CPU", rows, ref, "scipy float64", same={"float64": rows[0][3], "float32": rows[1][3]})
        if a.parts:
            parts(S)


if __name__ == "__main__":
    main()
