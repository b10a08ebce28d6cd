"""On a GPU, free values stay in MLX for the ops scipy would otherwise do on
the host (`_kernels.keep_in_mlx`).  Forced on here (CPU), the answers must
still be scipy's exactly: the same entries (zeros an op produced dropped),
values and types, and no scipy object made of the operands for the ops that
have an MLX path."""
import contextlib

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse._formats import _compressed, _device_reduce
from mlx_scipy_sparse._kernels import _device


@pytest.fixture(autouse=True)
def device_rule():
    _device.KEEP_IN_MLX = True
    yield
    _device.KEEP_IN_MLX = None


def _pair(dtype=np.float64):
    rng = np.random.default_rng(7)
    SA = ss.random_array((40, 30), density=0.2, format="csr", dtype=dtype, rng=rng)
    SB = ss.random_array((40, 30), density=0.2, format="csr", dtype=dtype, rng=rng)
    SA.data -= 0.5
    SB.data -= 0.5
    # entries of B that cancel A's, so A + B holds zeros scipy drops
    mask = ss.random_array((40, 30), density=0.3, format="csr", rng=rng)
    SB = (SB + (-SA).multiply(mask.astype(bool))).tocsr()
    return SA, SB


@contextlib.contextmanager
def _scipy_calls():
    """A list that gains an item whenever one of our compressed arrays is
    handed to scipy (made into a scipy object) inside the block."""
    calls = []
    real = _compressed._compressed_base._to_sp

    def counting(self, copy=False):
        calls.append(1)
        return real(self, copy)
    _compressed._compressed_base._to_sp = counting
    try:
        yield calls
    finally:
        _compressed._compressed_base._to_sp = real


def _same(ours, ref):
    assert type(ours).__name__ == type(ref).__name__
    assert ours.shape == ref.shape and ours.nnz == ref.nnz
    assert ours.dtype == ref.dtype
    np.testing.assert_array_equal(ours.toarray(), ref.toarray())


OPS = {"A + B": lambda A, B: A + B, "A - B": lambda A, B: A - B,
       "A - A": lambda A, B: A - A, "maximum": lambda A, B: A.maximum(B),
       "minimum": lambda A, B: A.minimum(B), "multiply": lambda A, B: A.multiply(B),
       "A[3:17]": lambda A, B: A[3:17], "A[:, [1, 4, 4]]": lambda A, B: A[:, [1, 4, 4]],
       "A[5]": lambda A, B: A[5], "A[[2, 3], [4, 5]]": lambda A, B: A[[2, 3], [4, 5]],
       "A != B": lambda A, B: A != B, "A < B": lambda A, B: A < B, "A > B": lambda A, B: A > B,
       "A > 0.1": lambda A, B: A > 0.1, "A < -0.1": lambda A, B: A < -0.1,
       "A.multiply(row numpy)": lambda A, B: A.multiply(np.linspace(-1, 1, 30)),
       "A * col numpy": lambda A, B: A * np.linspace(0, 1, 40)[:, None],
       "diagonal": lambda A, B: A.diagonal(),
       "vstack": lambda A, B: sp.vstack([A, B]) if isinstance(A, sp.sparray) else ss.vstack([A, B]),
       "hstack": lambda A, B: sp.hstack([A, B]) if isinstance(A, sp.sparray) else ss.hstack([A, B]),
       "tril": lambda A, B: sp.tril(A, -2) if isinstance(A, sp.sparray) else ss.tril(A, -2),
       "triu": lambda A, B: sp.triu(A) if isinstance(A, sp.sparray) else ss.triu(A),
       "block_diag": lambda A, B: (sp if isinstance(A, sp.sparray) else ss).block_diag([A, B])}


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("name", OPS)
def test_scipy_answers_in_mlx(fmt, name):
    SA, SB = _pair()
    SA, SB = SA.asformat(fmt), SB.asformat(fmt)
    ref = OPS[name](SA, SB)
    A, B = sp.csr_array(SA).asformat(fmt), sp.csr_array(SB).asformat(fmt)
    ours = OPS[name](A, B)
    if ss.issparse(ref):
        _same(ours, ref)
    else:
        np.testing.assert_array_equal(np.asarray(ours), ref)


# scalars and dense results (diagonal, paired fancy indexing) stay scipy's numpy ones
@pytest.mark.parametrize("name", [n for n in OPS
                                  if n not in ("A - A", "diagonal", "A[[2, 3], [4, 5]]")])
def test_no_host_hand_off_once_the_pattern_is_known(name):
    """With no zero produced, a second call on the same patterns makes no
    scipy object of the operands (the pattern work is kept)."""
    rng = np.random.default_rng(3)
    SA, SB = (ss.random_array((40, 30), density=0.2, format="csr", rng=rng) for _ in range(2))
    SA.data += 0.5
    SB.data += 0.5
    A, B = sp.csr_array(SA), sp.csr_array(SB)
    OPS[name](A, B)
    with _scipy_calls() as calls:
        OPS[name](A, B)
    assert not calls, "handed to scipy"


def test_cancellation_drops_zeros_like_scipy():
    S = ss.csr_array(np.array([[1.0, -2.0, 0.0], [0.0, 3.0, -1.0]]))
    T = ss.csr_array(np.array([[-1.0, 2.0, 5.0], [0.0, 0.0, 1.0]]))
    A, B = sp.csr_array(S), sp.csr_array(T)
    _same(A + B, S + T)
    _same(A.maximum(-B), S.maximum(-T))


def test_traced_values_keep_structural_pattern():
    S = ss.csr_array(np.array([[1.0, -2.0], [0.0, 3.0]]))
    A = sp.csr_array(S)

    def loss(v):
        X = sp.csr_array((v, A.indices, A.indptr), shape=A.shape)
        Y = X - X
        assert Y.nnz == 3              # cancelled entries stay stored under a transformation
        return mx.sum((Y + X).data ** 2)
    with mx.stream(mx.cpu):
        g = mx.grad(loss)(mx.array(S.data, dtype=mx.float64))
    np.testing.assert_allclose(np.array(g), 2 * S.data)


def test_scalar_comparisons_follow_numpys_dtype_rule():
    """A < s / A > s compare in numpy's dtype (NEP 50): a numpy int64 -1
    against uint8 values is -1, not 255; a float64 0.1 against float32 values
    compares in float64."""
    S = ss.csr_array(np.array([[1.0, 0, 2.5], [0.1, 3.0, 0]]))
    for dt in (np.uint8, np.int8, np.float32, np.float64):
        A, R = sp.csr_array(S.astype(dt)), S.astype(dt)
        for s in (np.int64(-1), -1, 0, 2, 0.1, np.float64(0.1), np.float32(0.1)):
            for op in (lambda a: a > s, lambda a: a < s):
                try:
                    ref = op(R)
                except Exception as e:          # noqa: BLE001  (then ours raises the same)
                    with pytest.raises(type(e)):
                        op(A)
                    continue
                _same(op(A), ref)


REDUCTIONS = [("sum", {}), ("sum", {"axis": 0}), ("sum", {"axis": 1}), ("sum", {"axis": -1}),
              ("mean", {}), ("mean", {"axis": 0}), ("mean", {"axis": 1}), ("max", {}),
              ("min", {}), ("count_nonzero", {}), ("count_nonzero", {"axis": 0}),
              ("count_nonzero", {"axis": 1})]


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("name,kw", REDUCTIONS)
def test_reductions_on_the_device_in_scipys_types(flavour, fmt, name, kw):
    """float32 values: reduced in MLX, handed back as scipy would (numpy
    scalar / array / np.matrix, scipy's dtype, its count dtype rule), the
    same numbers (sums to float32 rounding, the rest exactly), and no scipy
    object made of the operand."""
    rng = np.random.default_rng(11)
    S = ss.random_array((50, 40), density=0.2, format=fmt, dtype=np.float32, rng=rng)
    S.data -= 0.5
    S.data[::9] = 0                          # stored zeros: counts skip them
    if flavour == "matrix":
        S = getattr(ss, f"{fmt}_matrix")(S)
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    ref = getattr(S, name)(**kw)
    with _scipy_calls() as calls:
        ours = getattr(A, name)(**kw)
    assert type(ours) is type(ref) and np.shape(ours) == np.shape(ref)
    assert np.asarray(ours).dtype == np.asarray(ref).dtype
    if name in ("sum", "mean"):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=2e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))
    if fmt != "coo":
        assert not calls, "handed to scipy"


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_max_min_along_an_axis_on_the_device(flavour, fmt, name, axis):
    """float32 values: max / min along an axis reduced where the values live,
    scipy's COO answer exactly (type, shape, stored entries, values), with a
    full row, an empty row and a column of negatives (implicit zeros count
    only where a row / column is not full); a NaN takes scipy's path."""
    rng = np.random.default_rng(3)
    S = ss.random_array((40, 30), density=0.2, format="lil", dtype=np.float32, rng=rng)
    S[3, :] = rng.standard_normal(30)
    S[:, 7] = -rng.uniform(1, 2, 40)
    S[5, :] = 0
    S = getattr(ss, f"{fmt}_{flavour}")(S)
    S.data -= 0.3
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    ref = getattr(S, name)(axis=axis)
    with _scipy_calls() as calls:
        ours = getattr(A, name)(axis=axis)
    assert not calls, "handed to scipy"
    assert type(ours).__name__ == type(ref).__name__ and ours.shape == ref.shape
    assert ours.nnz == ref.nnz and ours.dtype == ref.dtype
    np.testing.assert_array_equal(ours.toarray(), ref.toarray())
    S.data[4] = np.nan
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    np.testing.assert_array_equal(getattr(A, name)(axis=axis).toarray(),
                                  getattr(S, name)(axis=axis).toarray())


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_argmax_argmin_along_an_axis_on_the_device(flavour, fmt):
    """float32 values: argmax / argmin along each axis worked out where the
    values live, scipy's answer exactly (int64 array / np.matrix, shape,
    values) with and without `explicit`, over patterns with stored zeros,
    full rows, empty rows and negative columns (scipy's implicit-zero rules,
    its min(position, first missing index) where the extreme is zero);
    the major axis with no hand-off to scipy; a NaN takes scipy's path."""
    rng = np.random.default_rng(0)
    for trial in range(12):
        S = ss.random_array((25, 18), density=rng.uniform(0.05, 0.9), format="lil", rng=rng,
                            data_sampler=lambda size: rng.integers(-3, 4, size).astype(float))
        if trial % 3 == 0:
            S[2, :] = rng.integers(-3, 4, 18)
        if trial % 4 == 0:
            S[:, 5] = -1.0
        if trial % 5 == 0:
            S[4, :] = 0
        Ss = getattr(ss, f"{fmt}_{flavour}")(S.astype(np.float32))
        Ss.sum_duplicates()
        A = getattr(sp, f"{fmt}_{flavour}")(Ss)
        for name in ("argmax", "argmin"):
            for axis in (0, 1, -1):
                for explicit in (False, True):
                    major = fmt != "coo" and (axis % 2 == 1) == (fmt == "csr")
                    with _scipy_calls() as calls:
                        got = getattr(A, name)(axis=axis, explicit=explicit)
                    ref = getattr(Ss, name)(axis=axis, explicit=explicit)
                    assert type(got) is type(ref) and np.shape(got) == np.shape(ref)
                    assert np.asarray(got).dtype == np.asarray(ref).dtype
                    np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
                    if major:
                        assert not calls, "handed to scipy"
    def refused(*a):
        raise RuntimeError("an op the device refuses")
    with pytest.MonkeyPatch.context() as mp:      # a device that refuses an op: scipy's answer
        mp.setattr(_device_reduce, "_arg_lines", refused)
        np.testing.assert_array_equal(np.asarray(A.argmin(axis=0)), np.asarray(Ss.argmin(axis=0)))
    S = ss.random_array((10, 8), density=0.5, format=fmt, dtype=np.float32, rng=1)
    S.data[3] = np.nan
    S = getattr(ss, f"{fmt}_{flavour}")(S)
    A = getattr(sp, f"{fmt}_{flavour}")(S)
    np.testing.assert_array_equal(np.asarray(A.argmax(axis=1)), np.asarray(S.argmax(axis=1)))


def test_device_reductions_leave_float64_and_transformations_alone():
    """float64 stays scipy's (its exact bits, CPU stream); traced values
    keep the MLX result with its gradient."""
    S = ss.random_array((30, 20), density=0.3, format="csr", rng=2)
    A = sp.csr_array(S)
    assert A.sum(axis=0).tobytes() == S.sum(axis=0).tobytes()
    A32 = sp.csr_array(S.astype(np.float32))
    g = mx.grad(lambda d: sp.csr_array((d, A32.indices, A32.indptr), shape=A32.shape)
                .sum(axis=1).sum())(A32.data)
    np.testing.assert_array_equal(np.array(g), np.ones(A32.nnz, np.float32))


def test_index_order_flags_read_on_the_device(monkeypatch):
    """has_sorted_indices / has_canonical_format by one reduction where the
    pattern lives (forced here): scipy's answer on random patterns with
    unsorted rows, duplicates, empty rows and an empty last row."""
    from mlx_scipy_sparse import _kernels
    from scipy.sparse import _sparsetools as st
    monkeypatch.setattr(_kernels, "gpu_default", lambda: True)
    rng = np.random.default_rng(5)
    for trial in range(200):
        m, n = (int(v) for v in rng.integers(1, 8, 2))
        nnz = int(rng.integers(0, 14))
        r, c = rng.integers(0, m, nnz), rng.integers(0, n, nnz)
        ptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=m))]).astype(np.int32)
        ind = c[np.argsort(r, kind="stable")].astype(np.int32)
        if trial % 3 == 0:
            S = ss.csr_array((np.ones(nnz), ind, ptr), shape=(m, n))
            S.sum_duplicates()
            ind, ptr = S.indices, S.indptr
        A = sp.csr_array((mx.ones(len(ind)), mx.array(ind), mx.array(ptr)), shape=(m, n))
        A._sorted = A._canonical = None
        assert A.has_sorted_indices == bool(st.csr_has_sorted_indices(m, ptr, ind))
        A._sorted = A._canonical = None
        assert A.has_canonical_format == bool(st.csr_has_canonical_format(m, ptr, ind))


DENSE_MOVES = {"diagonal": lambda A: A.diagonal(), "diagonal(k=-2)": lambda A: A.diagonal(k=-2),
               "trace": lambda A: A.trace(), "A[[2, 3], [4, 5]]": lambda A: A[[2, 3], [4, 5]],
               "A[[0, 9, 9], [1, 2, 2]]": lambda A: A[[0, 9, 9], [1, 2, 2]]}


@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("name", DENSE_MOVES)
def test_dense_moves_of_float32_gathered_on_the_device(flavour, name):
    """Dense results of value-moving ops: the same values and type as
    scipy's (np.matrix where scipy gives one), and the second call on the
    same pattern makes no scipy object of the operand."""
    rng = np.random.default_rng(4)
    S = ss.random_array((40, 30), density=0.2, format="csr", dtype=np.float32, rng=rng)
    if flavour == "matrix":
        S = ss.csr_matrix(S)
    A = getattr(sp, f"csr_{flavour}")(S)
    ref = DENSE_MOVES[name](S)
    DENSE_MOVES[name](A)
    with _scipy_calls() as calls:
        ours = DENSE_MOVES[name](A)
    assert type(ours) is type(ref) and np.shape(ours) == np.shape(ref)
    assert np.asarray(ours).dtype == np.asarray(ref).dtype
    if name == "trace":                 # the diagonal added in MLX's order
        np.testing.assert_allclose(ours, ref, rtol=1e-6)
    else:
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))
    assert not calls, "handed to scipy"
