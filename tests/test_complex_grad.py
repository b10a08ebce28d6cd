"""Gradients of sparse @ dense products for complex (and, as a control, real)
values, under plain mx.grad, against three references:

* mx.grad of the dense MLX equivalent (the matrix scattered from the values,
  then mx.matmul) -- MLX's own autodiff, so MLX's convention for complex
  gradients: for a real loss L of z = x + iy, mx.grad gives dL/dx + i dL/dy;
* mx.compile(mx.grad(...)), which goes through the composed-ops backend;
* central finite differences in float64 / complex128 numpy.

Every form of the product is covered: A @ x, A @ X, A.T @ x, A.T @ X,
x @ A and X @ A, for CSR, CSC and COO arrays.
"""
import numpy as np
import mlx.core as mx
import pytest

import mlx_scipy_sparse as sp

M, N, K = 5, 4, 3
# stored entries (row, col): row 2 is empty, column 3 holds two entries; COO
# gets them unsorted, with a duplicate, so its row-sorting gather is exercised
COORDS = [(0, 0), (0, 3), (1, 2), (3, 1), (3, 3), (4, 0), (4, 2)]
COO_COORDS = [(4, 2), (0, 3), (3, 1), (1, 2), (0, 0), (4, 0), (3, 3), (0, 3)]
CSC_COORDS = sorted(COORDS, key=lambda rc: (rc[1], rc[0]))

FORMATS = ["csr", "csc", "coo"]
# name: (transposed matrix?, operand on the left?, operand 1-D?); "x@A" is
# A.__rmatmul__(x)
FORMS = {
    "A@x": (False, False, True),
    "A@X": (False, False, False),
    "A.T@x": (True, False, True),
    "A.T@X": (True, False, False),
    "x@A": (False, True, True),
    "X@A": (False, True, False),
}
DTYPES = {"complex64": (mx.complex64, np.complex128),
          "float32": (mx.float32, np.float64),
          "float64": (mx.float64, np.float64)}


def _coords(fmt):
    c = {"coo": COO_COORDS, "csc": CSC_COORDS}.get(fmt, COORDS)
    return np.array([r for r, _ in c]), np.array([k for _, k in c])


def _build(fmt, d):
    """The sparse array of format ``fmt`` holding values d (an MLX array, in
    the order of _coords(fmt)) -- built from the raw arrays, as a user would."""
    rows, cols = _coords(fmt)
    if fmt == "coo":
        return sp.coo_array((d, (mx.array(rows), mx.array(cols))), shape=(M, N))
    major, minor, n_major = (rows, cols, M) if fmt == "csr" else (cols, rows, N)
    order = np.lexsort((minor, major))
    assert (order == np.arange(len(rows))).all()     # the coordinates are in CSR/CSC order
    ptr = np.concatenate([[0], np.cumsum(np.bincount(major, minlength=n_major))])
    return getattr(sp, fmt + "_array")((d, mx.array(minor), mx.array(ptr)), shape=(M, N))


def _operand_shape(form):
    t, left, vec = FORMS[form]
    inner = (M if t else N) if not left else M
    if vec:
        return (inner,)
    return (K, inner) if left else (inner, K)


def _out_shape(form):
    t, left, vec = FORMS[form]
    outer = N if (t or left) else M
    if vec:
        return (outer,)
    return (K, outer) if left else (outer, K)


def _apply(form, A, x, matmul):
    t, left, _ = FORMS[form]
    if left:
        return matmul(x, A)
    return matmul(A.T if t else A, x)


def _sparse_matmul(a, b):
    # MLX's array.__matmul__ raises TypeError on a foreign right operand
    # instead of returning NotImplemented: x @ A must call A.__rmatmul__
    return b.__rmatmul__(a) if isinstance(a, mx.array) else a @ b


def _random(shape, npdt, rng):
    v = rng.standard_normal(shape)
    if np.issubdtype(npdt, np.complexfloating):
        v = v + 1j * rng.standard_normal(shape)
    return v


def _loss_of(Y, W, cplx):
    """A real loss that is not holomorphic-friendly: |Y|^2 weighted plus a
    linear term, so both the value and the direction of the gradient count."""
    if cplx:
        return mx.sum(mx.abs(Y) ** 2) + mx.sum(mx.real(Y * mx.conj(W)))
    return mx.sum(Y * Y) + mx.sum(Y * W)


def _np_loss(Y, W):
    return float(np.sum(np.abs(Y) ** 2) + np.sum(np.real(Y * np.conj(W))))


def _case(fmt, form, dtype, seed=0):
    mxdt, npdt = DTYPES[dtype]
    rng = np.random.default_rng(seed)
    rows, _ = _coords(fmt)
    d0 = _random(len(rows), npdt, rng)
    x0 = _random(_operand_shape(form), npdt, rng)
    w0 = _random(_out_shape(form), npdt, rng)
    return mxdt, npdt, d0, x0, w0


def _sparse_loss(fmt, form, W, cplx):
    def f(d, x):
        return _loss_of(_apply(form, _build(fmt, d), x, _sparse_matmul), W, cplx)
    return f


def _dense_loss(fmt, form, W, cplx, mxdt):
    rows, cols = (mx.array(c) for c in _coords(fmt))

    def f(d, x):
        D = mx.zeros((M, N), dtype=mxdt).at[rows, cols].add(d)
        t, left, _ = FORMS[form]
        Y = mx.matmul(x, D) if left else mx.matmul(D.T if t else D, x)
        return _loss_of(Y, W, cplx)
    return f


def _grads(f, d0, x0, mxdt, compiled=False):
    g = mx.grad(f, argnums=(0, 1))
    if compiled:
        g = mx.compile(g)
    with mx.stream(mx.cpu):     # float64 lives on the CPU alone
        gd, gx = g(mx.array(d0, dtype=mxdt), mx.array(x0, dtype=mxdt))
        mx.eval(gd, gx)
    return np.array(gd), np.array(gx)


def _fd_grads(fmt, form, d0, x0, w0):
    """Central differences of the float64/complex128 loss, in MLX's
    convention: dL/dRe + i dL/dIm for complex parameters."""
    rows, cols = _coords(fmt)
    t, left, _ = FORMS[form]

    def L(d, x):
        D = np.zeros((M, N), dtype=np.result_type(d, x))
        np.add.at(D, (rows, cols), d)
        Y = x @ D if left else (D.T if t else D) @ x
        return _np_loss(Y, w0)

    def grad(p, which):
        out = np.zeros(p.shape, dtype=p.dtype)
        units = (1, 1j) if np.iscomplexobj(p) else (1,)
        h = 1e-5
        for idx in np.ndindex(p.shape):
            for u in units:
                e = np.zeros(p.shape, dtype=p.dtype)
                e[idx] = u * h
                args_p = (d0 + e, x0) if which == 0 else (d0, x0 + e)
                args_m = (d0 - e, x0) if which == 0 else (d0, x0 - e)
                out[idx] += u * (L(*args_p) - L(*args_m)) / (2 * h)
        return out
    return grad(d0, 0), grad(x0, 1)


def _tol(dtype):
    return dict(rtol=1e-9, atol=1e-9) if dtype == "float64" else dict(rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_grad_matches_dense_mlx_autodiff(fmt, form, dtype):
    mxdt, npdt, d0, x0, w0 = _case(fmt, form, dtype)
    cplx = dtype == "complex64"
    with mx.stream(mx.cpu):
        W = mx.array(w0, dtype=mxdt)
    gd, gx = _grads(_sparse_loss(fmt, form, W, cplx), d0, x0, mxdt)
    rd, rx = _grads(_dense_loss(fmt, form, W, cplx, mxdt), d0, x0, mxdt)
    np.testing.assert_allclose(gd, rd, **_tol(dtype))
    np.testing.assert_allclose(gx, rx, **_tol(dtype))


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_grad_matches_compiled_grad(fmt, form, dtype):
    mxdt, npdt, d0, x0, w0 = _case(fmt, form, dtype, seed=1)
    cplx = dtype == "complex64"
    with mx.stream(mx.cpu):
        W = mx.array(w0, dtype=mxdt)
    f = _sparse_loss(fmt, form, W, cplx)
    gd, gx = _grads(f, d0, x0, mxdt)
    cd, cx = _grads(f, d0, x0, mxdt, compiled=True)
    np.testing.assert_allclose(gd, cd, **_tol(dtype))
    np.testing.assert_allclose(gx, cx, **_tol(dtype))


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_grad_matches_finite_differences(fmt, form, dtype):
    mxdt, npdt, d0, x0, w0 = _case(fmt, form, dtype, seed=2)
    cplx = dtype == "complex64"
    # the MLX side runs on the operands rounded to its dtype: so does the FD side
    rd = np.array(mx.array(d0, dtype=mxdt)).astype(npdt)
    rx = np.array(mx.array(x0, dtype=mxdt)).astype(npdt)
    rw = np.array(mx.array(w0, dtype=mxdt)).astype(npdt)
    with mx.stream(mx.cpu):
        W = mx.array(rw, dtype=mxdt)
    gd, gx = _grads(_sparse_loss(fmt, form, W, cplx), rd, rx, mxdt)
    fd, fx = _fd_grads(fmt, form, rd, rx, rw)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == "float64" else _tol(dtype)
    np.testing.assert_allclose(gd, fd, **tol)
    np.testing.assert_allclose(gx, fx, **tol)


def test_issue_example_values_gradient():
    """The shape of the report: CSR complex64 values, loss sum |A @ X|^2 --
    the values' gradient is 2 * sum_j (A X)[r, j] * conj(X[c, j]) at (r, c)."""
    mxdt, npdt, d0, x0, _ = _case("csr", "A@X", "complex64", seed=3)
    d0 = np.array(mx.array(d0, dtype=mxdt)).astype(npdt)
    x0 = np.array(mx.array(x0, dtype=mxdt)).astype(npdt)
    rows, cols = _coords("csr")

    def f(d, x):
        return mx.sum(mx.abs(_build("csr", d) @ x) ** 2)
    gd, gx = _grads(f, d0, x0, mxdt)
    D = np.zeros((M, N), dtype=npdt)
    D[rows, cols] = d0
    Y = D @ x0
    np.testing.assert_allclose(gd, 2 * np.sum(Y[rows] * np.conj(x0[cols]), axis=1),
                               rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(gx, 2 * np.conj(D).T @ Y, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("real_side", ["values", "operand"])
@pytest.mark.parametrize("form", ["A@X", "A.T@x", "X@A"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_mixed_real_and_complex_operands(fmt, form, real_side):
    """float32 values with a complex64 operand (or the other way round): the
    product is complex, and the real side's gradient is the real part of
    the complex one (as MLX's own astype gives)."""
    _, _, d0, x0, w0 = _case(fmt, form, "complex64", seed=4)
    d_dt, x_dt = (mx.float32, mx.complex64) if real_side == "values" else \
        (mx.complex64, mx.float32)
    d0 = d0.real if real_side == "values" else d0
    x0 = x0.real if real_side == "operand" else x0
    W = mx.array(w0, dtype=mx.complex64)
    rows, cols = (mx.array(c) for c in _coords(fmt))

    def dense(d, x):
        D = mx.zeros((M, N), dtype=mx.complex64).at[rows, cols].add(d)
        t, left, _ = FORMS[form]
        return _loss_of(mx.matmul(x, D) if left else mx.matmul(D.T if t else D, x), W, True)

    def sparse(d, x):
        return _loss_of(_apply(form, _build(fmt, d), x, _sparse_matmul), W, True)

    args = (mx.array(d0, dtype=d_dt), mx.array(x0, dtype=x_dt))
    gd, gx = mx.grad(sparse, argnums=(0, 1))(*args)
    rd, rx = mx.grad(dense, argnums=(0, 1))(*args)
    assert gd.dtype == d_dt and gx.dtype == x_dt
    np.testing.assert_allclose(np.array(gd), np.array(rd), rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(np.array(gx), np.array(rx), rtol=2e-4, atol=2e-4)
