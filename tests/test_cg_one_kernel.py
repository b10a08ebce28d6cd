"""cg on MLX float32 input: on a CUDA GPU one launch a whole iteration
(_kernels/_dialect_cg, the Chronopoulos-Gear form); elsewhere the general
loop.  The same tests run in both places and check against scipy: the
answer, the iteration count, the stop at maxiter, x0, a zero right-hand
side, repeatability, and which route was taken."""
import numpy as np
import pytest
import scipy.sparse as ss
import scipy.sparse.linalg as sl
import mlx.core as mx

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import _kernels
from mlx_scipy_sparse.linalg import cg
from mlx_scipy_sparse.linalg._isolve import _cg, _common

ONE_KERNEL = _kernels.gpu_default() and _kernels._gpu is not None \
    and _kernels._gpu.backend() == "cuda"


def poisson(g):
    t = ss.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(g, g))
    return ss.csr_array(ss.kronsum(t, t, format="csr"))


def spd_long_rows(n, rng):
    """Rows of ~40 entries and one of n (lanes per row > 1 in the kernel)."""
    B = ss.random_array((n, n), density=0.02, format="csr", rng=rng)
    B = ss.lil_array(B)
    B[3, :] = rng.uniform(0, 1, n)
    A = ss.csr_array(B @ B.T) + n * ss.eye_array(n)
    return ss.csr_array(A)


CASES = {"poisson": lambda rng: poisson(40), "long_rows": lambda rng: spd_long_rows(500, rng)}


def scipy_iterations(A, b, **kw):
    its = []
    x, info = sl.cg(A, b, callback=lambda xk: its.append(1), **kw)
    return x, info, len(its)


def test_route_follows_the_device():
    A = sp.csr_array(poisson(10).astype(np.float32))
    s = _common.System("cg", A, mx.ones((100,), dtype=mx.float32), None, None)
    plan = _cg.one_kernel_plan(s)
    assert (plan is not None) == bool(ONE_KERNEL)
    # a CSC array (A.T read as CSR) and a preconditioned solve keep the general loop
    sc = _common.System("cg", sp.csc_array(A), mx.ones((100,), dtype=mx.float32), None, None)
    assert _cg.one_kernel_plan(sc) is None


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_scipy(case):
    rng = np.random.default_rng(3)
    A = CASES[case](rng)
    n = A.shape[0]
    b = rng.standard_normal(n)
    Am = sp.csr_array(A.astype(np.float32))
    x, info = cg(Am, mx.array(b.astype(np.float32)), rtol=1e-5)
    ours_its = _common.stats["iterations"]
    xs, info_s, its = scipy_iterations(A, b, rtol=1e-5)
    assert info == 0 and info_s == 0
    assert isinstance(x, mx.array) and x.dtype == mx.float32
    # float32 iterations: within a few of scipy's float64 count, true residual at the tolerance
    assert abs(ours_its - its) <= max(3, its // 10), (ours_its, its)
    res = np.linalg.norm(b - A @ np.array(x, dtype=np.float64)) / np.linalg.norm(b)
    assert res < 3e-5, res
    np.testing.assert_allclose(np.array(x), xs, rtol=0, atol=1e-3 * np.abs(xs).max())
    # the same call gives the same bits
    x2, _ = cg(Am, mx.array(b.astype(np.float32)), rtol=1e-5)
    np.testing.assert_array_equal(np.array(x), np.array(x2))


def test_maxiter_x0_and_zero_rhs():
    rng = np.random.default_rng(4)
    A = poisson(30)
    n = A.shape[0]
    b = rng.standard_normal(n)
    Am = sp.csr_array(A.astype(np.float32))
    bm = mx.array(b.astype(np.float32))
    # stopped by maxiter: info = maxiter and scipy's iterate after that many updates
    for maxiter in (0, 1, 7, 21):
        x, info = cg(Am, bm, rtol=1e-12, maxiter=maxiter)
        xs, info_s = sl.cg(A, b, rtol=1e-12, maxiter=maxiter)
        assert info == maxiter == info_s
        np.testing.assert_allclose(np.array(x), xs, rtol=0, atol=2e-4 * np.abs(xs).max())
    # a starting guess
    x0 = rng.standard_normal(n)
    x, info = cg(Am, bm, x0=mx.array(x0.astype(np.float32)), rtol=1e-5)
    xs, _, its = scipy_iterations(A, b, x0=x0, rtol=1e-5)
    assert info == 0 and abs(_common.stats["iterations"] - its) <= max(3, its // 10)
    # already solved: no iteration, x0 back
    x, info = cg(Am, mx.zeros((n,), dtype=mx.float32))
    assert info == 0 and not np.any(np.array(x))


def test_host_chunked_iteration_matches_scipy():
    """Bare on the CPU over our CSR array, cg runs its passes over row
    chunks on the CPU backend's threads (a matrix large enough to be cut
    in several); against scipy float64: the count, the iterates (callback),
    the answer, and the same bits on a second call."""
    with mx.stream(mx.cpu):
        A = poisson(160)                        # 25600 rows, 127k entries: several chunks
        from mlx_scipy_sparse._kernels import _cpu
        assert len(_cpu.chunks(A.indptr)) > 2
        b = np.random.default_rng(5).standard_normal(A.shape[0])
        seen, ref = [], []
        x, info = cg(sp.csr_array(A), b, rtol=1e-8, callback=lambda xk: seen.append(xk.copy()))
        xs, info_s = sl.cg(A, b, rtol=1e-8, callback=lambda xk: ref.append(xk.copy()))
        assert info == info_s == 0 and len(seen) == len(ref)
        for k in (0, len(ref) // 2, len(ref) - 1):
            np.testing.assert_allclose(seen[k], ref[k], rtol=0, atol=1e-8 * np.abs(ref[k]).max())
        np.testing.assert_allclose(x, xs, rtol=0, atol=1e-9 * np.abs(xs).max())
        x2, _ = cg(sp.csr_array(A), b, rtol=1e-8)
        np.testing.assert_array_equal(x, x2)
        # float32 MLX in, MLX out: float64 accumulation keeps the count near scipy's
        x32, info32 = cg(sp.csr_array(A.astype(np.float32)), mx.array(b.astype(np.float32)),
                         rtol=1e-5)
        its32 = _common.stats["iterations"]
        _, _, its = scipy_iterations(A, b, rtol=1e-5)
        assert info32 == 0 and isinstance(x32, mx.array) and abs(its32 - its) <= max(3, its // 10)


def test_concurrent_solves_share_the_workers_safely():
    """Four threads solving with the same array at once (their chunked passes
    share the CPU backend's workers) get the bits of a solve alone."""
    import threading
    with mx.stream(mx.cpu):
        A = sp.csr_array(poisson(120))
        rng = np.random.default_rng(9)
        bs = [rng.standard_normal(A.shape[0]) for _ in range(4)]
        alone = [cg(A, b, rtol=1e-8)[0] for b in bs]
    got = [None] * 4

    def solve(k):
        with mx.stream(mx.cpu):
            got[k] = cg(A, bs[k], rtol=1e-8)[0]
    threads = [threading.Thread(target=solve, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for k in range(4):
        np.testing.assert_array_equal(got[k], alone[k])
