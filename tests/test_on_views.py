"""The CPU default's paths on views (no hand-off to scipy) for free values:
reductions along an axis and over every place, dense forms and dense
operands, positions and counts, pairs of formats, COO merging, pickle,
comparisons, reshape, resize, setdiag and writes that add entries, A / B
and the all-True comparisons.  scipy's answers bit for bit (values, types,
index dtypes, forms, flags, warnings), with the hand-off refused; the cases
the views leave alone still scipy's answers; handles and transposes taken
before a call see what scipy's would."""
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse._formats import _bridge


def _refuse_hand_off(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("handed to scipy")
    monkeypatch.setattr(_bridge, "call", refuse)
    monkeypatch.setattr(_bridge, "lend", refuse)


def _tricky(fmt, dtype, shape=(23, 17), seed=0, flavour="array"):
    """Negative and positive values, ties, stored zeros, a full line, an
    empty line, NaN for floats; built by scipy (canonical)."""
    rng = np.random.default_rng(seed)
    D = rng.integers(-3, 4, size=shape).astype(np.float64)
    D[rng.random(shape) < 0.6] = 0
    D[2, :] = rng.integers(1, 3, size=shape[1])           # a full row
    D[:, 3] = -rng.integers(1, 3, size=shape[0])          # a full column, negative
    D[5, :] = 0                                           # an empty row
    D[:, 7] = 0
    S = getattr(ss, f"{fmt}_{flavour}")(D.astype(dtype) if dtype != np.bool_ else D != 0)
    if np.dtype(dtype).kind == "f":
        S.data[S.data.size // 3] = np.nan
    if S.nnz > 4:
        S.data[1] = 0                                     # a stored zero
    return S


def _ours(S):
    return getattr(sp, f"{S.format}_{'array' if isinstance(S, ss.sparray) else 'matrix'}")(S)


def _same(ours, ref):
    assert type(ours).__name__ == type(ref).__name__
    if ss.issparse(ref):
        assert ours.shape == ref.shape and ours.dtype == ref.dtype and ours.format == ref.format
        np.testing.assert_array_equal(np.asarray(ours.data), ref.data)
        for o, r in zip(ours.coords, ref.coords):
            np.testing.assert_array_equal(np.asarray(o), r)
            assert np.asarray(o).dtype == r.dtype
        assert ours.has_canonical_format == ref.has_canonical_format
    else:
        assert np.asarray(ours).dtype == np.asarray(ref).dtype
        np.testing.assert_array_equal(ours, ref)


DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_]


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("explicit", [False, True])
def test_axis_extremes_on_views_match_scipy(fmt, flavour, dtype, explicit, monkeypatch):
    for seed in range(3):
        S = _tricky(fmt, dtype, seed=seed, flavour=flavour)
        A = _ours(S)
        A.has_canonical_format                    # (a first call works the flag out)
        _refuse_hand_off(monkeypatch)
        for axis in (0, 1, -1, -2):
            for name in ("max", "min", "argmax", "argmin"):
                _same(getattr(A, name)(axis=axis, explicit=explicit),
                      getattr(S, name)(axis=axis, explicit=explicit))
        monkeypatch.undo()


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_argextremes_over_every_place_on_views_match_scipy(flavour, dtype, monkeypatch):
    cases = [_tricky("csr", dtype, seed=s, flavour=flavour) for s in range(3)]
    full = np.arange(1, 13, dtype=np.float64).reshape(3, 4)
    cases += [getattr(ss, f"csr_{flavour}")(x.astype(dtype)) for x in
              (full, -full, full - 6, np.eye(4), -np.eye(4), np.diag([0, 0, 2.0]))]
    for S in cases:
        A = _ours(S)
        A.has_canonical_format
        _refuse_hand_off(monkeypatch)
        for name in ("argmax", "argmin"):
            for explicit in (False, True):
                got, ref = getattr(A, name)(explicit=explicit), getattr(S, name)(explicit=explicit)
                assert got == ref and type(got) is type(ref), (name, explicit, got, ref)
        monkeypatch.undo()


def test_reductions_views_do_not_take_stay_scipys():
    """Unsorted or repeated entries, complex values, CSC's argmax over every
    place, empty arrays and bad arguments: scipy's path, scipy's answers."""
    S = _tricky("csr", np.float32)
    U = S.copy()                                              # each row's entries reversed
    for k in range(U.shape[0]):
        a, b = U.indptr[k], U.indptr[k + 1]
        U.indices[a:b], U.data[a:b] = U.indices[a:b][::-1].copy(), U.data[a:b][::-1].copy()
    U.has_sorted_indices = False
    R = ss.csr_array((np.ones(4, np.float32), np.array([1, 1, 0, 2]), np.array([0, 2, 4])),
                     shape=(2, 3))                            # a repeated entry
    C = _tricky("csc", np.complex64)
    for ref in (U, R, _tricky("csc", np.float32), ss.csr_array((0, 4), dtype=np.float32)):
        A = sp.csr_array(ref) if ref.format == "csr" else sp.csc_array(ref)
        for name in ("argmax", "argmin", "max", "min"):
            for axis in (None, 0, 1):
                try:
                    want = getattr(ref, name)(axis=axis)
                except ValueError as e:
                    with pytest.raises(ValueError, match=str(e)[:20]):
                        getattr(A, name)(axis=axis)
                    continue
                got = getattr(A, name)(axis=axis)
                if ss.issparse(want):
                    np.testing.assert_array_equal(got.toarray(), want.toarray())
                else:
                    assert np.array_equal(got, want, equal_nan=True)
    A = sp.csc_array(C)
    np.testing.assert_array_equal(A.max(axis=0).toarray(), C.max(axis=0).toarray())
    with pytest.raises(ValueError, match="out"):
        sp.csr_array(S).max(axis=0, out=np.zeros(1))
    with pytest.raises(ValueError):
        sp.csr_array(S).argmax(axis=2)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", DTYPES + [np.complex64])
def test_dense_forms_on_views_match_scipy(fmt, flavour, dtype, monkeypatch):
    S = _tricky(fmt, dtype, flavour=flavour)
    dup = ss.coo_array(([1, 2, 3], ([0, 0, 1], [1, 1, 2])), shape=(2, 3)).astype(dtype)
    D = getattr(ss, f"{fmt}_{flavour}")((dup.data, (dup.row, dup.col)), shape=dup.shape)
    for ref in (S, D):
        A = _ours(ref)
        A._ensure_valid()
        _refuse_hand_off(monkeypatch)
        for name in ("toarray", "todense"):
            for order in (None, "C" if fmt == "csr" else "F"):
                got, want = getattr(A, name)(order=order), getattr(ref, name)(order=order)
                _same(got, want)
                assert got.flags.c_contiguous == want.flags.c_contiguous
        monkeypatch.undo()
    A = _ours(S)
    got = A.toarray(order="F" if fmt == "csr" else "C")      # the other order: scipy's path
    np.testing.assert_array_equal(got, S.toarray(order="F" if fmt == "csr" else "C"))
    d = A.toarray()
    d[...] = 7                                               # a new array: A is untouched
    np.testing.assert_array_equal(A.toarray(), S.toarray())


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype,ddtype", [(np.float32, np.float32), (np.float32, np.float64),
                                          (np.int8, np.float16), (np.bool_, np.int32),
                                          (np.int64, np.uint8), (np.complex64, np.float32)])
def test_numpy_dense_sums_on_views_match_scipy(fmt, flavour, dtype, ddtype, monkeypatch):
    S = _tricky(fmt, dtype, flavour=flavour)
    A = _ours(S)
    A._ensure_valid()
    rng = np.random.default_rng(3)
    full = (rng.random(S.shape) * 5).astype(ddtype)
    row = full[:1]
    _refuse_hand_off(monkeypatch)
    for X in (full, row, np.asfortranarray(full)):
        with np.errstate(all="ignore"):
            _same(A + X, S + X)
            if dtype != np.bool_:
                _same(A - X, S - X)
                _same(X - A, X - S)
    monkeypatch.undo()
    with pytest.raises(ValueError):
        A + np.ones((3, 3), dtype=ddtype)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", DTYPES + [np.complex64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_positions_and_counts_on_views_match_scipy(fmt, flavour, dtype, index_dtype,
                                                   monkeypatch):
    S = _tricky(fmt, dtype, flavour=flavour)
    S.indices, S.indptr = S.indices.astype(index_dtype), S.indptr.astype(index_dtype)
    no_zeros = S.copy()
    no_zeros.data[no_zeros.data == 0] = 1
    for ref in (S, no_zeros):
        A = _ours(ref)
        A.has_canonical_format
        _refuse_hand_off(monkeypatch)
        for got, want in zip(A.nonzero(), ref.nonzero()):
            _same(got, want)
        if fmt == "csr":
            for got, want in zip(sp.find(A), ss.find(ref)):
                _same(got, want)
        for axis in (0, 1, -1, -2):
            _same(A.count_nonzero(axis=axis), ref.count_nonzero(axis=axis))
        monkeypatch.undo()
    got = sp.find(_ours(S))[0]
    got[...] = -1                               # a new array: A is untouched
    np.testing.assert_array_equal(_ours(S).nonzero()[0], S.nonzero()[0])


def test_positions_of_repeated_entries_match_scipy(monkeypatch):
    """nonzero lists repeats each on their own, in storage order (on views);
    find and count_nonzero merge them first (scipy's path here)."""
    data = np.array([1.0, -1.0, 2.0, 0.0, 3.0], dtype=np.float32)
    ind, ptr = np.array([2, 2, 0, 1, 1]), np.array([0, 2, 5])
    S = ss.csr_array((data, ind, ptr), shape=(2, 3))
    A = sp.csr_array((data, ind, ptr), shape=(2, 3))
    for got, want in zip(A.nonzero(), S.copy().nonzero()):
        _same(got, want)
    for got, want in zip(sp.find(A), ss.find(S.copy())):
        _same(got, want)
    for axis in (0, 1):
        _same(A.count_nonzero(axis=axis), S.copy().count_nonzero(axis=axis))


# (no int64 index arrays for matrices: scipy's matrix constructor there reads
# the contents of its result arrays before trimming them, uninitialised memory
# included, so whether it narrows them to int32 changes from run to run)
@pytest.mark.parametrize("flavour,index_dtypes", [
    ("array", (np.int32, np.int32)), ("array", (np.int64, np.int32)),
    ("array", (np.int64, np.int64)), ("matrix", (np.int32, np.int32))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.complex64])
@pytest.mark.parametrize("formats", [("csr", "csc"), ("csr", "csr"), ("csc", "csc")])
def test_pairs_on_views_match_scipy(flavour, dtype, index_dtypes, formats, monkeypatch):
    """Pairs of one format and of CSR with CSC (scipy converts the second to
    the first's format and runs its routine; so do the views, the conversion
    ours); index dtypes as scipy's (an array keeps int64 from either)."""
    S = _tricky(formats[0], dtype, flavour=flavour, seed=4)
    T = _tricky(formats[1], dtype, flavour=flavour, seed=5)
    for X, i in ((S, index_dtypes[0]), (T, index_dtypes[1])):
        X.indices, X.indptr = X.indices.astype(i), X.indptr.astype(i)
    if np.dtype(dtype).kind == "f":
        S.data[np.isnan(S.data)], T.data[np.isnan(T.data)] = 1, 2
    A, B = _ours(S), _ours(T)
    A.has_canonical_format, B.has_canonical_format
    _refuse_hand_off(monkeypatch)
    ops = ["__add__", "__sub__", "multiply", "__ne__"]
    ops += ["maximum", "minimum", "__lt__", "__gt__"] if np.dtype(dtype).kind != "c" else []
    for X, Y, SX, SY in ((A, B, S, T), (B, A, T, S)):
        for op in ops:
            got, want = getattr(X, op)(Y), getattr(SX, op)(SY)
            assert type(got).__name__ == type(want).__name__ and got.dtype == want.dtype
            np.testing.assert_array_equal(np.asarray(got.data), want.data)
            np.testing.assert_array_equal(np.asarray(got.indices), want.indices)
            np.testing.assert_array_equal(np.asarray(got.indptr), want.indptr)
            assert np.asarray(got.indices).dtype == want.indices.dtype


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", DTYPES + [np.complex64, np.int8])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_coo_sum_duplicates_on_views_matches_scipy(flavour, dtype, index_dtype, monkeypatch):
    rng = np.random.default_rng(7)
    n = 300                         # many repeats of few places: the order of adding shows
    r, c = rng.integers(0, 6, n).astype(index_dtype), rng.integers(0, 5, n).astype(index_dtype)
    d = (rng.standard_normal(n) * 10.0 ** rng.integers(-4, 5, n)).astype(dtype)
    S = getattr(ss, f"coo_{flavour}")((d, (r, c)), shape=(6, 5))
    A = getattr(sp, f"coo_{flavour}")((d, (r, c)), shape=(6, 5))
    A._ensure_valid()
    before = np.array(A.data), np.array(A.row)
    T = A.T
    _refuse_hand_off(monkeypatch)
    A.sum_duplicates()
    S.sum_duplicates()
    assert A.has_canonical_format and A.nnz == S.nnz
    for got, want in ((A.data, S.data), (A.row, S.row), (A.col, S.col)):
        got = np.asarray(got)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    monkeypatch.undo()
    np.testing.assert_array_equal(np.asarray(T.data), before[0])    # a view from before: as it was
    np.testing.assert_array_equal(np.asarray(T.col), before[1])


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_view_paths_see_a_callers_write_through_an_index_handle(fmt):
    """A.indices written by the caller (scipy shares it with A.T): every
    path on views reads the new pattern, on A and on a transpose from before."""
    D = np.array([[1., 0, 2, 0], [0, 3, 0, -4], [5, 0, 0, 6]], np.float32)
    A, S = getattr(sp, f"{fmt}_array")(D), getattr(ss, f"{fmt}_array")(D)
    for X in (A, A.T):                          # views first: their paths known
        X.toarray(), X.max(axis=0), X.diagonal()
    B, R = A.T, S.T
    A.indices[0], S.indices[0] = 1, 1
    for ours, ref in ((A, S), (B, R)):
        np.testing.assert_array_equal(ours.toarray(), ref.toarray())
        np.testing.assert_array_equal(ours.diagonal(), ref.diagonal())
        for axis in (0, 1):
            np.testing.assert_array_equal(ours.sum(axis=axis), ref.sum(axis=axis))
            np.testing.assert_array_equal(ours.max(axis=axis).toarray(),
                                          ref.max(axis=axis).toarray())
            np.testing.assert_array_equal(ours.argmin(axis=axis), ref.argmin(axis=axis))
            np.testing.assert_array_equal(ours.count_nonzero(axis=axis),
                                          ref.count_nonzero(axis=axis))
        for got, want in zip(ours.nonzero(), ref.nonzero()):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", DTYPES + [np.complex64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_pickle_round_trip_without_scipy_matches_scipys(fmt, flavour, dtype, index_dtype,
                                                        monkeypatch):
    import pickle
    S = getattr(ss, f"{fmt}_{flavour}")(_tricky("csr", dtype).asformat(fmt))
    if fmt == "coo":
        S.row, S.col = S.row.astype(index_dtype), S.col.astype(index_dtype)
    else:
        S.indices, S.indptr = S.indices.astype(index_dtype), S.indptr.astype(index_dtype)
    A = _ours(S)
    A.maxprint = 7
    A._ensure_valid()
    R = pickle.loads(pickle.dumps(S))
    _refuse_hand_off(monkeypatch)
    B = pickle.loads(pickle.dumps(A))
    assert type(B) is type(A) and B.shape == R.shape and B.dtype == R.dtype and B.maxprint == 7
    names = ("data", "row", "col") if fmt == "coo" else ("data", "indices", "indptr")
    for name in names:
        got, want = np.asarray(getattr(B, name)), getattr(R, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want)
    assert B.has_canonical_format == R.has_canonical_format
    monkeypatch.undo()
    np.testing.assert_array_equal(B.toarray(), R.toarray())


def test_a_damaged_pickle_is_refused_before_any_kernel_reads_it():
    import pickle
    A = sp.csr_array(_tricky("csr", np.float32))
    blob = pickle.dumps(A)
    i = blob.index(np.asarray(A.indices).tobytes())      # the index array's bytes
    bad = bytearray(blob)
    bad[i:i + 4] = np.int32(10 ** 6).tobytes()           # an index past the columns
    B = pickle.loads(bytes(bad))
    with pytest.raises(ValueError, match="indices"):
        B @ np.ones(A.shape[1], dtype=np.float32)
    with pytest.raises(ValueError, match="indices"):
        B.toarray()


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_, np.complex64])
def test_comparisons_with_numpy_dense_on_views_match_scipy(fmt, flavour, dtype, monkeypatch):
    import operator
    S = _tricky(fmt, dtype, flavour=flavour)
    A = _ours(S)
    A._ensure_valid()
    rng = np.random.default_rng(5)
    D = rng.integers(-2, 3, size=S.shape).astype(np.float32)
    D[0, 0] = np.nan
    ops = [operator.eq, operator.ne]
    ops += [operator.lt, operator.gt, operator.le, operator.ge] if dtype != np.complex64 else []
    _refuse_hand_off(monkeypatch)
    for op in ops:
        for X in (D, D[:1]):
            with np.errstate(invalid="ignore"):
                _same(op(A, X), op(S, X))


@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_comparisons_with_numpy_dense_compile_with_traced_values(flavour):
    """Traced values (mx.compile): A densified in MLX, compared there; an
    MLX bool array equal to scipy's answer."""
    import operator
    import mlx.core as mx
    S = getattr(ss, f"csr_{flavour}")(_tricky("csr", np.float32, seed=2))
    S.data[np.isnan(S.data)] = 1
    D = np.random.default_rng(1).integers(-2, 3, size=S.shape).astype(np.float32)
    ops = (operator.eq, operator.ne, operator.lt, operator.gt, operator.le, operator.ge)
    cls = getattr(sp, f"csr_{flavour}")

    def compared(d):
        A = cls((d, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        return [op(A, X) for op in ops for X in (D, D[:1])]
    got = mx.compile(compared)(mx.array(S.data))
    want = [op(S, X) for op in ops for X in (D, D[:1])]
    for g, w in zip(got, want):
        assert isinstance(g, mx.array) and g.dtype == mx.bool_
        np.testing.assert_array_equal(np.array(g), np.asarray(w))


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_, np.float16])
def test_reshape_without_scipy_matches_scipys(fmt, flavour, index_dtype, dtype, monkeypatch):
    S = getattr(ss, f"{fmt}_{flavour}")(_tricky("csr", np.float32).asformat(fmt))
    S.data[np.isnan(S.data)] = 1
    S = S.astype(np.float32 if dtype == np.float16 else dtype)
    if fmt == "coo":
        S.row, S.col = S.row.astype(index_dtype), S.col.astype(index_dtype)
    else:
        S.indices, S.indptr = S.indices.astype(index_dtype), S.indptr.astype(index_dtype)
    A = _ours(S).astype(dtype)
    A._ensure_valid()
    cases = [((17, 23), {}), ((23 * 17, 1), {}), ((1, -1), {"order": "F"}),
             ((17, 23), {"copy": True})]
    _refuse_hand_off(monkeypatch)
    assert A.reshape(A.shape) is A and S.reshape(S.shape) is S       # scipy's shortcut
    for shape, kw in cases:
        got, want = A.reshape(shape, **kw), S.reshape(shape, **kw)
        assert type(got).__name__ == type(want).__name__ and got.shape == want.shape
        assert got.dtype == dtype and got.has_canonical_format == want.has_canonical_format
        np.testing.assert_array_equal(np.asarray(got.data).astype(want.dtype), want.data)
        for g, w in zip(got.coords, want.coords):
            assert np.asarray(g).dtype == w.dtype
            np.testing.assert_array_equal(np.asarray(g), w)
    monkeypatch.undo()
    with pytest.raises(ValueError):
        A.reshape((5, 5))


def test_reshape_shares_values_as_scipy_unless_copied():
    S = _tricky("csr", np.float32, seed=3)
    S.data[np.isnan(S.data)] = 1
    A = sp.csr_array(S)
    i, j = S.nonzero()[0][0], S.nonzero()[1][0]
    R, C = A.reshape((17, 23)), A.reshape((17, 23), copy=True)
    RS, CS = S.reshape((17, 23)), S.reshape((17, 23), copy=True)
    A[i, j] = 42.0                                    # a stored entry, in place
    S[i, j] = 42.0
    np.testing.assert_array_equal(R.toarray(), RS.toarray())
    np.testing.assert_array_equal(C.toarray(), CS.toarray())
    assert R.toarray().max() == 42.0 and C.toarray().max() < 42.0


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_, np.complex64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_resize_on_views_matches_scipy(fmt, flavour, dtype, index_dtype, monkeypatch):
    for shape in ((10, 8), (23, 5), (7, 17), (7, 5), (30, 9), (9, 30), (0, 0), (1, 40)):
        S = getattr(ss, f"{fmt}_{flavour}")(_tricky(fmt, dtype, seed=6))
        S.indices, S.indptr = S.indices.astype(index_dtype), S.indptr.astype(index_dtype)
        A = _ours(S)
        A.has_canonical_format
        handed = np.array(A.indices), A.indices     # a handle from before keeps its array
        _refuse_hand_off(monkeypatch)
        A.resize(shape)
        S.resize(shape)
        monkeypatch.undo()
        assert A.shape == S.shape
        for got, want in ((A.data, S.data), (A.indices, S.indices), (A.indptr, S.indptr)):
            got = np.asarray(got)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
        assert A.has_canonical_format == S.has_canonical_format
        np.testing.assert_array_equal(np.asarray(handed[1]), handed[0])


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_, np.complex64])
def test_setdiag_rebuilding_on_views_matches_scipy(fmt, flavour, dtype, monkeypatch):
    """The setdiag that adds many entries (scipy rebuilds the array through
    its COO form): on views, scipy's arrays bit for bit; an earlier
    transpose keeps the old entries, as scipy's does."""
    for shape in ((23, 17), (17, 23)):
        for k in (0, 2, -3, shape[1] - 1, -(shape[0] - 1)):
            for values in ("scalar", "short", "long"):
                D = _tricky(fmt, dtype, shape=shape, seed=abs(k)).toarray()
                S = getattr(ss, f"{fmt}_{flavour}")(D)
                A = _ours(S)
                A.has_canonical_format
                x = np.asarray(3, dtype=dtype) if values == "scalar" else \
                    (np.arange(1, 5 if values == "short" else 40) % 3).astype(dtype)
                T, TS = A.T, S.T
                _refuse_hand_off(monkeypatch)
                A.setdiag(x, k)
                monkeypatch.undo()
                S.setdiag(x, k)
                for got, want in ((A.data, S.data), (A.indices, S.indices),
                                  (A.indptr, S.indptr)):
                    got = np.asarray(got)
                    assert got.dtype == want.dtype
                    np.testing.assert_array_equal(got, want)
                assert A.has_canonical_format and S.has_canonical_format
                np.testing.assert_array_equal(T.toarray(), TS.toarray())


def test_setdiag_cases_the_views_leave_to_scipy_stay_scipys():
    """Few new entries (scipy inserts them), another value dtype, an offset
    past the shape: scipy's path, scipy's answers."""
    D = np.diag(np.arange(1.0, 3001.0, dtype=np.float32))
    D[5, 5] = 0
    S, A = ss.csr_array(D), sp.csr_array(D)
    S.setdiag(7.0)
    A.setdiag(7.0)
    np.testing.assert_array_equal(np.asarray(A.indices), S.indices)
    np.testing.assert_array_equal(np.asarray(A.data), S.data)
    S, A = ss.csr_array(D[:40, :40]), sp.csr_array(D[:40, :40])
    x = np.arange(40.0)                                   # float64 into float32 values
    S.setdiag(x, 1)
    A.setdiag(x, 1)
    assert A.dtype == S.dtype
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    with pytest.raises(ValueError, match="k exceeds"):
        A.setdiag(1.0, 40)


def _write_keys(shape):
    rng = np.random.default_rng(0)
    mask = rng.random(shape[0]) < 0.3
    cmask = rng.random(shape[1]) < 0.3
    return [slice(3, 9), (slice(None), slice(2, 7)), mask, (mask, slice(None)),
            (slice(None), cmask), ([1, 2, 5], [3, 3, 0]), (slice(None, None, 3), [1, 4]),
            (np.array([1, 1, 2]), np.array([0, 0, 9])), (-1, slice(None)), 5,
            (slice(2, 9), 3), (slice(1, 5), slice(1, 5)), rng.random(shape) < 0.1]


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_, np.complex64])
def test_structure_changing_writes_on_views_match_scipy(fmt, flavour, dtype, monkeypatch):
    """A[key] = number where the key reaches places not stored: scipy's
    arrays bit for bit, scipy's warning; handles and a transpose from before
    keep the old entries, as scipy's do."""
    for key in _write_keys((23, 17)):
        for x in (3, 0):
            S = getattr(ss, f"{fmt}_{flavour}")(_tricky(fmt, dtype, seed=1))
            S.data[np.isnan(S.data) if S.dtype.kind == "f" else slice(0)] = 1
            A = _ours(S)
            A.has_canonical_format
            T, TS, h = A.T, S.T, A.indices
            before = np.array(h)
            _refuse_hand_off(monkeypatch)
            with pytest.warns(ss.SparseEfficiencyWarning, match="Changing the sparsity"):
                A[key] = x
            monkeypatch.undo()
            with pytest.warns(ss.SparseEfficiencyWarning):
                S[key] = x
            for got, want in ((A.data, S.data), (A.indices, S.indices), (A.indptr, S.indptr)):
                got = np.asarray(got)
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(got, want)
            assert A.has_canonical_format and A.has_sorted_indices
            np.testing.assert_array_equal(T.toarray(), TS.toarray())
            np.testing.assert_array_equal(np.asarray(h), before)


@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")
def test_structure_changing_writes_left_to_scipy_stay_scipys():
    """Array values, bad keys, unsorted arrays: scipy's path and errors."""
    S = _tricky("csr", np.float32, seed=1)
    S.data[np.isnan(S.data)] = 1
    A = sp.csr_array(S)
    for key, x in ((slice(0, 2), np.arange(17.0)), ((slice(None), 3), np.arange(23.0))):
        S2, A2 = S.copy(), sp.csr_array(S)
        S2[key] = x
        A2[key] = x
        np.testing.assert_array_equal(A2.toarray(), S2.toarray())
    for key in ((slice(None), 40), 1.5, (slice(None), [0, 30])):
        with pytest.raises(IndexError):
            S.copy()[key] = 1
        with pytest.raises(IndexError):
            A[key] = 1


@pytest.mark.parametrize("flavour,index_dtype", [("array", np.int32), ("array", np.int64),
                                                 ("matrix", np.int32)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_])
def test_sparse_sparse_division_and_all_true_comparisons_match_scipy(flavour, index_dtype,
                                                                     dtype, monkeypatch):
    """A / B (dense: NaN where neither stores, inf where only A does, zeros
    where B stores) and A == B, A <= B, A >= B (True wherever the opposite
    comparison is not, with scipy's warning) on views."""
    import operator
    import warnings
    S = _tricky("csr", dtype, flavour=flavour, seed=7)
    T = _tricky("csr", dtype, flavour=flavour, seed=8)
    for X in (S, T):
        X.indices, X.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
        if X.dtype.kind == "f":
            X.data[np.isnan(X.data)] = 2
    A, B = _ours(S), _ours(T)
    A.has_canonical_format, B.has_canonical_format
    _refuse_hand_off(monkeypatch)
    with np.errstate(all="ignore"):
        got, want = A / B, S / T
    assert type(got) is type(want) and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    monkeypatch.undo()
    views = dtype != np.bool_               # (bool pairs compare through scipy)
    for fmt in ("csr", "csc"):
        X, Y = A.asformat(fmt), B.asformat(fmt)
        for op in (operator.eq, operator.le, operator.ge):
            if views:
                _refuse_hand_off(monkeypatch)
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                got = op(X, Y)                      # (this line is what the warning names)
            monkeypatch.undo()
            with warnings.catch_warnings(record=True) as scipy_said:
                warnings.simplefilter("always")
                want = op(S.asformat(fmt), T.asformat(fmt))
            assert [str(w.message) for w in said] == [str(w.message) for w in scipy_said]
            assert said[0].filename == __file__ or not views
            assert type(got).__name__ == type(want).__name__ and got.format == want.format
            for g, w in ((got.indices, want.indices), (got.indptr, want.indptr),
                         (got.data, want.data)):
                assert np.asarray(g).dtype == w.dtype
                np.testing.assert_array_equal(np.asarray(g), w)


@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_sparse_sparse_division_of_traced_values_compiles_and_differentiates(flavour):
    """Traced values: scipy's dense answer in MLX (float64; NaN and inf where
    scipy has them), under mx.compile, and a gradient for both operands
    that matches finite differences on the finite places (a loss leaving out
    the inf / NaN places gets no NaN from them)."""
    import mlx.core as mx
    S, T = (_tricky("csr", np.float64, seed=s, flavour=flavour) for s in (9, 10))
    for X in (S, T):
        X.data[np.isnan(X.data)] = 3
    cls = getattr(sp, f"csr_{flavour}")
    f64 = (lambda a: mx.array(a, dtype=mx.float64))

    def divided(a, b):
        A = cls((a, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        B = cls((b, mx.array(T.indices), mx.array(T.indptr)), shape=T.shape)
        return A / B
    with np.errstate(all="ignore"):
        want = np.asarray(S / T)
    got = mx.compile(divided)(f64(S.data), f64(T.data))
    assert got.dtype == mx.float64
    np.testing.assert_array_equal(np.array(got), want)
    finite = mx.array(np.isfinite(want))
    W = f64(np.random.default_rng(1).uniform(-1, 1, want.shape))

    def loss(a, b):
        d = divided(a, b)           # (free values: scipy's numpy answer, kept float64)
        d = d if isinstance(d, mx.array) else f64(np.asarray(d))
        return mx.sum(W * mx.where(finite, d, 0.0))
    with mx.stream(mx.cpu):         # float64 gradients: MLX keeps float64 off GPUs
        ga, gb = mx.grad(loss, argnums=(0, 1))(f64(S.data), f64(T.data))
    assert np.isfinite(np.array(ga)).all() and np.isfinite(np.array(gb)).all()
    rng = np.random.default_rng(2)
    for _ in range(4):
        da, db = rng.standard_normal(S.nnz), rng.standard_normal(T.nnz)
        eps = 1e-6
        with mx.stream(mx.cpu):
            up = loss(f64(S.data + eps * da), f64(T.data + eps * db))
            dn = loss(f64(S.data - eps * da), f64(T.data - eps * db))
        fd = (float(np.asarray(up)) - float(np.asarray(dn))) / (2 * eps)
        an = float(np.array(ga) @ da + np.array(gb) @ db)
        assert abs(an - fd) <= 1e-5 * max(1.0, abs(fd))
