"""Ops on arrays with traced values that answered numpy or refused: a
product with a numpy operand (a constant: the result is MLX and carries the
gradient, where a numpy answer would leave the graph; free values keep
scipy's numpy answer); sort_indices / sum_duplicates (values moved in MLX);
find (every stored entry, values in MLX)."""
import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp

S = ss.random_array((7, 5), density=0.5, format="csr", dtype=np.float64, rng=3)
X = np.random.default_rng(4).standard_normal((5, 3))
Y = np.random.default_rng(5).standard_normal((2, 7))

PRODUCTS = {
    "A @ x": (lambda A: A @ X[:, 0], lambda T: T @ X[:, 0]),
    "A @ X": (lambda A: A @ X, lambda T: T @ X),
    "Y @ A": (lambda A: Y @ A, lambda T: Y @ T),
    "A.dot(X)": (lambda A: A.dot(X), lambda T: T.dot(X)),
}


@pytest.mark.parametrize("name", PRODUCTS)
def test_traced_values_times_numpy(name):
    ours, ref = PRODUCTS[name]
    with mx.stream(mx.cpu):
        A0 = sp.csr_array(S)
        assert isinstance(ours(A0), np.ndarray)            # free values: scipy's type

        def f(v):
            return ours(sp.csr_array((v, A0.indices, A0.indptr), shape=A0.shape))
        got = mx.compile(f)(A0.data)
        np.testing.assert_allclose(np.array(got), ref(S), rtol=1e-12)
        w = np.random.default_rng(6).standard_normal(got.shape)
        g = np.array(mx.grad(lambda v: mx.sum(f(v) * mx.array(w, dtype=mx.float64)))(A0.data))
    # the loss is linear in the values: its gradient is exact
    for d in np.eye(S.nnz)[:6]:
        T = S.copy()
        T.data = d
        assert abs(np.sum(ref(T) * w) - g @ d) < 1e-12


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_traced_canonicalisation_moves_values(fmt):
    """Unsorted rows with duplicates, canonicalised under mx.grad: the
    gradient reaches every stored value (duplicates each get their slot's)."""
    rows = np.array([0, 0, 2, 1, 0, 2])
    cols = np.array([3, 1, 0, 2, 3, 0])
    vals = np.arange(1.0, 7.0)
    C = ss.coo_array((vals, (rows, cols)), shape=(3, 4))
    ref = C.asformat(fmt)
    w = np.random.default_rng(7).standard_normal((3, 4))
    with mx.stream(mx.cpu):
        A0 = sp.coo_array(C).asformat(fmt)

        def loss(v):
            A = A0._with_values(v)
            A.sum_duplicates()
            if fmt != "coo":
                A.sort_indices()
            return mx.sum(A.toarray() * mx.array(w, dtype=mx.float64))
        g = np.array(mx.grad(loss)(mx.array(np.asarray(A0.data), dtype=mx.float64)))
    dense_of_each = []
    for k in range(ref.nnz):
        T = ref.copy()
        T.data = np.eye(ref.nnz)[k]
        dense_of_each.append(np.sum(T.toarray() * w))
    np.testing.assert_allclose(g, dense_of_each, rtol=1e-12)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_find_of_traced_values(fmt):
    T = S.copy()
    T.data[::4] = 0.0                   # stored zeros: kept under a trace
    ref_rows, ref_cols = (a.astype(np.int64) for a in T.tocoo().coords)
    order = np.lexsort((ref_cols, ref_rows))
    w = np.random.default_rng(8).standard_normal(T.nnz)
    with mx.stream(mx.cpu):
        A0 = sp.csr_array(T).asformat(fmt)
        assert sp.find(A0)[2].size == ss.find(T)[2].size < T.nnz      # free: scipy's

        seen = []

        def f(v):
            r = sp.find(A0._with_values(v))
            seen.append(r[:2])
            return r
        got = mx.compile(lambda v: f(v)[2])(A0.data)
        g = np.array(mx.grad(lambda v: mx.sum(f(v)[2] * mx.array(w, dtype=mx.float64)))(A0.data))
    rows, cols = seen[-1]
    np.testing.assert_array_equal(rows, ref_rows[order])
    np.testing.assert_array_equal(cols, ref_cols[order])
    np.testing.assert_array_equal(np.array(got), T.tocoo().data[order])
    # d(sum w * find(A)[2]) / d(A's k-th stored value) = w at that entry's place in find
    place = {(r, c): k for k, (r, c) in enumerate(zip(rows, cols))}
    mine = A0.tocoo()
    want = [w[place[(int(r), int(c))]] for r, c in zip(np.asarray(mine.row), np.asarray(mine.col))]
    np.testing.assert_array_equal(g, want)
