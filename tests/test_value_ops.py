"""Value ops in MLX (issue 13, first part): conversions, elementwise
functions, scalar division.  Each gives scipy's answer, differentiates
against finite differences, compiles over a captured pattern, and an op
still run by scipy refuses to hand back values cut off from the graph."""
import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import _kernels

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


@pytest.mark.parametrize("op", [lambda A: A.maximum(A.to_scipy() if hasattr(A, "to_scipy") else A),
                                lambda A: sp.kron(A, A, format="bsr"),
                                lambda A: A.multiply(ss.csr_array(np.ones(A.shape)))],
                         ids=["maximum-scipy-operand", "kron-bsr", "multiply-scipy-operand"])
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


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "multiply": (lambda a, b: a.multiply(b), lambda a, b: a.multiply(b)),
    "maximum": (lambda a, b: a.maximum(b), lambda a, b: a.maximum(b)),
    "minimum": (lambda a, b: a.minimum(b), lambda a, b: a.minimum(b)),
}


def _as_mx(r):
    """scipy's numpy result outside a transformation, MLX inside."""
    return r if isinstance(r, mx.array) else mx.array(np.asarray(r), dtype=mx.float64)


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("fa,fb", [("csr", "csr"), ("csr", "csc"), ("csc", "coo"),
                                   ("coo", "coo"), ("coo", "csr")])
def test_sparse_sparse_ops_and_sums_differentiate(fa, fb, name, flavour):
    SA, SB = _scipy(fa, seed=1), _scipy(fb, seed=2)
    A = getattr(sp, f"{fa}_{flavour}")(SA)
    B = getattr(sp, f"{fb}_{flavour}")(SB)
    ours, theirs = BINARY[name]
    X = mx.array(np.random.default_rng(4).standard_normal((SHAPE[1], 2)), dtype=mx.float64)
    w = mx.arange(SHAPE[1], dtype=mx.float64, stream=mx.cpu)     # float64: the CPU stream

    def loss(va, vb):
        C = ours(_rebuild(A, va), _rebuild(B, vb))
        return (mx.sum((C @ X) ** 2) + mx.sum(_as_mx(C.sum(axis=0)).reshape(-1) * w)
                + mx.sum(_as_mx(C.sum(axis=1))) + _as_mx(C.mean()) + _as_mx(C.sum()))
    with mx.stream(mx.cpu):
        ga, gb = mx.grad(loss, argnums=(0, 1))(A.data, B.data)
        va, vb = np.array(A.data), np.array(B.data)
        eps = 1e-6

        def fd(k, on_a):
            e = np.zeros((va if on_a else vb).size)
            e[k] = eps
            hi = loss(mx.array(va + e * on_a, dtype=mx.float64),
                      mx.array(vb + e * (not on_a), dtype=mx.float64)).item()
            lo = loss(mx.array(va - e * on_a, dtype=mx.float64),
                      mx.array(vb - e * (not on_a), dtype=mx.float64)).item()
            return (hi - lo) / (2 * eps)
        np.testing.assert_allclose(np.array(ga), [fd(k, True) for k in range(va.size)],
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.array(gb), [fd(k, False) for k in range(vb.size)],
                                   rtol=1e-5, atol=1e-6)
    # outside a transformation: scipy's answer, format and flavour
    C, R = ours(A, B), theirs(A.to_scipy(), B.to_scipy())
    assert C.format == R.format and type(C).__name__ == type(R).__name__
    np.testing.assert_array_equal(C.toarray(), R.toarray())


@pytest.mark.parametrize("name", sorted(BINARY))
def test_sparse_sparse_ops_compile_over_captured_patterns(name):
    SA, SB = _scipy("csr", np.float32, seed=1), _scipy("csc", np.float32, seed=2)
    A, B = sp.csr_array(SA), sp.csc_array(SB)
    x = mx.array(np.random.default_rng(5).standard_normal(SHAPE[1]).astype(np.float32))
    ours, theirs = BINARY[name]

    @mx.compile
    def step(va, vb):
        C = ours(_rebuild(A, va), _rebuild(B, vb))
        return C @ x, C.sum(axis=1)
    y, s = step(A.data, B.data)
    R = theirs(SA, SB)
    np.testing.assert_allclose(np.array(y), R @ np.array(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(s), R.sum(axis=1), rtol=1e-5, atol=1e-6)


def test_cancelling_values_stay_stored_under_a_transformation():
    """The structural rule: a pattern cannot depend on traced values."""
    A = sp.csr_array(np.array([[1., 0], [0, 2]]))

    def nnz_of_difference(v):
        D = _rebuild(A, v) - _rebuild(A, v)
        assert D.nnz == 2               # explicit zeros, where scipy drops them
        return mx.sum(D @ mx.ones(2, dtype=v.dtype))
    with mx.stream(mx.cpu):
        g = mx.grad(nnz_of_difference)(A.data)
    np.testing.assert_array_equal(np.array(g), [0., 0.])
    assert (A - A).nnz == 0             # outside: scipy's answer


# ops that only move values: scipy's op on entry numbers, then a gather
MOVES = {
    "slice": lambda M: M[1:4], "rows": lambda M: M[[0, 2, 2, 5]], "cols": lambda M: M[:, [1, 3]],
    "mask": lambda M: M[np.array([True, False, True, False, True, True, False])],
    "scalar": lambda M: M[2, 3], "row": lambda M: M[3:4], "tril": lambda M: sp.tril(M),
    "triu": lambda M: sp.triu(M, 1), "hstack": lambda M: sp.hstack([M, M.T.T]),
    "vstack": lambda M: sp.vstack([M, M]), "bmat": lambda M: sp.bmat([[M, None], [None, M]]),
    "diagonal": lambda M: M.diagonal(), "reshape": lambda M: M.reshape((5, 7)),
    "block_diag": lambda M: sp.block_diag([M, M]),
}


def _dense_mx(r):
    """An MLX dense view of a result (sparse ones through a product)."""
    if isinstance(r, mx.array):
        return r
    if sp.issparse(r):
        return r @ mx.eye(r.shape[-1], dtype=mx.float64, stream=mx.cpu)
    return mx.array(np.asarray(r), dtype=mx.float64)


@pytest.mark.parametrize("name", sorted(MOVES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_moving_ops_differentiate_and_match_scipy(fmt, name):
    A = getattr(sp, fmt + "_array")(_scipy(fmt))
    op = MOVES[name]
    ref = op(A.to_scipy())
    ref = ref.toarray() if sp.issparse(ref) else np.asarray(ref)
    W = mx.array(np.arange(ref.size, dtype=np.float64).reshape(ref.shape) + 1, dtype=mx.float64)

    def loss(v):
        d = _dense_mx(op(_rebuild(A, v)))
        return mx.sum(d * W), d
    with mx.stream(mx.cpu):
        (_, d), g = mx.value_and_grad(loss)(A.data)
        np.testing.assert_allclose(np.array(d), ref)
        v0, eps = np.array(A.data), 1e-6
        fd = [(loss(mx.array(v0 + eps * e, dtype=mx.float64))[0].item()
               - loss(mx.array(v0 - eps * e, dtype=mx.float64))[0].item()) / (2 * eps)
              for e in np.eye(v0.size)]
    np.testing.assert_allclose(np.array(g), fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["slice", "rows", "hstack", "tril", "bmat"])
def test_moving_ops_compile_over_captured_patterns(name):
    S = _scipy("csr", np.float32)
    A = sp.csr_array(S)
    op = MOVES[name]
    R = op(S)
    x = mx.array(np.random.default_rng(6).standard_normal(R.shape[1]).astype(np.float32))

    @mx.compile
    def step(v):
        return op(_rebuild(A, v)) @ x
    np.testing.assert_allclose(np.array(step(A.data)), R @ np.array(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(7, 5), (1, 5), (7, 1), (5,)])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_multiply_by_dense_samples_in_mlx_and_differentiates(fmt, flavour, shape):
    """A.multiply(dense): MLX in, MLX out (scipy's COO result), gradients for
    the values and the dense operand."""
    S = _scipy(fmt)
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    R = getattr(ss, f"{fmt}_{flavour}")(S)
    Dn = np.random.default_rng(7).standard_normal(shape)
    Dm = mx.array(Dn, dtype=mx.float64)
    w = mx.arange(SHAPE[1], dtype=mx.float64, stream=mx.cpu)

    def loss(v, D):
        return mx.sum((_rebuild(A, v).multiply(D) @ w) ** 2)
    with mx.stream(mx.cpu):
        got, want = A.multiply(Dm), R.multiply(Dn)
        assert type(got).__name__ == type(want).__name__
        np.testing.assert_array_equal(got.toarray(), want.toarray())
        gv, gD = mx.grad(loss, argnums=(0, 1))(A.data, Dm)
        eps, v0 = 1e-6, np.array(A.data)
        fdv = [(loss(mx.array(v0 + eps * e, dtype=mx.float64), Dm).item()
                - loss(mx.array(v0 - eps * e, dtype=mx.float64), Dm).item()) / (2 * eps)
               for e in np.eye(v0.size)]
        fdD = [(loss(A.data, mx.array(Dn + eps * e.reshape(shape), dtype=mx.float64)).item()
                - loss(A.data, mx.array(Dn - eps * e.reshape(shape), dtype=mx.float64)).item())
               / (2 * eps) for e in np.eye(Dn.size)]
    np.testing.assert_allclose(np.array(gv), fdv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(gD).ravel(), fdD, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["toarray", "todense"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_densifying_traced_values_gives_a_differentiable_mlx_array(fmt, flavour, method):
    S = _scipy(fmt)
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    W = mx.array(np.arange(np.prod(SHAPE), dtype=np.float64).reshape(SHAPE) + 1, dtype=mx.float64)

    def loss(v):
        D = getattr(_rebuild(A, v), method)()
        assert isinstance(D, mx.array) and D.shape == SHAPE
        return mx.sum(D * D * W)
    with mx.stream(mx.cpu):
        g = mx.grad(loss)(A.data)
    dense = S.toarray()
    if fmt == "coo":
        r, c = S.row, S.col
    else:
        major = np.repeat(np.arange(S.indptr.size - 1), np.diff(S.indptr))
        r, c = (major, S.indices) if fmt == "csr" else (S.indices, major)
    np.testing.assert_allclose(np.array(g), 2 * dense[r, c] * np.array(W)[r, c], rtol=1e-12)
    # outside a transformation: scipy's numpy result
    R = getattr(ss, f"{fmt}_{flavour}")(S)
    assert type(getattr(A, method)()) is type(getattr(R, method)())
    np.testing.assert_array_equal(np.asarray(getattr(A, method)()), np.asarray(dense))


@pytest.mark.parametrize("out_format", [None, "csr", "coo"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_kron_of_traced_values_differentiates_in_both_operands(fmt, out_format):
    SA = _scipy(fmt)
    SB = ss.random_array((2, 3), density=0.4, format="csr", dtype=np.float64, rng=9)
    A, B = getattr(sp, fmt + "_array")(SA), sp.csr_array(SB)
    R = ss.kron(SA, SB, format=out_format)
    W = mx.array(np.arange(R.shape[0] * R.shape[1], dtype=np.float64).reshape(R.shape) + 1,
                 dtype=mx.float64)

    def loss(va, vb):
        K = sp.kron(_rebuild(A, va), _rebuild(B, vb), format=out_format)
        D = K.toarray()
        return mx.sum(_as_mx(D) * W)
    with mx.stream(mx.cpu):
        ga, gb = mx.grad(loss, argnums=(0, 1))(A.data, B.data)
        va, vb, eps = np.array(A.data), np.array(B.data), 1e-6

        def fd(v0, on_a):
            out = []
            for e in np.eye(v0.size):
                hi, lo = mx.array(v0 + eps * e, dtype=mx.float64), \
                    mx.array(v0 - eps * e, dtype=mx.float64)
                out.append(((loss(hi, B.data) - loss(lo, B.data)) if on_a else
                            (loss(A.data, hi) - loss(A.data, lo))).item() / (2 * eps))
            return out
        fd_a, fd_b = fd(va, True), fd(vb, False)     # float64: on the CPU stream (GPU rule)
    np.testing.assert_allclose(np.array(ga), fd_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(gb), fd_b, rtol=1e-5, atol=1e-6)
    K = sp.kron(A, B, format=out_format)
    assert K.format == R.format
    np.testing.assert_array_equal(K.toarray(), R.toarray())


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_canonicalisation_with_nothing_to_do_keeps_the_arrays(fmt):
    S = _scipy(fmt, np.float32)
    A = getattr(sp, fmt + "_array")(S)
    before = (A._data, A._indices, A._indptr)
    for name in ("sort_indices", "sum_duplicates", "eliminate_zeros"):
        assert getattr(A, name)() is None
        assert all(x is y for x, y in zip((A._data, A._indices, A._indptr), before))
    # with something to do, scipy's answer
    D = getattr(ss, fmt + "_array")((np.array([1., 0., 2., 3.], np.float32),
                                     np.array([1, 0, 1, 0]), np.array([0, 3, 4])), shape=(2, 2))
    B = getattr(sp, fmt + "_array")(D.copy())
    for name in ("eliminate_zeros", "sum_duplicates", "sort_indices"):
        getattr(B, name)()
        getattr(D, name)()
        np.testing.assert_array_equal(np.array(B.indices), D.indices)
        np.testing.assert_array_equal(np.array(B.data), D.data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int8, np.complex64])
@pytest.mark.parametrize("scalar", [2, 2.5, 1000, np.float32(3)])
@pytest.mark.parametrize("op", ["imul", "itruediv"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_in_place_scaling_is_seen_by_earlier_views(fmt, op, scalar, dtype):
    """`A *= s` / `A /= s` write the shared values, as scipy's `self.data *= s`:
    a transpose taken before sees it; numpy's in-place errors stay."""
    X = np.array([[1, 0, 2], [0, 3, 0]], dtype=dtype)
    A, S = getattr(sp, fmt + "_array")(X), getattr(ss, fmt + "_array")(X)
    T, ST = A.T, S.T

    def run(M):
        try:
            if op == "imul":
                M *= scalar
            else:
                M /= scalar
        except Exception as e:          # numpy's casting or overflow error, compared below
            return type(e)
        return None
    err = run(S)
    assert run(A) is err
    if err is None:
        assert A.dtype == S.dtype
        np.testing.assert_array_equal(A.toarray(), S.toarray())
        np.testing.assert_array_equal(T.toarray(), ST.toarray())


def test_in_place_scaling_differentiates_through_a_view():
    A = sp.csr_array(np.array([[1., 0, 2], [0, 3, 0]], np.float32))

    def loss(v):
        B = _rebuild(A, v)
        C = B.T
        B *= 3.0
        return mx.sum(C @ mx.ones(2))
    np.testing.assert_allclose(np.array(mx.grad(loss)(A.data)), [3., 3., 3.])


def test_kron_of_a_transpose_sharing_index_arrays():
    """X and X.T share their index arrays; the kron pattern kept for one must
    not answer for the other (it gave kron(X, Y)'s shape for kron(X.T, Y.T))."""
    S = ss.random_array((3, 4), density=0.6, rng=1, format="csr", dtype=np.float64)
    T = ss.random_array((2, 3), density=0.75, rng=2, format="csr", dtype=np.float64)
    A, B = sp.csr_array(S), sp.csr_array(T)
    got = {}

    def loss(a, b):
        X = sp.csr_array((a, A.indices, A.indptr), shape=A.shape)
        Y = sp.csr_array((b, B.indices, B.indptr), shape=B.shape)
        K1 = sp.kron(X, Y, format="csr").toarray()
        K2 = sp.kron(X.T, Y.T, format="csr").toarray()
        got["K2"] = K2
        return mx.sum(K1) + mx.sum(K2)
    with mx.stream(mx.cpu):
        mx.grad(loss)(mx.array(S.data, dtype=mx.float64), mx.array(T.data, dtype=mx.float64))
        np.testing.assert_array_equal(np.array(got["K2"]), ss.kron(S.T, T.T).toarray())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int32, np.int64,
                                   np.uint8, np.uint64])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_free_max_min_on_the_cpu_are_scipys(dtype, flavour):
    """max()/min() of free CPU values reduce a view of them as scipy
    reduces its data: the same value and numpy scalar type (np.int64, not
    longlong), implicit zeros counted, NaN propagated."""
    S = ss.random_array((60, 50), density=0.2, rng=3, format="csr")
    S.data = S.data * 100 - (0 if np.dtype(dtype).kind == "u" else 30)
    S = S.astype(dtype)
    full = ss.csr_array(np.arange(1, 7, dtype=dtype).reshape(2, 3))     # no implicit zero
    for T in (S, full):
        T = ss.csr_matrix(T) if flavour == "matrix" else T
        A = getattr(sp, f"csr_{flavour}")(T)
        for name in ("max", "min"):
            got, want = getattr(A, name)(), getattr(T, name)()
            assert type(got) is type(want) and got == want
    if np.dtype(dtype).kind == "f":
        N = ss.csr_array(np.array([[np.nan, 0], [1, 2]], dtype=dtype))
        assert np.isnan(sp.csr_array(N).max()) and np.isnan(sp.csr_array(N).min())


@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_sum_of_every_entry_is_scipys_bits(fmt):
    """A.sum() on free CPU values is scipy's own np.sum of its data; scipy
    sums duplicates first, so an array with duplicates must give those bits
    too (complex64, where the order shows)."""
    rng = np.random.default_rng(4)
    rows, cols = rng.integers(0, 9, 300), rng.integers(0, 7, 300)
    vals = (rng.standard_normal(300) + 1j * rng.standard_normal(300)).astype(np.complex64)
    S = ss.coo_array((vals, (rows, cols)), shape=(9, 7))
    if fmt == "csr":
        S = S.tocsr()
    ours = getattr(sp, f"{fmt}_array")(S).sum()
    ref = S.copy().sum()
    assert type(ours) is type(ref)
    if _kernels.keep_in_mlx():      # the device rule sums where the values live: scipy's type
        np.testing.assert_allclose(ours, ref, rtol=2e-6)
    else:
        assert ours.tobytes() == ref.tobytes()


def test_strided_values_scaled_and_mapped_in_place_stay_apart():
    """Values given as a strided MLX view: `A *= 2` and a ufunc finish their
    result in a new buffer (numpy in place on it); the caller's array and
    its view keep their numbers."""
    S = ss.random_array((30, 20), density=0.3, format="csr", dtype=np.float32, rng=2)
    S.sum_duplicates()
    big = mx.array(np.arange(2 * S.nnz, dtype=np.float32) + 1)
    view = big[::2]
    before = np.array(view)
    A = sp.csr_array((view, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
    root = A.sqrt()
    A *= 2
    assert np.array_equal(np.array(A.data), before * 2)
    assert np.array_equal(np.array(root.data), np.sqrt(before))
    assert np.array_equal(np.array(big[::2]), before) and np.array_equal(np.array(view), before)
