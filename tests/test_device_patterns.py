"""The pattern functions a GPU runs where the pattern lives
(`_kernels/_device_patterns.py`: transpose, union, intersection), driven
on the CPU: each must answer what its host twin in `_kernels/_cpu.py`
answers, array for array, and the ops built on them (A + B, A - B,
maximum, minimum, multiply, comparisons) must give scipy's answers with
the device branch taken."""
import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse._kernels import _composed, _cpu, _device
from mlx_scipy_sparse._kernels import _device_patterns as dp
from mlx_scipy_sparse._kernels import _values as kv


def _pattern(shape, density, seed, empty_rows=()):
    S = ss.random_array(shape, density=density, format="csr", dtype=np.float32,
                        rng=np.random.default_rng(seed))
    S.sum_duplicates()
    if empty_rows:
        keep = ~np.isin(np.repeat(np.arange(shape[0]), np.diff(S.indptr)), empty_rows)
        S = ss.csr_array((S.data[keep], S.indices[keep],
                          np.concatenate([[0], np.cumsum(
                              np.bincount(np.repeat(np.arange(shape[0]), np.diff(S.indptr))[keep],
                                          minlength=shape[0]))])), shape=shape)
    return S.indices.astype(np.int32), S.indptr.astype(np.int32)


def _pairs():
    """(shape, A's pattern, B's pattern): overlapping, disjoint, equal, one
    or both empty, empty rows, a single row and a single column."""
    out = []
    for seed, shape, da, db in ((0, (40, 30), 0.2, 0.3), (1, (7, 500), 0.05, 0.5),
                                (2, (300, 1), 0.5, 0.5), (3, (1, 64), 0.3, 0.6),
                                (4, (3000, 200), 0.1, 0.12)):
        out.append((shape, _pattern(shape, da, seed), _pattern(shape, db, seed + 10)))
    a = _pattern((50, 40), 0.2, 5, empty_rows=(0, 3, 49))
    out.append(((50, 40), a, a))                                     # the same places
    out.append(((50, 40), a, _pattern((50, 40), 0.2, 6, empty_rows=(1, 3, 48))))
    e = (np.zeros(0, np.int32), np.zeros(51, np.int32))
    out.append(((50, 40), a, e))
    out.append(((50, 40), e, a))
    out.append(((50, 40), e, e))
    ind = np.arange(40, dtype=np.int32)                              # disjoint halves
    out.append(((2, 40), (ind[:20], np.array([0, 20, 20], np.int32)),
                (ind[20:], np.array([0, 0, 20], np.int32))))
    return out


def _mx(*arrays):
    return [mx.array(a) for a in arrays]


@pytest.fixture
def gpu_scan(monkeypatch):
    """running_sum takes its GPU form (a scan along rows of 1024, then of
    the rows' totals) on this CPU too."""
    monkeypatch.setattr(_composed, "gpu_default", lambda: True)


@pytest.mark.parametrize("n", [0, 1, 1023, 1024, 1025, 5000, 1024 * 1024 + 7, 3_000_001])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_running_sum_gpu_form_is_cumsum(gpu_scan, n, dtype):
    x = np.random.default_rng(n).integers(-3, 5, n).astype(dtype)
    got = _composed.running_sum(mx.array(x))
    assert got.dtype == mx.array(x).dtype
    np.testing.assert_array_equal(np.array(got), np.cumsum(x))


@pytest.mark.parametrize("case", range(len(_pairs())))
def test_union_and_intersection_answer_as_the_host_merges(gpu_scan, case):
    shape, (ai, ap), (bi, bp) = _pairs()[case]
    args = (*_mx(ai, ap, bi, bp), *shape)
    sa, sb, ind, ptr, n = dp.union(*args)
    want = _cpu.union_slots(ai, ap, bi, bp, *shape)
    assert n == want[2].size
    for got, ref in zip((sa, sb, ind, ptr), want):
        np.testing.assert_array_equal(np.array(got), ref)
        assert got.dtype == mx.int32
    got = dp.intersection(*args)
    want = _cpu.intersection_slots(ai, ap, bi, bp, *shape)
    for g, ref in zip(got, want):
        np.testing.assert_array_equal(np.array(g), ref)


def test_the_same_bits_every_call():
    shape, (ai, ap), (bi, bp) = _pairs()[0]
    args = (*_mx(ai, ap, bi, bp), *shape)
    first = [np.array(a) for a in dp.union(*args)[:4]] + [np.array(a) for a in dp.intersection(*args)]
    for _ in range(3):
        again = [np.array(a) for a in dp.union(*args)[:4]] + \
            [np.array(a) for a in dp.intersection(*args)]
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)


def test_fits_refuses_what_int32_cannot_number():
    i32 = mx.zeros((3,), dtype=mx.int32)
    assert dp.fits((i32, i32), 6)
    assert not dp.fits((i32.astype(mx.int64), i32), 6)      # int64 patterns: the host
    assert not dp.fits((i32, i32), 2 ** 31)                  # entry numbers past int32


@pytest.fixture
def device_branch(monkeypatch, gpu_scan):
    _device.KEEP_IN_MLX = True
    monkeypatch.setattr(kv, "gpu_default", lambda: True)
    seen = []
    for name in ("union", "intersection"):
        real = getattr(dp, name)
        monkeypatch.setattr(dp, name, lambda *a, real=real, name=name: seen.append(name) or real(*a))
    yield seen
    _device.KEEP_IN_MLX = None


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_ops_on_new_patterns_give_scipys_answers(device_branch, fmt):
    rng = np.random.default_rng(3)
    SA = ss.random_array((60, 45), density=0.15, format=fmt, dtype=np.float32, rng=rng)
    SB = ss.random_array((60, 45), density=0.2, format=fmt, dtype=np.float32, rng=rng)
    SB = SB + SA.multiply(SA > 0.5) * -1.0     # some places cancel in A + B
    SB.sum_duplicates()
    cls = getattr(sp, f"{fmt}_array")
    A, B = cls(SA), cls(SB)
    for ours, ref in ((A + B, SA + SB), (A - B, SA - SB), (B + A, SB + SA), (A.maximum(B), SA.maximum(SB)),
                      (A.minimum(B), SA.minimum(SB)), (A.multiply(B), SA.multiply(SB)),
                      (A != B, SA != SB)):
        ref = ref.asformat(fmt)
        assert ours.shape == ref.shape and ours.nnz == ref.nnz, (ours.nnz, ref.nnz)
        np.testing.assert_array_equal(np.asarray(ours.indptr), ref.indptr)
        np.testing.assert_array_equal(np.asarray(ours.indices), ref.indices)
        np.testing.assert_allclose(np.asarray(ours.data), ref.data, rtol=1e-6)
    assert "union" in device_branch and "intersection" in device_branch


def test_gradient_through_a_device_union(device_branch):
    rng = np.random.default_rng(4)
    SA = ss.random_array((20, 20), density=0.2, format="csr", dtype=np.float64, rng=rng)
    SB = ss.random_array((20, 20), density=0.2, format="csr", dtype=np.float64, rng=rng)
    x = rng.standard_normal(20)

    def loss(va, vb):
        A = sp.csr_array((va, mx.array(SA.indices), mx.array(SA.indptr)), shape=SA.shape)
        B = sp.csr_array((vb, mx.array(SB.indices), mx.array(SB.indptr)), shape=SB.shape)
        return mx.sum(((A + 2.0 * B) @ mx.array(x, dtype=mx.float64)) ** 2)

    with mx.stream(mx.cpu):
        va, vb = mx.array(SA.data, dtype=mx.float64), mx.array(SB.data, dtype=mx.float64)
        ga, gb = mx.grad(loss, argnums=(0, 1))(va, vb)
        y = (SA + 2.0 * SB) @ x
        np.testing.assert_allclose(np.array(ga), 2 * y[np.repeat(np.arange(20), np.diff(SA.indptr))]
                                   * x[SA.indices], rtol=1e-10)
        np.testing.assert_allclose(np.array(gb), 4 * y[np.repeat(np.arange(20), np.diff(SB.indptr))]
                                   * x[SB.indices], rtol=1e-10)
    assert "union" in device_branch


def test_rows_picked_where_the_pattern_lives(monkeypatch, gpu_scan):
    """A[idx] of a CSR with a 1-D integer index under the device rule takes
    the device pick (driven on the CPU): scipy's pattern, values, class and
    errors, for repeats, negatives, empty rows, an empty index and matrices;
    a traced gather keeps the gradient."""
    _device.KEEP_IN_MLX = True
    monkeypatch.setattr(kv, "gpu_default", lambda: True)
    seen = []
    real = dp.pick_lines
    monkeypatch.setattr(dp, "pick_lines", lambda *a: seen.append(1) or real(*a))
    try:
        rng = np.random.default_rng(8)
        S = ss.random_array((30, 20), density=0.2, format="csr", dtype=np.float32, rng=rng)
        S[4] = 0
        S.eliminate_zeros()                       # an empty row
        for flavour in ("array", "matrix"):
            R = getattr(ss, f"csr_{flavour}")(S)
            A = getattr(sp, f"csr_{flavour}")(R)
            for idx in ([3, 4, 3, -1, 0], np.array([29, 4, 4]), np.arange(30)[::-1],
                        np.array([], dtype=np.int64), mx.array([2, 7])):
                ours = A[idx]
                ref = R[np.array(idx) if isinstance(idx, mx.array) else idx]
                assert type(ours).__name__ == type(ref).__name__ and ours.shape == ref.shape
                np.testing.assert_array_equal(np.asarray(ours.indptr), ref.indptr)
                np.testing.assert_array_equal(np.asarray(ours.indices), ref.indices)
                np.testing.assert_array_equal(np.asarray(ours.data), ref.data)
            with pytest.raises(IndexError):
                A[[0, 30]]
        assert seen

        def loss(v):
            B = sp.csr_array((v, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
            return mx.sum(B[[5, 5, 2]].data ** 2)
        v = mx.array(S.data)
        g = np.array(mx.grad(loss)(v))
        want = np.zeros(S.nnz, np.float32)
        for r, times in ((5, 2), (2, 1)):
            sl = slice(S.indptr[r], S.indptr[r + 1])
            want[sl] += times * 2 * S.data[sl]
        np.testing.assert_allclose(g, want, rtol=1e-6)
    finally:
        _device.KEEP_IN_MLX = None
