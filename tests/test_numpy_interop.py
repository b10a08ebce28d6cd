"""numpy interop of the public arrays: numpy reads `A.data.dtype` (an mx.Dtype),
and `PublicArray`'s numpy methods match numpy on the same data, while MLX keeps
its own behaviour."""
import numpy as np
import mlx.core as mx
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse._arrays import PublicArray, public

PAIRS = [(mx.bool_, np.bool_), (mx.int8, np.int8), (mx.int16, np.int16),
         (mx.int32, np.int32), (mx.int64, np.int64), (mx.uint8, np.uint8),
         (mx.uint16, np.uint16), (mx.uint32, np.uint32), (mx.uint64, np.uint64),
         (mx.float16, np.float16), (mx.float32, np.float32), (mx.float64, np.float64),
         (mx.complex64, np.complex64), (mx.bfloat16, np.float32)]
D = np.array([[1.0, 0, 2], [0, 0, 3], [4, 5, 0], [0, 0, 0]])


@pytest.mark.parametrize("m, n", PAIRS)
def test_numpy_reads_mlx_dtypes(m, n):
    assert np.dtype(m) == np.dtype(n)
    assert m.dtype == np.dtype(n) and m.type is n
    assert np.zeros(2, dtype=m).dtype == np.dtype(n)
    assert np.asarray([1, 0], dtype=m).dtype == np.dtype(n)


def test_issubdtype_and_scalar_type_of_public_arrays():
    A = sp.csr_array(D)
    assert np.issubdtype(A.data.dtype, np.floating)
    assert not np.issubdtype(A.data.dtype, np.integer)
    assert np.issubdtype(A.indices.dtype, np.signedinteger)
    assert not np.issubdtype(sp.csr_array(D.astype(np.uint8)).data.dtype, np.signedinteger)
    assert np.issubdtype(sp.csr_array(D > 0).data.dtype, np.bool_)
    z = A.data.dtype.type(0)
    assert type(z) is np.float64 and z == 0
    assert np.r_[A.indices.dtype.type(7), A.indices].tolist() == [7, 0, 2, 2, 0, 1]


def test_mlx_dtype_behaviour_unchanged():
    A = sp.csr_array(D.astype(np.float32))
    dt = A.data.dtype
    assert type(dt) is mx.Dtype and dt == mx.float32 and dt != mx.float64
    assert dt.size == 4 and str(dt) == "mlx.core.float32"
    assert {dt: 1}[mx.float32] == 1
    assert mx.zeros(3, dtype=dt).dtype == mx.float32
    assert mx.arange(3).astype(dt).dtype == mx.float32
    assert mx.array([1, 2], dtype=A.indices.dtype).dtype == A.indices.dtype
    assert mx.issubdtype(dt, mx.floating)


def _public(a):
    return public(mx.array(a))


def test_repeat_matches_numpy():
    x = np.array([[1.5, -2], [3, 4]], dtype=np.float32)
    a = _public(x)
    for args in [(2,), (2, 0), (3, 1), (np.int64(2), 0)]:
        r = a.repeat(*args)
        assert isinstance(r, PublicArray) and r.dtype == mx.float32
        np.testing.assert_array_equal(np.array(r), x.repeat(*args))
    np.testing.assert_array_equal(np.array(a.repeat([1, 0], axis=0)), x.repeat([1, 0], 0))


def test_nonzero_matches_numpy():
    for x in [np.array([0, 3, 0, 1]), np.array([[0, 1.5], [2, 0], [0, 0]]),
              np.array([True, False, True]), np.zeros(3)]:
        got = _public(x).nonzero()
        want = x.nonzero()
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert isinstance(g, mx.array)
            np.testing.assert_array_equal(np.array(g), w)


def test_comparisons_and_indexing_chain():
    x = np.array([3, 0, 5, 0, 7], dtype=np.int32)
    a = _public(x)
    eq, ne = a == 0, a != 0
    assert isinstance(eq, PublicArray) and eq.dtype == mx.bool_
    np.testing.assert_array_equal(np.array(eq), x == 0)
    np.testing.assert_array_equal(np.array(ne), x != 0)
    np.testing.assert_array_equal(np.array(eq.nonzero()[0]), [1, 3])
    # slice bounds as 0-d arrays (what iterating an index array yields)
    lo, hi = mx.array(1), mx.array(4)
    r = a[lo:hi][::-1].copy()
    assert isinstance(r, PublicArray)
    np.testing.assert_array_equal(np.array(r), x[1:4][::-1])
    a[lo:hi] = mx.array([9, 8, 7], dtype=mx.int32)
    a[(np.int64(0),)] = 1
    np.testing.assert_array_equal(np.array(a), [1, 9, 8, 7, 7])
    assert {a: 1}[a] == 1        # still hashable by identity, as mx.array


def test_any_all_take_numpys_call():
    x = np.array([[0, 2], [3, 4]])
    a = _public(x)
    for op in ["__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"]:
        m = getattr(a, op)(2)
        assert isinstance(m, PublicArray)
        np.testing.assert_array_equal(np.array(m), getattr(x, op)(2))
    assert isinstance(1 < a, PublicArray)
    # np.any / np.all call the method with out=None
    assert bool(np.any(a == 0)) and not bool(np.all(a > 0))
    np.testing.assert_array_equal(np.array(np.all(a > 0, axis=0)), [False, True])
    np.testing.assert_array_equal(np.array(a.any(1, keepdims=True)), [[True], [True]])
    with pytest.raises(TypeError):
        np.any(a == 0, out=np.zeros((), bool))


def test_methods_stay_lazy_and_differentiable():
    x = mx.array([1.0, 2.0, 3.0])

    def f(v):
        p = _public(v)
        return (p.repeat(2)[1:] * 2).sum() + (p == 2).astype(mx.float32).sum()

    # d/dv: each element appears twice (once for the first), times 2
    np.testing.assert_allclose(np.array(mx.grad(f)(x)), [2.0, 4.0, 4.0])
    assert float(mx.compile(f)(x)) == pytest.approx(f(x).item())


def _noncanonical(M):
    """duplicates (halves summing to each value) and explicit zeros of a
    canonical CSR/CSC/COO, built with the numpy methods on its public arrays"""
    data = M.data
    zero = (data == 0).nonzero()[0]
    data = data.repeat(2)
    data[::2] -= 1
    data[1::2] = 1
    if zero.size > 0:
        data[(2 * zero[0],)] = 0
        data[(2 * zero[0] + 1,)] = 0
    if M.format == "coo":
        return type(M)((data, (M.row.repeat(2), M.col.repeat(2))), shape=M.shape)
    indices, indptr = M.indices.repeat(2), M.indptr * 2
    for start, stop in zip(indptr, indptr[1:]):   # unsort each row
        indices[start:stop] = indices[start:stop][::-1].copy()
        data[start:stop] = data[start:stop][::-1].copy()
    return type(M)((data, indices, indptr), shape=M.shape)


@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.complex64])
def test_noncanonical_construction_pattern(fmt, dtype):
    S = getattr(ss, fmt + "_array")(D.astype(dtype))
    S[1, 1] = 0                         # an explicit zero
    M = getattr(sp, fmt + "_array")(S)
    assert np.issubdtype(M.data.dtype, np.dtype(dtype).type)
    NC = _noncanonical(M)
    assert NC.nnz == 2 * S.nnz and bool((NC.data == 0).any())
    assert not NC.has_canonical_format
    np.testing.assert_array_equal(NC.toarray(), D.astype(dtype))
    np.testing.assert_array_equal((NC @ np.ones(3, dtype)), D.astype(dtype) @ np.ones(3))
    NC.sum_duplicates()
    assert NC.nnz == S.nnz
    np.testing.assert_array_equal(NC.toarray(), S.toarray())
