"""The CPU's compiled passes behind in-place restructuring of free values
(`eliminate_zeros` by scipy's one pass on copies): scipy's answer bit for
bit, flags kept, and nothing handed out before (handles, the caller's arrays,
views) changed by the call."""
import numpy as np
import pytest
import scipy.sparse as ss
import mlx.core as mx

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import _kernels
from mlx_scipy_sparse._kernels import _values


def _with_zeros(fmt, dtype, index_dtype, seed=0, unsorted=False):
    S = ss.random(40, 30, density=0.2, format=fmt, random_state=seed)
    S = (S * 10).astype(dtype)
    S.data[::3] = 0
    S.indices = S.indices.astype(index_dtype)
    S.indptr = S.indptr.astype(index_dtype)
    if unsorted:                                # reverse each line's entries
        for k in range(len(S.indptr) - 1):
            a, b = S.indptr[k], S.indptr[k + 1]
            S.indices[a:b] = S.indices[a:b][::-1].copy()
            S.data[a:b] = S.data[a:b][::-1].copy()
        S.has_sorted_indices = False
    return S


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.complex64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("unsorted", [False, True])
@pytest.mark.parametrize("mlx_buffers", [False, True])
def test_eliminate_zeros_matches_scipy(fmt, dtype, index_dtype, unsorted, mlx_buffers,
                                       monkeypatch):
    if mlx_buffers:     # the large arrays' path (the pass in new MLX buffers), made small
        monkeypatch.setattr(_values, "_IN_MLX_BUFFERS", 1)
    S0 = _with_zeros(fmt, dtype, index_dtype, unsorted=unsorted)
    A = getattr(sp, f"{fmt}_array")(S0)
    S = getattr(ss, f"{fmt}_array")(S0)        # made the same way: flags not yet known
    S.eliminate_zeros()
    A.eliminate_zeros()
    assert A.nnz == S.nnz and A.dtype == S.dtype
    np.testing.assert_array_equal(np.asarray(A.data), S.data)
    np.testing.assert_array_equal(np.asarray(A.indices), S.indices)
    np.testing.assert_array_equal(np.asarray(A.indptr), S.indptr)
    assert A.has_sorted_indices == S.has_sorted_indices


def test_eliminate_zeros_leaves_earlier_handles_and_sources_alone():
    S = _with_zeros("csr", np.float32, np.int32)
    data, ind, ptr = (mx.array(a) for a in (S.data, S.indices, S.indptr))
    A = sp.csr_array((data, ind, ptr), shape=S.shape)
    before = [np.array(a) for a in (data, ind, ptr)]
    h_data, h_ind = A.data, A.indices           # handed out before the call
    h_before = np.array(h_data), np.array(h_ind)
    T = A.T
    T_before = T.toarray()
    A.eliminate_zeros()
    for a, b in zip((data, ind, ptr), before):  # the caller's arrays: untouched
        np.testing.assert_array_equal(np.array(a), b)
    np.testing.assert_array_equal(np.array(h_data), h_before[0])
    np.testing.assert_array_equal(np.array(h_ind), h_before[1])
    np.testing.assert_array_equal(T.toarray(), T_before)
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    assert not np.any(np.asarray(A.data) == 0)


def test_drop_zeros_is_not_taken_for_traced_values():
    S = _with_zeros("csr", np.float32, np.int32)
    A = sp.csr_array(S)
    seen = []

    def f(v):
        seen.append(_kernels.drop_zeros(v, A._indices, A._indptr, *S.shape))
        return v.sum()
    mx.grad(f)(mx.array(S.data))
    assert seen == [None]


def _pair(fmt, dtype=np.float32, rows=(30, 0), index_dtype=np.int32):
    out = []
    for k, r in enumerate(rows):
        shape = (r, 25) if fmt == "csr" else (25, r)
        S = ss.random(*shape, density=0.2, format=fmt, random_state=k)
        S = getattr(ss, f"{fmt}_array")((S * 10).astype(dtype))    # float16: ours alone
        S.indices = S.indices.astype(index_dtype)
        S.indptr = S.indptr.astype(index_dtype)
        out.append(S)
    return out


@pytest.mark.parametrize("name,fmt", [("vstack", "csr"), ("hstack", "csc")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("flavours", [("array", "array"), ("matrix", "matrix"),
                                      ("matrix", "array")])
@pytest.mark.parametrize("rows", [(30, 12), (30, 0, 7), (5,)])
@pytest.mark.parametrize("mlx_buffers", [False, True])
def test_stacking_end_to_end_matches_scipy(name, fmt, dtype, index_dtype, flavours, rows,
                                           mlx_buffers, monkeypatch):
    if mlx_buffers:     # the large arrays' path (MLX's concatenate), made small
        monkeypatch.setattr(_values, "_IN_MLX_BUFFERS", 1)
    half = dtype == np.float16                  # scipy has no float16: it stacks float32
    parts = _pair(fmt, np.float32 if half else dtype, rows, index_dtype)
    fl = (flavours * 3)[:len(parts)]
    ours = [getattr(sp, f"{fmt}_{f}")(
        (mx.array(S.data.astype(np.float16)), mx.array(S.indices), mx.array(S.indptr)),
        shape=S.shape) if half else getattr(sp, f"{fmt}_{f}")(S) for S, f in zip(parts, fl)]
    theirs = [getattr(ss, f"{fmt}_{f}")(S) for S, f in zip(parts, fl)]
    R, Q = getattr(sp, name)(ours), getattr(ss, name)(theirs)
    Qdata = Q.data.astype(np.float16) if half else Q.data
    assert type(R).__name__ == type(Q).__name__ and R.shape == Q.shape
    assert R.dtype == Qdata.dtype
    for a, b in ((R.data, Qdata), (R.indices, Q.indices), (R.indptr, Q.indptr)):
        b = np.asarray(b)
        assert np.asarray(a).dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), b)
    R.data[...] = 0                             # the result owns its values
    want = theirs[0].toarray()
    np.testing.assert_array_equal(ours[0].toarray(), want.astype(np.float16) if half else want)


def test_stacking_errors_and_other_formats_stay_scipys():
    A, B = _pair("csr", rows=(4, 3))
    C = ss.csr_array(ss.random(3, 7, density=0.3, random_state=1))
    with pytest.raises(ValueError, match="incompatible"):
        sp.vstack([sp.csr_array(A), sp.csr_array(C)])
    R = sp.vstack([sp.csr_array(A), sp.csc_array(B)])       # mixed formats: scipy's path
    np.testing.assert_array_equal(R.toarray(), ss.vstack([A, B.tocsc()]).toarray())
    R = sp.vstack([sp.csr_array(A), sp.csr_array(B)], format="coo")
    assert R.format == "coo"
    np.testing.assert_array_equal(R.toarray(), ss.vstack([A, B]).toarray())


def test_stacking_traced_values_keeps_the_gradient():
    A, B = _pair("csr", rows=(4, 3))
    Bo = sp.csr_array(B)

    def f(v):
        Ao = sp.csr_array((v, mx.array(A.indices), mx.array(A.indptr)), shape=A.shape)
        return sp.vstack([Ao, Bo]).power(2).sum()
    g = mx.grad(f)(mx.array(A.data))
    np.testing.assert_allclose(np.array(g), 2 * A.data, rtol=1e-6)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.complex64, np.bool_])
def test_value_pairs_match_scipy(fmt, flavour, dtype):
    """A[rows, cols] with two integer arrays: scipy's values (duplicates
    summed, zeros where nothing is stored), type, shape and dtype; scipy's
    IndexError out of range; no places: scipy's own answer."""
    S = ss.random_array((30, 20), density=0.3, rng=1, format="csr")
    S = getattr(ss, f"{fmt}_{flavour}")(S).astype(dtype)
    if fmt == "csr":                                  # a duplicated entry
        S = getattr(ss, f"csr_{flavour}")((np.r_[S.data, S.data[:1]], np.r_[S.indices, S.indices[:1]],
                                           np.r_[S.indptr[:-1], S.indptr[-1] + 1]), shape=S.shape)
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    for r, c in [(np.array([1, 3, -1, 29, 29]), np.array([0, -20, 5, 19, 19])),
                 (np.array([2], np.int8), np.array([3], np.uint16)),
                 (np.arange(30), np.arange(30) % 20), (np.array([], int), np.array([], int))]:
        got, want = A[r, c], S[r, c]
        assert type(got).__name__ == type(want).__name__
        assert got.shape == want.shape and got.dtype == want.dtype
        if hasattr(want, "toarray"):
            got, want = got.toarray(), want.toarray()
        np.testing.assert_array_equal(got, want)
    for bad in [(np.array([30]), np.array([0])), (np.array([0]), np.array([-21]))]:
        with pytest.raises(IndexError):
            A[bad]


def test_value_pairs_of_traced_values_keep_the_gradient():
    S = ss.random_array((6, 5), density=0.5, rng=2, format="csr", dtype=np.float32)
    r, c = np.array([0, 1, 2]), np.array([1, 2, 3])

    def f(v):
        A = sp.csr_array((v, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        out = A[r, c]
        assert isinstance(out, mx.array)
        return (out * out).sum()
    v = mx.array(S.data)
    g = np.array(mx.grad(f)(v))
    want = np.zeros(S.nnz, dtype=np.float32)
    for i, j in zip(r, c):
        for k in range(S.indptr[i], S.indptr[i + 1]):
            if S.indices[k] == j:
                want[k] += 2 * S.data[k]
    np.testing.assert_allclose(g, want, rtol=1e-6)


_ROW_KEYS = [[3, 0, 3, -1], np.array([39, 2, 2, 5]), np.arange(40)[::-1], np.array([7]),
             np.arange(40) % 3 == 0, slice(None, None, 2), slice(35, 3, -3), slice(1, None, 5),
             (np.array([1, 4, 4]), slice(None)), (slice(0, 40, 7), slice(None))]


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.complex64, np.int8])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("unsorted", [False, True])
def test_rows_picked_on_views_match_scipy(flavour, dtype, index_dtype, unsorted):
    """A[idx], A[mask], A[::k] of CSR read on views (scipy's csr_row_index):
    scipy's class, shape, arrays and dtypes, index dtype, flags; the result
    owns its arrays (a write to it leaves A alone)."""
    S0 = _with_zeros("csr", dtype, index_dtype, unsorted=unsorted)
    S = getattr(ss, f"csr_{flavour}")(S0)
    for key in _ROW_KEYS:
        A = getattr(sp, f"csr_{flavour}")(S0)
        ours, ref = A[key], S[key]
        assert type(ours).__name__ == type(ref).__name__ and ours.shape == ref.shape, key
        assert ours.dtype == ref.dtype and ours.nnz == ref.nnz
        for name in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(np.asarray(getattr(ours, name)), getattr(ref, name))
            assert np.asarray(getattr(ours, name)).dtype == getattr(ref, name).dtype, name
        assert ours.has_sorted_indices == ref.has_sorted_indices
        if ours.nnz:
            ours.data[0] = 99
            np.testing.assert_array_equal(np.asarray(A.data), S0.data)


def test_row_picking_errors_stay_scipys():
    S = _with_zeros("csr", np.float32, np.int32)
    A = sp.csr_array(S)
    for key in ([0, 40], np.array([-41]), np.ones(39, dtype=bool)):
        with pytest.raises(IndexError) as ours:
            A[key]
        with pytest.raises(IndexError) as ref:
            ss.csr_array(S)[key]
        assert type(ours.value) is type(ref.value)
    key = np.array([0.5, 1.0])                   # scipy takes float indices: its path answers
    np.testing.assert_array_equal(A[key].toarray(), ss.csr_array(S)[key].toarray())
    E = ss.csr_array(S)[np.array([], dtype=np.int64)]
    assert A[np.array([], dtype=np.int64)].shape == E.shape


def test_rows_picked_of_traced_values_keep_the_gradient():
    S = _with_zeros("csr", np.float64, np.int32)
    idx = np.array([5, 5, 0, 39])

    def f(v):
        A = sp.csr_array((v, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        return mx.sum(A[idx].data ** 2) + mx.sum(A[::4].data)
    with mx.stream(mx.cpu):
        g = np.array(mx.grad(f)(mx.array(S.data, dtype=mx.float64)))
    rows = np.repeat(np.arange(40), np.diff(S.indptr))
    times = np.bincount(idx, minlength=40)[rows]
    want = 2 * times * S.data + (rows % 4 == 0)
    np.testing.assert_allclose(g, want, rtol=1e-12)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.complex64])
@pytest.mark.parametrize("ddtype", [np.float64, np.float32, np.int32, np.bool_])
def test_dense_numpy_sampled_on_views_matches_scipy(fmt, flavour, dtype, ddtype):
    """A.multiply(D), A * D (arrays) and A / D with a numpy D of A's shape, a
    row or a column, free CPU values: numpy at the entries on views, scipy's
    COO class, dtype, coordinates and bits."""
    S0 = _with_zeros(fmt, dtype, np.int32, seed=4)
    S = getattr(ss, f"{fmt}_{flavour}")(S0)
    A = getattr(sp, f"{fmt}_{flavour}")(S0)
    rng = np.random.default_rng(5)
    for shape in (S.shape, (1, S.shape[1]), (S.shape[0], 1)):
        D = (rng.uniform(0.5, 2.0, shape) * 3).astype(ddtype)
        pairs = [(A.multiply(D), S.multiply(D))]
        if flavour == "array":
            pairs.append((A * D, S * D))
            if ddtype != np.bool_:
                with np.errstate(divide="ignore"):
                    pairs.append((A / D, S / D))
        for ours, ref in pairs:
            assert type(ours).__name__ == type(ref).__name__ and ours.shape == ref.shape
            assert ours.dtype == ref.dtype and ours.nnz == ref.nnz
            np.testing.assert_array_equal(np.asarray(ours.data), ref.data)
            np.testing.assert_array_equal(np.asarray(ours.row), ref.row)
            np.testing.assert_array_equal(np.asarray(ours.col), ref.col)


def test_dense_numpy_sampling_hands_nothing_to_scipy(monkeypatch):
    from mlx_scipy_sparse._formats import _bridge

    def refuse(*a, **k):
        raise AssertionError("handed to scipy")
    S = ss.csr_array(_with_zeros("csr", np.float32, np.int32, seed=8))
    A = sp.csr_array(S)
    A.has_canonical_format                      # worked out before the hand-off is refused
    D = np.random.default_rng(9).uniform(0.5, 2.0, S.shape)
    monkeypatch.setattr(_bridge, "call", refuse)
    monkeypatch.setattr(_bridge, "lend", refuse)
    np.testing.assert_array_equal((A * D).toarray(), (S * D).toarray())
    np.testing.assert_array_equal(A.multiply(D[:1]).toarray(), S.multiply(D[:1]).toarray())


def test_dense_numpy_sampling_of_traced_values_keeps_the_gradient():
    S = _with_zeros("csr", np.float64, np.int32, seed=6)
    D = np.random.default_rng(7).uniform(0.5, 2.0, S.shape)

    def f(v):
        A = sp.csr_array((v, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        return mx.sum(A.multiply(D).data * 3.0)
    with mx.stream(mx.cpu):
        g = np.array(mx.grad(f)(mx.array(S.data, dtype=mx.float64)))
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    np.testing.assert_allclose(g, 3.0 * D[rows, S.indices], rtol=1e-12)


def test_free_mlx_dense_sampled_on_views_and_traced_keeps_its_gradient():
    """A * D / A.multiply(D) / D * A with a free MLX D on the CPU: numpy at
    the entries on views (the same bits and COO as with a numpy D); with D
    traced, the gradient with respect to D still flows (the MLX path)."""
    S = ss.csr_array(_with_zeros("csr", np.float32, np.int32, seed=10))
    A = sp.csr_array(S)
    Dn = np.random.default_rng(11).uniform(0.5, 2.0, S.shape).astype(np.float32)
    D = mx.array(Dn)
    for ours, ref in ((A * D, S * Dn), (A.multiply(D[:1]), S.multiply(Dn[:1])),
                      (D * A, S * Dn)):
        assert type(ours).__name__ == type(ref).__name__ and ours.dtype == ref.dtype
        np.testing.assert_array_equal(np.asarray(ours.data), ref.data)
        np.testing.assert_array_equal(np.asarray(ours.row), ref.row)

    def f(d):
        return mx.sum((A * d).data)
    g = np.array(mx.grad(f)(D))
    np.testing.assert_allclose(g, S.toarray(), rtol=1e-6)     # A's values at its places


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int8, np.uint8])
def test_maximum_minimum_with_a_scalar_on_views_match_scipy(fmt, flavour, dtype, monkeypatch):
    """maximum(A, s <= 0) / minimum(A, s >= 0) of free CPU values: numpy's op
    on a view, the pattern shared, the zeros it makes (and the stored ones)
    dropped, scipy's dtype; no hand-off to scipy (1-byte values whose
    zeros must go are scipy's: its compiled pass is taken from 4 bytes up);
    scipy's errors kept."""
    from mlx_scipy_sparse._formats import _bridge
    R = ss.random_array((50, 40), density=0.3, format="csr", rng=2, dtype=np.float64)
    R.data = (R.data - 0.5) * 4
    R.data[::6] = 0                      # stored zeros: scipy drops them
    S = getattr(ss, f"{fmt}_{flavour}")(R.astype(dtype))
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    A.has_canonical_format

    def refuse(*a, **k):
        raise AssertionError("handed to scipy")
    for op, s in (("minimum", 0.3), ("minimum", 2), ("maximum", -0.5), ("maximum", 0),
                  ("minimum", 0), ("maximum", -3)):
        try:
            ref = getattr(S, op)(s)
        except Exception as e:          # (uint8 and -3: numpy's OverflowError)
            with pytest.raises(type(e)):
                getattr(A, op)(s)
            continue
        with monkeypatch.context() as m:
            if np.dtype(dtype).itemsize >= 4:
                m.setattr(_bridge, "call", refuse)
            ours = getattr(A, op)(s)
        assert type(ours).__name__ == type(ref).__name__ and ours.dtype == ref.dtype
        assert ours.nnz == ref.nnz and ours.has_canonical_format
        np.testing.assert_array_equal(np.asarray(ours.indptr), ref.indptr)
        np.testing.assert_array_equal(np.asarray(ours.indices), ref.indices)
        np.testing.assert_array_equal(np.asarray(ours.data), ref.data)


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.int64, np.uint64,
                                   np.int32, np.uint32, np.int16, np.int8, np.bool_])
def test_scalar_reductions_on_views_keep_scipys_types(dtype, flavour):
    """sum() / max() / min() / count_nonzero() of free, canonical CPU values:
    numpy's reduction on a view, scipy's value and scalar type (int64, not the
    view's longlong), with and without implicit zeros."""
    for density in (0.2, 1.0):
        R = ss.random_array((30, 20), density=density, format="csr", rng=3, dtype=np.float64)
        R.data = (R.data - 0.3) * 50
        S = getattr(ss, f"csr_{flavour}")(R.astype(dtype))
        A = getattr(sp, f"csr_{flavour}")(S)
        A.has_canonical_format
        for name in ("sum", "count_nonzero") + (() if dtype == np.complex64 else ("max", "min")):
            ours, ref = getattr(A, name)(), getattr(S, name)()
            assert type(ours) is type(ref), (name, type(ours), type(ref))
            assert np.array_equal(ours, ref), name


ELEMENTWISE = {
    "A + B": lambda X, Y: X + Y, "A - B": lambda X, Y: X - Y, "multiply": lambda X, Y: X.multiply(Y),
    "maximum": lambda X, Y: X.maximum(Y), "minimum": lambda X, Y: X.minimum(Y),
    "A != B": lambda X, Y: X != Y, "A < B": lambda X, Y: X < Y, "A > B": lambda X, Y: X > Y,
}


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int8, np.complex64])
def test_elementwise_pairs_on_views_match_scipy(fmt, flavour, dtype, monkeypatch):
    """Two canonical operands of one format and dtype, free CPU values:
    scipy's own compiled routine on views (no scipy object made), its answer
    bit for bit: values, pattern, index dtype, flavour; entries that cancel
    dropped as scipy drops them."""
    from mlx_scipy_sparse._formats import _bridge
    R1 = ss.random_array((30, 20), density=0.3, format="csr", rng=1, dtype=np.float64)
    R2 = ss.random_array((30, 20), density=0.3, format="csr", rng=8, dtype=np.float64)
    R1.data, R2.data = np.round((R1.data - 0.5) * 6), np.round((R2.data - 0.5) * 6)
    R2 = R2 + R1                                     # shared places, some cancel in A - B
    S1, S2 = (getattr(ss, f"{fmt}_{flavour}")(R.astype(dtype)) for R in (R1, R2))
    for S in (S1, S2):
        S.sum_duplicates()
        S.eliminate_zeros()
    A, B = getattr(sp, f"{fmt}_{flavour}")(S1), getattr(sp, f"{fmt}_{flavour}")(S2)

    def refuse(*a, **k):
        raise AssertionError("handed to scipy")
    for name, f in ELEMENTWISE.items():
        if dtype == np.complex64 and name in ("A < B", "A > B"):
            continue                    # numpy's complex order: scipy's path
        ref = f(S1, S2)
        with monkeypatch.context() as m:
            m.setattr(_bridge, "call", refuse)
            ours = f(A, B)
        assert type(ours).__name__ == type(ref).__name__ and ours.dtype == ref.dtype, name
        assert ours.has_canonical_format and ours.nnz == ref.nnz, name
        for key in ("data", "indices", "indptr"):
            got, want = np.asarray(getattr(ours, key)), getattr(ref, key)
            assert got.dtype == want.dtype, (name, key)
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {key}")


@pytest.mark.parametrize("dtype", [np.bool_, np.float64, np.float32, np.int8])
def test_coo_duplicates_sampled_as_scipy_sums_them_first(dtype):
    """A COO array with duplicate entries times a dense operand: scipy sums
    the duplicates first (through CSR: a bool pair is True once, a float pair
    adds before the product); the answer's entries and bits are scipy's.
    (Found by the long fuzz profile: a bool pair times int8 gave 2, not 1.)"""
    rows, cols = np.array([0, 0, 1, 2, 0]), np.array([0, 0, 2, 1, 0])
    vals = np.array([1, 1, 1, 0, 1]) if dtype == np.bool_ else np.array([0.1, 0.2, 0.7, 1.5, 0.3])
    S = ss.coo_array((vals.astype(dtype), (rows, cols)), shape=(3, 3))
    A = sp.coo_array(S)
    D = np.random.default_rng(5).integers(1, 5, (3, 3)).astype(np.int8)
    for X in (D, D.astype(np.float64) * 1.1, D[:1] * 1.1):
        for ref, ours in ((S.multiply(X), A.multiply(X)), (S * X, A * X)):
            assert type(ours).__name__ == type(ref).__name__ and ours.dtype == ref.dtype
            np.testing.assert_array_equal(ours.toarray(), ref.toarray())
            np.testing.assert_array_equal(np.asarray(ours.data), ref.data)


def _refuse_hand_off(monkeypatch):
    from mlx_scipy_sparse._formats import _bridge

    def refuse(*a, **k):
        raise AssertionError("handed to scipy")
    monkeypatch.setattr(_bridge, "call", refuse)
    monkeypatch.setattr(_bridge, "lend", refuse)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.complex64, np.bool_])
def test_sort_indices_on_views_matches_scipy_and_spares_shared_patterns(fmt, flavour, dtype,
                                                                       monkeypatch):
    S0 = _with_zeros(fmt, np.float64, np.int32, seed=3, unsorted=True)
    S0.data = S0.data.astype(dtype) if dtype != np.bool_ else S0.data > 4
    dup = S0.indptr[1]                          # a repeated index in the first line
    if dup >= 2:
        S0.indices[1] = S0.indices[0]
    S = getattr(ss, f"{fmt}_{flavour}")((S0.data, S0.indices, S0.indptr), shape=S0.shape)
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    before = A.toarray()
    twin = A * 2                                # shares A's index arrays
    twin_ind = np.array(twin.indices)
    _refuse_hand_off(monkeypatch)
    A.sort_indices()
    S.sort_indices()
    assert A.has_sorted_indices and A.dtype == S.dtype
    for a, b in ((A.data, S.data), (A.indices, S.indices), (A.indptr, S.indptr)):
        np.testing.assert_array_equal(np.asarray(a), b)     # scipy's order among repeats too
    np.testing.assert_array_equal(A.toarray(), before)
    np.testing.assert_array_equal(np.asarray(twin.indices), twin_ind)   # its pattern untouched
    np.testing.assert_array_equal(twin.toarray(), (S * 2).toarray())


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.uint8, np.int64,
                                   np.uint64, np.bool_, np.complex64])
def test_axis_sums_on_views_keep_scipys_types_and_bits(fmt, flavour, dtype, monkeypatch):
    rng = np.random.default_rng(4)
    S0 = _with_zeros(fmt, np.float64, np.int64, seed=5, unsorted=True)
    S0.data = (rng.uniform(-40, 90, S0.nnz)).astype(dtype) if dtype != np.bool_ \
        else rng.uniform(size=S0.nnz) > 0.4
    if S0.indptr[1] >= 2:
        S0.indices[1] = S0.indices[0]           # a duplicate: added where it lies, as scipy's
    S0.indptr[2:4] = S0.indptr[2]               # an empty line (by moving entries along)
    S = getattr(ss, f"{fmt}_{flavour}")((S0.data[:S0.indptr[-1]], S0.indices[:S0.indptr[-1]],
                                         S0.indptr), shape=S0.shape)
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    _refuse_hand_off(monkeypatch)               # a first call too: nothing asked before
    for axis in (0, 1, -1, -2):                 # along the lines and across them
        r, e = A.sum(axis=axis), S.sum(axis=axis)
        assert type(r) is type(e) and r.dtype == e.dtype and r.shape == e.shape
        np.testing.assert_array_equal(np.asarray(r), np.asarray(e))


def test_axis_sums_leave_other_arguments_to_scipy():
    S = ss.csr_array(_with_zeros("csr", np.float32, np.int32, seed=6))
    A = sp.csr_array(S)
    for kw in (dict(axis=0, dtype=np.float64), dict(axis=1, dtype=np.float64), dict(axis=(1,)),
               dict(axis=(0, 1))):
        r, e = A.sum(**kw), S.sum(**kw)
        assert r.dtype == e.dtype and r.shape == e.shape
        np.testing.assert_allclose(np.asarray(r), np.asarray(e), rtol=1e-6)
    out = np.zeros(S.shape[0], dtype=np.float32)
    assert A.sum(axis=1, out=out) is out
    np.testing.assert_array_equal(out, S.sum(axis=1))
    for bad in (2, np.int64(0)):                # scipy's own errors (its checks refuse both)
        with pytest.raises(ValueError) as ours:
            A.sum(axis=bad)
        with pytest.raises(ValueError) as theirs:
            S.sum(axis=bad)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.uint8, np.bool_,
                                   np.complex64])
@pytest.mark.parametrize("repeats", [False, True])
def test_axis_means_on_views_match_scipy(fmt, flavour, dtype, repeats, monkeypatch):
    rng = np.random.default_rng(11)
    S0 = _with_zeros(fmt, np.float64, np.int32, seed=12, unsorted=repeats)
    data = rng.uniform(-40, 90, S0.nnz).astype(dtype) if dtype != np.bool_ \
        else rng.uniform(size=S0.nnz) > 0.4
    ind = S0.indices.copy()
    if repeats and S0.indptr[1] >= 2:
        ind[1] = ind[0]
    S = getattr(ss, f"{fmt}_{flavour}")((data, ind, S0.indptr), shape=S0.shape)
    A = getattr(sp, f"{fmt}_{flavour}")((data, ind, S0.indptr), shape=S0.shape)
    integral = np.dtype(dtype).kind in "biu"
    if not (repeats and integral):      # scipy's astype sums repeats of integers first:
        _refuse_hand_off(monkeypatch)   # those stay scipy's call
    for axis in (0, 1, -1, -2):
        r, e = A.mean(axis=axis), S.mean(axis=axis)
        assert type(r) is type(e) and r.dtype == e.dtype and r.shape == e.shape
        np.testing.assert_array_equal(np.asarray(r), np.asarray(e))


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.uint64, np.bool_,
                                   np.complex64])
def test_mean_of_every_place_on_a_view_matches_scipy(flavour, dtype, monkeypatch):
    rng = np.random.default_rng(13)
    S0 = _with_zeros("csr", np.float64, np.int32, seed=14)
    data = rng.uniform(0, 90, S0.nnz).astype(dtype) if dtype != np.bool_ \
        else rng.uniform(size=S0.nnz) > 0.4
    S = getattr(ss, f"csr_{flavour}")((data, S0.indices, S0.indptr), shape=S0.shape)
    A = getattr(sp, f"csr_{flavour}")((data, S0.indices, S0.indptr), shape=S0.shape)
    _refuse_hand_off(monkeypatch)               # a first call too: nothing asked before
    r, e = A.mean(), S.mean()
    assert type(r) is type(e) and np.asarray(r).dtype == np.asarray(e).dtype
    assert r == e


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.uint64, np.bool_,
                                   np.complex64])
@pytest.mark.parametrize("shape", [(30, 20), (20, 30)])
def test_diagonal_and_trace_on_views_match_scipy(fmt, flavour, dtype, shape, monkeypatch):
    rng = np.random.default_rng(15)
    S0 = ss.random_array(shape, density=0.3, format=fmt, rng=16)
    data = rng.uniform(-30, 70, S0.nnz).astype(dtype) if dtype != np.bool_ \
        else rng.uniform(size=S0.nnz) > 0.4
    ind = S0.indices.copy()
    ind[1] = ind[0]                             # a repeated entry: scipy's routine adds them
    S = getattr(ss, f"{fmt}_{flavour}")((data, ind, S0.indptr), shape=shape)
    A = getattr(sp, f"{fmt}_{flavour}")((data, ind, S0.indptr), shape=shape)
    _refuse_hand_off(monkeypatch)
    for k in (0, 1, -1, 7, -9, np.int64(2), shape[1], -shape[0], 100):
        r, e = A.diagonal(k), S.diagonal(k)
        assert type(r) is type(e) and r.dtype == e.dtype
        np.testing.assert_array_equal(r, e)
        t, u = A.trace(k), S.trace(k)
        assert type(t) is type(u) and t == u


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.uint64])
def test_scalar_order_comparisons_on_views_match_scipy(fmt, flavour, dtype, monkeypatch):
    rng = np.random.default_rng(17)
    S0 = ss.random_array((40, 30), density=0.3, format=fmt, rng=18)
    data = rng.uniform(-30, 70, S0.nnz).astype(dtype)
    S = getattr(ss, f"{fmt}_{flavour}")((data, S0.indices, S0.indptr), shape=S0.shape)
    A = getattr(sp, f"{fmt}_{flavour}")((data, S0.indices, S0.indptr), shape=S0.shape)
    _refuse_hand_off(monkeypatch)               # a first call too: nothing asked before
    cases = [("__gt__", 0), ("__gt__", 20), ("__gt__", np.float32(3.5)), ("__gt__", 100),
             ("__lt__", 0)]                 # (A < s for s > 0 is dense-ish: scipy's path)
    if np.dtype(dtype).kind != "u":
        cases += [("__lt__", -7), ("__lt__", -100)]
    for name, s in cases:
        R, Q = getattr(A, name)(s), getattr(S, name)(s)
        assert type(R).__name__ == type(Q).__name__ and R.dtype == Q.dtype == np.bool_
        for a in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(np.asarray(getattr(R, a)), getattr(Q, a))
        assert R.has_canonical_format
