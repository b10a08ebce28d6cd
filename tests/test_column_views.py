"""Selections across the minor axis (columns of CSR, rows of CSC: A[:, c0:c1],
A[:, idx], A[:, mask], A[:, ::3], A[:, j], getcol / getrow) and a single
whole line (A[i]) read on views of free CPU values, no scipy object made:
scipy's answer bit for bit (class, flavour, shape, values, index arrays and
their dtypes, flags), its errors for bad keys, copies that share nothing
with A, and traced values still on their MLX path with their gradient."""
import numpy as np
import pytest
import scipy.sparse as ss
import mlx.core as mx

import mlx_scipy_sparse as sp

_ALL = slice(None)
_M, _N = 24, 30         # CSR notation: the minor axis (columns) has _N


def _refuse_hand_off(monkeypatch):
    from mlx_scipy_sparse._formats import _bridge

    def refuse(*a, **k):
        raise AssertionError("handed to scipy")
    monkeypatch.setattr(_bridge, "call", refuse)
    monkeypatch.setattr(_bridge, "lend", refuse)


def _scipy_twin(fmt, flavour, dtype, index_dtype, unsorted, seed=0):
    """A scipy array of fmt / flavour whose index arrays have index_dtype
    (set after construction: the matrix constructor would narrow them); an
    unsorted one has each line reversed, a duplicate and an empty line."""
    shape = (_M, _N) if fmt == "csr" else (_N, _M)
    rng = np.random.default_rng(seed)
    S0 = ss.random_array(shape, density=0.25, format=fmt, rng=rng)
    vals = rng.uniform(-9, 9, S0.nnz)
    if dtype == np.bool_:
        data = vals > -2
    elif np.issubdtype(dtype, np.complexfloating):
        data = (vals + 1j * rng.uniform(-9, 9, S0.nnz)).astype(dtype)
    else:
        data = vals.astype(dtype)
    ind, ptr = S0.indices.copy(), S0.indptr.copy()
    if unsorted:
        for k in range(len(ptr) - 1):
            a, b = ptr[k], ptr[k + 1]
            ind[a:b], data[a:b] = ind[a:b][::-1].copy(), data[a:b][::-1].copy()
        line = next(k for k in range(len(ptr) - 1) if ptr[k + 1] - ptr[k] >= 3)
        ind[ptr[line] + 1] = ind[ptr[line]]         # a duplicate, not next to its twin's sum
        ptr[3:5] = ptr[3]                           # empty lines, entries moved along
        data, ind = data[:ptr[-1]], ind[:ptr[-1]]
    S = getattr(ss, f"{fmt}_{flavour}")(shape)
    S.data, S.indices, S.indptr = data, ind.astype(index_dtype), ptr.astype(index_dtype)
    return S


def _ours(S):
    A = getattr(sp, type(S).__name__)(S)
    assert np.asarray(A.indices).dtype == S.indices.dtype      # (int64 matrices too)
    E = type(S)(S.shape)                    # a twin of exactly our arrays
    E.data, E.indices, E.indptr = (np.array(a) for a in (A.data, A.indices, A.indptr))
    return A, E


def _same(r, e):
    """r (ours) is e (scipy's) bit for bit."""
    assert type(r) is getattr(sp, type(e).__name__), (type(r), type(e))
    assert r.shape == e.shape and r.dtype == e.dtype
    if e.format == "coo":
        arrays = [(r.data, e.data)] + list(zip(r.coords, e.coords))
        assert r.has_canonical_format == e.has_canonical_format
    else:
        arrays = [(r.data, e.data), (r.indices, e.indices), (r.indptr, e.indptr)]
        assert r.has_sorted_indices == e.has_sorted_indices
        assert r.has_canonical_format == e.has_canonical_format
    for a, b in arrays:
        a = np.asarray(a)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def _minor_keys():
    """(name, key in CSR notation: rows first)."""
    idx = np.array([5, 1, 1, 29, -1, 0, 17])
    return [
        ("range", (_ALL, slice(3, 11))),
        ("range to end", (_ALL, slice(-4, None))),
        ("whole range", (_ALL, slice(0, _N))),
        ("both ranges", (slice(4, 17), slice(3, 11))),
        ("empty range", (_ALL, slice(7, 7))),
        ("fancy", (_ALL, idx)),
        ("fancy int32", (_ALL, idx.astype(np.int32))),
        ("fancy rising", (_ALL, np.array([0, 2, 3, 11, 29]))),
        ("fancy list", (_ALL, [3, 0, 3, -2])),
        ("fancy empty", (_ALL, np.array([], dtype=np.int64))),
        ("mask", (_ALL, np.arange(_N) % 3 != 1)),
        ("mask empty", (_ALL, np.zeros(_N, dtype=bool))),
        ("step", (_ALL, slice(None, None, 3))),
        ("step back", (_ALL, slice(None, None, -2))),
        ("step part", (_ALL, slice(20, 5, -3))),
        ("step empty", (_ALL, slice(9, 2, 2))),
        ("line", (_ALL, 4)),
        ("line from end", (_ALL, -1)),
        ("line of a range", (slice(2, 19), 6)),
        ("whole line", 5),
        ("whole line, colon", (5, _ALL)),
        ("whole line from end", -2),
    ]


def _as_fmt_key(fmt, key):
    """The CSR-notation key for fmt: CSC's mirror swaps the axes."""
    if fmt == "csr":
        return key
    if type(key) is tuple:
        return key[::-1]
    return (_ALL, key)          # CSC's whole line: a column


_KEYS = _minor_keys()


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.complex64, np.bool_])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("unsorted", [False, True])
def test_minor_selections_are_scipys_without_a_hand_off(fmt, flavour, dtype, index_dtype,
                                                       unsorted, monkeypatch):
    S = _scipy_twin(fmt, flavour, dtype, index_dtype, unsorted)
    A, E = _ours(S)
    assert E.has_canonical_format is not unsorted
    assert A.has_canonical_format is not unsorted       # known: results may take it on
    _refuse_hand_off(monkeypatch)
    for name, key in _KEYS:
        key = _as_fmt_key(fmt, key)
        r = A[key]
        try:
            _same(r, E[key])
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from None


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("unsorted", [False, True])
def test_the_mirror_forms_of_csc_rows(fmt, unsorted, monkeypatch):
    """A[i], A[r0:r1], A[idx], A[mask], A[::3] with one key: rows, which CSC
    selects across its minor axis."""
    S = _scipy_twin(fmt, "array", np.float32, np.int32, unsorted, seed=2)
    A, E = _ours(S)
    _refuse_hand_off(monkeypatch)
    n = S.shape[0]
    for key in (3, -1, slice(2, 9), np.array([4, 0, 4, -3]), np.arange(n) % 2 == 0,
                slice(None, None, 3)):
        _same(A[key], E[key])


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("unsorted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.bool_])
def test_getcol_of_csr_and_getrow_of_csc_are_scipys(index_dtype, unsorted, dtype, monkeypatch):
    R = _scipy_twin("csr", "matrix", dtype, index_dtype, unsorted, seed=3)
    C = _scipy_twin("csc", "matrix", dtype, index_dtype, unsorted, seed=3)
    (A, EA), (B, EB) = _ours(R), _ours(C)
    _refuse_hand_off(monkeypatch)
    for j in (0, 4, _N - 1, -1, np.int64(7)):
        _same(A.getcol(j), EA.getcol(j))
        _same(B.getrow(j), EB.getrow(j))        # a CSR matrix, as scipy's
        assert B.getrow(j).format == "csr"


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_bad_keys_raise_scipys_errors(fmt, flavour):
    S = _scipy_twin(fmt, flavour, np.float32, np.int32, False)
    A, E = _ours(S)
    bad = [(_ALL, _N), (_ALL, -_N - 1), (_ALL, np.array([0, _N])), (_ALL, np.array([-_N - 1])),
           (_ALL, np.ones(_N + 1, dtype=bool)), (_ALL, 1.5), (_ALL, "a"), _M, (_M, _ALL),
           (_ALL, slice(None, None, 0)), (_ALL, slice("a", "b")), (slice(1, "b"), slice(2, 5))]
    for key in bad:
        key = _as_fmt_key(fmt, key)
        with pytest.raises(Exception) as want:
            E[key]
        with pytest.raises(type(want.value)) as got:
            A[key]
        assert str(got.value) == str(want.value), key
    odd = _as_fmt_key(fmt, (_ALL, np.array([1.0, 2.0])))   # scipy takes floats: its path
    np.testing.assert_array_equal(A[odd].toarray(), E[odd].toarray())
    if flavour == "matrix":
        name = "getcol" if fmt == "csr" else "getrow"
        for k in (_N, -_N - 1):
            with pytest.raises(IndexError) as want:
                getattr(E, name)(k)
            with pytest.raises(IndexError) as got:
                getattr(A, name)(k)
            assert str(got.value) == str(want.value)


@pytest.mark.parametrize("key", [(_ALL, slice(3, 11)), (_ALL, np.array([5, 1, 1, 0])),
                                 (_ALL, np.arange(_N) % 2 == 0), (_ALL, 4), 5])
def test_results_share_nothing_with_a(key, monkeypatch):
    S = _scipy_twin("csr", "array", np.float32, np.int32, False, seed=4)
    A, E = _ours(S)
    dense = A.toarray()
    _refuse_hand_off(monkeypatch)
    r = A[key]
    want = E[key].toarray()
    d = r.data
    d[:] = 123.0                    # writes through the result's handle
    np.testing.assert_array_equal(A.toarray(), dense)
    assert np.all(np.asarray(r.data) == 123.0)
    A.data[:] = -7.0                # and the other way round
    assert np.all(np.asarray(r.data) == 123.0)
    assert np.count_nonzero(want) and not np.any(r.toarray() == -7.0)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_fancy_columns_sum_without_a_hand_off(fmt, flavour, monkeypatch):
    S = _scipy_twin(fmt, flavour, np.float32, np.int32, True, seed=5)
    A, E = _ours(S)
    key = _as_fmt_key(fmt, (_ALL, np.array([3, 9, 9, 0, 21])))
    _refuse_hand_off(monkeypatch)
    for axis in (0, 1):
        r, e = A[key].sum(axis=axis), E[key].sum(axis=axis)
        assert type(r) is type(e) and r.dtype == e.dtype and r.shape == e.shape
        np.testing.assert_array_equal(np.asarray(r), np.asarray(e))


def test_float16_values_still_get_scipys_answer():
    S = _scipy_twin("csr", "array", np.float32, np.int32, False, seed=6)
    A = sp.csr_array((mx.array(S.data).astype(mx.float16), mx.array(S.indices),
                      mx.array(S.indptr)), shape=S.shape)
    want = S.toarray().astype(np.float16)[:, np.array([4, 2, 2])]
    r = A[:, np.array([4, 2, 2])]
    assert r.dtype == np.float16
    np.testing.assert_array_equal(r.toarray(), want)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_traced_values_keep_their_gradient(fmt):
    S = _scipy_twin(fmt, "array", np.float32, np.int32, True, seed=7)
    idx = np.array([5, 1, 1, 29, 0, 17])
    key = _as_fmt_key(fmt, (_ALL, idx))
    rng = np.random.default_rng(8)
    x = rng.standard_normal(idx.size).astype(np.float32)
    ind, ptr = mx.array(S.indices), mx.array(S.indptr)
    cls = getattr(sp, f"{fmt}_array")

    def loss(d):
        B = cls((d, ind, ptr), shape=S.shape)[key]
        y = (B if fmt == "csr" else B.T) @ mx.array(x)
        return (y * y).sum()
    d = mx.array(S.data)
    value, g = mx.value_and_grad(loss)(d)
    # dense reference: y = A[:, idx] @ x (CSR notation), loss = |y|^2, so
    # dloss/dA[r, c] = 2 y[r] * (sum of x[k] where idx[k] == c)
    Ad = S.toarray() if fmt == "csr" else S.toarray().T
    y = Ad[:, idx] @ x
    w = np.zeros(_N, dtype=np.float64)
    np.add.at(w, idx, x)
    rows = np.repeat(np.arange(len(S.indptr) - 1), np.diff(S.indptr))
    major, minor = rows, S.indices
    want = 2 * y[major] * w[minor]
    np.testing.assert_allclose(float(value), float(y @ y), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-4, atol=1e-5)
