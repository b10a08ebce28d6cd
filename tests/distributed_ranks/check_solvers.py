"""Run by every rank: mlx_scipy_sparse.linalg's solvers, unchanged, on a
DistributedCSR (the operator contract: local_shape, vdot), against scipy and
against the same solver on the whole matrix in one process.  Writes
<out>/rank<r>.json as check_ops.py does."""
import os
import sys

import numpy as np
import scipy.sparse.linalg as ssl
import mlx.core as mx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlx_scipy_sparse as sp                           # noqa: E402
import mlx_scipy_sparse.distributed as D                # noqa: E402
from mlx_scipy_sparse import linalg as L                # noqa: E402
from _verdicts import Verdicts                          # noqa: E402
from _problems import partitions, poisson2d, random_spd  # noqa: E402

out_dir = sys.argv[1]
g = mx.distributed.init(backend="ring", strict=True)
rank, size = g.rank(), g.size()
verdicts = Verdicts(out_dir, rank, size)
record = verdicts.record


def close(a, b, rtol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    err = np.abs(a - b).max(initial=0) / max(np.abs(b).max(initial=0), 1e-300)
    return err <= rtol, f"rel err {err:.3g} (tol {rtol:g})"


cases = [(pname, A, part, counts)
         for pname, A in (("stencil", poisson2d(9, 11)), ("random", random_spd(90)))
         for part, counts in partitions(A.shape[0], size).items()]
cases.sort(key=lambda c: c[2] == "empty")      # layouts with an empty rank last


def krylov(name, dA, b_loc, ref, n, tag):
    lo, hi = dA.rows.start, dA.rows.stop

    def solve():
        xs, info = getattr(L, name)(dA, b_loc, rtol=1e-10, maxiter=10 * n)
        ok, det = close(np.array(xs), ref[lo:hi], 1e-7)
        return ok and info == 0 and isinstance(xs, mx.array), f"info {info}, {det}"
    record(f"linalg.{name} {tag}", solve)


# one pass per solver family, gmres last: a rank whose check raises ends the
# run (see record), so one solver's failure leaves the others' verdicts whole
later = []
for pname, A, part, counts in cases:
    n = A.shape[0]
    b = A @ np.linspace(1, 2, n)
    ref = ssl.spsolve(A.tocsc(), b)
    tag = f"{pname}/{part}"
    dA = D.from_global(sp.csr_array(A), rows=counts)
    lo, hi = dA.rows.start, dA.rows.stop
    b_loc = mx.array(b[lo:hi], dtype=mx.float64)
    later.append((dA, b_loc, ref, n, tag))
    for name in ("cg", "minres", "bicgstab"):
        krylov(name, dA, b_loc, ref, n, tag)
    single = np.array(L.cg(sp.csr_array(A), mx.array(b, dtype=mx.float64), rtol=1e-10,
                           maxiter=10 * n)[0])
    record(f"one-process answer, linalg.cg {tag}", lambda: close(
        np.array(L.cg(dA, b_loc, rtol=1e-10, maxiter=10 * n)[0]), single[lo:hi], 1e-9))
    record(f"numpy b, linalg.cg {tag}", lambda: (lambda r: (
        isinstance(r[0], np.ndarray) and close(r[0], ref[lo:hi], 1e-7)[0],
        close(r[0], ref[lo:hi], 1e-7)[1]))(L.cg(dA, b[lo:hi], rtol=1e-10, maxiter=10 * n)))
    # every layout: linalg reads the array's 'distributed' marker, also where
    # one rank holds every row (local_shape == shape there)
    ev = np.sort(ssl.eigsh(A, k=3, which="LA")[0])

    def eig():
        w, V = L.eigsh(dA, k=3, which="LA")
        ok, det = close(np.sort(np.array(w)), ev, 1e-8)
        R = np.array(dA @ V) - np.array(V) * np.array(w)[None, :]
        rn = max(float(np.sqrt(np.array(dA.vdot(R[:, i], R[:, i]))))
                 for i in range(3))
        return ok and rn < 1e-6 * ev.max(), f"{det}, residual {rn:.3g}"
    record(f"linalg.eigsh {tag}", eig)
for dA, b_loc, ref, n, tag in later:
    krylov("gmres", dA, b_loc, ref, n, tag)

verdicts.finish()
