"""sparse @ sparse (SpGEMM) through the kernel table, against scipy: result
type, format, dtypes, structure and values; the composed (GPU) backend run
directly on the CPU; refusal under mx.compile."""
import numpy as np
import mlx.core as mx
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import _kernels
from mlx_scipy_sparse._kernels import _composed

FORMATS = ["csr", "csc", "coo"]
FLAVOURS = ["array", "matrix"]


def _sci(fmt, flavour, S):
    return getattr(ss, f"{fmt}_{flavour}")(S)


def _ours(S):
    return getattr(sp, type(S).__name__)(S)


def _rand(shape, dtype=np.float64, density=0.4, seed=0):
    S = ss.random_array(shape, density=density, dtype=np.float64, rng=seed, format="csr")
    if np.dtype(dtype).kind in "iub":
        S.data = np.ceil(S.data * 4) - 2        # small integers, some zero products
    elif np.dtype(dtype).kind == "c":
        S = S + 1j * ss.random_array(shape, density=density, rng=seed + 7, format="csr")
    return S.astype(dtype)


def _np(a):
    return np.asarray(a)


def _same_as_scipy(r, ref, exact=True):
    """Type, format, dtypes and structure as scipy's, values equal."""
    assert type(r).__name__ == type(ref).__name__
    assert r.format == ref.format and r.shape == ref.shape
    assert r.dtype == ref.dtype
    assert _np(r.indices).dtype == ref.indices.dtype
    assert _np(r.indptr).dtype == ref.indptr.dtype
    assert r.nnz == ref.nnz
    if exact and _kernels.gpu_default() and r.dtype not in (np.float64, np.int64, np.complex64,
                                                            np.uint64, np.bool_):
        # a GPU's composed backend: sorted rows, sums in another order
        a, b = r.to_scipy(), ref.copy()
        a.sort_indices()
        b.sort_indices()
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)
    elif exact:     # the CPU backend is scipy's own routine: same order, same sums
        np.testing.assert_array_equal(_np(r.indptr), ref.indptr)
        np.testing.assert_array_equal(_np(r.indices), ref.indices)
        np.testing.assert_array_equal(_np(r.data), ref.data)
    else:
        np.testing.assert_allclose(r.toarray(), ref.toarray(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f1", FORMATS)
@pytest.mark.parametrize("f2", FORMATS)
@pytest.mark.parametrize("v1", FLAVOURS)
@pytest.mark.parametrize("v2", FLAVOURS)
def test_every_pair_matches_scipy(f1, f2, v1, v2):
    x = _sci(f1, v1, _rand((6, 5), seed=1))
    y = _sci(f2, v2, _rand((5, 7), seed=2))
    ref = x @ y
    X, Y = _ours(x), _ours(y)
    for r in (X @ Y, x @ Y, X @ y, X.dot(Y)):
        _same_as_scipy(r, ref)
        assert isinstance(r.data, mx.array)
    if v1 == "matrix":          # the matrix `*` is the product too
        _same_as_scipy(X * Y, x * y)


def test_scipy_matrix_times_ours_is_the_product():
    x, y = ss.csr_matrix(_rand((4, 5), seed=3)), ss.csc_matrix(_rand((5, 3), seed=4))
    _same_as_scipy(x * _ours(y), x * y)
    # an array's `*` stays elementwise
    a = ss.csr_array(_rand((4, 5), seed=3))
    r = a * sp.csr_array(_rand((4, 5), seed=5))
    np.testing.assert_allclose(r.toarray(), (a * _rand((4, 5), seed=5)).toarray())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.int32, np.int64,
                                   np.int8, np.bool_])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_dtypes_match_scipy_and_float64_reference(dtype, fmt):
    x, y = _sci(fmt, "array", _rand((8, 6), dtype, seed=5)), _sci(fmt, "array", _rand((6, 9), dtype, seed=6))
    r = _ours(x) @ _ours(y)
    ref = x @ y
    _same_as_scipy(r, ref)
    if dtype == np.bool_:       # scipy's bool product ORs: kept as bool
        assert r.data.dtype == mx.bool_
    else:
        wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
        np.testing.assert_allclose(r.toarray(), x.toarray().astype(wide) @ y.toarray().astype(wide),
                                   rtol=1e-5 if dtype in (np.float32, np.complex64) else 1e-13)


def test_mixed_dtypes_promote_as_numpy():
    x, y = sp.csr_array(_rand((5, 4), np.int32, seed=1)), sp.csr_array(_rand((4, 3), np.float32, seed=2))
    r = x @ y
    assert r.dtype == np.float64 and r.data.dtype == mx.float64
    np.testing.assert_allclose(r.toarray(), x.toarray() @ y.toarray().astype(np.float64))


@pytest.mark.parametrize("dtype", [np.complex128, np.float16])
def test_dtypes_scipy_handles_stay_on_the_bridge(dtype):
    if dtype == np.float16:     # scipy computes float16 values in float32
        x32 = _rand((4, 5), np.float32, seed=1)
        x32.data = x32.data.astype(np.float16).astype(np.float32)
        x = sp.csr_array(x32).astype(np.float16)
        r = x @ x.T
        assert r.dtype == np.float32
        _same_as_scipy(r, x32 @ x32.T.tocsr(), exact=False)
        return
    x = _rand((4, 5), dtype, seed=1)
    _same_as_scipy(_ours(x) @ _ours(x.T.tocsr()), x @ x.T.tocsr())


@pytest.mark.parametrize("shapes", [((0, 3), (3, 4)), ((3, 0), (0, 4)), ((3, 4), (4, 0)),
                                    ((0, 0), (0, 0))])
@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_sized(shapes, fmt):
    x, y = (_sci(fmt, "array", ss.csr_array(s)) for s in shapes)
    r = _ours(x) @ _ours(y)
    ref = x @ y
    assert type(r).__name__ == type(ref).__name__ and r.shape == ref.shape and r.nnz == 0
    assert _np(r.indptr).dtype == ref.indptr.dtype


def test_empty_rows_and_all_zero_product():
    x = ss.csr_array(np.array([[0, 0, 0], [1.0, 0, 2], [0, 0, 0], [3, 0, 0]]))
    y = ss.csr_array(np.array([[0, 1.0], [0, 0], [4, 0]]))
    _same_as_scipy(_ours(x) @ _ours(y), x @ y)
    z = ss.csr_array(np.array([[0, 0], [5.0, 0], [0, 0]]))     # row 1 meets x's empty column
    r = _ours(x) @ _ours(z)
    assert r.nnz == 0 and (x @ z).nnz == 0
    np.testing.assert_array_equal(_np(r.indptr), np.zeros(5))


def test_cancellation_drops_zeros_as_scipy():
    x = ss.csr_array(np.array([[1.0, 1.0, 0], [1.0, 2.0, 1.0]]))
    y = ss.csr_array(np.array([[1.0, 2.0], [-1.0, 3.0], [0, -8.0]]))
    ref = x @ y     # (0,0) = 1 - 1 and (1,1) = 2 + 6 - 8 cancel: scipy drops them
    assert ref.nnz == 2
    _same_as_scipy(_ours(x) @ _ours(y), ref)


def test_explicit_zeros_and_duplicates_unsorted_operands():
    # row 0: column 2 twice (duplicates), unsorted; row 1: an explicit zero
    x = ss.csr_array((np.array([1.0, 2.0, 3.0, 0.0, 5.0]), np.array([2, 0, 2, 1, 0]),
                      np.array([0, 3, 5])), shape=(2, 3))
    y = ss.csr_array((np.array([1.0, -2.0, 4.0, 7.0]), np.array([1, 0, 1, 0]),
                      np.array([0, 2, 3, 4])), shape=(3, 2))
    assert not x.has_canonical_format
    ref = x @ y
    r = _ours(x) @ _ours(y)
    _same_as_scipy(r, ref)
    np.testing.assert_allclose(r.toarray(), x.toarray() @ y.toarray())
    # COO duplicates
    c = ss.coo_array((np.array([1.0, 2.0, -3.0]), (np.array([0, 0, 1]), np.array([1, 1, 0]))),
                     shape=(2, 2))
    _same_as_scipy(_ours(c) @ _ours(c), c @ c)


def test_shape_mismatch_raises_scipys_error():
    x, y = _rand((3, 4)), _rand((5, 2))
    with pytest.raises(ValueError) as want:
        x @ y
    for fmt in FORMATS:
        with pytest.raises(ValueError) as got:
            _ours(_sci(fmt, "array", x)) @ _ours(_sci(fmt, "array", y))
        assert str(got.value) == str(want.value)


def test_large_operands_threaded_blocks_match_scipy_exactly():
    x = _rand((3000, 2000), density=0.02, seed=11)      # nnz >= 2**16: row blocks on threads
    assert x.nnz >= 1 << 16
    y = x.T.tocsr()
    _same_as_scipy(_ours(x) @ _ours(y), x @ y)


def test_int64_indices_stay_int64():
    x = _rand((5, 6), seed=2)
    x.indices, x.indptr = x.indices.astype(np.int64), x.indptr.astype(np.int64)
    ref = x @ x.T
    r = _ours(x) @ _ours(x.T)
    assert ref.indices.dtype == np.int64
    _same_as_scipy(r, ref)


def test_traced_operands_raise():
    x = sp.csr_array(_rand((4, 4), np.float32))

    @mx.compile
    def f(d):
        return _kernels.spgemm(d, x.indices, x.indptr, d, x.indices, x.indptr, 4, 4, 4)[0]
    with pytest.raises(ValueError, match="concrete arrays"):
        f(x.data)


# -- the composed (GPU) backend, run here on the CPU ---------------------------

def _composed_product(x, y, dtype):
    args = [mx.array(a) for a in (x.data.astype(dtype), x.indices, x.indptr,
                                  y.data.astype(dtype), y.indices, y.indptr)]
    return _composed.spgemm(*args, x.shape[0], y.shape[1], mx.array(np.zeros(1, dtype)).dtype)


def _check_sorted_against_scipy(got, ref, rtol):
    d, i, p = (np.asarray(a) for a in got)
    ref = ss.csr_array(ref)
    ref.sort_indices()
    assert ref.has_canonical_format
    np.testing.assert_array_equal(p, ref.indptr)
    np.testing.assert_array_equal(i, ref.indices)
    np.testing.assert_allclose(d, ref.data, rtol=rtol)
    assert i.dtype == ref.indices.dtype and p.dtype == ref.indptr.dtype


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.complex64])
def test_composed_backend_matches_scipy(seed, dtype):
    rng = np.random.default_rng(seed)
    m, k, n = (int(v) for v in rng.integers(1, 40, 3))
    x, y = _rand((m, k), dtype, 0.3, seed), _rand((k, n), dtype, 0.3, seed + 100)
    got = _composed_product(x, y, dtype)
    assert got[0].dtype == mx.array(np.zeros(1, dtype)).dtype
    _check_sorted_against_scipy(got, x @ y, 1e-5)


def test_composed_backend_cancellation_empty_rows_and_zero_sizes():
    x = ss.csr_array(np.array([[1.0, 1.0, 0], [0, 0, 0], [1.0, 2.0, 1.0]], dtype=np.float32))
    y = ss.csr_array(np.array([[1.0, 2.0], [-1.0, 3.0], [0, -8.0]], dtype=np.float32))
    got = _composed_product(x, y, np.float32)
    assert got[0].size == (x @ y).nnz == 2
    _check_sorted_against_scipy(got, x @ y, 0)
    for a, b in (((0, 3), (3, 2)), ((2, 0), (0, 3)), ((2, 3), (3, 0))):
        d, i, p = _composed_product(ss.csr_array(a, dtype=np.float32),
                                    ss.csr_array(b, dtype=np.float32), np.float32)
        assert d.size == 0 and i.size == 0 and p.size == a[0] + 1


def test_composed_backend_duplicates_and_wide_indices():
    x = ss.csr_array((np.array([1.0, 2.0, 3.0], np.float32), np.array([2, 0, 2], np.int64),
                      np.array([0, 3, 3], np.int64)), shape=(2, 3))
    y = _rand((3, 4), np.float32, 0.6, 3)
    d, i, p = _composed_product(x, y, np.float32)
    assert i.dtype == mx.int64 and p.dtype == mx.int64
    dense = np.zeros((2, 4), np.float32)
    for r in range(2):
        for j, v in zip(np.asarray(i)[int(p[r].item()):int(p[r + 1].item())],
                        np.asarray(d)[int(p[r].item()):int(p[r + 1].item())]):
            dense[r, j] += v
    np.testing.assert_allclose(dense, x.toarray() @ y.toarray(), rtol=1e-6)


def test_gpu_routing_uses_composed_backend(monkeypatch):
    """With the table told the default device is a GPU, float32 takes the
    composed backend (sorted output); float64 stays on scipy's routine."""
    monkeypatch.setattr(_kernels, "on_gpu", lambda dtype=None: dtype != mx.float64)
    x = _rand((30, 20), np.float32, 0.3, 4)
    y = _rand((20, 25), np.float32, 0.3, 5)
    r = sp.csr_array(x) @ sp.csr_array(y)
    assert r.has_sorted_indices and r.data.dtype == mx.float32
    assert not (x @ y).has_sorted_indices      # so the order above is the composed one
    np.testing.assert_allclose(r.toarray(), (x @ y).toarray(), rtol=1e-5)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    _same_as_scipy(sp.csr_array(x64) @ sp.csr_array(y64), x64 @ y64)


def test_gradient_through_spgemm_is_refused_not_zero():
    # a zero gradient would be silently wrong: the product says it cannot
    S = ss.random_array((6, 5), density=0.5, format="csr", rng=3, dtype=np.float32)
    B = sp.csr_array(S.T.tocsr())

    def f(v):
        A = sp.csr_array((v, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        return mx.sum((A @ B).data)

    with pytest.raises(NotImplementedError, match="gradients through sparse @ sparse"):
        mx.grad(f)(mx.array(S.data))
    # outside mx.grad the same product works
    assert float(f(mx.array(S.data))) == pytest.approx(float((S @ S.T).sum()), rel=1e-5)
