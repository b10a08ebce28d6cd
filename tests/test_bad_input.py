"""What a user can get wrong: each case checks the exception type, a fragment
of scipy's wording, and that no operand changed."""
import numpy as np
import mlx.core as mx
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse._formats import _validate

BIG = 2**31 + 5     # past int32: indices must be int64


def _np(a):
    return np.array(a)


def _snapshot(A):
    arrays = (A.data, A.indices, A.indptr) if A.format != "coo" else (A.data, *A.coords)
    return A.shape, [_np(a).copy() for a in arrays], [a.dtype for a in arrays]


def _assert_unchanged(A, snap):
    shape, arrays, dtypes = _snapshot(A)
    assert shape == snap[0] and dtypes == snap[2]
    for a, b in zip(arrays, snap[1]):
        np.testing.assert_array_equal(a, b)


def _eye3(fmt="csr", dtype=np.float64):
    return getattr(sp, fmt + "_array")(np.diag(np.arange(1.0, 4.0)).astype(dtype))


def _csr_args(kind, ind, ptr, data=None):
    data = np.ones(len(ind)) if data is None else data
    if kind == "mx":
        return (mx.array(data, dtype=mx.float64), mx.array(ind), mx.array(ptr))
    return (data, np.array(ind), np.array(ptr))


# -- structure of CSR/CSC input ---------------------------------------------------
@pytest.mark.parametrize("kind", ["numpy", "mx"])
@pytest.mark.parametrize("cls", [sp.csr_array, sp.csc_array, sp.csr_matrix])
def test_indices_out_of_range(kind, cls):
    with pytest.raises(ValueError, match="indices must be < 3"):
        cls(_csr_args(kind, [0, 5], [0, 1, 2, 2]), shape=(3, 3))


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_negative_indices(kind):
    with pytest.raises(ValueError, match="indices must be >= 0"):
        sp.csr_array(_csr_args(kind, [0, -1], [0, 1, 2]), shape=(2, 3))


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_indptr_not_monotone(kind):
    with pytest.raises(ValueError, match="indptr must be a non-decreasing sequence"):
        sp.csr_array(_csr_args(kind, [0, 1], [0, 2, 1, 2]), shape=(3, 3))


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_indptr_wrong_length(kind):
    with pytest.raises(ValueError, match="index pointer size 3 should be 4"):
        sp.csr_array(_csr_args(kind, [0, 1], [0, 1, 2]), shape=(3, 3))


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_indptr_not_starting_at_zero(kind):
    with pytest.raises(ValueError, match="index pointer should start with 0"):
        sp.csr_array(_csr_args(kind, [0, 1], [1, 1, 2]), shape=(2, 3))


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_indptr_ends_past_the_data(kind):
    with pytest.raises(ValueError, match="Last value of index pointer"):
        sp.csr_array(_csr_args(kind, [0, 1], [0, 1, 3]), shape=(2, 3))


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_indptr_ending_early_prunes_like_scipy(kind):
    A = sp.csr_array(_csr_args(kind, [0, 1, 2], [0, 1, 2], data=np.array([1.0, 2.0, 9.0])),
                     shape=(2, 3))
    S = ss.csr_array(_csr_args("numpy", [0, 1, 2], [0, 1, 2], data=np.array([1.0, 2.0, 9.0])),
                     shape=(2, 3))
    assert A.nnz == S.nnz == 2
    np.testing.assert_array_equal(A.toarray(), S.toarray())


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_data_and_indices_of_different_length(kind):
    with pytest.raises(ValueError, match="indices and data should have the same size"):
        sp.csr_array(_csr_args(kind, [0, 1], [0, 1, 2], data=np.ones(3)), shape=(2, 3))


def test_float_indices_from_mlx_refused():
    with pytest.raises(ValueError, match="non-integer dtype"):
        sp.csr_array((mx.ones(1), mx.array([0.0]), mx.array([0, 1])), shape=(1, 2))


def test_scipy_object_with_bad_indices_refused():
    # scipy builds it without looking; we look before any kernel would read it
    S = ss.csr_array((np.ones(1), np.array([7]), np.array([0, 1])), shape=(1, 2))
    with pytest.raises(ValueError, match="indices must be < 2"):
        sp.csr_array(S)
    with pytest.raises(ValueError, match="indices must be < 2"):
        sp.from_scipy(S) @ np.ones(2)


# -- COO input ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_coo_index_out_of_range(kind):
    conv = mx.array if kind == "mx" else np.array
    with pytest.raises(ValueError, match="axis 1 index 5 exceeds matrix dimension 3"):
        sp.coo_array((conv([1.0]), (conv([0]), conv([5]))), shape=(2, 3))


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_coo_negative_index(kind):
    conv = mx.array if kind == "mx" else np.array
    with pytest.raises(ValueError, match="negative axis 0 index: -1"):
        sp.coo_array((conv([1.0]), (conv([-1]), conv([0]))), shape=(2, 3))


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_coo_lengths_disagree(kind):
    conv = mx.array if kind == "mx" else np.array
    with pytest.raises(ValueError, match="same length"):
        sp.coo_array((conv([1.0, 2.0]), (conv([0]), conv([0]))), shape=(2, 3))


# -- shapes -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_negative_shape(kind):
    with pytest.raises(ValueError, match="'shape' elements cannot be negative"):
        sp.csr_array(_csr_args(kind, [], [0, 0]), shape=(1, -3))


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_non_integer_shape(kind):
    with pytest.raises(TypeError):
        sp.csr_array(_csr_args(kind, [], [0, 0]), shape=(1, 2.5))


@pytest.mark.parametrize("kind", ["numpy", "mx"])
def test_overflowing_shape(kind):
    with pytest.raises(OverflowError):
        sp.csr_array(_csr_args(kind, [], [0, 0]), shape=(1, 2**70))


def test_three_dimensional_shape_for_mlx_input():
    with pytest.raises(ValueError, match="2-tuple"):
        sp.csr_array(_csr_args("mx", [], [0, 0]), shape=(1, 2, 3))


# -- operand shapes ------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("conv", [np.ones, mx.ones], ids=["numpy", "mx"])
@pytest.mark.parametrize("rhs,sig", [((4,), "(k=4,1?)"), ((4, 2), "(k=4,m)"),
                                     ((4, 1), "(k=4,1?)")])
def test_matmul_shape_mismatch(fmt, conv, rhs, sig):
    A = _eye3(fmt)
    snap = _snapshot(A)
    X = conv(rhs)
    with pytest.raises(ValueError, match=r"dimension mismatch with signature \(n,k=3\),"
                       + sig.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        A @ X
    with pytest.raises(ValueError, match="dimension mismatch"):
        ss.csr_array(np.eye(3)) @ np.ones(rhs)       # scipy agrees
    _assert_unchanged(A, snap)


@pytest.mark.parametrize("conv", [np.ones, mx.ones], ids=["numpy", "mx"])
@pytest.mark.parametrize("lhs", [(4,), (2, 4)])
def test_dense_at_sparse_shape_mismatch(conv, lhs):
    A = _eye3()
    with pytest.raises(ValueError, match="dimension mismatch with signature"):
        conv(lhs) @ A if conv is np.ones else A.__rmatmul__(conv(lhs))


def test_sparse_matmul_shape_mismatch():
    with pytest.raises(ValueError, match="dimension mismatch"):
        _eye3() @ sp.csr_array(np.eye(4))


def test_matmul_by_scalar_refused():
    with pytest.raises(ValueError, match="Scalar operands are not allowed"):
        _eye3() @ 2.0


def test_three_dimensional_operand_refused():
    with pytest.raises(ValueError, match="could not interpret dimensions"):
        _eye3() @ np.ones((3, 3, 3))


@pytest.mark.parametrize("op", ["__add__", "__sub__", "multiply", "maximum", "minimum"])
def test_elementwise_shape_mismatch(op):
    A, B = _eye3(), sp.csr_array(np.eye(4))
    snap_a, snap_b = _snapshot(A), _snapshot(B)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        getattr(A, op)(B)
    _assert_unchanged(A, snap_a)
    _assert_unchanged(B, snap_b)


def test_inplace_add_shape_mismatch_leaves_operand():
    A = _eye3()
    snap = _snapshot(A)
    with pytest.raises(ValueError):
        A += sp.csr_array(np.eye(4))
    _assert_unchanged(A, snap)


# -- dtypes ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_float64_is_never_downcast(fmt):
    D = np.array([[0.1, 0, 1 / 3], [0, 2.0**-40, 0]])
    A = getattr(sp, fmt + "_array")(D)
    assert A.dtype == np.float64 and A.data.dtype == mx.float64
    np.testing.assert_array_equal(A.toarray(), D)            # bit-exact
    x32 = mx.array([1.0, 2.0, 3.0], dtype=mx.float32)
    y = A @ x32
    assert y.dtype == mx.float64
    np.testing.assert_allclose(np.array(y), D @ np.array([1.0, 2.0, 3.0]), rtol=1e-15)
    assert (A * 3.0).data.dtype == mx.float64
    assert (A @ np.ones(3, np.float32)).dtype == np.float64
    assert A.tocsr().tocsc().tocoo().data.dtype == mx.float64


def test_float64_mlx_values_kept_by_mlx_constructor():
    d = mx.array([0.1, 1 / 3], dtype=mx.float64)
    A = sp.csr_array((d, mx.array([0, 1]), mx.array([0, 1, 2])), shape=(2, 2))
    assert A.data.dtype == mx.float64
    assert np.array(A.data)[0] == 0.1


@pytest.mark.parametrize("how", ["dense", "triplet", "dtype_kw"])
def test_complex128_is_never_downcast(how):
    # MLX has no complex128: refused naming it, or kept exactly (host storage)
    D = np.array([[1 / 3 + 1j / 7, 0], [0, 2.0**-40 * 1j]])
    if how == "dtype_kw":
        D = D.real.astype(np.complex128)
    try:
        A = sp.csr_array(D.real, dtype=np.complex128) if how == "dtype_kw" else \
            sp.coo_array((D[D != 0], np.nonzero(D)), shape=(2, 2)) if how == "triplet" else \
            sp.csr_array(D)
    except TypeError as e:
        assert "complex128" in str(e) and "MLX cannot hold" in str(e)
        return
    assert A.dtype == np.complex128
    np.testing.assert_array_equal(A.toarray(), D)            # bit-exact
    np.testing.assert_array_equal(A @ np.ones(2), D @ np.ones(2))


@pytest.mark.parametrize("how", ["mx_constructor", "mx_product"])
def test_complex128_rejected_clearly(how):
    # where the result must be an MLX array, complex128 cannot be: say so
    with pytest.raises(TypeError, match="complex128.*MLX cannot hold"):
        if how == "mx_constructor":
            sp.csr_array((mx.ones(1), mx.array([0]), mx.array([0, 1])), shape=(1, 1),
                         dtype=np.complex128)
        else:       # complex64 values times int32 operand promote to complex128
            sp.csr_array(np.eye(2, dtype=np.complex64)) @ mx.ones(2, dtype=mx.int32)


def test_complex64_is_fine():
    A = sp.csr_array(np.eye(2, dtype=np.complex64) * (1 + 2j))
    assert A.dtype == np.complex64 and A.data.dtype == mx.complex64


def test_longdouble_never_silently_downcast():
    D = np.eye(2, dtype=np.longdouble) / 3
    try:
        A = sp.csr_array(D)
    except TypeError as e:                  # refused, naming the dtype
        assert str(np.dtype(np.longdouble)) in str(e)
        return
    assert A.dtype == np.longdouble         # or kept exactly
    np.testing.assert_array_equal(A.toarray(), D)


@pytest.mark.parametrize("dtype", [object, str])
def test_object_and_str_rejected(dtype):
    # a TypeError that scipy-style `except ValueError` handlers also catch
    with pytest.raises(TypeError, match="does not support dtype") as info:
        sp.csr_array(np.eye(2).astype(dtype))
    assert isinstance(info.value, ValueError)


def test_assigning_object_data_leaves_array_unchanged():
    A = _eye3()
    snap = _snapshot(A)
    with pytest.raises(TypeError, match="object"):
        A.data = np.array([1, "a", None], dtype=object)
    _assert_unchanged(A, snap)


def test_astype_object_refused_and_operand_unchanged():
    A = _eye3()
    snap = _snapshot(A)
    with pytest.raises(ValueError, match="does not support dtype object"):    # scipy's
        A.astype(object)
    _assert_unchanged(A, snap)


# -- arrays reassigned after construction -----------------------------------------------
@pytest.mark.parametrize("conv", [np.ones, mx.ones], ids=["numpy", "mx"])
def test_reassigned_indices_checked_before_product(conv):
    A = _eye3()
    A.indices = np.array([0, 1, 9], dtype=np.int32)
    with pytest.raises(ValueError, match="indices must be < 3"):
        A @ conv(3)
    with pytest.raises(ValueError, match="indices must be < 3"):
        A.toarray()
    A.indices = np.array([2, 1, 0], dtype=np.int32)   # fixing it makes it usable again
    np.testing.assert_array_equal(A @ np.ones(3), [1.0, 2.0, 3.0])


def test_reassigned_indptr_checked_before_product():
    A = _eye3("csc")
    A.indptr = np.array([0, 2, 1, 3])
    with pytest.raises(ValueError, match="non-decreasing"):
        A @ np.ones(3)


def test_reassigned_data_length_checked():
    A = _eye3()
    A.data = np.ones(2)
    with pytest.raises(ValueError, match="same size"):
        A @ np.ones(3)


def test_reassigned_coo_row_checked():
    A = _eye3("coo")
    A.row = np.array([0, 1, 3])
    with pytest.raises(ValueError, match="axis 0 index 3 exceeds"):
        A @ np.ones(3)


def test_float_indices_assignment_refused():
    A = _eye3()
    with pytest.raises(ValueError, match="non-integer dtype"):
        A.indices = np.array([0.0, 1.0, 2.0])


def test_validation_runs_once_not_per_product(monkeypatch):
    A = _eye3()
    calls = []
    real = _validate.compressed
    monkeypatch.setattr(_validate, "compressed", lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(3):
        A @ np.ones(3)
        A @ mx.ones(3)
        A.T @ np.ones(3)
    assert calls == []                      # checked at construction
    A.indices = np.array([0, 1, 2])
    for _ in range(3):
        A @ np.ones(3)
    assert calls == [1]                     # once after the reassignment


def test_traced_structure_is_trusted_under_compile():
    # index arrays traced by mx.compile cannot be read; the composed path runs
    def f(d, i, p, x):
        return sp.csr_array((d, i, p), shape=(2, 2)) @ x
    out = mx.compile(f)(mx.array([1.0, 2.0]), mx.array([1, 0]), mx.array([0, 1, 2]),
                        mx.array([3.0, 4.0]))
    np.testing.assert_allclose(np.array(out), [4.0, 6.0])


# -- int64 indices past 2**31 ----------------------------------------------------------------
def test_int64_indices_past_2_31_survive_construction_and_conversion():
    S = ss.csr_array((np.array([1.5, 2.5]), np.array([3, BIG - 1]), np.array([0, 1, 1, 2])),
                     shape=(3, BIG))
    A = sp.csr_array(S)
    assert A.indices.dtype == mx.int64 and A.indptr.dtype == mx.int64
    for B in (A.tocoo(), A.tocoo().tocsr(), sp.coo_array(S).tocsr(), A.T.T, A.copy()):
        C = B.to_scipy().tocsr()
        np.testing.assert_array_equal(C.indices, S.indices)
        np.testing.assert_array_equal(C.data, S.data)
    assert A.tocoo().col.dtype == mx.int64 and int(np.array(A.tocoo().col)[1]) == BIG - 1
    T = A.T                                      # CSC of shape (BIG, 3), no copy
    assert T.shape == (BIG, 3) and T.indices.dtype == mx.int64
    np.testing.assert_array_equal(A.sum(axis=1), S.sum(axis=1))
    np.testing.assert_array_equal((A * 2 + A).to_scipy().data, (S * 2 + S).data)
    assert A[2, BIG - 1] == 2.5


def test_int64_indices_past_2_31_from_mlx():
    A = sp.coo_array((mx.array([1.0, 2.0], dtype=mx.float64),
                      (mx.array([0, 2]), mx.array([BIG - 1, 7], dtype=mx.int64))),
                     shape=(3, BIG))
    assert A.col.dtype == mx.int64 and A.row.dtype == mx.int64
    B = A.tocsr()
    assert B.indices.dtype == mx.int64
    np.testing.assert_array_equal(np.array(B.indices), [BIG - 1, 7])


def test_int64_indices_from_mlx_preserved_through_products():
    # small shape, int64 indices: the kernels take them as they are
    ind = mx.array([2, 0, 1], dtype=mx.int64)
    ptr = mx.array([0, 1, 3], dtype=mx.int64)
    A = sp.csr_array((mx.array([1.0, 2.0, 3.0], dtype=mx.float64), ind, ptr), shape=(2, 3))
    D = np.array([[0, 0, 1.0], [2.0, 3.0, 0]])
    assert A.indices.dtype == mx.int64
    np.testing.assert_array_equal(A @ np.arange(3.0), D @ np.arange(3.0))
    np.testing.assert_array_equal(np.array(A @ mx.ones((3, 2), dtype=mx.float64, stream=mx.cpu)), D @ np.ones((3, 2)))
    np.testing.assert_array_equal(A.T @ np.ones(2), D.T @ np.ones(2))
    np.testing.assert_array_equal(np.ones((4, 2)) @ A, np.ones((4, 2)) @ D)
    assert A.indices.dtype == mx.int64 and A.tocsc().indices.dtype == mx.int64


def test_mixed_index_dtypes_from_mlx_unified():
    A = sp.csr_array((mx.ones(2), mx.array([0, 1], dtype=mx.int16),
                      mx.array([0, 1, 2], dtype=mx.int64)), shape=(2, 2))
    assert A.indices.dtype == A.indptr.dtype == mx.int64
    np.testing.assert_array_equal(A @ np.ones(2, np.float32), [1, 1])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_index_arrays_written_in_place_are_checked_again(fmt):
    """`A.indices[i] = v` changes the same MLX object; the product must see it
    (a bad index: a clear error before any kernel; a good one: the new answer)."""
    S = ss.random_array((5, 4), density=0.5, format=fmt, rng=1, dtype=np.float32)
    A = getattr(sp, fmt + "_array")(S)
    x = mx.arange(A.shape[1], dtype=mx.float32)
    mx.eval(A @ x, A @ x)                          # checked, and any plan kept
    idx = A.col if fmt == "coo" else A.indices
    old = int(idx[0].item())
    idx[0] = 10 ** 8
    with pytest.raises(ValueError):
        A @ x
    new = (old + 1) % A.shape[1] if fmt != "csc" else (old + 1) % A.shape[0]
    idx[0] = new
    ref = S.copy()
    (ref.col if fmt == "coo" else ref.indices)[0] = new
    np.testing.assert_allclose(np.array(A @ x), ref @ np.arange(A.shape[1]), rtol=1e-5)


def test_indptr_written_in_place_is_checked_again():
    S = ss.random_array((5, 4), density=0.5, format="csr", rng=2, dtype=np.float32)
    A = sp.csr_array(S)
    x = mx.ones(4)
    mx.eval(A @ x)
    ptr = A.indptr
    ptr += 1                                       # indptr[0] != 0 now
    with pytest.raises(ValueError):
        A @ x
