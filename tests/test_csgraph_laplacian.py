"""csgraph.laplacian: values against scipy's (float64) for every option, on
our arrays, numpy, scipy and MLX input; gradients against finite
differences; types as documented."""
import itertools
import warnings

import numpy as np
import pytest
import mlx.core as mx
import scipy.sparse as ss
import scipy.sparse.csgraph as cg

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import csgraph

OPTIONS = list(itertools.product([False, True], [False, True], [False, True],
                                 ["array", "function", "lo"]))


def _graph(n=7, seed=0, complex_=False):
    """A directed weighted graph with self-loops, an isolated node and a
    node with only in-edges (so in- and out-degrees differ)."""
    rng = np.random.default_rng(seed)
    G = rng.uniform(0.5, 2.0, (n, n)) * (rng.random((n, n)) < 0.45)
    if complex_:
        G = G + 1j * rng.uniform(0.1, 0.5, (n, n)) * (G != 0)
    G[2, :] = 0
    G[:, 2] = 0                      # isolated
    G[3, 3] = 1.5                    # a self-loop
    G[:, 5] = 0
    G[5, 0] = 0.7                    # 5 has an out-edge only
    return G


def _dense(x):
    if isinstance(x, ss.sparray) or isinstance(x, ss.spmatrix) or sp.issparse(x):
        return x.toarray()
    return np.asarray(x)


def _apply(L, form, n, dtype=np.float64):
    """The Laplacian as a dense matrix, whatever the form."""
    if form == "array":
        return _dense(L)
    E = np.eye(n, dtype=dtype)
    return np.asarray(L(E) if form == "function" else L @ E)


INPUTS = {
    "csr_array": lambda G: sp.csr_array(G),
    "csc_array": lambda G: sp.csc_array(G),
    "coo_array": lambda G: sp.coo_array(G),
    "csr_matrix": lambda G: sp.csr_matrix(G),
    "coo_matrix": lambda G: sp.coo_matrix(G),
    "scipy_csr": lambda G: ss.csr_array(G),
    "numpy": lambda G: np.array(G),
    "mlx": lambda G: mx.array(G, dtype=mx.float64),
}


@pytest.mark.parametrize("kind", list(INPUTS))
def test_every_option_against_scipy(kind):
    G = _graph()
    n = G.shape[0]
    for normed, symmetrized, out_degree, form in OPTIONS:
        kw = dict(normed=normed, symmetrized=symmetrized, use_out_degree=out_degree,
                  form=form, return_diag=True)
        L_ref, d_ref = cg.laplacian(ss.csr_array(G), **kw)
        L, d = csgraph.laplacian(INPUTS[kind](G), **kw)
        if form == "array" and kind != "numpy" and kind != "mlx":
            assert isinstance(L, (sp.coo_array, sp.coo_matrix))
            assert isinstance(L, sp.coo_matrix) == ("matrix" in kind)
            assert L.dtype == np.float64
        if kind == "mlx":
            assert isinstance(d, mx.array) and d.dtype == mx.float64
            if form == "array":
                assert isinstance(L, mx.array)
        else:
            assert type(d) is np.ndarray and d.dtype == np.float64
        np.testing.assert_allclose(np.asarray(d), d_ref, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(_apply(L, form, n), _apply(L_ref, form, n),
                                   rtol=1e-13, atol=1e-14, err_msg=str(kw))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
def test_sparse_entries_in_scipys_order(dtype):
    """The COO result has scipy's entries in scipy's order: the input's
    off-diagonal entries in its order, then the diagonal; sorted where
    scipy's final astype sums duplicates (the diagonal widened the values:
    int32 degrees, float32 normalised), and the same bits."""
    G = (_graph() * 4).astype(dtype)
    for normed in (False, True):
        for fmt in ("csr", "coo", "csc"):
            L = csgraph.laplacian(sp.csr_array(G).asformat(fmt), normed=normed)
            R = cg.laplacian(ss.csr_array(G).asformat(fmt), normed=normed)
            np.testing.assert_array_equal(np.asarray(L.row), R.row)
            np.testing.assert_array_equal(np.asarray(L.col), R.col)
            assert np.asarray(L.data).dtype == R.data.dtype
            np.testing.assert_array_equal(np.asarray(L.data), R.data)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.int32, np.int64])
@pytest.mark.parametrize("normed", [False, True])
def test_dtypes_as_scipy(dtype, normed):
    G = _graph(complex_=np.dtype(dtype).kind == "c")
    G = (G * 3).astype(dtype)
    for form in ("array", "function"):
        for out in (None, np.float64):
            with warnings.catch_warnings(record=True) as ours:
                warnings.simplefilter("always")
                L, d = csgraph.laplacian(sp.coo_array(G), normed=normed, form=form, dtype=out,
                                         return_diag=True)
            with warnings.catch_warnings(record=True) as theirs:
                warnings.simplefilter("always")
                R, dr = cg.laplacian(ss.coo_array(G), normed=normed, form=form, dtype=out,
                                     return_diag=True)
            warned = {w.category for w in ours}
            assert warned == {w.category for w in theirs} - {RuntimeWarning}
            assert d.dtype == dr.dtype
            if form == "array":
                assert L.dtype == R.dtype
            tol = 1e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12
            np.testing.assert_allclose(d, dr, rtol=tol)
            n = G.shape[0]
            np.testing.assert_allclose(_apply(L, form, n, G.dtype), _apply(R, form, n, G.dtype),
                                       rtol=tol, atol=tol)


def test_copy_false_changes_the_input_as_scipy():
    G = _graph()
    for normed in (False, True):
        ours, theirs = sp.coo_array(G), ss.coo_array(G)
        L = csgraph.laplacian(ours, normed=normed, copy=False)
        cg.laplacian(theirs, normed=normed, copy=False)
        np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-14)
        np.testing.assert_allclose(ours.toarray(), L.toarray())
        ours, theirs = sp.csr_array(G), ss.csr_array(G)
        csgraph.laplacian(ours, normed=normed, copy=False)
        cg.laplacian(theirs, normed=normed, copy=False)
        np.testing.assert_allclose(np.asarray(ours.data), theirs.data, rtol=1e-14)
    ours = sp.csr_array(G)
    csgraph.laplacian(ours)                     # copy=True: untouched
    np.testing.assert_array_equal(ours.toarray(), G)


def test_host_formats_and_errors_as_scipy():
    G = _graph()
    for fmt in ("dia", "lil", "dok", "bsr"):
        A = sp.csr_array(G).asformat(fmt)
        L = csgraph.laplacian(A, normed=True)
        R = cg.laplacian(ss.csr_array(G).asformat(fmt), normed=True)
        assert L.format == R.format
        np.testing.assert_allclose(_dense(L), _dense(R), rtol=1e-14)
    with pytest.raises(ValueError, match="square"):
        csgraph.laplacian(sp.csr_array(np.ones((2, 3))))
    with pytest.raises(ValueError, match="square"):
        csgraph.laplacian(mx.ones((2, 3)))
    with pytest.raises(ValueError, match="Invalid form: 'toto'"):
        csgraph.laplacian(sp.csr_array(G), form="toto")


def _fd_check(loss, x0, grad, eps=1e-6, tol=1e-6, where=None):
    x = np.array(x0, dtype=np.float64)
    g = np.asarray(grad)
    for k in (range(x.size) if where is None else where):
        e = np.zeros_like(x)
        e[k] = eps
        fd = (loss(x + e) - loss(x - e)) / (2 * eps)
        assert abs(fd - g[k]) <= tol * max(1.0, abs(fd)), (k, fd, g[k])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("normed,symmetrized,out_degree",
                         list(itertools.product([False, True], repeat=3)))
def test_gradient_wrt_edge_weights(fmt, normed, symmetrized, out_degree):
    G = _graph()
    S = ss.csr_array(G).asformat(fmt)
    n = G.shape[0]
    rng = np.random.default_rng(1)
    X = mx.array(rng.standard_normal((n, 2)), dtype=mx.float64)
    Y = mx.array(rng.standard_normal((n, 2)), dtype=mx.float64)
    c = mx.array(rng.standard_normal(n), dtype=mx.float64)
    kw = dict(normed=normed, symmetrized=symmetrized, use_out_degree=out_degree,
              return_diag=True)

    def build(values):
        cls = getattr(sp, fmt + "_array")
        if fmt == "coo":
            return cls((values, (mx.array(S.row), mx.array(S.col))), shape=S.shape)
        return cls((values, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)

    def loss_mx(values):
        L, d = csgraph.laplacian(build(values), **kw)
        Lf, _ = csgraph.laplacian(build(values), form="function", **kw)
        with mx.stream(mx.cpu):
            return mx.sum((L @ X) * Y) + mx.sum(d * c) + mx.sum(Lf(X) * Y) / 3

    def loss_np(values):
        cls = getattr(ss, fmt + "_array")
        L, d = cg.laplacian(cls((values, S.indices, S.indptr) if fmt != "coo" else
                                (values, (S.row, S.col)), shape=S.shape), **kw)
        Xn, Yn, cn = np.asarray(X), np.asarray(Y), np.asarray(c)
        return float(np.sum((L @ Xn) * Yn) + d @ cn + np.sum((L @ Xn) * Yn) / 3)

    with mx.stream(mx.cpu):
        v = mx.array(S.data, dtype=mx.float64)
        val, g = mx.value_and_grad(loss_mx)(v)
    assert abs(val.item() - loss_np(S.data)) < 1e-10
    _fd_check(loss_np, S.data, g)


@pytest.mark.parametrize("normed,symmetrized", [(False, False), (True, True), (True, False)])
def test_gradient_dense_mlx(normed, symmetrized):
    G = _graph()
    n = G.shape[0]
    rng = np.random.default_rng(2)
    W = rng.standard_normal((n, n))
    c = rng.standard_normal(n)

    def loss_mx(g):
        L, d = csgraph.laplacian(g, normed=normed, symmetrized=symmetrized, return_diag=True)
        return mx.sum(L * mx.array(W)) + mx.sum(d * mx.array(c))

    def loss_np(g):
        L, d = cg.laplacian(g.reshape(n, n), normed=normed, symmetrized=symmetrized,
                            return_diag=True)
        return float(np.sum(L * W) + d @ c)

    with mx.stream(mx.cpu):
        g = mx.grad(loss_mx)(mx.array(G, dtype=mx.float64))
    # edge weights only: at a structural zero the degree of an isolated node
    # would leave 0, where sqrt is not differentiable
    _fd_check(loss_np, G.ravel(), np.asarray(g).ravel(), where=np.flatnonzero(G.ravel()))


def test_traced_diagonal_is_mlx_and_compiles():
    G = _graph()
    S = ss.csr_array(G)
    ind, ptr = mx.array(S.indices), mx.array(S.indptr)

    kinds = []

    def f(values):
        L, d = csgraph.laplacian(sp.csr_array((values, ind, ptr), shape=S.shape),
                                 normed=True, return_diag=True)
        kinds.append(type(d))
        return mx.sum(L @ mx.ones((S.shape[0],), dtype=values.dtype)) + mx.sum(mx.array(d))

    with mx.stream(mx.cpu):
        v = mx.array(S.data, dtype=mx.float32)
        eager = f(v)
        compiled = mx.compile(f)(v)
    L, d = cg.laplacian(S.astype(np.float32), normed=True, return_diag=True)
    ref = float((L @ np.ones(S.shape[0], np.float32)).sum() + d.sum())
    np.testing.assert_allclose(eager.item(), ref, rtol=1e-5)
    np.testing.assert_allclose(compiled.item(), ref, rtol=1e-5)
    assert kinds == [np.ndarray, mx.array]     # numpy bare, MLX when traced


def test_same_call_same_bits():
    A = sp.csr_array(_graph(40, seed=3))
    a = csgraph.laplacian(A, normed=True, symmetrized=True)
    b = csgraph.laplacian(A, normed=True, symmetrized=True)
    assert np.asarray(a.data).tobytes() == np.asarray(b.data).tobytes()


@pytest.mark.parametrize("normed", [False, True])
def test_duplicate_coo_entries(normed):
    """A COO graph with repeated entries: degrees count every copy; where
    scipy's result is sorted, the copies are summed in its order."""
    r = np.array([0, 1, 0, 2, 1, 0, 3, 3])
    c = np.array([1, 0, 1, 1, 2, 1, 3, 0])
    v = np.array([1.5, 2.0, 0.25, 1.0, 3.0, 0.5, 2.0, 1.0], dtype=np.float32)
    for dtype in (np.float32, np.float64):
        L = csgraph.laplacian(sp.coo_array((v.astype(dtype), (r, c)), shape=(4, 4)), normed=normed)
        R = cg.laplacian(ss.coo_array((v.astype(dtype), (r, c)), shape=(4, 4)), normed=normed)
        np.testing.assert_array_equal(np.asarray(L.row), R.row)
        np.testing.assert_array_equal(np.asarray(L.col), R.col)
        np.testing.assert_allclose(np.asarray(L.data), R.data, rtol=1e-6)


def test_output_dtype_mlx_cannot_hold():
    """dtype=complex128 (MLX has none): scipy's function, our host-held COO."""
    G = _graph()
    L, d = csgraph.laplacian(sp.csr_array(G), normed=True, dtype=np.complex128,
                             return_diag=True)
    R, dr = cg.laplacian(ss.csr_array(G), normed=True, dtype=np.complex128, return_diag=True)
    assert L.dtype == np.complex128 and d.dtype == np.complex128 and sp.issparse(L)
    np.testing.assert_allclose(L.toarray(), R.toarray(), rtol=1e-14)
    np.testing.assert_allclose(d, dr, rtol=1e-14)
