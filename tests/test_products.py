"""Products through the kernel table: numpy and MLX operands, every format,
gradients against dense formulas and finite differences, mx.compile."""
import numpy as np
import mlx.core as mx
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp

FORMATS = ["csr", "csc", "coo"]


def _pair(fmt, m=7, n=5, density=0.4, dtype=np.float64, seed=0):
    S = ss.random_array((m, n), density=density, format=fmt, dtype=dtype, rng=seed)
    return S, getattr(sp, fmt + "_array")(S)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("rhs", [(5,), (5, 1), (5, 3)])
def test_numpy_product_matches_scipy_float64(fmt, rhs):
    S, A = _pair(fmt)
    X = np.random.default_rng(1).standard_normal(rhs)
    Y = A @ X
    assert isinstance(Y, np.ndarray) and Y.dtype == np.float64
    np.testing.assert_allclose(Y, S @ X, rtol=1e-13)


@pytest.mark.parametrize("fmt", FORMATS)
def test_dense_at_sparse_and_transpose_product(fmt):
    S, A = _pair(fmt)
    X = np.random.default_rng(2).standard_normal((3, 7))
    np.testing.assert_allclose(X @ A, X @ S, rtol=1e-13)
    np.testing.assert_allclose(A.T @ X.T, S.T @ X.T, rtol=1e-13)
    v = np.arange(7.0)
    np.testing.assert_allclose(v @ A, v @ S, rtol=1e-13)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
def test_mx_product_keeps_dtype_and_matches(fmt, dtype):
    S, A = _pair(fmt, dtype=dtype)
    X = np.random.default_rng(3).standard_normal((5, 4)).astype(dtype)
    Y = A @ mx.array(X, dtype=sp._arrays.mx_dtype(dtype))
    assert isinstance(Y, mx.array)
    assert Y.dtype == sp._arrays.mx_dtype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(np.array(Y), S.astype(np.complex128 if dtype == np.complex64
                                                     else np.float64) @ X, rtol=tol, atol=tol)


def test_large_threaded_product_matches_scipy():
    # big enough to take the multi-threaded row-block path
    S = ss.random_array((20000, 3000), density=0.005, format="csr", rng=4)
    A = sp.csr_array(S)
    x = np.random.default_rng(5).standard_normal(3000)
    X = np.random.default_rng(6).standard_normal((3000, 8))
    np.testing.assert_allclose(A @ x, S @ x, rtol=1e-12)
    np.testing.assert_allclose(A @ X, S @ X, rtol=1e-12)
    y = np.random.default_rng(7).standard_normal(20000)
    np.testing.assert_allclose(A.T @ y, S.T @ y, rtol=1e-12, atol=1e-12)


def test_empty_rows_and_zero_sized_shapes():
    S = ss.csr_array(([1.0, 2.0], [0, 2], [0, 0, 2, 2]), shape=(3, 3))
    A = sp.csr_array(S)
    np.testing.assert_array_equal(A @ np.ones(3), S @ np.ones(3))
    Z = sp.csr_array((0, 4))
    assert (Z @ np.ones(4)).shape == (0,)
    assert (sp.csr_array((3, 0)) @ np.ones((0, 2))).shape == (3, 2)
    assert np.array(sp.csr_array((3, 0)) @ mx.ones((0, 2))).tolist() == [[0, 0]] * 3


def test_matmul_shape_mismatch_raises_value_error():
    A = sp.csr_array(np.eye(3))
    with pytest.raises(ValueError, match="dimension mismatch"):
        A @ np.ones(4)
    with pytest.raises(ValueError, match="dimension mismatch"):
        A @ mx.ones((4, 2))
    with pytest.raises(ValueError, match="Scalar operands"):
        A @ 2.0


def _dense_of(values, S):
    # dense matrix with `values` at the stored positions, built in numpy
    T = S.copy()
    T.data = np.asarray(values, dtype=np.float64)
    return T.toarray()


def _per_stored_value(S, dD):
    """The dense gradient dD read at each stored entry, in the order of S.data."""
    T = S.copy()
    T.data = np.arange(S.nnz, dtype=np.float64) + 1
    order = T.tocoo()
    out = np.empty(S.nnz)
    out[(order.data - 1).astype(int)] = dD[order.coords[0], order.coords[1]]
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("transpose", [False, True])
def test_grad_wrt_values_and_dense_operand(fmt, transpose):
    S, _ = _pair(fmt, dtype=np.float32)
    rng = np.random.default_rng(8)
    vals = mx.array(rng.standard_normal(S.nnz).astype(np.float32))
    X = mx.array(rng.standard_normal((7 if transpose else 5, 3)).astype(np.float32))
    C = rng.standard_normal((5 if transpose else 7, 3))

    def build(v):
        if fmt == "coo":
            return sp.coo_array((v, tuple(mx.array(c) for c in S.coords)), shape=S.shape)
        return getattr(sp, fmt + "_array")((v, mx.array(S.indices), mx.array(S.indptr)),
                                           shape=S.shape)

    def f(v, x):
        A = build(v)
        Y = A.T @ x if transpose else A @ x
        return mx.sum(Y * mx.array(C.astype(np.float32)))

    gv, gx = mx.grad(f, argnums=(0, 1))(vals, X)
    D = _dense_of(np.array(vals), S)
    Xn = np.array(X, dtype=np.float64)
    # loss = <C, op(D) X>: d/dX = op(D)^T C; d/dD = C X^T (or X C^T)
    Dop = D.T if transpose else D
    np.testing.assert_allclose(np.array(gx), Dop.T @ C, rtol=1e-4, atol=1e-5)
    dD = (Xn @ C.T) if transpose else (C @ Xn.T)
    np.testing.assert_allclose(np.array(gv), _per_stored_value(S, dD), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_grad_through_repeated_products_of_one_operand(fmt):
    """x^T A x uses x twice, and A's values twice: the second product meets
    tracers the first one evaluated, and must still carry their gradients."""
    S, _ = _pair(fmt, m=6, n=6, density=0.5, dtype=np.float32)
    rng = np.random.default_rng(12)
    v0 = mx.array(rng.standard_normal(S.nnz).astype(np.float32))
    x0 = mx.array(rng.standard_normal(6).astype(np.float32))
    A0 = getattr(sp, fmt + "_array")(S)
    idx = (A0.coords if fmt == "coo" else (A0.indices, A0.indptr))

    def f(v, x):
        A = getattr(sp, fmt + "_array")((v, idx) if fmt == "coo" else (v, *idx), shape=S.shape)
        return mx.sum(x * (A @ x)) + mx.sum(A @ x) + mx.sum(A.T @ x)

    gv, gx = mx.grad(f, argnums=(0, 1))(v0, x0)
    D = _dense_of(np.array(v0), S)
    xn = np.array(x0, dtype=np.float64)
    one = np.ones(6)
    np.testing.assert_allclose(np.array(gx), (D + D.T) @ xn + D.T @ one + D @ one,
                               rtol=1e-4, atol=1e-5)
    dD = np.outer(xn, xn) + np.outer(one, xn) + np.outer(xn, one)
    np.testing.assert_allclose(np.array(gv), _per_stored_value(S, dD), rtol=1e-4, atol=1e-5)


def test_grad_matches_finite_differences_float64():
    S, _ = _pair("csr", m=4, n=3, density=0.6)
    v0 = np.random.default_rng(9).standard_normal(S.nnz)
    x0 = np.random.default_rng(10).standard_normal(3)

    def f(v, x):
        A = sp.csr_array((v, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        # a polynomial: MLX's float64 transcendental functions are float32-accurate.
        # The user's own float64 ops must run on the CPU stream (MLX refuses
        # float64 on GPUs); our product puts itself there either way.
        with mx.stream(mx.cpu):
            return mx.sum((A @ x) ** 3)

    with mx.stream(mx.cpu):     # mx.grad's own float64 seed, too
        gv = np.array(mx.grad(f)(mx.array(v0, dtype=mx.float64), mx.array(x0, dtype=mx.float64)))
    eps = 1e-6
    for k in range(S.nnz):
        e = np.zeros(S.nnz)
        e[k] = eps
        fd = (f(mx.array(v0 + e, dtype=mx.float64), mx.array(x0, dtype=mx.float64)).item()
              - f(mx.array(v0 - e, dtype=mx.float64), mx.array(x0, dtype=mx.float64)).item())
        assert abs(fd / (2 * eps) - gv[k]) < 1e-7


def test_products_work_inside_mx_compile():
    S, _ = _pair("csr", dtype=np.float32)
    ind, ptr = mx.array(S.indices), mx.array(S.indptr)
    vals = mx.array(S.data)
    X = mx.array(np.random.default_rng(11).standard_normal((5, 2)).astype(np.float32))

    @mx.compile
    def step(v, x):
        A = sp.csr_array((v, ind, ptr), shape=S.shape)
        return mx.grad(lambda v: mx.sum((A.__class__((v, ind, ptr), shape=S.shape) @ x) ** 2))(v)

    g = step(vals, X)
    Y = S.toarray() @ np.array(X)
    rows = S.tocoo().coords[0]
    expect = 2 * (Y[rows] * np.array(X)[S.indices]).sum(1)   # d sum((AX)^2) / dA_ij
    np.testing.assert_allclose(np.array(g), expect, rtol=1e-4)


def test_float64_mx_operand_stays_float64():
    S, A = _pair("csr")
    Y = A @ mx.array(np.ones(5), dtype=mx.float64)
    assert Y.dtype == mx.float64
    np.testing.assert_allclose(np.array(Y), S @ np.ones(5), rtol=1e-15)


def test_bfloat16_product_stays_bfloat16():
    # MLX's rule for bfloat16 @ bfloat16 (numpy has no bfloat16 to promote through)
    S, _ = _pair("csr", dtype=np.float32)
    A = sp.csr_array((mx.array(S.data).astype(mx.bfloat16), mx.array(S.indices),
                      mx.array(S.indptr)), shape=S.shape)
    X = mx.array(np.random.default_rng(3).standard_normal((S.shape[1], 3)).astype(np.float32))
    Y = A @ X.astype(mx.bfloat16)
    assert Y.dtype == mx.bfloat16
    ref = S.astype(np.float64) @ np.array(X.astype(mx.bfloat16).astype(mx.float32), dtype=np.float64)
    np.testing.assert_allclose(np.array(Y.astype(mx.float32)), ref, rtol=3e-2, atol=3e-2)
    assert (A @ X).dtype == mx.float32     # bfloat16 with float32 promotes


@pytest.mark.parametrize("m,n,vec", [(0, 0, True), (0, 3, False), (4, 0, True), (3, 5, False)])
def test_composed_path_with_no_entries(m, n, vec):
    # the traced (composed-ops) backend on 0-sized shapes / no stored entries:
    # MLX's scatter refuses empty updates there (found by fuzzing on a GPU)
    from mlx_scipy_sparse._kernels import _composed
    X = mx.ones((n,) if vec else (n, 2), dtype=mx.complex64)
    Y = _composed.spmm(mx.zeros((0,), dtype=mx.bool_), mx.zeros((0,), dtype=mx.int64),
                       mx.zeros((m + 1,), dtype=mx.int64), m, n, X, False, mx.complex64)
    assert Y.shape == ((m,) if vec else (m, 2)) and Y.dtype == mx.complex64
    assert not np.any(np.array(Y))


@pytest.mark.parametrize("dt", [np.complex64, np.int64])
def test_gpu_default_routes_scatter_refused_dtypes_off_the_composed_path(monkeypatch, dt):
    # with the table told the default device is a GPU (where MLX's scatter
    # refuses complex64 and int64), such products must not take composed ops
    from mlx_scipy_sparse import _kernels
    from mlx_scipy_sparse._kernels import _composed

    def refuse(*a, **k):
        raise AssertionError("composed (scatter) path taken")
    monkeypatch.setattr(_kernels, "on_gpu", lambda dtype=None: dtype != mx.float64)
    monkeypatch.setattr(_composed, "spmm", refuse)
    S = ss.random_array((7, 5), density=0.5, format="csr", rng=2).astype(dt)
    X = np.arange(10, dtype=dt).reshape(5, 2)
    Y = sp.csr_array(S) @ mx.array(X)
    np.testing.assert_array_equal(np.array(Y), S @ X)
