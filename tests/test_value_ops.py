"""Value ops in MLX (issue 13, first part): conversions, elementwise
functions, scalar division.  Each gives scipy's answer, differentiates
against finite differences, compiles over a captured pattern, and an op
still run by scipy refuses to hand back values cut off from the graph."""
import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp

FORMATS = ("csr", "csc", "coo")
SHAPE = (7, 5)


def _scipy(fmt, dtype=np.float64, seed=0):
    S = ss.random_array(SHAPE, density=0.4, format=fmt, dtype=dtype, rng=seed)
    S.data = S.data + 0.25          # away from 0 (sqrt, power) and below 1.25 (arcsin: | |<1?)
    S.data = S.data * 0.7
    return S


def _rebuild(A, v):
    """A with values v (an MLX tracer under mx.grad), same pattern."""
    if A.format == "coo":
        return type(A)((v, (A.row, A.col)), shape=A.shape)
    return type(A)((v, A.indices, A.indptr), shape=A.shape)


# name -> (our op, scipy's op); every one keeps or moves values (no densify)
OPS = {
    "tocsr": (lambda A: A.tocsr(), lambda S: S.tocsr()),
    "tocsc": (lambda A: A.tocsc(), lambda S: S.tocsc()),
    "tocoo": (lambda A: A.tocoo(), lambda S: S.tocoo()),
    "T": (lambda A: A.T, lambda S: S.T),
    "abs": (abs, abs),
    "neg": (lambda A: -A, lambda S: -S),
    "mul": (lambda A: A * 1.5, lambda S: S * 1.5),
    "div": (lambda A: A / 3.0, lambda S: S / 3.0),
    "pow": (lambda A: A ** 3, lambda S: S ** 3),
    "power": (lambda A: A.power(2), lambda S: S.power(2)),
    "real": (lambda A: A.real, lambda S: S.real),
    "conj": (lambda A: A.conj(), lambda S: S.conj()),
    "astype": (lambda A: A.astype(np.float64), lambda S: S.astype(np.float64)),
    **{f: (lambda A, f=f: getattr(A, f)(), lambda S, f=f: getattr(S, f)())
       for f in ("sin", "tan", "arcsin", "arctan", "sinh", "tanh", "arcsinh", "arctanh",
                 "expm1", "log1p", "deg2rad", "rad2deg", "sqrt")},
    "tocsc.T.tocoo": (lambda A: A.tocsc().T.tocoo(), lambda S: S.tocsc().T.tocoo()),
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_value_op_matches_scipy(fmt, name):
    S = _scipy(fmt)
    A = getattr(sp, fmt + "_array")(S)
    ours, theirs = OPS[name]
    B, R = ours(A), theirs(S)
    assert B.format == R.format and B.dtype == R.dtype and B.shape == R.shape
    np.testing.assert_array_equal(B.toarray(), R.toarray())


def _fd_check(A, fn, X):
    """d/dv sum(fn(A(v)) @ X * W) against central differences (float64)."""
    W = mx.array(np.random.default_rng(1).standard_normal((fn(A).shape[0], X.shape[1])),
                 dtype=mx.float64)

    def loss(v):
        return mx.sum((fn(_rebuild(A, v)) @ X) * W)
    v0 = A.data
    with mx.stream(mx.cpu):
        g = np.array(mx.grad(loss)(v0))
        base = np.array(v0)
        eps = 1e-6
        fd = np.empty_like(base)
        for k in range(base.size):
            e = np.zeros_like(base)
            e[k] = eps
            fd[k] = (loss(mx.array(base + e, dtype=v0.dtype)).item()
                     - loss(mx.array(base - e, dtype=v0.dtype)).item()) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)
    assert np.abs(g).sum() > 0


@pytest.mark.parametrize("name", sorted(set(OPS) - {"real", "astype"}))
@pytest.mark.parametrize("fmt", FORMATS)
def test_value_op_gradient_against_finite_differences(fmt, name):
    A = getattr(sp, fmt + "_array")(_scipy(fmt))
    fn = OPS[name][0]
    X = mx.array(np.random.default_rng(2).standard_normal((fn(A).shape[1], 3)), dtype=mx.float64)
    with mx.stream(mx.cpu):
        _fd_check(A, fn, X)


@pytest.mark.parametrize("name", ["tocsc", "tocoo", "div", "sqrt", "abs", "T"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_value_op_compiles_over_a_captured_pattern(fmt, name):
    S = _scipy(fmt, np.float32)
    A = getattr(sp, fmt + "_array")(S)
    fn = OPS[name][0]
    x = mx.array(np.random.default_rng(3).standard_normal(fn(A).shape[1]).astype(np.float32))

    @mx.compile
    def step(v):
        return fn(_rebuild(A, v)) @ x
    got = np.array(step(A.data)).astype(np.float64)
    ref = OPS[name][1](S) @ np.array(x)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", [lambda A: A + A, lambda A: A[1:3], lambda A: A.multiply(A),
                                lambda A: sp.hstack([A, A]), lambda A: sp.tril(A),
                                lambda A: A.maximum(A)],
                         ids=["add", "slice", "multiply", "hstack", "tril", "maximum"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_ops_run_by_scipy_refuse_to_cut_the_gradient(fmt, op):
    A = getattr(sp, fmt + "_array")(_scipy(fmt, np.float32))

    def loss(v):
        return mx.sum(op(_rebuild(A, v)).tocsr() @ mx.ones(op(A).shape[1]))
    with pytest.raises(NotImplementedError, match="not differentiable yet"):
        mx.grad(loss)(A.data)
    # outside a transformation they still give scipy's answer
    np.testing.assert_array_equal(op(A).toarray(), op(A.to_scipy()).toarray())


def test_non_canonical_arrays_take_scipys_path_with_its_answer():
    S = ss.coo_array((np.array([1., 2., 3.]), (np.array([0, 0, 1]), np.array([1, 1, 0]))),
                     shape=(2, 2))
    A = sp.coo_array(S)
    np.testing.assert_array_equal(A.sqrt().toarray(), S.sqrt().toarray())
    np.testing.assert_array_equal(A.tocsr().toarray(), S.tocsr().toarray())
    C = A.tocsr()
    assert C.has_canonical_format and C.nnz == 2
