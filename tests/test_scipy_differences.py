"""Differences from scipy.sparse found in review (issue 12), each checked
against what scipy itself does.  Where we cannot match scipy the test is a
strict xfail that names the entry in conformance/deviations.md."""
import warnings

import numpy as np
import mlx.core as mx
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp

FORMATS = ["csr", "csc", "coo"]
FLAVOURS = ["array", "matrix"]
KINDS = [(f, v) for f in FORMATS for v in FLAVOURS]


def _pair(fmt, flavour, dense, dtype=None):
    """The same sparse array built by scipy and by us."""
    name = f"{fmt}_{flavour}"
    dense = np.asarray(dense) if dtype is None else np.asarray(dense, dtype=dtype)
    return getattr(ss, name)(dense), getattr(sp, name)(dense)


def _outcome(f):
    """What f() does: ('raises', type, message) or ('ok', result)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ("ok", f())
    except Exception as e:      # noqa: BLE001 - the exception is the answer
        return ("raises", type(e), str(e))


def _same(ours, ref, module="mlx_scipy_sparse"):
    """ours matches scipy's ref: type name, dtype, values (sparse results
    are ours); exceptions of the same type and message (numpy words an int
    too large for C long two ways, by the dtype's type character: 'q' for
    the int64 numpy views of MLX buffers, 'l' for numpy's own)."""
    if ref[0] == "raises":
        assert ours[0] == "raises", f"scipy raises {ref[1].__name__}: {ref[2]}; we returned"
        assert ours[1] is ref[1]
        too_big = {"Python int too large to convert to C long", "int too big to convert"}
        assert ours[2] == ref[2] or {ours[2], ref[2]} <= too_big
        return
    assert ours[0] == "ok", f"scipy returns; we raise {ours[1].__name__}: {ours[2]}"
    r, s = ours[1], ref[1]
    if isinstance(s, (ss.sparray, ss.spmatrix)):
        assert type(r).__name__ == type(s).__name__
        assert type(r).__module__.startswith(module)
        assert r.dtype == s.dtype and r.shape == s.shape
        np.testing.assert_array_equal(r.toarray(), s.toarray())
    else:
        assert type(r) is type(s)
        assert np.asarray(r).dtype == np.asarray(s).dtype
        np.testing.assert_array_equal(np.asarray(r), np.asarray(s))


# -- 1. a scalar that the result dtype cannot hold: numpy's NEP 50 rules --------

_SCALAR_OPS = {
    "A*s": lambda A, s: A * s,
    "s*A": lambda A, s: s * A,
    "A.dot(s)": lambda A, s: A.dot(s),
    "A.multiply(s)": lambda A, s: A.multiply(s),
    "A/s": lambda A, s: A / s,
}


@pytest.mark.parametrize("fmt,flavour", KINDS)
@pytest.mark.parametrize("op", list(_SCALAR_OPS))
@pytest.mark.parametrize("dtype,scalar", [
    (np.int8, 1000), (np.uint8, -1), (np.int8, 2 ** 70), (np.int16, 70000),
    (np.int64, 2 ** 63), (np.uint64, 2 ** 64 - 1), (np.int8, 127), (np.uint8, 255),
])
def test_out_of_range_python_int_raises_as_scipy(fmt, flavour, op, dtype, scalar):
    S, A = _pair(fmt, flavour, [[1, 0], [0, 2]], dtype)
    f = _SCALAR_OPS[op]
    _same(_outcome(lambda: f(A, scalar)), _outcome(lambda: f(S, scalar)))


def test_int8_times_1000_is_not_wrapped():
    A = sp.csr_array(np.array([[1, 0], [0, 2]], np.int8))
    with pytest.raises(OverflowError, match="Python integer 1000 out of bounds for int8"):
        A * 1000
    with pytest.raises(OverflowError, match="Python integer -1 out of bounds for uint8"):
        sp.csr_array(np.array([[1, 0], [0, 2]], np.uint8)) * -1


_DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.int32, np.uint32, np.int64, np.uint64,
           np.float32, np.float64, np.complex64, np.complex128]
_SCALARS = [True, 0, 3, -3, 200, 2.5, -0.5, 1e300, 1j, np.int8(3), np.int64(300),
            np.uint64(7), np.float32(2.5), np.float64(0.5), np.complex64(2j), np.bool_(True)]


@pytest.mark.parametrize("dtype", _DTYPES, ids=lambda d: np.dtype(d).name)
def test_scalar_promotion_follows_scipy(dtype):
    S, A = _pair("csr", "array", [[1, 0, 3], [0, 2, 0]], dtype)
    for s in _SCALARS:
        for op in ("A*s", "s*A", "A.dot(s)", "A/s"):
            f = _SCALAR_OPS[op]
            _same(_outcome(lambda: f(A, s)), _outcome(lambda: f(S, s)))


def test_spmatrix_star_scalar_overflow():
    S, M = _pair("csr", "matrix", [[1, 0], [0, 2]], np.int8)
    for f in (lambda X: X * 1000, lambda X: 1000 * X, lambda X: X.dot(1000)):
        _same(_outcome(lambda: f(M)), _outcome(lambda: f(S)))


# -- 2. gradients through sparse @ sparse are refused for every format --------

def _grad_case(fa, fb, flavour, traced, left="ours"):
    D = np.array([[1., 0, 2], [0, 3, 0], [4, 0, 5]], np.float32)
    A0 = getattr(sp, f"{fa}_{flavour}")(D)
    B0 = getattr(sp, f"{fb}_{flavour}")(D)
    SA = getattr(ss, f"{fa}_{flavour}")(D)

    def loss(v):
        A = A0._with_values(v) if traced == "left" else A0
        B = B0._with_values(v) if traced == "right" else B0
        if left == "scipy":
            return mx.sum((SA @ B).data)
        return mx.sum((A @ B).data)

    v = (A0 if traced == "left" else B0)._values()
    return loss, v


@pytest.mark.parametrize("fa", FORMATS)
@pytest.mark.parametrize("fb", FORMATS)
@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("traced", ["left", "right"])
def test_grad_through_sparse_product_is_refused_for_every_format(fa, fb, flavour, traced):
    loss, v = _grad_case(fa, fb, flavour, traced)
    with pytest.raises(NotImplementedError, match="gradients through sparse @ sparse"):
        mx.grad(loss)(v)
    float(loss(v))          # outside mx.grad the same product works


@pytest.mark.parametrize("fa", FORMATS)
@pytest.mark.parametrize("fb", FORMATS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_grad_refused_with_scipy_on_the_left(fa, fb, flavour):
    loss, v = _grad_case(fa, fb, flavour, "right", left="scipy")
    with pytest.raises(NotImplementedError, match="gradients through sparse @ sparse"):
        mx.grad(loss)(v)


@pytest.mark.parametrize("fa", FORMATS)
@pytest.mark.parametrize("fb", FORMATS)
def test_grad_refused_for_the_matrix_star_and_dot(fa, fb):
    D = np.array([[1., 0], [2, 3]], np.float32)
    A0, B0 = getattr(sp, f"{fa}_matrix")(D), getattr(sp, f"{fb}_matrix")(D)
    for op in (lambda A, B: A * B, lambda A, B: A.dot(B), lambda A, B: B * A):
        def loss(v):
            return mx.sum(op(A0._with_values(v), B0).data)
        with pytest.raises(NotImplementedError, match="gradients through sparse @ sparse"):
            mx.grad(loss)(A0._values())


def test_grad_refused_on_the_scipy_fallback_dtypes():
    # float16 values are multiplied by scipy (in float32): the graph is cut there too
    D = np.array([[1., 0], [2, 3]], np.float32)
    A0 = sp.csr_array(D).astype(np.float16)
    B0 = sp.coo_array(D).astype(np.float16)

    def loss(v):
        return mx.sum((A0._with_values(v) @ B0).data)
    with pytest.raises(NotImplementedError, match="gradients through sparse @ sparse"):
        mx.grad(loss)(A0._values())


@pytest.mark.parametrize("fa", FORMATS)
@pytest.mark.parametrize("fb", FORMATS)
def test_compiled_sparse_product_is_refused_for_every_format(fa, fb):
    D = np.array([[1., 0], [2, 3]], np.float32)
    A0, B0 = getattr(sp, f"{fa}_array")(D), getattr(sp, f"{fb}_array")(D)

    @mx.compile
    def f(v):
        return mx.sum((A0._with_values(v) @ B0).data)
    with pytest.raises(ValueError, match="concrete arrays"):
        f(A0._values())


# -- 3. scipy's sparse on the left of one of ours -------------------------------

_BINOPS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "@": lambda a, b: a @ b,
    "*": lambda a, b: a * b, "/": lambda a, b: a / b, "dot": lambda a, b: a.dot(b),
}
_MIXED = [("csr", "array", "csc", "array"), ("csr", "matrix", "csc", "matrix"),
          ("csr", "array", "csc", "matrix"), ("csr", "matrix", "coo", "array"),
          ("coo", "array", "csr", "array"), ("csc", "matrix", "coo", "matrix"),
          ("coo", "matrix", "csr", "matrix"), ("csc", "array", "csr", "matrix")]


@pytest.mark.parametrize("fa,va,fb,vb", _MIXED)
@pytest.mark.parametrize("op", ["+", "-", "@", "*", "/"])
@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.complex128])
def test_scipy_left_ours_right_as_scipy_with_scipy(fa, va, fb, vb, op, dtype):
    a = np.array([[1, 0], [0, 2]], dtype)
    b = np.array([[0, 3], [4, 5]], dtype)
    S = getattr(ss, f"{fa}_{va}")(a)
    R = getattr(ss, f"{fb}_{vb}")(b)
    O = getattr(sp, f"{fb}_{vb}")(b)
    f = _BINOPS[op]
    _same(_outcome(lambda: f(S, O)), _outcome(lambda: f(S, R)))


def test_scipy_minus_ours_works():
    S = ss.csr_array(np.array([[1., 0], [0, 2]]))
    O = sp.csc_array(np.array([[0., 3], [4, 0]]))
    r = S - O
    assert isinstance(r, sp.csr_array)
    np.testing.assert_array_equal(r.toarray(), [[1, -3], [-4, 2]])


@pytest.mark.xfail(strict=True, reason="deviations.md: scipy-method-with-our-operand "
                   "(scipy's multiply returns NotImplemented for an operand it does not "
                   "know; a method call has no reflected fallback)")
def test_scipy_multiply_ours():
    S = ss.csr_array(np.array([[1., 0], [0, 2]]))
    O = sp.csr_array(np.array([[3., 0], [4, 5]]))
    r = S.multiply(O)
    assert r is not NotImplemented
    np.testing.assert_array_equal(r.toarray(), [[3, 0], [0, 10]])


@pytest.mark.xfail(strict=True, reason="deviations.md: comparison-format-with-scipy-left "
                   "(Python calls our reflected comparison: the left operand is unknown)")
def test_scipy_compared_with_ours_has_scipy_format():
    S = ss.csr_array(np.array([[1., 0], [0, 2]]))
    O = sp.csc_array(np.array([[3., 0], [4, 5]]))
    assert (S < O).format == "csr"


def test_scipy_compared_with_ours_has_scipy_values():
    S = ss.csr_array(np.array([[1., 0], [0, 2]]))
    R = np.array([[3., 0], [4, 5]])
    O = sp.csc_array(R)
    for op in ("__lt__", "__gt__", "__le__", "__ge__", "__eq__", "__ne__"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = getattr(S, op)(O)
            if got is NotImplemented:       # Python then asks the reflected op
                got = getattr(O, {"__lt__": "__gt__", "__gt__": "__lt__", "__le__": "__ge__",
                                  "__ge__": "__le__"}.get(op, op))(S)
            ref = getattr(S, op)(ss.csc_array(R))
        np.testing.assert_array_equal(got.toarray(), ref.toarray())


# -- 3. iteration, unary plus ---------------------------------------------------

@pytest.mark.parametrize("fmt,flavour", KINDS)
def test_iteration_yields_ours(fmt, flavour):
    S, A = _pair(fmt, flavour, [[1, 0, 3], [0, 0, 2]], np.float32)
    ref = _outcome(lambda: list(S))
    got = _outcome(lambda: list(A))
    if ref[0] == "raises":          # coo_matrix is not subscriptable, in scipy too
        _same(got, ref)
        return
    assert len(got[1]) == len(ref[1])
    for r, s in zip(got[1], ref[1]):
        _same(("ok", r), ("ok", s))


def test_iteration_of_a_1d_array_yields_scalars():
    S, A = _pair("csr", "array", [1, 0, 3], np.float32)
    assert [type(x) for x in A] == [type(x) for x in S]
    assert list(A) == list(S)


@pytest.mark.parametrize("fmt,flavour", KINDS)
def test_unary_plus_raises_as_scipy(fmt, flavour):
    S, A = _pair(fmt, flavour, [[1, 0], [0, 2]])
    _same(_outcome(lambda: +A), _outcome(lambda: +S))


# -- 3. float16: held by MLX, computed by scipy in float32 --------------------

def test_scipy_refuses_float16_values():
    # the reason float16 needs care: scipy holds no float16 sparse arrays
    with pytest.raises(ValueError, match="does not support dtype float16"):
        ss.csr_array(np.eye(2)).astype(np.float16)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_float16_end_to_end(fmt, flavour):
    D = np.array([[1, 0, 0.1], [0, 2.5, 0], [3, 0, -4]], np.float32)
    H = getattr(sp, f"{fmt}_{flavour}")(D).astype(np.float16)
    d16 = D.astype(np.float16)
    assert H.dtype == np.float16
    a = H.toarray()
    assert a.dtype == np.float16
    np.testing.assert_array_equal(a, d16)
    np.testing.assert_array_equal(np.asarray(H.todense()), d16)
    for conv in ("tocsr", "tocsc", "tocoo"):
        C = getattr(H, conv)()
        assert C.dtype == np.float16 and C.format == conv[2:]
        np.testing.assert_array_equal(C.toarray(), d16)
    np.testing.assert_array_equal(H.T.toarray(), d16.T)
    np.testing.assert_array_equal(H.copy().toarray(), d16)
    np.testing.assert_array_equal((-H).toarray(), -d16)
    assert (H * 2).dtype == np.float16
    np.testing.assert_array_equal((H * 2).toarray(), d16 * np.float16(2))
    # what scipy computes runs in float32 (exact widening of the values)
    np.testing.assert_allclose((H + H).toarray(), d16.astype(np.float32) * 2)
    np.testing.assert_allclose(np.asarray(H.sum(axis=0)).ravel(),
                               d16.astype(np.float32).sum(axis=0), rtol=1e-3)
    np.testing.assert_allclose(abs(H).toarray(), abs(d16.astype(np.float32)))
    np.testing.assert_allclose(H.multiply(H).toarray(), d16.astype(np.float32) ** 2)
    assert "float16" in repr(H) and "float16" in str(H)
    if not (fmt == "coo" and flavour == "matrix"):      # scipy: coo_matrix has no indexing
        row = H[1]
        assert row.dtype == np.float16
        np.testing.assert_array_equal(np.asarray(row.toarray()).ravel(), d16[1])


@pytest.mark.parametrize("fmt", FORMATS)
def test_float16_pickle_to_scipy_real_imag(fmt):
    import pickle
    D = np.array([[1, 0], [0.1, 0]], np.float32)
    H = getattr(sp, f"{fmt}_matrix")(D).astype(np.float16)
    P = pickle.loads(pickle.dumps(H))
    assert type(P) is type(H) and P.dtype == np.float16
    np.testing.assert_array_equal(P.toarray(), H.toarray())
    S = H.to_scipy()                # scipy holds no float16: float32, exact
    assert isinstance(S, ss.spmatrix) and S.dtype == np.float32
    np.testing.assert_array_equal(S.toarray(), H.toarray().astype(np.float32))
    assert H.real.dtype == H.imag.dtype == np.float16
    assert H.getnnz() == 2
    H.shape = (1, 4)
    assert H.dtype == np.float16 and H.shape == (1, 4)


def test_float16_construction_functions():
    H = sp.csr_array(np.array([[1., 0], [0, 2]], np.float32)).astype(np.float16)
    C = sp.coo_array(np.array([[1., 0], [3, 0]], np.float32)).astype(np.float16)
    for r in (sp.hstack([H, C]), sp.vstack([H, H], format="csr"), sp.bmat([[H, None], [None, C]]),
              sp.block_diag([H, C]), sp.tril(C)):
        assert r.dtype == np.float16
    assert sp.find(C)[2].dtype == np.float16
    assert sp.hstack([H, H.astype(np.float32)]).dtype == np.float32     # numpy's promotion
    np.testing.assert_array_equal(sp.hstack([H, C]).toarray(),
                                  np.hstack([H.toarray(), C.toarray()]))


def test_float16_setitem_keeps_float16():
    H = sp.csr_array(np.array([[1., 0], [0, 2]], np.float32)).astype(np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        H[0, 1] = 3
    assert H.dtype == np.float16
    np.testing.assert_array_equal(H.toarray(), np.array([[1, 3], [0, 2]], np.float16))


def test_float16_astype_of_a_non_canonical_array():
    r, c = np.array([0, 0, 1]), np.array([1, 1, 0])
    C = sp.coo_array((np.array([1., 2., 3.]), (r, c)), shape=(2, 2))
    H = C.astype(np.float16)
    assert H.dtype == np.float16
    np.testing.assert_array_equal(H.toarray(), np.array([[0, 3], [3, 0]], np.float16))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.bool_, np.float32, np.int16])
@pytest.mark.parametrize("xshape", [(3,), (3, 2)])
def test_product_with_float16_dense_upcasts_as_scipy(fmt, dtype, xshape):
    S, A = _pair(fmt, "array", [[1, 0, 2], [0, 3, 0]], dtype)
    x = np.arange(1, 1 + np.prod(xshape)).reshape(xshape).astype(np.float16)
    ref = S @ x
    for got in (A @ x, A.dot(x), np.asarray(A @ mx.array(x))):
        assert np.asarray(got).dtype == ref.dtype, (got, ref)
        np.testing.assert_array_equal(np.asarray(got), ref)
    xl = np.arange(1, 1 + 2 * (xshape[1] if len(xshape) == 2 else 1)).astype(np.float16)
    xl = xl.reshape(-1, 2) if len(xshape) == 2 else xl
    refl = xl @ S
    gotl = xl @ A
    assert np.asarray(gotl).dtype == refl.dtype
    np.testing.assert_array_equal(np.asarray(gotl), refl)


def test_spmatrix_star_float16_dense_upcasts_as_scipy():
    S, M = _pair("csr", "matrix", [[1, 0], [0, 3]], np.int8)
    x = np.ones(2, np.float16)
    assert (M * x).dtype == (S * x).dtype == np.float32


def test_float16_values_with_float16_dense_stay_float16():
    # an extension: scipy holds no float16 sparse array; numpy's promotion applies
    H = sp.csr_array(np.array([[1., 0], [0, 3]], np.float32)).astype(np.float16)
    assert (H @ np.ones(2, np.float16)).dtype == np.float16
    assert (H @ mx.ones(2, dtype=mx.float16)).dtype == mx.float16


# -- 3. construction -------------------------------------------------------------

def test_empty_mlx_coordinates_without_shape_raise_as_scipy():
    with pytest.raises(ValueError, match="cannot infer dimensions from zero sized index arrays"):
        ss.coo_array((np.array([]), (np.array([], np.int32), np.array([], np.int32))))
    with pytest.raises(ValueError, match="cannot infer dimensions from zero sized index arrays"):
        sp.coo_array((mx.array([], dtype=mx.float32),
                      (mx.array([], dtype=mx.int32), mx.array([], dtype=mx.int32))))


def test_empty_numpy_coordinates_without_shape_raise_as_scipy():
    with pytest.raises(ValueError, match="cannot infer dimensions from zero sized index arrays"):
        sp.coo_array((np.array([]), (np.array([], np.int32), np.array([], np.int32))))


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_coo_with_2_31_rows_builds(flavour):
    shape = (2 ** 31, 3)
    A = getattr(sp, f"coo_{flavour}")(shape)
    assert A.shape == getattr(ss, f"coo_{flavour}")(shape).shape == shape
    assert A.nnz == 0


@pytest.mark.xfail(strict=True, raises=OverflowError,
                   reason="deviations.md: compressed-major-axis-2-31 (indptr has one entry "
                   "per row plus one; MLX array dimensions are 32-bit)")
@pytest.mark.parametrize("fmt,shape", [("csr", (2 ** 31, 3)), ("csc", (3, 2 ** 31))])
def test_compressed_with_2_31_major_builds(fmt, shape):
    assert getattr(ss, f"{fmt}_array")(shape).shape == shape
    assert getattr(sp, f"{fmt}_array")(shape).shape == shape


@pytest.mark.parametrize("fmt,shape", [("csr", (3, 2 ** 31)), ("csc", (2 ** 31, 3))])
def test_compressed_with_2_31_minor_builds(fmt, shape):
    assert getattr(sp, f"{fmt}_array")(shape).shape == getattr(ss, f"{fmt}_array")(shape).shape


# -- 3. count_nonzero ----------------------------------------------------------------

@pytest.mark.parametrize("fmt,flavour", KINDS)
@pytest.mark.parametrize("dense", [
    [[1, 0, 3], [0, 0, 2]],             # no explicit zeros: scipy's np.diff(indptr) case
    [[1, 0, 3], [0, 0, 2], [0, 0, 0]],
])
def test_count_nonzero_dtype_as_scipy(fmt, flavour, dense):
    S, A = _pair(fmt, flavour, dense, np.float32)
    for axis in (None, 0, 1, -1, -2):
        _same(_outcome(lambda: A.count_nonzero(axis=axis)),
              _outcome(lambda: S.count_nonzero(axis=axis)))
    # with explicit zeros and duplicates (not canonical)
    d = np.array([1., 0., 2., 3.], np.float32)
    r, c = np.array([0, 0, 1, 1]), np.array([0, 1, 2, 2])
    S = getattr(ss, f"coo_{flavour}")((d, (r, c)), shape=(2, 3)).asformat(fmt)
    A = getattr(sp, f"coo_{flavour}")((d, (r, c)), shape=(2, 3)).asformat(fmt)
    for axis in (None, 0, 1):
        _same(_outcome(lambda: A.count_nonzero(axis=axis)),
              _outcome(lambda: S.count_nonzero(axis=axis)))


@pytest.mark.parametrize("fmt", ["dok", "lil", "dia", "bsr"])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_sparse_product_with_host_formats_as_scipy(fmt, flavour):
    # the gradient check must pass formats that hold a scipy object
    D = np.array([[1., 0, 2], [0, 3, 0], [4, 0, 5]])
    S, A = _pair(fmt, flavour, D)
    Sc, C = _pair("csr", flavour, D)
    for f in (lambda X, Y: X @ Y, lambda X, Y: Y @ X, lambda X, Y: X @ X):
        _same(_outcome(lambda: f(A, C)), _outcome(lambda: f(S, Sc)))
    _same(_outcome(lambda: Sc @ A), _outcome(lambda: Sc @ S))
