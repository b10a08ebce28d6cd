"""Writes to stored entries happen in place (views taken before see them, as
in scipy) and are differentiable; writes that add entries are scipy's."""
import warnings

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp

S = ss.random_array((8, 7), density=0.45, format="csr", dtype=np.float64, rng=5)
S.data += 0.5
NZ = np.argwhere(S.toarray())
ZERO = np.argwhere(S.toarray() == 0)
R0, C0 = (int(v) for v in NZ[0])
FULL_ROW = sp.csr_array(np.arange(1.0, 36.0).reshape(5, 7))

KEYS = {
    "scalar": (lambda: (R0, C0), 4.0),
    "negative scalar": (lambda: (R0 - 8, C0 - 7), -2.5),
    "fancy pairs": (lambda: (NZ[:4, 0], NZ[:4, 1]), np.array([1.0, 2.0, 3.0, 4.0])),
    "fancy scalar value": (lambda: (NZ[2:6, 0], NZ[2:6, 1]), 9.0),
    "mx values": (lambda: (NZ[:3, 0], NZ[:3, 1]), mx.array([5.0, 6.0, 7.0], dtype=mx.float64)),
    "adds an entry": (lambda: (int(ZERO[0][0]), int(ZERO[0][1])), 3.0),
    "mixed": (lambda: ([int(NZ[0][0]), int(ZERO[0][0])], [int(NZ[0][1]), int(ZERO[0][1])]),
              [1.0, 2.0]),
    "int into float": (lambda: (R0, C0), 3),
    # float64 values stay float64 (an MLX array made from numpy float64 is float32 by default)
    "full precision": (lambda: (NZ[:5, 0], NZ[:5, 1]), np.random.default_rng(1).random(5)),
    "2-d fancy": (lambda: (np.array([NZ[:3, 0], NZ[3:6, 0]]), np.array([NZ[:3, 1], NZ[3:6, 1]])),
                  np.random.default_rng(2).random((2, 3))),
}


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("case", KEYS)
def test_setitem_matches_scipy(fmt, flavour, case):
    key_fn, x = KEYS[case]
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    R = getattr(ss, f"{fmt}_{flavour}")(S)
    A[key_fn()] = x
    R[key_fn()] = np.array(x) if isinstance(x, mx.array) else x
    np.testing.assert_array_equal(A.toarray(), R.toarray())
    assert A.nnz == R.nnz


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_stored_writes_reach_views_taken_before(fmt):
    A = sp.csr_array(S).asformat(fmt)
    T, data = A.T, A.data
    A[R0, C0] = 11.0
    A[NZ[1:3, 0], NZ[1:3, 1]] = [12.0, 13.0]
    assert T[C0, R0] == 11.0
    assert T[int(NZ[2, 1]), int(NZ[2, 0])] == 13.0
    assert 11.0 in np.array(data)                 # the values object itself was written
    # a write that adds an entry changes the structure: views go their own way (scipy's too)
    R = S.asformat(fmt).copy()
    RT = R.T
    zi, zj = (int(v) for v in ZERO[0])
    A[zi, zj] = 1.0
    R[zi, zj] = 1.0
    assert T[zj, zi] == RT[zj, zi]


def test_full_slices_write_in_place():
    A = FULL_ROW.copy()
    T = A.T
    A[1:3, 2:5] = np.array([[-1.0, -2.0, -3.0]])
    ref = np.arange(1.0, 36.0).reshape(5, 7)
    ref[1:3, 2:5] = [[-1.0, -2.0, -3.0]]
    np.testing.assert_array_equal(A.toarray(), ref)
    np.testing.assert_array_equal(T.toarray(), ref.T)
    A[np.array([True, False, True, False, False]), 0] = 0.5
    ref[[0, 2], 0] = 0.5
    np.testing.assert_array_equal(T.toarray(), ref.T)


def test_setdiag_out_of_range_raises_as_scipy():
    for k in (7, -5):
        with pytest.raises(ValueError, match="exceeds"):
            ss.csr_array(np.arange(1.0, 36.0).reshape(5, 7)).setdiag(1.0, k)
        with pytest.raises(ValueError, match="exceeds"):
            FULL_ROW.copy().setdiag(1.0, k)


@pytest.mark.parametrize("k", [0, 1, -2])
@pytest.mark.parametrize("values", [2.0, [1.0, 2.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]])
def test_setdiag_matches_scipy(k, values):
    A, R = FULL_ROW.copy(), ss.csr_array(np.arange(1.0, 36.0).reshape(5, 7))
    T = A.T
    A.setdiag(values, k)
    R.setdiag(values, k)
    np.testing.assert_array_equal(A.toarray(), R.toarray())
    np.testing.assert_array_equal(T.toarray(), R.toarray().T)      # all stored: in place
    B, Q = sp.csr_array(S), S.copy()
    B.setdiag(values, k)
    Q.setdiag(values, k)
    np.testing.assert_array_equal(B.toarray(), Q.toarray())


def test_write_into_int_values_follows_scipy():
    A, R = sp.csr_array(S.astype(np.int32)), S.astype(np.int32)
    A[R0, C0] = 2.7                 # scipy truncates (unsafe cast): its path decides
    R[R0, C0] = 2.7
    np.testing.assert_array_equal(A.toarray(), R.toarray())


def test_non_canonical_array_is_scipys():
    dup = ss.csr_array((np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0]), np.array([0, 2, 3])),
                       shape=(2, 2))
    A = sp.csr_array(dup)
    A[0, 1] = 5.0
    dup[0, 1] = 5.0
    np.testing.assert_array_equal(A.toarray(), dup.toarray())


def test_gradients_through_writes():
    x0 = np.arange(1.0, 8.0)

    def loss(v, w):
        A = sp.csr_array((v, sp.csr_array(S).indices, sp.csr_array(S).indptr), shape=S.shape)
        A[R0, C0] = w
        A[NZ[1:3, 0], NZ[1:3, 1]] = w * 2
        return mx.sum((A @ mx.array(x0, dtype=mx.float64)) ** 2)
    with mx.stream(mx.cpu):
        v = mx.array(S.data, dtype=mx.float64)
        w = mx.array(1.5, dtype=mx.float64)
        gv, gw = mx.grad(loss, argnums=(0, 1))(v, w)
        eps = 1e-6
        fd_w = (loss(v, w + eps).item() - loss(v, w - eps).item()) / (2 * eps)
        fd_v = [(loss(v + eps * mx.array(e), w).item() - loss(v - eps * mx.array(e), w).item())
                / (2 * eps) for e in np.eye(v.size)]
    np.testing.assert_allclose(gw.item(), fd_w, rtol=1e-6)
    np.testing.assert_allclose(np.array(gv), fd_v, rtol=1e-6, atol=1e-6)
    assert np.count_nonzero(np.array(gv)) < v.size      # overwritten entries get no gradient


def test_write_inside_compile():
    A0 = FULL_ROW

    @mx.compile
    def step(v, w):
        A = sp.csr_array((v, A0.indices, A0.indptr), shape=A0.shape)
        A.setdiag(w)
        A[0, 1:3] = w * 2
        return A.sum(axis=0)
    with mx.stream(mx.cpu):
        r = step(mx.array(np.arange(1.0, 36.0), dtype=mx.float64), mx.array(-1.0, dtype=mx.float64))
    ref = np.arange(1.0, 36.0).reshape(5, 7)
    np.fill_diagonal(ref, -1.0)
    ref[0, 1:3] = -2.0
    np.testing.assert_array_equal(np.array(r), ref.sum(axis=0))


def test_transpose_sharing_index_arrays_writes_its_own_places():
    """A and A.T share their index arrays (kept per pattern): a write through
    each must land on its own (i, j)."""
    A = FULL_ROW.copy()
    T = A.T
    A[1, 2] = -1.0              # the places kept for key (1, 2) of A
    T[1, 2] = -2.0              # T's (1, 2) is A's (2, 1)
    ref = np.arange(1.0, 36.0).reshape(5, 7)
    ref[1, 2], ref[2, 1] = -1.0, -2.0
    np.testing.assert_array_equal(A.toarray(), ref)
    np.testing.assert_array_equal(T.toarray(), ref.T)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_resize_that_only_grows_extends_indptr(fmt, flavour):
    """Growing in place: scipy's arrays (indptr, entries, flags) after each
    step, products on the new shape, and a transpose taken before keeps its
    own shape and index arrays (as scipy's does)."""
    S = ss.random_array((20, 15), density=0.3, rng=2, format=fmt)
    if flavour == "matrix":
        S = getattr(ss, f"{fmt}_matrix")(S)
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    T, before = A.T, np.asarray(A.indptr).copy()
    for shape in [(25, 15), (20, 19), (30, 40), (30, 40)]:
        S.resize(shape)
        A.resize(shape)
        assert A.shape == S.shape
        np.testing.assert_array_equal(np.asarray(A.indptr), S.indptr)
        np.testing.assert_array_equal(A.toarray(), S.toarray())
        assert A.has_canonical_format == S.has_canonical_format
    x = np.arange(A.shape[1], dtype=np.float64)
    np.testing.assert_allclose(A @ x, S @ x)
    assert T.shape == (15, 20)
    np.testing.assert_array_equal(np.asarray(T.indptr), before)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_a_number_written_to_an_empty_selection_changes_nothing(fmt, flavour):
    """A[r0:r1] = s with an empty range (rows past the end, a reversed range,
    an empty column range) returns at once, as scipy's call does nothing;
    values scipy refuses still raise scipy's errors, and a non-empty range
    still writes."""
    S0 = ss.random_array((20, 15), density=0.3, format=fmt, dtype=np.float32, rng=1)
    for key in (slice(30, 40), slice(5, 2), (slice(None), slice(15, 20)),
                (slice(3, 3), slice(None)), (slice(2, 9), slice(7, 7, 2))):
        for x in (3, 2.5, True, np.float64(-1)):
            S = getattr(ss, f"{fmt}_{flavour}")(S0)
            A = getattr(sp, f"{fmt}_{flavour}")(S0)
            h = A.data
            S[key] = x
            A[key] = x
            np.testing.assert_array_equal(A.toarray(), S.toarray())
            assert A.nnz == S.nnz and A.data is h       # nothing replaced
        for bad in (1j, "a"):
            A = getattr(sp, f"{fmt}_{flavour}")(S0)
            S = getattr(ss, f"{fmt}_{flavour}")(S0)
            with pytest.raises(Exception) as ours:
                A[key] = bad
            with pytest.raises(Exception) as ref:
                S[key] = bad
            assert type(ours.value) is type(ref.value)
    A = getattr(sp, f"{fmt}_{flavour}")(S0)
    S = getattr(ss, f"{fmt}_{flavour}")(S0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # scipy's efficiency warning, ours the same
        A[2:4] = 7
        S[2:4] = 7
    np.testing.assert_array_equal(A.toarray(), S.toarray())


def test_empty_selection_keeps_scipys_word_on_numbers_it_cannot_take():
    """Numbers scipy refuses or warns about for an int32 array still reach
    scipy's path with an empty selection: the same error or warning."""
    S0 = (ss.random_array((20, 15), density=0.3, format="csr", dtype=np.float64, rng=2) * 9
          ).astype(np.int32)
    for x in (2 ** 40, np.float64(1e20), np.nan, 1j):
        outcome = []
        for M in (ss.csr_array(S0), sp.csr_array(S0)):
            try:
                with warnings.catch_warnings(record=True) as said:
                    warnings.simplefilter("always")
                    M[30:40] = x
                outcome.append(sorted({type(w.message).__name__ for w in said}))
            except Exception as e:
                outcome.append(type(e).__name__)
        assert outcome[0] == outcome[1], (x, outcome)
        assert outcome[0] != [], x                     # scipy does say something for each


def test_a_write_into_a_fresh_copy_leaves_earlier_readers_alone():
    """A write to stored places of a fresh copy goes straight into the copy's
    own buffer (numpy, as scipy writes its data) only while nothing else
    holds or will read that buffer: the source, a transpose taken before
    (which shares the values, as scipy's), a lazy product and a handle read
    before the write each see what scipy's would."""
    S = ss.random_array((40, 30), density=0.2, format="csr", dtype=np.float32, rng=3)
    A = sp.csr_array(S)
    r, c = S.nonzero()
    i, j = int(r[0]), int(c[0])
    x = np.arange(30, dtype=np.float32)
    for before in ("nothing", "transpose", "product", "handle"):
        C, T_ = A.copy(), S.copy()
        seen = {"transpose": lambda: (C.T, T_.T),
                "product": lambda: (C @ mx.array(x), T_ @ x),
                "handle": lambda: (C.data, T_.data.copy()),
                "nothing": lambda: (None, None)}[before]()
        C[i, j] = 5.0
        T_[i, j] = 5.0
        np.testing.assert_array_equal(np.asarray(C.data), T_.data)
        np.testing.assert_array_equal(A.toarray(), S.toarray())       # the source untouched
        ours, theirs = seen
        if before == "transpose":
            np.testing.assert_array_equal(ours.toarray(), theirs.toarray())   # shares: 5 seen
        elif before == "product":
            np.testing.assert_allclose(np.array(ours), theirs, rtol=1e-6)     # the old values
        elif before == "handle":
            np.testing.assert_array_equal(np.array(ours), T_.data)    # scipy's data is shared too
