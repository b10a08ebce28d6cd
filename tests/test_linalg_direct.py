"""mlx_scipy_sparse.linalg: the namespace, the host bridge, direct solvers and
norms, against scipy (float64) and finite differences."""
import warnings

import numpy as np
import pytest
import mlx.core as mx
import scipy.sparse as ss
import scipy.sparse.linalg as sl

import mlx_scipy_sparse as sp


@pytest.fixture(autouse=True)
def float64_on_the_cpu_stream():
    """These tests differentiate float64 losses; where MLX's default device is
    a GPU (which refuses float64), a user does that on the CPU stream."""
    with mx.stream(mx.cpu):
        yield


def _system(n=12, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    S = ss.random_array((n, n), density=0.3, rng=rng, format="csr")
    S = (S + ss.eye_array(n) * n).astype(dtype).tocsr()
    return S, rng.standard_normal(n).astype(dtype)


def _central_fd(f, x, h=1e-6):
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# -- the namespace -----------------------------------------------------------------
def test_whole_public_namespace_resolves():
    for name in sl.__all__:
        obj = getattr(sp.linalg, name)
        assert obj is not None, name
    assert set(sl.__all__) <= set(dir(sp.linalg))
    assert sp.linalg.MatrixRankWarning is sl.MatrixRankWarning
    assert sp.linalg.ArpackNoConvergence is sl.ArpackNoConvergence
    with pytest.raises(AttributeError):
        sp.linalg.no_such_solver


def test_hosted_numpy_in_numpy_out_mlx_in_mlx_out():
    S, b = _system()
    A = sp.csr_array(S)
    x_np = sp.linalg.expm_multiply(A, b)
    assert isinstance(x_np, np.ndarray)
    np.testing.assert_allclose(x_np, sl.expm_multiply(S, b), rtol=1e-12)
    x_mx = sp.linalg.expm_multiply(A, mx.array(b, dtype=mx.float64))
    assert isinstance(x_mx, mx.array) and x_mx.dtype == mx.float64
    np.testing.assert_allclose(np.array(x_mx), x_np, rtol=1e-12)
    E = sp.linalg.expm(sp.csc_array(S * 0.01))
    assert isinstance(E, sp.csc_array)
    np.testing.assert_allclose(E.toarray(), sl.expm(S.tocsc() * 0.01).toarray(), rtol=1e-12)
    Ai = sp.linalg.inv(sp.csc_array(S))
    assert isinstance(Ai, sp.csc_array)
    np.testing.assert_allclose(Ai.toarray(), np.linalg.inv(S.toarray()), rtol=1e-9, atol=1e-12)
    P = sp.linalg.matrix_power(A, 3)
    np.testing.assert_allclose(P.toarray(), np.linalg.matrix_power(S.toarray(), 3), rtol=1e-12)


def test_hosted_refused_under_grad_and_compile():
    S, b = _system()
    A = sp.csr_array(S)
    with pytest.raises(NotImplementedError, match="not differentiable"):
        mx.grad(lambda v: sp.linalg.expm_multiply(A, v).sum())(mx.array(b, dtype=mx.float64))
    with pytest.raises(NotImplementedError):
        mx.compile(lambda v: sp.linalg.expm_multiply(A, v))(mx.array(b, dtype=mx.float64))


def test_hosted_takes_our_linear_operator():
    S, _ = _system()
    op = sp.linalg.aslinearoperator(sp.csr_array(S))
    est = sp.linalg.onenormest(op)
    assert np.isclose(est, sl.onenormest(S), rtol=1e-12)


# -- spsolve ---------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_spsolve_matches_scipy(fmt):
    S, b = _system()
    A = sp.csr_array(S).asformat(fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ss.SparseEfficiencyWarning)
        ref = sl.spsolve(S.asformat(fmt), b)
        x = sp.linalg.spsolve(A, b)
        xm = sp.linalg.spsolve(A, mx.array(b, dtype=mx.float64))
    assert isinstance(x, np.ndarray) and x.dtype == np.float64
    np.testing.assert_array_equal(x, ref)
    assert isinstance(xm, mx.array) and xm.dtype == mx.float64
    np.testing.assert_allclose(np.array(xm), ref, rtol=1e-12)


def test_spsolve_shapes_and_dtypes():
    S, b = _system()
    A = sp.csc_array(S)
    B = np.stack([b, 2 * b], axis=1)
    np.testing.assert_allclose(sp.linalg.spsolve(A, B), sl.spsolve(S.tocsc(), B), rtol=1e-12)
    x1 = sp.linalg.spsolve(A, b[:, None])
    assert x1.shape == sl.spsolve(S.tocsc(), b[:, None]).shape == (12,)
    x32 = sp.linalg.spsolve(sp.csc_array(S.astype(np.float32)), b.astype(np.float32))
    assert x32.dtype == np.float32
    Xs = sp.linalg.spsolve(A, sp.csc_array(ss.eye_array(12, format="csc")))
    assert isinstance(Xs, sp.csc_array)
    np.testing.assert_allclose(Xs.toarray(), np.linalg.inv(S.toarray()), rtol=1e-9, atol=1e-12)


def test_spsolve_errors_and_singular_warning():
    S, b = _system()
    with pytest.raises(ValueError, match="dimension mismatch"):
        sp.linalg.spsolve(sp.csc_array(S), b[:5])
    with pytest.raises(ValueError, match="must be square"):
        sp.linalg.spsolve(sp.csc_array(S[:5]), b[:5])
    Z = sp.csc_array(ss.csc_array((3, 3)) + ss.diags_array([1.0, 0, 1.0]).tocsc())
    with pytest.warns(sl.MatrixRankWarning):
        x = sp.linalg.spsolve(Z, np.ones(3))
    assert np.isnan(x).all()


def _loss_through_spsolve(S, b, c):
    """L(data, b) = c . spsolve(A(data), b) as an MLX function and its numpy twin."""
    A0 = sp.csr_array(S)
    ind, ptr = A0.indices, A0.indptr

    def f(d, bb):
        A = sp.csr_array((d, ind, ptr), shape=S.shape)
        return mx.sum(sp.linalg.spsolve(A, bb) * mx.array(c, dtype=mx.float64))

    def f_np(d, bb):
        A = ss.csr_array((d, S.indices, S.indptr), shape=S.shape)
        return float(c @ sl.spsolve(A.tocsc(), bb))
    return f, f_np


def test_spsolve_gradient_matches_finite_differences():
    S, b = _system(10, seed=3)
    c = np.random.default_rng(4).standard_normal(10)
    f, f_np = _loss_through_spsolve(S, b, c)
    d = mx.array(S.data, dtype=mx.float64)
    bm = mx.array(b, dtype=mx.float64)
    gd, gb = mx.grad(f, argnums=(0, 1))(d, bm)
    np.testing.assert_allclose(np.array(gd), _central_fd(lambda x: f_np(x, b), S.data),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.array(gb), _central_fd(lambda x: f_np(S.data, x), b),
                               rtol=1e-6, atol=1e-9)
    # and the dense formula: db = A^-T c, dA = -db x^T at the stored entries
    Ad = S.toarray()
    lam = np.linalg.solve(Ad.T, c)
    x = np.linalg.solve(Ad, b)
    rows = np.repeat(np.arange(10), np.diff(S.indptr))
    np.testing.assert_allclose(np.array(gb), lam, rtol=1e-10)
    np.testing.assert_allclose(np.array(gd), -lam[rows] * x[S.indices], rtol=1e-10)


def test_spsolve_gradient_multiple_rhs_and_value():
    S, _ = _system(8, seed=5)
    B = np.random.default_rng(6).standard_normal((8, 3))
    A0 = sp.csr_array(S)

    def f(d):
        A = sp.csr_array((d, A0.indices, A0.indptr), shape=S.shape)
        return mx.sum(sp.linalg.spsolve(A, mx.array(B, dtype=mx.float64)) ** 2)
    val, g = mx.value_and_grad(f)(mx.array(S.data, dtype=mx.float64))
    X = np.linalg.solve(S.toarray(), B)
    assert np.isclose(float(val), (X ** 2).sum(), rtol=1e-12)

    def f_np(d):
        return float((sl.spsolve(ss.csr_array((d, S.indices, S.indptr), shape=S.shape).tocsc(),
                                 B) ** 2).sum())
    np.testing.assert_allclose(np.array(g), _central_fd(f_np, S.data), rtol=1e-5, atol=1e-8)


def test_spsolve_gradient_through_format_conversion():
    """A built as COO with the traced values: gradients reach them through tocsc."""
    S, b = _system(9, seed=7)
    C = S.tocoo()

    def f(d):
        A = sp.coo_array((d, (mx.array(C.row), mx.array(C.col))), shape=S.shape)
        return mx.sum(sp.linalg.spsolve(A, mx.array(b, dtype=mx.float64)))

    def f_np(d):
        return float(sl.spsolve(ss.coo_array((d, (C.row, C.col)), shape=S.shape).tocsc(),
                                b).sum())
    g = mx.grad(f)(mx.array(C.data, dtype=mx.float64))
    np.testing.assert_allclose(np.array(g), _central_fd(f_np, C.data), rtol=1e-6, atol=1e-9)


def test_spsolve_refused_under_compile():
    S, b = _system()
    A = sp.csr_array(S)
    with pytest.raises(NotImplementedError):
        mx.compile(lambda v: sp.linalg.spsolve(A, v))(mx.array(b, dtype=mx.float64))


# -- spsolve_triangular --------------------------------------------------------------
@pytest.mark.parametrize("lower,unit", [(True, False), (False, False), (True, True)])
def test_spsolve_triangular_values_and_gradient(lower, unit):
    S, b = _system(9, seed=8)
    T = (ss.tril(S) if lower else ss.triu(S)).tocsr()
    ref = sl.spsolve_triangular(T, b, lower=lower, unit_diagonal=unit)
    x = sp.linalg.spsolve_triangular(sp.csr_array(T), b, lower=lower, unit_diagonal=unit)
    np.testing.assert_allclose(x, ref, rtol=1e-12)
    A0 = sp.csr_array(T)
    c = np.linspace(-1, 1, 9)

    def f(d, bb):
        A = sp.csr_array((d, A0.indices, A0.indptr), shape=T.shape)
        x = sp.linalg.spsolve_triangular(A, bb, lower=lower, unit_diagonal=unit)
        return mx.sum(x * mx.array(c, dtype=mx.float64))

    def f_np(d, bb):
        A = ss.csr_array((d, T.indices, T.indptr), shape=T.shape)
        return float(c @ sl.spsolve_triangular(A, bb, lower=lower, unit_diagonal=unit))
    gd, gb = mx.grad(f, argnums=(0, 1))(mx.array(T.data, dtype=mx.float64),
                                      mx.array(b, dtype=mx.float64))
    np.testing.assert_allclose(np.array(gd), _central_fd(lambda v: f_np(v, b), T.data),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.array(gb), _central_fd(lambda v: f_np(T.data, v), b),
                               rtol=1e-6, atol=1e-9)


# -- splu / spilu / factorized ---------------------------------------------------------
def test_splu_matches_scipy_superlu():
    S, b = _system(15, seed=9)
    lu = sp.linalg.splu(sp.csc_array(S))
    ref = sl.splu(S.tocsc())
    assert isinstance(lu, sp.linalg.SuperLU)
    assert lu.shape == ref.shape and lu.nnz == ref.nnz
    np.testing.assert_array_equal(lu.perm_r, ref.perm_r)
    np.testing.assert_array_equal(lu.perm_c, ref.perm_c)
    assert isinstance(lu.L, sp.csc_array) and isinstance(lu.U, sp.csc_array)
    np.testing.assert_array_equal(lu.L.toarray(), ref.L.toarray())
    for trans in "NTH":
        np.testing.assert_array_equal(lu.solve(b, trans), ref.solve(b, trans))
        xm = lu.solve(mx.array(b, dtype=mx.float64), trans)
        assert isinstance(xm, mx.array)
        np.testing.assert_allclose(np.array(xm), ref.solve(b, trans), rtol=1e-12)
    with pytest.raises(ValueError):
        lu.solve(mx.array(b, dtype=mx.float64), "X")


def test_splu_warns_on_csr_input_like_scipy():
    S, _ = _system()
    with pytest.warns(ss.SparseEfficiencyWarning, match="splu converted its input to CSC"):
        sp.linalg.splu(sp.csr_array(S))


@pytest.mark.parametrize("trans", ["N", "T", "H"])
def test_superlu_solve_gradient_in_rhs(trans):
    S, b = _system(10, seed=10)
    lu = sp.linalg.splu(sp.csc_array(S))
    ref = sl.splu(S.tocsc())
    c = np.cos(np.arange(10.0))
    g = mx.grad(lambda v: mx.sum(lu.solve(v, trans) * mx.array(c, dtype=mx.float64)))(
        mx.array(b, dtype=mx.float64))
    np.testing.assert_allclose(np.array(g), _central_fd(lambda v: c @ ref.solve(v, trans), b),
                               rtol=1e-6, atol=1e-9)


def test_splu_of_traced_values_refused():
    S, _ = _system()
    A0 = sp.csc_array(S)

    def f(d):
        lu = sp.linalg.splu(sp.csc_array((d, A0.indices, A0.indptr), shape=S.shape))
        return mx.sum(lu.solve(mx.ones(12, dtype=mx.float64)))
    with pytest.raises(NotImplementedError, match="spsolve"):
        mx.grad(f)(mx.array(S.tocsc().data, dtype=mx.float64))


def test_spilu_and_factorized():
    S, b = _system(20, seed=11)
    ilu = sp.linalg.spilu(sp.csc_array(S), drop_tol=1e-3)
    ref = sl.spilu(S.tocsc(), drop_tol=1e-3)
    assert isinstance(ilu, sp.linalg.SuperLU)
    np.testing.assert_array_equal(ilu.solve(b), ref.solve(b))
    solve = sp.linalg.factorized(sp.csc_array(S))
    np.testing.assert_allclose(solve(b), np.linalg.solve(S.toarray(), b), rtol=1e-10)
    xm = solve(mx.array(b, dtype=mx.float64))
    assert isinstance(xm, mx.array)
    np.testing.assert_allclose(np.array(xm), np.linalg.solve(S.toarray(), b), rtol=1e-10)


def test_is_sptriangular_and_bandwidth():
    S, _ = _system()
    T = sp.csr_array(ss.tril(S).tocsr())
    assert sp.linalg.is_sptriangular(T) == sl.is_sptriangular(ss.tril(S).tocsr())
    assert sp.linalg.spbandwidth(sp.csr_array(S)) == sl.spbandwidth(S)


# -- norm --------------------------------------------------------------------------
@pytest.mark.parametrize("ord", [None, "fro", 1, -1, np.inf, -np.inf])
def test_norm_values_and_gradient(ord):
    S, _ = _system(8, seed=12)
    A = sp.csr_array(S)
    assert sp.linalg.norm(A, ord) == sl.norm(S, ord)
    g = mx.grad(lambda d: sp.linalg.norm(sp.csr_array((d, A.indices, A.indptr),
                                                      shape=S.shape), ord))(A.data)

    def f_np(d):
        return sl.norm(ss.csr_array((d, S.indices, S.indptr), shape=S.shape), ord)
    np.testing.assert_allclose(np.array(g), _central_fd(f_np, S.data), rtol=1e-6, atol=1e-8)


def test_norm_axis_goes_to_scipy():
    S, _ = _system()
    np.testing.assert_allclose(sp.linalg.norm(sp.csr_array(S), axis=0), sl.norm(S, axis=0))


def test_spsolve_gradient_in_b_with_a_constant_scipy_matrix():
    S, b = _system(7, seed=13)
    c = np.arange(7.0)
    g = mx.grad(lambda v: mx.sum(sp.linalg.spsolve(S.tocsc(), v) * mx.array(c, dtype=mx.float64)))(
        mx.array(b, dtype=mx.float64))
    np.testing.assert_allclose(np.array(g), np.linalg.solve(S.toarray().T, c), rtol=1e-10)


@pytest.mark.parametrize("ord", [None, 1, np.inf])
def test_norm_under_compile(ord):
    S, _ = _system(8, seed=14, dtype=np.float32)
    A = sp.csr_array(S)
    f = mx.compile(lambda d: sp.linalg.norm(sp.csr_array((d, A.indices, A.indptr),
                                                         shape=S.shape), ord))
    np.testing.assert_allclose(float(f(A.data)), sl.norm(S.astype(np.float64), ord), rtol=1e-6)
