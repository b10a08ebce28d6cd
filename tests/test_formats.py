"""Constructors, attributes, conversions and flags of the format classes,
checked against scipy.sparse on the same inputs."""
import pickle

import numpy as np
import mlx.core as mx
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp

D = np.array([[1.0, 0, 2], [0, 0, 3], [4, 5, 0], [0, 0, 0]])
FORMATS = ["csr", "csc", "coo"]


def ours(fmt, *a, **k):
    return getattr(sp, fmt + "_array")(*a, **k)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("source", ["numpy", "mx", "list", "scipy", "ours"])
def test_constructors_from_dense_and_sparse(fmt, source):
    arg = {"numpy": D, "mx": mx.array(D, dtype=mx.float64), "list": D.tolist(),
           "scipy": ss.csr_array(D), "ours": sp.csr_array(D)}[source]
    A = ours(fmt, arg)
    assert A.format == fmt and A.shape == (4, 3) and A.nnz == 5 and A.ndim == 2
    assert A.dtype == np.float64 and A.data.dtype == mx.float64
    np.testing.assert_array_equal(A.toarray(), D)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_compressed_tuple_forms(fmt):
    S = getattr(ss, fmt + "_array")(D)
    for arrays in [(S.data, S.indices, S.indptr),
                   (mx.array(S.data, dtype=mx.float64), mx.array(S.indices), mx.array(S.indptr))]:
        A = ours(fmt, arrays, shape=(4, 3))
        np.testing.assert_array_equal(A.toarray(), D)
        assert isinstance(A.indices, mx.array) and isinstance(A.indptr, mx.array)
    r, c = np.nonzero(D)
    A = ours(fmt, (D[r, c], (r, c)), shape=(4, 3))
    np.testing.assert_array_equal(A.toarray(), D)


def test_coo_attributes_and_mx_coordinates():
    r, c = np.nonzero(D)
    A = sp.coo_array((mx.array(D[r, c], dtype=mx.float64), (mx.array(r), mx.array(c))),
                     shape=(4, 3))
    np.testing.assert_array_equal(np.array(A.row), r)
    np.testing.assert_array_equal(np.array(A.col), c)
    assert len(A.coords) == 2
    np.testing.assert_array_equal(A.toarray(), D)


def test_shape_dtype_and_copy_keywords():
    A = sp.csr_array((3, 4), dtype=np.float32)
    assert A.shape == (3, 4) and A.nnz == 0 and A.dtype == np.float32
    B = sp.csr_array(D, dtype=np.float32)
    assert B.dtype == np.float32 and B.data.dtype == mx.float32
    C = sp.csr_array(B, copy=True)
    C.data[0] = 99
    assert B.toarray()[0, 0] == 1


def test_unsupported_dtype_is_kept_on_host_not_downcast():
    # MLX has no complex128: the values stay a numpy array (scipy's
    # storage) and scipy does the work, so nothing is downcast
    Z = D.astype(np.complex128) / 3j
    A = sp.csr_array(Z)
    assert A.dtype == np.complex128 and A.data.dtype == np.complex128
    assert A.data.flags.writeable            # scipy's contract for .data
    np.testing.assert_array_equal(A.toarray(), Z)
    np.testing.assert_allclose((A @ A.T).toarray(), Z @ Z.T, rtol=1e-15)
    with pytest.raises(TypeError, match="complex128"):
        sp.csr_array((mx.ones(1), mx.array([0]), mx.array([0, 1])), shape=(1, 1),
                     dtype=np.complex128)


@pytest.mark.parametrize("fmt", FORMATS)
def test_conversions_and_transpose(fmt):
    A = ours(fmt, D)
    for target in FORMATS:
        B = A.asformat(target)
        assert B.format == target
        np.testing.assert_array_equal(B.toarray(), D)
    assert A.T.shape == (3, 4) and A.transpose().format in ("csr", "csc", "coo")
    np.testing.assert_array_equal(A.T.toarray(), D.T)
    np.testing.assert_array_equal(A.todense(), D)


def test_scipy_round_trip_shares_no_state():
    A = sp.csr_array(D)
    S = A.to_scipy()
    assert isinstance(S, ss.csr_array)
    S.data[:] = -1
    np.testing.assert_array_equal(A.toarray(), D)
    M = sp.csr_matrix(D).to_scipy()
    assert isinstance(M, ss.csr_matrix)


def test_canonical_flags_and_sorting():
    S = ss.csr_array((np.array([1.0, 2, 3]), np.array([2, 0, 0]), np.array([0, 2, 3])),
                     shape=(2, 3))
    A = sp.csr_array(S)
    assert not A.has_sorted_indices and not A.has_canonical_format
    B = A.sorted_indices()
    assert B.has_sorted_indices and not A.has_sorted_indices
    np.testing.assert_array_equal(np.array(B.indices), [0, 2, 0])
    A.sort_indices()
    assert A.has_sorted_indices
    dup = sp.coo_array((np.ones(3), (np.zeros(3, int), np.zeros(3, int))), shape=(1, 1))
    assert dup.nnz == 3 and not dup.has_canonical_format
    dup.sum_duplicates()
    assert dup.nnz == 1 and dup.toarray()[0, 0] == 3 and dup.has_canonical_format


def test_seed_keywords_are_trusted_flags():
    S = ss.csr_array(D)
    A = sp.csr_array((mx.array(S.data, dtype=mx.float64), mx.array(S.indices),
                      mx.array(S.indptr)), shape=(4, 3), sorted_indices=True, canonical=True)
    assert A.has_sorted_indices and A.has_canonical_format


def test_eliminate_zeros_prune_count_nonzero():
    A = sp.csr_array(D)
    A.data[0] = 0
    assert A.count_nonzero() == 4 and A.nnz == 5
    A.eliminate_zeros()
    assert A.nnz == 4


def test_astype_copy_and_data_only_ops_stay_in_mlx():
    A = sp.csr_array(D)
    B = (-A * 2).astype(np.float32)
    assert isinstance(B.data, mx.array) and B.dtype == np.float32
    np.testing.assert_array_equal(B.toarray(), -2 * D)
    assert (A * 2.5).dtype == np.float64
    assert (sp.csr_array(D.astype(np.int8)) * 2.5).dtype == np.float64


def test_matrix_flavour_star_is_matmul():
    M = sp.csr_matrix(D)
    assert sp.isspmatrix(M) and sp.isspmatrix_csr(M) and not sp.isspmatrix_csc(M)
    assert isinstance(M, sp.spmatrix) and not isinstance(M, sp.sparray)
    np.testing.assert_allclose(M * np.ones(3), D @ np.ones(3))
    A = sp.csr_array(D)
    assert isinstance(A, sp.sparray) and sp.issparse(A) and sp.issparse(ss.csr_array(D))
    np.testing.assert_allclose((A * A).toarray(), D * D)


def test_construct_functions_default_dtypes_and_types():
    R = sp.random(5, 6, density=0.5, random_state=0)
    S = ss.random(5, 6, density=0.5, random_state=0)
    assert R.dtype == np.float64 and R.format == S.format
    np.testing.assert_array_equal(R.toarray(), S.toarray())
    np.testing.assert_array_equal(sp.random_array((5, 6), density=0.5, rng=1).toarray(),
                                  ss.random_array((5, 6), density=0.5, rng=1).toarray())
    np.testing.assert_array_equal(sp.eye(3).toarray(), np.eye(3))
    np.testing.assert_array_equal(sp.identity(3).toarray(), np.eye(3))
    np.testing.assert_array_equal(sp.diags([1.0, 2.0], 1).toarray(),
                                  ss.diags([1.0, 2.0], 1).toarray())
    F = sp.fromdense(mx.array(D, dtype=mx.float64))
    assert F.format == "csr" and F.dtype == np.float64
    np.testing.assert_array_equal(F.toarray(), D)


def test_pickle_round_trip():
    A = sp.csc_array(D)
    B = pickle.loads(pickle.dumps(A))
    assert type(B) is type(A)
    np.testing.assert_array_equal(B.toarray(), D)


def test_use_gpu_falls_back_with_warning_without_gpu():
    if sp.gpu_available():
        pytest.skip("this check is for machines without a GPU")
    with pytest.warns(RuntimeWarning, match="no GPU"):
        dev = sp.use_gpu()
    assert dev == mx.cpu and mx.default_device() == mx.cpu


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_arrays_are_mlx_with_numpy_copy_and_astype(fmt):
    """.data/.indices/... stay mx.arrays (MLX dtype, MLX ops, gradients) and
    also take the numpy calls scipy code makes on them: copy(), astype(np.int64)."""
    A = ours(fmt, D.astype(np.float32))
    arrays = [A.data] + ([A.row, A.col, *A.coords] if fmt == "coo" else [A.indices, A.indptr])
    for a in arrays:
        assert isinstance(a, mx.array) and a.dtype in (mx.float32, mx.int32)
        c = a.copy()
        assert isinstance(c, mx.array) and c.dtype == a.dtype
        c[0] = 7
        assert np.asarray(a)[0] != 7 and np.asarray(c)[0] == 7      # independent
        assert a.astype(np.int64).dtype == mx.int64 and a.astype(mx.int16).dtype == mx.int16
        with pytest.raises(TypeError):
            a.astype(np.complex128)         # never a silent downcast
        assert type(a + 1) is mx.array      # MLX results are plain MLX arrays
    assert A.data is A.data and A.T.data is A.data
    if fmt != "coo":
        A.indptr = A.indptr.astype(np.int64)
        assert A.indptr.dtype == mx.int64
        np.testing.assert_array_equal(A[[1, 2], :].toarray(), D[[1, 2], :])

    def loss(v):
        B = ours(fmt, (v, A.indices, A.indptr) if fmt != "coo" else (v, (A.row, A.col)),
                 shape=A.shape)
        return mx.sum(B @ mx.ones((3, 2)))
    g = mx.grad(loss)(A.data)
    np.testing.assert_array_equal(np.asarray(g), np.full(A.nnz, 2.0))
    assert pickle.loads(pickle.dumps(A.data)).tolist() == A.data.tolist()


@pytest.mark.parametrize("fmt", FORMATS)
def test_host_values_with_mlx_indices(fmt):
    """complex128 values (MLX cannot hold them) with MLX index arrays: built on
    the host as scipy would, not refused; MLX values of that dtype still are."""
    S = ss.coo_array(D + 1j * D) if fmt == "coo" else getattr(ss, fmt + "_array")(D + 1j * D)
    idx = ((mx.array(S.row), mx.array(S.col)),) if fmt == "coo" else \
        (mx.array(S.indices), mx.array(S.indptr))
    A = ours(fmt, (S.data, *idx), shape=S.shape)
    assert A.dtype == np.complex128
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    with pytest.raises(TypeError):
        ours(fmt, (mx.array(S.data.real.astype(np.float32)), *idx), shape=S.shape,
             dtype=np.complex128)


def _with_duplicates(rng, dt):
    """A 30 x 20 COO array of dtype dt whose first five entries are stored twice."""
    S = ss.random_array((30, 20), density=0.3, format="coo", rng=rng).astype(dt)
    return ss.coo_array((np.r_[S.data, S.data[:5]], (np.r_[S.row, S.row[:5]],
                                                      np.r_[S.col, S.col[:5]])), shape=S.shape)


def _same_compressed(got, ref):
    """Our CSR/CSC result is scipy's: class, shape, dtype, entries, index
    arrays and their dtypes, order flags."""
    assert type(got).__name__ == type(ref).__name__ and got.shape == ref.shape
    assert got.dtype == ref.dtype and got.nnz == ref.nnz
    np.testing.assert_array_equal(got.toarray(), ref.toarray())
    for name in ("indices", "indptr"):
        mine, theirs = np.asarray(getattr(got, name)), getattr(ref, name)
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs)
    assert got.has_sorted_indices == ref.has_sorted_indices
    assert got.has_canonical_format == ref.has_canonical_format


@pytest.mark.parametrize("views", [True, False])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_scalar_entry_read_on_views_is_scipys(fmt, flavour, views, monkeypatch):
    """A[i, j] with two integers (Python or numpy, negative ones too) is read
    on views for free CPU values: scipy's value and type, duplicates summed,
    bool and small ints in their dtype; out of range raises scipy's
    IndexError; traced values keep their gradient through the general path.
    ``views=False``: the path a GPU takes (scipy's, on a lent array), whose
    int64 answer must be np.int64 as well (not np.longlong)."""
    if not views:
        from mlx_scipy_sparse._formats import _entry
        monkeypatch.setattr(_entry._kernels, "bare_cpu", lambda *a: False)
    rng = np.random.default_rng(1)
    for dt in (np.float32, np.float64, np.int64, np.int8, np.complex64, bool):
        S = _with_duplicates(rng, dt)
        Ss = getattr(ss, f"{fmt}_{flavour}")(S)
        A = getattr(sp, f"{fmt}_{flavour}")(Ss)
        for i, j in [(0, 0), (S.row[0], S.col[0]), (-1, -1), (np.int64(S.row[2]), np.int32(S.col[2])),
                     (int(S.row[1]) - 30, int(S.col[1]))]:
            got, ref = A[i, j], Ss[i, j]
            assert type(got) is type(ref) and got == ref
        for bad in [(30, 0), (0, -21)]:
            with pytest.raises(IndexError):
                A[bad]
    A = getattr(sp, f"{fmt}_{flavour}")(ss.random_array((6, 5), density=0.5, format=fmt,
                                                          dtype=np.float32, rng=2))
    i, j = (int(v[0]) for v in A.nonzero())
    g = mx.grad(lambda d: getattr(sp, f"{fmt}_{flavour}")(
        (d, A.indices, A.indptr), shape=A.shape)[i, j] * 3.0)(A.data)
    assert float(np.array(g).sum()) == 3.0


@pytest.mark.parametrize("fmt,meth", [("csr", "getrow"), ("csc", "getcol")])
def test_major_line_of_a_matrix_is_scipys(fmt, meth):
    """csr_matrix.getrow / csc_matrix.getcol on free CPU values, without a
    scipy object: scipy's class, shape, entries (duplicates kept), index
    arrays and their dtypes, flags; float64 stays float64; out of range
    raises IndexError; traced values keep their gradient."""
    rng = np.random.default_rng(3)
    for dt in (np.float32, np.float64, np.int32, np.int64, np.complex64, bool):
        S = _with_duplicates(rng, dt)
        Ss = getattr(ss, f"{fmt}_matrix")(S)
        A = getattr(sp, f"{fmt}_matrix")(Ss)
        n = Ss.shape[0] if fmt == "csr" else Ss.shape[1]
        for k in (0, 3, -1, np.int64(5), n - 1):
            got, ref = getattr(A, meth)(k), getattr(Ss, meth)(k)
            _same_compressed(got, ref)
        for bad in (n, -n - 1):
            with pytest.raises(IndexError):
                getattr(A, meth)(bad)
    A = getattr(sp, f"{fmt}_matrix")(ss.random_array((6, 5), density=0.6, format=fmt,
                                                       dtype=np.float32, rng=4))
    g = mx.grad(lambda d: getattr(getattr(sp, f"{fmt}_matrix")(
        (d, A.indices, A.indptr), shape=A.shape), meth)(1).toarray().sum())(A.data)
    ptr = np.asarray(A.indptr)
    want = np.zeros(A.nnz, np.float32)
    want[ptr[1]:ptr[2]] = 1
    np.testing.assert_array_equal(np.array(g), want)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_slices_of_whole_lines_are_scipys(fmt, flavour):
    """A[r0:r1] (CSR) and A[:, c0:c1] (CSC), read on views for free CPU
    values, and every other slice through scipy: scipy's class, shape,
    entries, index arrays, flags, for empty, negative, out-of-range, full
    and stepped slices."""
    rng = np.random.default_rng(3)
    for dt in (np.float32, np.float64, np.int64, bool):
        S = _with_duplicates(rng, dt)
        Ss = getattr(ss, f"{fmt}_{flavour}")(S)
        A = getattr(sp, f"{fmt}_{flavour}")(Ss)
        for key in (slice(2, 5), slice(None), slice(-3, None), slice(5, 2), slice(0, 100),
                    slice(2, 5, 1), slice(1, 9, 2), (slice(2, 5), slice(None)),
                    (slice(None), slice(2, 5)), (slice(None), slice(3, -1)),
                    (slice(1, 4), slice(1, 4))):
            got, ref = A[key], Ss[key]
            _same_compressed(got, ref)
