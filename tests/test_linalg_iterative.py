"""LinearOperator and the Krylov solvers against scipy (float64 reference) and dense numpy."""
import warnings

import numpy as np
import pytest
import mlx.core as mx
import scipy.sparse as ss
import scipy.sparse.linalg as sl

import mlx_scipy_sparse as sp
from mlx_scipy_sparse.linalg import _isolve as iso
from mlx_scipy_sparse.linalg import _precond as pre
from mlx_scipy_sparse.linalg._interface import (IdentityOperator, LinearOperator, aslinearoperator,
                                                vdot)
from mlx_scipy_sparse.linalg._isolve import _common

SQUARE = ["cg", "bicg", "bicgstab", "cgs", "gmres", "lgmres", "minres", "qmr", "tfqmr", "gcrotmk"]
HERMITIAN = {"cg", "minres"}


def poisson2d(n, dtype=np.float64):
    T = ss.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(n, n))
    return (ss.kron(T, ss.eye_array(n)) + ss.kron(ss.eye_array(n), T)).tocsr().astype(dtype)


def spd(n=40, seed=0):
    rng = np.random.default_rng(seed)
    T = ss.diags_array([-1.0, 3.0, -1.0], offsets=[-1, 0, 1], shape=(n, n)).tocsr()
    return T, rng.standard_normal(n)


def nonsym(n=40, seed=0):
    T, b = spd(n, seed)
    return (T + 0.3 * ss.random_array((n, n), density=0.1, rng=seed)).tocsr(), b


def system_for(name, n=40, seed=0):
    return spd(n, seed) if name in HERMITIAN else nonsym(n, seed)


# minres stops on |r| <= rtol |A| |x| (scipy's test), looser than |r| <= rtol |b|
TOL = {"minres": 1e-4}


def rel_res(A, x, b):
    x = np.asarray(x, dtype=np.complex128 if np.iscomplexobj(x) else np.float64)
    return np.linalg.norm(A @ x - b) / np.linalg.norm(b)


# ---------------------------------------------------------------- LinearOperator
@pytest.mark.parametrize("kind", ["csr", "csc", "coo", "scipy", "numpy", "mlx"])
def test_aslinearoperator_inputs(kind):
    S = ss.random_array((7, 5), density=0.5, rng=3).tocsr()
    A = {"csr": sp.csr_array(S), "csc": sp.csc_array(S), "coo": sp.coo_array(S), "scipy": S,
         "numpy": S.toarray(), "mlx": mx.array(S.toarray(), dtype=mx.float64)}[kind]
    L = aslinearoperator(A)
    assert L.shape == (7, 5) and L.dtype == np.float64 and L.local_shape == (7, 5)
    x, y = np.arange(5.0), np.arange(7.0)
    out = L @ x
    assert isinstance(out, np.ndarray) and out.shape == (7,)
    np.testing.assert_allclose(out, S @ x, rtol=1e-14)
    np.testing.assert_allclose(L.rmatvec(y), S.T @ y, rtol=1e-14)
    xm = L.matvec(mx.array(x, dtype=mx.float64))
    assert isinstance(xm, mx.array) and xm.dtype == mx.float64
    np.testing.assert_allclose(np.array(xm), S @ x, rtol=1e-14)
    np.testing.assert_allclose(np.array(L.H.matvec(mx.array(y, dtype=mx.float64))), S.T @ y, rtol=1e-14)
    np.testing.assert_allclose(np.array(L.T @ mx.array(y, dtype=mx.float64)), S.T @ y, rtol=1e-14)
    X = np.arange(10.0).reshape(5, 2)
    np.testing.assert_allclose(L.matmat(X), S @ X, rtol=1e-14)
    np.testing.assert_allclose(np.array(L @ mx.array(X, dtype=mx.float64)), S @ X, rtol=1e-14)
    assert (L @ x[:, None]).shape == (7, 1)


def test_operator_algebra_matches_scipy():
    S = ss.random_array((6, 6), density=0.5, rng=1, dtype=np.complex128)
    S = S + 1j * ss.random_array((6, 6), density=0.5, rng=2)
    ours, theirs = aslinearoperator(sp.csr_array(S)), sl.aslinearoperator(S)
    x = np.arange(6.0) + 1j
    for f in (lambda L: L * 2 + L ** 2, lambda L: L.H @ L - L, lambda L: (-L).T, lambda L: L / 3,
              lambda L: L.dot(L).adjoint()):
        np.testing.assert_allclose(f(ours) @ x, f(theirs) @ x, rtol=1e-13)
        np.testing.assert_allclose(f(ours).rmatvec(x), f(theirs).rmatvec(x), rtol=1e-13)
    assert repr(ours) == "<6x6 MatrixLinearOperator with dtype=complex128>"
    np.testing.assert_allclose(x @ ours, x @ S.toarray(), rtol=1e-13)


def test_custom_operator_and_errors():
    M = np.arange(9.0).reshape(3, 3)
    L = LinearOperator((3, 3), matvec=lambda v: M @ np.asarray(v), rmatvec=lambda v: M.T @ np.asarray(v))
    assert L.dtype == np.float64
    np.testing.assert_allclose(L @ np.ones(3), M @ np.ones(3))
    y = L @ mx.ones(3)      # a host function answering an MLX vector: MLX out
    assert isinstance(y, mx.array)
    np.testing.assert_allclose(np.array(y), M @ np.ones(3))
    with pytest.raises(ValueError, match="dimension mismatch"):
        L.matvec(np.ones(4))
    with pytest.raises(ValueError, match="dimension mismatch"):
        L.matvec(mx.ones(4))
    with pytest.raises(ValueError, match="Scalar operands are not allowed"):
        L @ 2
    with pytest.raises(TypeError, match="type not understood"):
        aslinearoperator(object())
    with pytest.raises(ValueError, match="invalid shape"):
        LinearOperator((3,), matvec=lambda v: v)
    with pytest.warns(RuntimeWarning, match="at least one of _matvec and _matmat"):
        class Bad(LinearOperator):
            pass
        Bad(np.float64, (2, 2))
    # under mx.grad a host function's numpy answer would be cut off: refused
    with pytest.raises(NotImplementedError, match="computes on the host"):
        mx.grad(lambda v: mx.sum(L.matvec(v)))(mx.ones(3))


def test_identity_and_subclass():
    class Diag(LinearOperator):
        def __init__(self, d):
            super().__init__(np.float64, (len(d), len(d)))
            self.d = d

        def _matvec(self, x):
            return self.d * x.reshape(-1)
    D = Diag(np.arange(1.0, 4.0))
    np.testing.assert_allclose(D.matmat(np.eye(3)), np.diag(np.arange(1.0, 4.0)))
    I = IdentityOperator((3, 3))
    assert I.H is I
    np.testing.assert_array_equal(np.array(I @ mx.arange(3)), np.arange(3))


def test_vdot_is_accurate_in_float32():
    rng = np.random.default_rng(0)
    x = rng.random(1_000_000).astype(np.float32)
    y = rng.random(1_000_000).astype(np.float32)
    ref = np.dot(x.astype(np.float64), y.astype(np.float64))
    with mx.stream(mx.cpu):
        v = vdot(mx.array(x), mx.array(y))
    assert isinstance(v, mx.array) and v.dtype == mx.float32 and v.ndim == 0
    assert abs(v.item() - ref) / ref < 1e-6           # mx.sum(x * y) is off by ~1e-4 here
    vn = vdot(x, y)
    assert isinstance(vn, np.ndarray) and vn.ndim == 0 and abs(float(vn) - ref) / ref < 1e-6
    from mlx_scipy_sparse.linalg._interface import _device_dot    # the GPU's form, run here
    np.testing.assert_allclose(_device_dot(mx.array(x[:1000]), mx.array(y[:1000])).item(),
                               np.dot(x[:1000].astype(np.float64), y[:1000]), rtol=1e-5)
    c = (x[:1000] + 1j * y[:1000]).astype(np.complex64)
    np.testing.assert_allclose(_device_dot(mx.array(c), mx.array(c[::-1].copy())).item(),
                               np.vdot(c.astype(np.complex128), c[::-1]), rtol=1e-5)
    np.testing.assert_allclose(vdot(mx.array(c), mx.array(c[::-1].copy())).item(),
                               np.vdot(c.astype(np.complex128), c[::-1].astype(np.complex128)), rtol=1e-6)


# ---------------------------------------------------------------- solvers, numpy in
@pytest.mark.parametrize("name", SQUARE)
def test_numpy_in_matches_scipy(name):
    A, b = system_for(name)
    x, info = getattr(iso, name)(A, b)
    xs, infos = getattr(sl, name)(A, b)
    assert isinstance(x, np.ndarray) and x.dtype == xs.dtype and info == infos == 0
    assert rel_res(A, x, b) < TOL.get(name, 1e-5)
    np.testing.assert_allclose(x, xs, rtol=1e-8, atol=1e-10)


@pytest.mark.filterwarnings("ignore:Casting complex values:numpy.exceptions.ComplexWarning")  # scipy's minres
@pytest.mark.parametrize("name", ["cg", "bicg", "bicgstab", "cgs", "gmres", "minres"])
@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.complex128])
def test_numpy_dtypes(name, dtype):
    A, b = system_for(name)
    if np.dtype(dtype).kind == "c" and name not in HERMITIAN:
        A = (A * (1 + 0.5j)).astype(dtype)
    A, b = A.astype(dtype), b.astype(dtype)
    x, info = getattr(iso, name)(A, b)
    assert info == 0 and x.dtype == getattr(sl, name)(A, b)[0].dtype
    assert rel_res(A, x, b) < (1e-4 if dtype in (np.float32, np.complex64) else TOL.get(name, 1e-5))


@pytest.mark.parametrize("name", ["cg", "bicg", "bicgstab", "cgs"])
def test_same_iterations_and_callbacks_as_scipy(name):
    A, b = system_for(name, n=60)
    ours, theirs = [], []
    x, info = getattr(iso, name)(A, b, callback=lambda xk: ours.append(np.array(xk)))
    xs, infos = getattr(sl, name)(A, b, callback=lambda xk: theirs.append(np.array(xk)))
    assert len(ours) == len(theirs) and info == infos
    np.testing.assert_allclose(ours[-1], theirs[-1], rtol=1e-9, atol=1e-12)
    # without a callback the stopping test is read every few iterations: the same answer
    x2, _ = getattr(iso, name)(A, b)
    np.testing.assert_array_equal(x, x2)


@pytest.mark.parametrize("name", ["cg", "bicg", "bicgstab", "cgs", "gmres"])
def test_maxiter_not_converged(name):
    A, b = system_for(name, n=80)
    k = 1 if name == "gmres" else 3      # gmres counts restarts of 20 steps
    x, info = getattr(iso, name)(A, b, maxiter=k, rtol=1e-12)
    xs, infos = getattr(sl, name)(A, b, maxiter=k, rtol=1e-12)
    assert info == infos > 0
    np.testing.assert_allclose(x, xs, rtol=1e-10)


def test_chunked_run_returns_the_converging_iterate():
    """The lazily checked MLX iteration (used on a GPU) stops where scipy does."""
    A, b = spd(200, 5)
    s = _common.System("cg", sp.csr_array(A), mx.array(b, dtype=mx.float64), None, None)
    from mlx_scipy_sparse.linalg._isolve import _cg
    with mx.stream(mx.cpu):
        atol = 1e-8 * np.linalg.norm(b)
        for every in (1, 8):
            step, state, maxiter, stops = _chunk_args(_cg, s, atol)
            s.on_cpu = False            # as on a GPU: codes read every `every` iterations
            try:
                x, info = _common.iterate(step, state, maxiter, callback=None, sysm=s, every=every,
                                          stops=stops)
            finally:
                s.on_cpu = True
            n_it = _common.stats["iterations"]
            xs_it = []
            xs, _ = sl.cg(A, b, atol=atol, rtol=0, callback=lambda xk: xs_it.append(1))
            assert info == 0 and n_it == len(xs_it)
            np.testing.assert_allclose(np.array(x), xs, rtol=1e-9)


def _chunk_args(mod, s, atol):
    # the MLX (GPU) step of _cg.run, run here on the CPU stream
    captured = {}

    def fake_iterate(step, state, maxiter, callback, sysm, every=8, top=None, stops=None):
        captured.update(step=step, state=state, stops=stops)
        return None, None
    orig, mod.iterate = mod.iterate, fake_iterate
    on_cpu, s.on_cpu = s.on_cpu, False
    try:
        mod.run(s, atol, 2000, None)
    finally:
        mod.iterate, s.on_cpu = orig, on_cpu
    return captured["step"], captured["state"], 2000, captured["stops"]


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dense_mx", "dense_np", "operator"])
@pytest.mark.parametrize("name", ["cg", "bicgstab", "gmres", "minres", "tfqmr"])
def test_mlx_in_mlx_out(name, fmt):
    A, b = system_for(name)
    Ain = {"csr": sp.csr_array(A), "csc": sp.csc_array(A), "coo": sp.coo_array(A),
           "dense_mx": mx.array(A.toarray(), dtype=mx.float64), "dense_np": A.toarray(),
           "operator": LinearOperator(A.shape, matvec=lambda v: A @ np.asarray(v),
                                      rmatvec=lambda v: A.T @ np.asarray(v), dtype=np.float64)}[fmt]
    x, info = getattr(iso, name)(Ain, mx.array(b, dtype=mx.float64))
    assert isinstance(x, mx.array) and x.dtype == mx.float64 and info == 0
    assert rel_res(A, np.array(x), b) < TOL.get(name, 1e-5)


@pytest.mark.parametrize("name", ["cg", "bicg", "bicgstab", "cgs", "gmres", "minres"])
@pytest.mark.parametrize("dtype", [mx.float32, mx.complex64])
def test_mlx_single_precision(name, dtype):
    A, b = system_for(name)
    if dtype == mx.complex64 and name not in HERMITIAN:
        A = A * (1 + 0.5j)
    A = A.astype(np.complex64 if dtype == mx.complex64 else np.float32)
    x, info = getattr(iso, name)(sp.csr_array(A), mx.array(b).astype(dtype))
    assert isinstance(x, mx.array) and x.dtype == dtype and info == 0
    assert rel_res(A.astype(np.complex128), np.array(x), b) < 1e-4


def test_x0_and_Mb_and_preconditioners():
    A = poisson2d(15)
    b = np.ones(A.shape[0])
    for M in (None, pre.jacobi(A), pre.ilu0(A), pre.ic0(sp.csr_array(A)), pre.ilu(A, drop_tol=1e-4)):
        for x0 in (None, "Mb", np.full(A.shape[0], 0.5)):
            x, info = iso.cg(A, b, x0=x0, M=M)
            xs, infos = sl.cg(A, b, x0=x0, M=M if M is None else sl.LinearOperator(
                A.shape, matvec=lambda v, M=M: M.matvec(v)))
            assert info == infos == 0
            np.testing.assert_allclose(x, xs, rtol=1e-8)
        xm, info = iso.gmres(sp.csr_array(A), mx.array(b, dtype=mx.float64), M=M)
        assert info == 0 and rel_res(A, np.array(xm), b) < 1e-5
    # preconditioning pays: fewer iterations
    its = {}
    for key, M in (("none", None), ("jacobi", pre.jacobi(A)), ("ilu0", pre.ilu0(A))):
        count = []
        iso.cg(A, b, M=M, callback=lambda xk: count.append(1))
        its[key] = len(count)
    assert its["ilu0"] < its["none"]


def test_ilu0_factors_reproduce_A_on_its_pattern():
    A = (poisson2d(6) + ss.random_array((36, 36), density=0.05, rng=2)).tocsr()
    L, U = pre.ilu0_factors(A)
    P = (L @ U).toarray()
    mask = A.toarray() != 0
    np.testing.assert_allclose(P[mask], A.toarray()[mask], atol=1e-12)
    assert L.nnz + U.nnz - A.shape[0] <= A.nnz


def test_jacobi_mlx_application():
    A = poisson2d(5) + ss.diags_array(np.arange(25.0))
    M = pre.jacobi(sp.csr_array(A))
    v = np.arange(25.0)
    np.testing.assert_allclose(M @ v, v / A.diagonal())
    np.testing.assert_allclose(np.array(M @ mx.array(v, dtype=mx.float64)), v / A.diagonal())


def test_gmres_callbacks_like_scipy():
    A, b = nonsym(50)
    for ct in ("x", "pr_norm", "legacy"):
        ours, theirs = [], []
        iso.gmres(A, b, restart=5, callback=ours.append, callback_type=ct)
        sl.gmres(A, b, restart=5, callback=theirs.append, callback_type=ct)
        assert len(ours) == len(theirs)
        if ct == "pr_norm":
            np.testing.assert_allclose(ours, theirs, rtol=1e-8)
    with pytest.warns(DeprecationWarning, match="callback_type"):
        iso.gmres(A, b, callback=lambda r: None)
    with pytest.raises(ValueError, match="Unknown callback_type"):
        iso.gmres(A, b, callback=lambda r: None, callback_type="nope")


def test_errors_like_scipy():
    A, b = spd()
    with pytest.raises(ValueError, match="expected square matrix"):
        iso.cg(np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError, match="are incompatible"):
        iso.cg(A, np.ones(3))
    with pytest.raises(ValueError, match="are incompatible"):
        iso.cg(A, mx.ones(3))
    with pytest.raises(ValueError, match="invalid `atol`"):
        iso.bicgstab(A, b, atol=-1)
    with pytest.raises(ValueError, match="different shapes"):
        iso.cg(A, b, M=np.eye(3))
    with pytest.raises(ValueError, match="x0 .* are incompatible"):
        iso.cg(A, b, x0=np.ones(3))
    x, info = iso.cg(A, np.zeros(A.shape[0]))
    assert info == 0 and not x.any()
    with pytest.raises(TypeError, match="complex128"):
        iso.cg(sp.csr_array(A.astype(np.complex128)), mx.array(b).astype(mx.complex64))


def test_precond_inverse_costs_no_extra_products():
    """scipy's test_precond_inverse: with M = A^{-1} a solve is nearly instant."""
    n = 10
    A = np.diag(np.arange(1.0, n + 1)) + 0.1
    b = np.ones(n)
    for name in ("cg", "bicg", "bicgstab", "cgs", "gmres", "minres"):
        count = [0]

        def mv(v):
            count[0] += 1
            return A @ v

        def rmv(v):
            count[0] += 1
            return A.T @ v
        L = LinearOperator((n, n), mv, rmatvec=rmv)
        P = LinearOperator((n, n), lambda v: np.linalg.solve(A, v), rmatvec=lambda v: np.linalg.solve(A.T, v))
        x, info = getattr(iso, name)(L, b, M=P, x0=0 * b, rtol=1e-8)
        assert info == 0 and count[0] <= 3, name


def test_breakdown_codes_like_scipy():
    # bicg / cgs on a skew system break down the way scipy reports it
    A = np.array([[0.0, 1.0], [-1.0, 0.0]])
    b = np.array([1.0, 0.0])
    for name in ("bicg", "cgs", "bicgstab"):
        x, info = getattr(iso, name)(A, b)
        xs, infos = getattr(sl, name)(A, b)
        assert info == infos
        np.testing.assert_allclose(x, xs)


def test_least_squares_delegates():
    A = ss.random_array((30, 10), density=0.4, rng=4).tocsr()
    b = np.arange(30.0)
    for name in ("lsqr", "lsmr"):
        ours, theirs = getattr(iso, name)(sp.csr_array(A), b), getattr(sl, name)(A, b)
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
        xm = getattr(iso, name)(sp.csr_array(A), mx.array(b, dtype=mx.float64))[0]
        assert isinstance(xm, mx.array)
        np.testing.assert_allclose(np.array(xm), theirs[0], rtol=1e-10)


def test_deterministic():
    A = poisson2d(20)
    b = np.random.default_rng(1).standard_normal(A.shape[0])
    for name in ("cg", "bicgstab", "gmres", "minres"):
        r1 = getattr(iso, name)(sp.csr_array(A), mx.array(b, dtype=mx.float64))[0]
        r2 = getattr(iso, name)(sp.csr_array(A), mx.array(b, dtype=mx.float64))[0]
        np.testing.assert_array_equal(np.array(r1), np.array(r2))


def test_psolve_attribute_used_as_preconditioner():
    A, b = spd(30)
    calls = []

    class WithPsolve:
        shape, dtype = A.shape, A.dtype

        def matvec(self, v):
            return A @ v

        def psolve(self, v):
            calls.append(1)
            return v / 3.0
    x, info = iso.cg(WithPsolve(), b)
    assert info == 0 and calls and rel_res(A, x, b) < 1e-5


@pytest.mark.parametrize("name", ["cg", "bicg", "bicgstab", "cgs"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_device_iteration_path(name, dtype, monkeypatch):
    """The lazily built iteration a GPU runs (stop codes read every 8 steps),
    forced here on the CPU: scipy's answer, scipy's iteration count."""
    orig = _common.System.__init__

    def init(self, *a, **k):
        orig(self, *a, **k)
        self.on_cpu = False
    monkeypatch.setattr(_common.System, "__init__", init)
    A, b = system_for(name, n=80, seed=2)
    A, b = A.astype(dtype), b.astype(dtype)
    x, info = getattr(iso, name)(sp.csr_array(A), mx.array(b))
    n_ours = _common.stats["iterations"]
    count = []
    xs, infos = getattr(sl, name)(A, b, callback=lambda xk: count.append(1))
    assert info == infos == 0 and isinstance(x, mx.array)
    if dtype == np.float64:
        assert n_ours == len(count)
        np.testing.assert_allclose(np.array(x), xs, rtol=1e-6, atol=1e-8)   # rounding, amplified
    else:       # float32 rounding differs (our inner products are summed in float64)
        assert abs(n_ours - len(count)) <= 2
    assert rel_res(A, np.array(x), b) < 2e-5
    # a callback sees each iterate, as scipy's
    seen = []
    getattr(iso, name)(sp.csr_array(A), mx.array(b), callback=lambda xk: seen.append(xk))
    assert len(seen) == n_ours and isinstance(seen[-1], mx.array)


def test_distributed_style_operator_reductions_are_used():
    """A subclass overriding vdot (as the distributed layer does) gets every
    inner product of the solve through it."""
    A, b = spd(30)
    calls = []

    class Counting(LinearOperator):
        def __init__(self):
            super().__init__(np.float64, A.shape)

        def _matvec(self, x):
            return sp.csr_array(A) @ x

        def vdot(self, x, y):
            calls.append(1)
            return super().vdot(x, y)
    for name in ("cg", "bicgstab", "gmres", "minres"):
        calls.clear()
        x, info = getattr(iso, name)(Counting(), mx.array(b, dtype=mx.float64))
        assert info == 0 and len(calls) > 5, name
        assert rel_res(A, np.array(x), b) < TOL.get(name, 1e-5)


def test_qmr_split_preconditioners_like_scipy():
    A, b = nonsym(50, 3)
    M1 = sl.aslinearoperator(ss.diags_array(1 / A.diagonal()))
    for m1, m2 in ((None, None), (M1, None), (M1, sl.aslinearoperator(ss.eye_array(50))),
                   (pre.jacobi(A), pre.jacobi(A))):
        ours, theirs = [], []
        x, info = iso.qmr(A, b, M1=m1, M2=m2, callback=ours.append)
        s1 = m1 if m1 is None or isinstance(m1, sl.LinearOperator) else sl.aslinearoperator(
            ss.diags_array(1 / A.diagonal()))
        s2 = m2 if m2 is None or isinstance(m2, sl.LinearOperator) else s1
        xs, infos = sl.qmr(A, b, M1=s1, M2=s2 if (s1 is None) == (s2 is None) or s2 is not None
                           else sl.aslinearoperator(ss.eye_array(50)), callback=theirs.append)
        assert info == infos == 0 and len(ours) == len(theirs)
        np.testing.assert_allclose(x, xs, rtol=1e-8, atol=1e-10)
    xm, info = iso.qmr(sp.csr_array(A), mx.array(b, dtype=mx.float64), M1=pre.jacobi(A))
    assert isinstance(xm, mx.array) and info == 0 and rel_res(A, np.array(xm), b) < 1e-5


def test_sizes_from_the_global_shape():
    """A distributed rank's System: default maxiter (scipy's n * factor) and
    gmres's restart come from the global shape, the same on every rank."""
    A, b = spd(40)

    class Rank(LinearOperator):       # holds 5 of the 40 rows (a block of A, SPD)
        def __init__(self):
            super().__init__(np.float64, (40, 40))

        @property
        def local_shape(self):
            return (5, 5)

        def matvec(self, x):            # local vectors in, local vectors out
            return sp.csr_array(A[:5, :5]) @ x
        _matvec = matvec
    s = _common.System("gmres", Rank(), b[:5], None, None)
    assert s.N == 5 and s.n_global == 40
    assert _common.default_maxiter(s, None) == 400 and _common.default_maxiter(s, None, 5) == 200
    assert _common.default_maxiter(s, 7) == 7
    seen = []
    x, info = iso.gmres(Rank(), b[:5], rtol=1e-10, callback=seen.append, callback_type="pr_norm")
    assert info == 0 and np.allclose(A[:5, :5] @ x, b[:5], atol=1e-8)
    assert len(seen) <= 5           # the local Krylov space (5) is exhausted in the first cycle


def test_bare_product_only_for_untraced_solves():
    """The device CG's unchecked product launch is bound only when no
    transformation traces A's values, b or x0; its products equal the
    checked ones, and the fused CG step gives scipy's iterates."""
    A, b = spd(120, 3)
    Am = sp.csr_array(A.astype(np.float32))
    bm = mx.array(b, dtype=mx.float32)
    s = _common.System("cg", Am, bm, None, None)
    fn = _common.bare_matvec(s)
    assert fn is not None
    v = mx.array(np.random.default_rng(0).standard_normal(120), dtype=mx.float32)
    np.testing.assert_array_equal(np.array(fn(v)), np.array(Am @ v))
    seen = []

    def loss(d):
        st = _common.System("cg", sp.csr_array((d, Am.indices, Am.indptr), shape=Am.shape),
                            bm, None, None)
        seen.append(_common.bare_matvec(st))
        return mx.sum(d)
    mx.grad(loss)(Am.data)
    assert seen == [None]
    # the fused step (as on a GPU), float64 here, against scipy's iterates
    from mlx_scipy_sparse.linalg._isolve import _cg
    s64 = _common.System("cg", sp.csr_array(A), mx.array(b, dtype=mx.float64), None, None)
    atol = 1e-8 * np.linalg.norm(b)
    its = []
    with mx.stream(mx.cpu):             # float64: the CPU stream, also on a GPU machine
        x, info = _cg.run_fused(s64, atol, 2000, lambda xk: its.append(1),
                                _common.bare_matvec(s64))
    ref_its = []
    xs, _ = sl.cg(A, b, atol=atol, rtol=0, callback=lambda xk: ref_its.append(1))
    assert info == 0 and len(its) == len(ref_its)
    np.testing.assert_allclose(np.array(x), xs, rtol=1e-9)
