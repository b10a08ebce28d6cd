"""`mx.array <op> sparse` and `sparse <op> mx.array` with dense MLX operands:
scipy's answers (checked against scipy with the same numpy operand), MLX
results, gradients against central differences."""
import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp

S = ss.random_array((6, 5), density=0.5, format="csr", dtype=np.float64, rng=3)
S.data += 0.25
D = np.arange(30.0).reshape(6, 5) / 7 + 1

OPS = {
    "A + x": lambda A, x: A + x, "x + A": lambda A, x: x + A,
    "A - x": lambda A, x: A - x, "x - A": lambda A, x: x - A,
    "A * x": lambda A, x: A * x, "x * A": lambda A, x: x * A,
    "A / x": lambda A, x: A / x, "A.multiply(x)": lambda A, x: A.multiply(x),
}
SHAPES = [(6, 5), (5,), (1, 5), (6, 1)]


def _dense(r):
    return r.toarray() if ss.issparse(r) or sp.issparse(r) else np.asarray(r)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("shape", SHAPES)
def test_dense_mlx_operand_matches_scipy(fmt, name, shape):
    x = D[tuple(slice(0, n) for n in shape)] if len(shape) == 2 else D[0]
    ours = OPS[name](sp.csr_array(S).asformat(fmt), mx.array(x, dtype=mx.float64))
    ref = OPS[name](S.asformat(fmt), x)
    assert sp.issparse(ours) == ss.issparse(ref)
    if not sp.issparse(ours):
        assert isinstance(ours, mx.array)      # MLX in, MLX out
    np.testing.assert_allclose(_dense(ours), _dense(ref), rtol=1e-15, atol=0)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_mx_matmul_sparse(fmt, flavour):
    cls = getattr(sp, f"{fmt}_{flavour}")
    A = cls(S)
    for x in (D.T[:3], D[:, 0]):
        r = mx.array(x, dtype=mx.float64) @ A
        assert isinstance(r, mx.array)
        np.testing.assert_allclose(np.array(r), np.asarray(x @ S.toarray()), rtol=1e-13)


def test_mlx_operators_unchanged_for_mlx_operands():
    a = mx.array([[1.0, 2.0], [3.0, 4.0]])
    assert np.array_equal(np.array(a @ a), np.array([[7.0, 10.0], [15.0, 22.0]]))
    assert np.array_equal(np.array(a + 1), np.array([[2.0, 3.0], [4.0, 5.0]]))
    with pytest.raises((TypeError, ValueError)):
        a @ "text"


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        sp.csr_array(S) + mx.ones((5, 6))
    with pytest.raises(ValueError):
        mx.ones((2, 5)) @ sp.csr_array(S)


@pytest.mark.parametrize("name", OPS)
def test_gradients_against_finite_differences(name):
    A = sp.csr_array(S)
    x0 = np.array(D)

    def loss(v, x):
        B = sp.csr_array((v, A.indices, A.indptr), shape=A.shape)
        r = OPS[name](B, x)
        d = r @ mx.eye(r.shape[1], dtype=mx.float64) if sp.issparse(r) else r
        # a polynomial: MLX's float64 sin on the CPU is float32-accurate (1.6e-7 here)
        return mx.sum(d * d * d) + mx.sum(mx.ones((2, 6), dtype=mx.float64) @ B)
    with mx.stream(mx.cpu):
        v0 = mx.array(np.array(A.data), dtype=mx.float64)
        gv, gx = mx.grad(loss, argnums=(0, 1))(v0, mx.array(x0, dtype=mx.float64))
        eps = 1e-6

        def fd(i, which):
            v, x = np.array(v0), x0.copy()
            (v if which == 0 else x.reshape(-1))[i] += eps
            up = loss(mx.array(v, dtype=mx.float64), mx.array(x, dtype=mx.float64)).item()
            (v if which == 0 else x.reshape(-1))[i] -= 2 * eps
            dn = loss(mx.array(v, dtype=mx.float64), mx.array(x, dtype=mx.float64)).item()
            return (up - dn) / (2 * eps)
        np.testing.assert_allclose(np.array(gv), [fd(i, 0) for i in range(v0.size)],
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(np.array(gx).reshape(-1),
                                   [fd(i, 1) for i in range(x0.size)], rtol=1e-5, atol=1e-7)


def test_compiles():
    A = sp.csr_array(S.astype(np.float32))
    x = mx.array(D, dtype=mx.float32)

    @mx.compile
    def step(v, x):
        B = sp.csr_array((v, A.indices, A.indptr), shape=A.shape)
        return (x + B) * 2 - mx.ones((1, 6)) @ B + (B / x).toarray()
    ref = (D + S.toarray()) * 2 - np.ones((1, 6)) @ S.toarray() + S.toarray() / D
    with mx.stream(mx.cpu):
        np.testing.assert_allclose(np.array(step(A.data, x)), ref, rtol=1e-5)


def test_one_row_times_one_by_one_reads_one_value():
    """A (1, n) array times a (1, 1) operand broadcasts one value; the row
    rule must not read n values from it (an out-of-bounds gather on a GPU)."""
    S1 = ss.csr_array(np.array([[7.0, 9.0, -9.0]]))
    for x in (mx.array([[2.0]], dtype=mx.float64), mx.array([2.0], dtype=mx.float64)):
        r = sp.csr_array(S1).multiply(x)
        np.testing.assert_array_equal(r.toarray(), S1.multiply(np.array(x)).toarray())

    def loss(v):
        A = sp.csr_array((v, S1.indices, S1.indptr), shape=S1.shape)
        return mx.sum(A.multiply(np.array([[3.0]])).toarray())
    with mx.stream(mx.cpu):
        g = mx.grad(loss)(mx.array(S1.data, dtype=mx.float64))
    np.testing.assert_array_equal(np.array(g), [3.0, 3.0, 3.0])


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("shape", [(60, 50), (50,), (60, 1), (1, 50)])
def test_sparse_plus_minus_mx_dense_is_scipys_bits(fmt, shape):
    """A ± D and D ± A with an MLX D, free values on the CPU (D copied into a
    new MLX array, A's entries added there by numpy): scipy's numbers bit for
    bit, for a full D, a row and a column; D itself unchanged."""
    S = ss.random_array((60, 50), density=0.2, format=fmt, dtype=np.float32, rng=0)
    S.sum_duplicates()
    A = sp.csr_array(S).asformat(fmt)
    D = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    Dm = mx.array(D)
    for ours, ref in ((A + Dm, S + D), (A - Dm, S - D), (Dm - A, D - S), (Dm + A, D + S)):
        assert isinstance(ours, mx.array)
        assert np.array(ours).tobytes() == np.ascontiguousarray(np.asarray(ref)).tobytes()
    assert np.array(Dm).tobytes() == D.tobytes()
    if len(shape) == 2 and shape[1] > 1:        # a strided D (a transposed view)
        Dt = mx.array(np.ascontiguousarray(D.T)).T
        assert np.array(A + Dt).tobytes() == np.asarray(S + D).tobytes()
