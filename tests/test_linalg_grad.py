"""Gradients through the solvers (adjoint solve) against finite differences and the dense formula."""
import numpy as np
import pytest
import mlx.core as mx
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse.linalg import _isolve as iso
from mlx_scipy_sparse.linalg._interface import LinearOperator
from mlx_scipy_sparse.linalg._precond import jacobi

N = 12
SQUARE = ["cg", "minres", "bicgstab", "gmres", "bicg", "cgs", "qmr", "tfqmr", "lgmres", "gcrotmk"]
HERMITIAN = {"cg", "minres"}


def matrix(name, seed=0):
    T = ss.diags_array([-1.0, 3.0, -1.0], offsets=[-1, 0, 1], shape=(N, N)).tocsr()
    if name in HERMITIAN:
        return T
    return (T + 0.3 * ss.random_array((N, N), density=0.2, rng=seed)).tocsr()


def solve(name, A, b, **kw):
    if name == "minres":
        return iso.minres(A, b, rtol=1e-13, **kw)
    return getattr(iso, name)(A, b, rtol=1e-13, atol=0.0, **kw)


def make_loss(name, S, w, fmt="csr"):
    wm = mx.array(w, dtype=mx.float64)

    def loss(d, b):
        if fmt == "csr":
            A = sp.csr_array((d, S.indices, S.indptr), shape=S.shape)
        elif fmt == "csc":
            C = S.tocsc()
            A = sp.csc_array((d, C.indices, C.indptr), shape=S.shape)
        else:
            C = S.tocoo()
            A = sp.coo_array((d, (C.row, C.col)), shape=S.shape)
        x, info = solve(name, A, b)
        return mx.sum(wm * x)
    return loss


def dense_grads(S, b, w):
    A = S.toarray()
    x = np.linalg.solve(A, b)
    lam = np.linalg.solve(A.T, w)
    return x, lam


@pytest.mark.parametrize("name", SQUARE)
def test_grad_matches_dense_formula(name):
    S = matrix(name)
    rng = np.random.default_rng(1)
    b, w = rng.standard_normal(N), rng.standard_normal(N)
    with mx.stream(mx.cpu):        # float64 MLX work: the CPU stream (GPUs refuse it)
        gd, gb = mx.grad(make_loss(name, S, w), argnums=(0, 1))(
            mx.array(S.data, dtype=mx.float64), mx.array(b, dtype=mx.float64))
    x, lam = dense_grads(S, b, w)
    rows = np.repeat(np.arange(N), np.diff(S.indptr))
    np.testing.assert_allclose(np.array(gb), lam, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.array(gd), -lam[rows] * x[S.indices], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["cg", "gmres", "minres", "bicgstab"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_grad_matches_finite_differences(name, fmt):
    S = matrix(name, seed=3)
    rng = np.random.default_rng(2)
    b, w = rng.standard_normal(N), rng.standard_normal(N)
    loss = make_loss(name, S, w, fmt)
    data = {"csr": S.data, "csc": S.tocsc().data, "coo": S.tocoo().data}[fmt]
    d0, b0 = mx.array(data, dtype=mx.float64), mx.array(b, dtype=mx.float64)
    with mx.stream(mx.cpu):        # float64 MLX work: the CPU stream (GPUs refuse it)
        gd, gb = mx.grad(loss, argnums=(0, 1))(d0, b0)
        h = 1e-6
        for k in rng.choice(len(data), 4, replace=False):
            e = mx.array(np.eye(1, len(data), int(k))[0] * h, dtype=mx.float64)
            fd = (loss(d0 + e, b0).item() - loss(d0 - e, b0).item()) / (2 * h)
            assert abs(fd - gd[int(k)].item()) < 1e-6 * max(1, abs(fd))
        for k in rng.choice(N, 3, replace=False):
            e = mx.array(np.eye(1, N, int(k))[0] * h, dtype=mx.float64)
            fd = (loss(d0, b0 + e).item() - loss(d0, b0 - e).item()) / (2 * h)
            assert abs(fd - gb[int(k)].item()) < 1e-6 * max(1, abs(fd))


def test_dense_mlx_matrix_and_value_and_grad():
    S = matrix("gmres", seed=4)
    rng = np.random.default_rng(3)
    b, w = rng.standard_normal(N), rng.standard_normal(N)
    wm = mx.array(w, dtype=mx.float64)

    def loss(A, b):
        x, info = iso.gmres(A, b, rtol=1e-13)
        return mx.sum(wm * x)
    with mx.stream(mx.cpu):        # float64 MLX work: the CPU stream (GPUs refuse it)
        val, (gA, gb) = mx.value_and_grad(loss, argnums=(0, 1))(
            mx.array(S.toarray(), dtype=mx.float64), mx.array(b, dtype=mx.float64))
    x, lam = dense_grads(S, b, w)
    np.testing.assert_allclose(val.item(), w @ x, rtol=1e-10)
    np.testing.assert_allclose(np.array(gA), -np.outer(lam, x), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.array(gb), lam, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["bicgstab", "gmres"])
def test_complex_gradient_finite_differences(name):
    """complex64 (MLX has no complex128): MLX's convention, dL/dRe + i dL/dIm."""
    S = (matrix(name, seed=5) * (1 + 0.4j)).astype(np.complex64)
    rng = np.random.default_rng(4)
    b = (rng.standard_normal(N) + 1j * rng.standard_normal(N)).astype(np.complex64)
    w = (rng.standard_normal(N) + 1j * rng.standard_normal(N)).astype(np.complex64)
    wm = mx.array(w)

    def loss(d, bb):
        A = sp.csr_array((d, S.indices, S.indptr), shape=S.shape)
        x, _ = getattr(iso, name)(A, bb, rtol=1e-7)
        return mx.sum(mx.real(wm * x))
    d0, b0 = mx.array(S.data), mx.array(b)
    gd, gb = mx.grad(loss, argnums=(0, 1))(d0, b0)
    # the dense formula in complex128: lambda = A^{-H} conj(w), dA_ij = -lambda_i conj(x_j)
    A = S.toarray().astype(np.complex128)
    x = np.linalg.solve(A, b.astype(np.complex128))
    lam = np.linalg.solve(A.conj().T, np.conj(w).astype(np.complex128))
    rows = np.repeat(np.arange(N), np.diff(S.indptr))
    np.testing.assert_allclose(np.array(gb), lam, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.array(gd), -lam[rows] * np.conj(x[S.indices]), rtol=1e-4, atol=1e-5)
    # and finite differences on real and imaginary parts of a value
    h = 1e-2
    k = 3
    for unit in (1.0, 1j):
        e = np.zeros(len(S.data), dtype=np.complex64)
        e[k] = h * unit
        fd = (loss(d0 + mx.array(e), b0).item() - loss(d0 - mx.array(e), b0).item()) / (2 * h)
        want = gd[k].item().real if unit == 1.0 else gd[k].item().imag
        assert abs(fd - want) < 2e-3 * max(1, abs(fd))


def test_float32_gradient_and_preconditioner():
    S = matrix("cg")
    rng = np.random.default_rng(5)
    b, w = rng.standard_normal(N), rng.standard_normal(N)
    wm = mx.array(w.astype(np.float32))
    M = jacobi(S)

    def loss(d, bb):
        A = sp.csr_array((d, S.indices, S.indptr), shape=S.shape)
        x, _ = iso.cg(A, bb, rtol=1e-7, M=M)
        return mx.sum(wm * x)
    gd, gb = mx.grad(loss, argnums=(0, 1))(mx.array(S.data.astype(np.float32)), mx.array(b.astype(np.float32)))
    assert gd.dtype == mx.float32 and gb.dtype == mx.float32
    x, lam = dense_grads(S, b, w)
    np.testing.assert_allclose(np.array(gb), lam, rtol=1e-4, atol=1e-5)


def test_not_converged_still_reports_info():
    S = matrix("cg")
    b = np.ones(N)
    infos = []

    def loss(bb):
        x, info = iso.cg(sp.csr_array(S), bb, maxiter=2, rtol=1e-14)
        infos.append(info)
        return mx.sum(x)
    with mx.stream(mx.cpu):        # float64 MLX work: the CPU stream (GPUs refuse it)
        g = mx.grad(loss)(mx.array(b, dtype=mx.float64))
    assert infos == [2] and g.shape == (N,)


def test_compile_refuses_clearly():
    S = matrix("cg")

    def f(bb):
        return iso.cg(sp.csr_array(S), bb)[0]
    with pytest.raises(NotImplementedError, match="mx.compile"), mx.stream(mx.cpu):   # float64: CPU
        mx.compile(f)(mx.ones(N, dtype=mx.float64))


def test_operator_closing_over_traced_values_refuses():
    S = matrix("cg").toarray()

    def loss(scale):
        op = LinearOperator((N, N), matvec=lambda v: scale * (mx.array(S) @ v), dtype=np.float32)
        return mx.sum(iso.cg(op, mx.ones(N))[0])
    with pytest.raises(NotImplementedError, match="inside a LinearOperator"):
        mx.grad(loss)(mx.array(2.0))


def test_operator_gradient_wrt_b():
    """A LinearOperator with MLX products: the gradient w.r.t. b by the adjoint solve."""
    S = matrix("gmres")
    Sm, STm = mx.array(S.toarray(), dtype=mx.float64), mx.array(S.toarray().T, dtype=mx.float64)
    op = LinearOperator((N, N), matvec=lambda v: Sm @ v, rmatvec=lambda v: STm @ v, dtype=np.float64)
    w = np.arange(N, dtype=np.float64)
    with mx.stream(mx.cpu):        # float64 MLX work: the CPU stream (GPUs refuse it)
        g = mx.grad(lambda bb: mx.sum(mx.array(w) * iso.gmres(op, bb, rtol=1e-13)[0]))(
            mx.ones(N, dtype=mx.float64))
    np.testing.assert_allclose(np.array(g), np.linalg.solve(S.toarray().T, w), rtol=1e-8)


def test_least_squares_refuse_gradients():
    A = sp.csr_array(matrix("gmres"))
    with pytest.raises(NotImplementedError, match="not differentiable"), mx.stream(mx.cpu):   # float64: CPU
        mx.grad(lambda bb: mx.sum(iso.lsqr(A, bb)[0]))(mx.ones(N, dtype=mx.float64))


def test_poisson_inverse_example_small(tmp_path):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "examples" / "poisson_inverse.py"
    spec = importlib.util.spec_from_file_location("poisson_inverse", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "inverse.png"
    with mx.stream(mx.cpu):
        res = mod.run(n=10, steps=60, out=str(out), log=lambda *a: None)
    assert res["fd_err"] < 1e-6                      # adjoint gradient = finite differences
    assert res["history"][-1] < 1e-2 * res["history"][0]
    assert res["err"] < 0.5 * res["err0"]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_operator_with_traced_data_refuses():
    """An operator whose own ``data`` is traced (a distributed array's local
    values) cannot be differentiated by the adjoint rule here: refused."""
    S = matrix("cg")

    class Held(LinearOperator):
        def __init__(self, d):
            super().__init__(np.float64, S.shape)
            self.data = d

        def _matvec(self, x):
            return sp.csr_array((self.data, S.indices, S.indptr), shape=S.shape) @ x

    def loss(d):
        return mx.sum(iso.cg(Held(d), mx.ones(N, dtype=mx.float64))[0])
    with pytest.raises(NotImplementedError, match="inside a LinearOperator"), mx.stream(mx.cpu):
        mx.grad(loss)(mx.array(S.data, dtype=mx.float64))       # float64 MLX work: the CPU stream
