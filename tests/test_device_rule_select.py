"""The device rule (forced on here, as on a GPU) for the ops that pick,
densify or restructure: nonzero, find, argmax/argmin over every place,
trace, toarray/todense, maximum/minimum with a scalar, A / dense numpy,
kron, reshape, and the in-place restructuring calls (a write that adds
entries, setdiag, a shrinking resize, eliminate_zeros, sort_indices,
sum_duplicates).  Answers must be scipy's exactly (types, dtypes, stored
entries, order), scipy's warnings must still be said, and once a pattern
is known no scipy object is made of the operand."""
import sys
import warnings

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse._kernels import _device
from test_device_rule import _scipy_calls


@pytest.fixture(autouse=True)
def device_rule():
    _device.KEEP_IN_MLX = True
    yield
    _device.KEEP_IN_MLX = None


def _operand(fmt, flavour, seed=0, shape=(40, 30)):
    rng = np.random.default_rng(seed)
    S = ss.random_array(shape, density=0.2, format="csr", dtype=np.float32, rng=rng)
    S.data -= 0.4
    S.data[::7] = 0                     # stored zeros
    S = getattr(ss, f"{fmt}_{flavour}")(S)
    return S, getattr(sp, f"{fmt}_{flavour}")(S)


def _same_sparse(ours, ref):
    assert type(ours).__name__ == type(ref).__name__
    assert ours.shape == ref.shape and ours.nnz == ref.nnz and ours.dtype == ref.dtype
    if ref.format in ("csr", "csc"):
        np.testing.assert_array_equal(np.asarray(ours.indptr), ref.indptr)
        np.testing.assert_array_equal(np.asarray(ours.indices), ref.indices)
    else:
        np.testing.assert_array_equal(np.asarray(ours.row), ref.row)
        np.testing.assert_array_equal(np.asarray(ours.col), ref.col)
    np.testing.assert_array_equal(np.asarray(ours.data), ref.data)


def _same(ours, ref):
    if ss.issparse(ref):
        return _same_sparse(ours, ref)
    if isinstance(ref, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _same(a, b)
        return
    assert type(ours) is type(ref), (type(ours), type(ref))
    assert np.shape(ours) == np.shape(ref)
    assert np.asarray(ours).dtype == np.asarray(ref).dtype
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))


def _lib(A):
    return (sp if isinstance(A, sp._formats._base._spbase) else ss)


PICKS = {
    "nonzero": lambda A: A.nonzero(),
    "find": lambda A: _lib(A).find(A),
    "argmax": lambda A: A.argmax(),
    "argmin": lambda A: A.argmin(),
    "toarray": lambda A: A.toarray(),
    "toarray(F)": lambda A: A.toarray(order="F"),
    "todense": lambda A: A.todense(),
    "minimum(0.3)": lambda A: A.minimum(0.3),
    "maximum(-0.2)": lambda A: A.maximum(-0.2),
    "minimum(np.float64)": lambda A: A.minimum(np.float64(0.25)),
    "A / D": lambda A: A / np.linspace(0.5, 2.0, A.shape[0] * A.shape[1], dtype=np.float32)
    .reshape(A.shape),
    "A / row": lambda A: A / np.linspace(0.5, 2.0, A.shape[1], dtype=np.float32),
    "kron": lambda A: _lib(A).kron(A.tocsr()[:5, :4], A.tocsr()[2:6, 3:8], format="csr"),
    "reshape": lambda A: A.reshape((60, 20)),
    "reshape same": lambda A: A.reshape(A.shape),
}


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("name", PICKS)
def test_scipys_answer_with_no_hand_off(fmt, flavour, name):
    S, A = _operand(fmt, flavour)
    if fmt == "coo":
        S.sum_duplicates()
        A = getattr(sp, f"coo_{flavour}")(S)
    ref = PICKS[name](S)
    _same(PICKS[name](A), ref)
    if name == "reshape same":
        assert PICKS[name](A) is A           # scipy answers its operand itself
    if fmt != "coo":
        with _scipy_calls() as calls:
            PICKS[name](A)
        assert not calls, "handed to scipy"


def test_trace_on_the_device():
    for flavour in ("array", "matrix"):
        S, A = _operand("csr", flavour)
        for k in (0, 3, -5):
            ours, ref = A.trace(k), S.trace(k)
            assert type(ours) is type(ref)
            np.testing.assert_allclose(ours, ref, rtol=1e-6)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_argmax_argmin_over_every_place(fmt):
    """scipy's rule for implicit zeros, over random small integer patterns:
    full arrays, all-negative and all-positive values, zero extremes (where
    scipy answers min(first missing place, entry position))."""
    rng = np.random.default_rng(1)
    for trial in range(60):
        m, n = (int(v) for v in rng.integers(1, 7, 2))
        density = [0.3, 1.0, 0.7][trial % 3]
        S = ss.random_array((m, n), density=density, format=fmt, rng=rng,
                            data_sampler=lambda size: rng.integers(-2, 3, size).astype(float))
        if trial % 5 == 0:
            S.data = -np.abs(S.data) - 1
        if trial % 7 == 0:
            S.data = np.abs(S.data)
        S = S.astype(np.float32)
        S.sum_duplicates()
        if S.nnz == 0:
            continue
        A = getattr(sp, f"{fmt}_array")(S)
        for name in ("argmax", "argmin"):
            ours, ref = getattr(A, name)(), getattr(S, name)()
            assert type(ours) is type(ref) and ours == ref, (trial, name, ours, ref)


def test_nan_and_empty_take_scipys_path():
    S, A = _operand("csr", "array")
    S.data[4] = np.nan
    A = sp.csr_array(S)
    assert A.argmax() == S.argmax() and A.argmin() == S.argmin()
    E = sp.csr_array((3, 4), dtype=np.float32)
    assert E.argmax() == 0 and E.nonzero()[0].size == 0
    assert sp.find(E)[2].dtype == np.float32


WRITES = {
    "A[3:9] = 3": lambda X: X.__setitem__(slice(3, 9), 3.0),
    "A[:, 2:5] = 3": lambda X: X.__setitem__((slice(None), slice(2, 5)), 3.0),
    "A[mask] = row": lambda X: X.__setitem__(np.arange(X.shape[0]) % 7 == 0,
                                             np.arange(X.shape[1], dtype=np.float32)),
    "A[[1, 2], [3, 4]] = [5, 0]": lambda X: X.__setitem__(([1, 2], [3, 4]), [5.0, 0.0]),
    "setdiag(2)": lambda X: X.setdiag(2.0),
    "setdiag(range, -3)": lambda X: X.setdiag(np.arange(1, 9, dtype=np.float32), -3),
    "resize(20, 17)": lambda X: X.resize((20, 17)),
    "eliminate_zeros": lambda X: X.eliminate_zeros(),
}


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("name", WRITES)
def test_restructuring_in_place(fmt, flavour, name):
    """The operand becomes scipy's (entries, order, flags), scipy's warning
    is said, a view taken before keeps the old entries consistently, and a
    second write on the same pattern makes no scipy object."""
    S, A = _operand(fmt, flavour)
    before = A.toarray()
    view = A.T
    X, Y = A.copy(), S.copy()
    with warnings.catch_warnings(record=True) as ours_said:
        warnings.simplefilter("always")
        WRITES[name](X)
    with warnings.catch_warnings(record=True) as ref_said:
        warnings.simplefilter("always")
        WRITES[name](Y)
    _same_sparse(X, Y)
    assert X.has_sorted_indices == Y.has_sorted_indices
    said = sorted((type(w.message).__name__, str(w.message)) for w in ref_said)
    assert sorted((type(w.message).__name__, str(w.message)) for w in ours_said) == said
    np.testing.assert_array_equal(view.toarray(), before.T)
    Z = A.copy()
    with _scipy_calls() as calls, warnings.catch_warnings(record=True) as again_said:
        warnings.simplefilter("always")
        WRITES[name](Z)
    assert not calls, "handed to scipy"
    _same_sparse(Z, Y)
    # the pattern is known now: scipy's warning is still said, with scipy's words
    assert sorted((type(w.message).__name__, str(w.message)) for w in again_said) == said


@pytest.mark.parametrize("name", WRITES)
def test_first_write_leaves_the_warning_filters_alone(name, monkeypatch):
    """A write on a new pattern runs scipy's op on stand-ins once; the warning
    filters are process-wide (another thread's warnings would be swallowed or
    its filters undone), so that run must not enter catch_warnings; nor may
    the matrix answers of the reductions (np.matrix without its warning)."""
    enter, touched = warnings.catch_warnings.__enter__, []

    def refused_to_the_library(self):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("mlx_scipy_sparse"):
            touched.append(caller)      # noted, not raised: the library may catch errors
        return enter(self)              # (pytest's own use goes on)
    S, A = _operand("csr", "matrix", seed=3, shape=(37, 23))   # a pattern no test saw
    X, Y = A.copy(), S.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        WRITES[name](Y)
        monkeypatch.setattr(warnings.catch_warnings, "__enter__", refused_to_the_library)
        WRITES[name](X)
        got, want = X.sum(axis=0), Y.sum(axis=0)     # (a GPU adds in its own order)
        assert type(got) is type(want) and got.dtype == want.dtype
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
        _same(X.max(axis=1), Y.max(axis=1))
    _same_sparse(X, Y)
    assert touched == [], f"process-wide warning filters touched by {touched}"


def test_sort_indices_and_sum_duplicates_in_place():
    rng = np.random.default_rng(2)
    S = ss.random_array((30, 20), density=0.3, format="csr", dtype=np.float32, rng=rng)
    ind, data = S.indices.copy(), S.data.copy()
    for r in range(S.shape[0]):             # every row reversed: unsorted
        a, b = S.indptr[r], S.indptr[r + 1]
        ind[a:b], data[a:b] = ind[a:b][::-1].copy(), data[a:b][::-1].copy()
    U = ss.csr_array((data, ind, S.indptr.copy()), shape=S.shape)
    A = sp.csr_array((mx.array(data), mx.array(ind), mx.array(S.indptr)), shape=S.shape)
    assert not A.has_sorted_indices
    A.sort_indices()
    U.sort_indices()
    _same_sparse(A, U)
    assert A.has_sorted_indices
    rows = rng.integers(0, 6, 40)
    cols = rng.integers(0, 5, 40)
    vals = rng.uniform(-1, 1, 40).astype(np.float32)
    order = np.argsort(rows, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=6))]).astype(np.int32)
    for fmt in ("coo", "csr"):
        R = ss.coo_array((vals, (rows, cols)), shape=(6, 5)) if fmt == "coo" else \
            ss.csr_array((vals[order], cols[order].astype(np.int32), ptr), shape=(6, 5))
        B = getattr(sp, f"{fmt}_array")(R)
        assert not B.has_canonical_format
        B.sum_duplicates()
        R.sum_duplicates()
        assert B.has_canonical_format and B.nnz == R.nnz
        np.testing.assert_allclose(B.toarray(), R.toarray(), rtol=1e-6)


def test_gradient_through_a_write_that_adds_entries():
    """Traced values: A[r0:r1] = x adds entries; the gradient with respect
    to A's values and x matches central differences."""
    S = ss.random_array((8, 6), density=0.3, format="csr", rng=3)
    S.sum_duplicates()
    W = np.linspace(0.5, 2.0, 6 * 3).reshape(6, 3)
    C = np.linspace(-1.0, 1.0, 8 * 3).reshape(8, 3)

    def f(v, x):
        A = sp.csr_array((v, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        A[2:4] = x
        return mx.sum((A @ mx.array(W)) * mx.array(C))

    with mx.stream(mx.cpu):
        v = mx.array(S.data, dtype=mx.float64)
        x = mx.array(np.linspace(1, 2, 6), dtype=mx.float64)
        gv, gx = mx.grad(f, argnums=(0, 1))(v, x)
        eps = 1e-6
        for g, arg in ((gv, 0), (gx, 1)):
            base = [np.array(v), np.array(x)]
            for k in range(base[arg].size):
                hi, lo = [b.copy() for b in base], [b.copy() for b in base]
                hi[arg][k] += eps
                lo[arg][k] -= eps
                fd = (f(*(mx.array(a, dtype=mx.float64) for a in hi)).item()
                      - f(*(mx.array(a, dtype=mx.float64) for a in lo)).item()) / (2 * eps)
                assert abs(np.array(g)[k] - fd) < 1e-5 * max(1.0, abs(fd))


def test_the_device_compaction_on_the_cpu(monkeypatch):
    """The compaction as a GPU runs it (a cumulative sum and a scatter, new
    line starts read at the old ones), driven here on the CPU: scipy's
    entries after eliminate_zeros, a cancelling A + B and nonzero."""
    from mlx_scipy_sparse import _kernels
    monkeypatch.setattr(_kernels, "gpu_default", lambda: True)
    from mlx_scipy_sparse._kernels import _values as kv
    monkeypatch.setattr(kv, "gpu_default", lambda: True)
    for fmt in ("csr", "csc"):
        S, A = _operand(fmt, "array", seed=3)
        X, Y = A.copy(), S.copy()
        X.eliminate_zeros()
        Y.eliminate_zeros()
        _same_sparse(X, Y)
        _same(A.nonzero(), S.nonzero())
        SB = (-S).copy()
        SB.data[1::2] *= 3                  # the other half cancels: zeros scipy drops
        _same_sparse(A + getattr(sp, f"{fmt}_array")(SB), S + SB)


def test_the_device_transpose_on_the_cpu(monkeypatch):
    """The transpose pattern as a GPU builds it (rows by a running sum, the
    order by a sort of column * nnz + entry number), driven on the CPU:
    scipy's tocsc / tocsr, A.T @ x and csgraph's symmetric pattern, for
    sorted, unsorted, duplicated and empty-row patterns."""
    from mlx_scipy_sparse import _kernels
    from mlx_scipy_sparse._kernels import _values as kv
    monkeypatch.setattr(_kernels, "gpu_default", lambda: True)
    monkeypatch.setattr(kv, "gpu_default", lambda: True)
    from mlx_scipy_sparse._kernels import _device_patterns as dp
    seen = []
    real = dp.transpose
    monkeypatch.setattr(dp, "transpose", lambda *a: seen.append(1) or real(*a))
    for seed in range(3):
        S, A = _operand("csr", "array", seed=seed, shape=(37, 23))
        _same_sparse(A.tocsc(), S.tocsc())
        _same_sparse(sp.csc_array(S.tocsc()).tocsr(), S)
        x = np.arange(37, dtype=np.float32)
        np.testing.assert_allclose(np.array(A.T @ mx.array(x)), S.T @ x, rtol=1e-5)
    U = ss.csr_array((np.arange(1, 7, dtype=np.float32), np.array([3, 1, 3, 0, 2, 2]),
                      np.array([0, 3, 3, 6, 6])), shape=(4, 5))   # unsorted, duplicates, empty rows
    _same_sparse(sp.csr_array(U).tocsc(), U.tocsc())
    np.testing.assert_array_equal(np.asarray(sp.csr_array(U).tocsc().data), U.tocsc().data)
    E = ss.csr_array((3, 4), dtype=np.float32)
    _same_sparse(sp.csr_array(E).tocsc(), E.tocsc())
    assert seen                                  # the device branch ran
