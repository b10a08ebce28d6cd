"""kron, save_npz and load_npz of free CPU values without a hand-off to
scipy (_formats/_kron.py, _npz.py, _kernels/_blocks.py): scipy's answer bit
for bit (class, format, shape, dtype, values, index arrays and their
dtypes, flags), scipy's errors, files each side reads from the other, and
traced values still on their MLX paths."""
import io

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse._kernels import _values
from _block_cases import (
    assert_same as _same, float16_of,
    raises_as_scipy as _raises_as_scipy, refuse_hand_off as _refuse_hand_off,
    scipy_block)

DTYPES = [np.float32, np.float64, np.int32, np.complex64, np.bool_]
FLAVOURS = {"array": ("array", "array"), "matrix": ("matrix", "matrix"),
            "array, matrix": ("array", "matrix"), "matrix, array": ("matrix", "array")}


def _scipy_block(fmt, shape, dtype, index_dtype, seed, messy=True, fill=6):
    return scipy_block(fmt, shape, dtype, index_dtype, seed, messy, fill, real=1.25)


def _pair(fmt, shape, dtype=np.float32, index_dtype=np.int32, flavour="array", seed=0,
          messy=True, fill=6):
    """(ours, scipy's twin) made the same way from one scipy block."""
    S = _scipy_block(fmt, shape, dtype, index_dtype, seed, messy, fill)
    return getattr(sp, f"{fmt}_{flavour}")(S), getattr(ss, f"{fmt}_{flavour}")(S)


# -- kron ------------------------------------------------------------------------------
def _operands(formats, flavours, dtypes, index_dtypes, messy=True, shapes=((5, 4), (3, 6))):
    """((A, B) ours, (A, B) scipy's); B is sparse enough for scipy's COO branch."""
    ours, theirs = [], []
    for k in range(2):
        o, t = _pair(formats[k], shapes[k], dtypes[k], index_dtypes[k], flavours[k],
                     seed=20 + k, messy=messy)
        ours.append(o)
        theirs.append(t)
    return ours, theirs


@pytest.mark.parametrize("out", [None, "coo", "csr", "csc"])
@pytest.mark.parametrize("formats", [("csr", "csr"), ("csc", "coo"), ("coo", "csr"),
                                     ("coo", "coo"), ("csr", "csc")])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("messy", [True, False])
def test_kron_matches_scipy(out, formats, dtype, messy, monkeypatch):
    (A, B), (SA, SB) = _operands(formats, ("array", "array"), [dtype] * 2, [np.int32] * 2,
                                 messy)
    _refuse_hand_off(monkeypatch)
    r, s = sp.kron(A, B, format=out), ss.kron(SA, SB, format=out)
    assert s.format == (out or "coo") and s.nnz == A.nnz * B.nnz > 0 or out in ("csr", "csc")
    _same(r, s)
    _same(sp.kron(A, B, out), ss.kron(SA, SB, out))        # format given by position


@pytest.mark.parametrize("out", [None, "coo", "csr", "csc"])
@pytest.mark.parametrize("flavours", FLAVOURS)
@pytest.mark.parametrize("index_dtypes", [(np.int64, np.int64), (np.int64, np.int32),
                                          (np.int32, np.int64)])
@pytest.mark.parametrize("formats", [("csr", "csr"), ("coo", "csc"), ("csc", "coo"),
                                     ("coo", "coo")])
def test_kron_index_dtypes_and_flavours_match_scipy(out, flavours, index_dtypes, formats,
                                                    monkeypatch):
    (A, B), (SA, SB) = _operands(formats, FLAVOURS[flavours], [np.float64] * 2, index_dtypes)
    _refuse_hand_off(monkeypatch)
    r = sp.kron(A, B, format=out)
    _same(r, ss.kron(SA, SB, format=out))
    assert isinstance(r, sp.sparray) == ("array" in FLAVOURS[flavours])


@pytest.mark.parametrize("dtypes", [(np.int32, np.float32), (np.bool_, np.complex64),
                                    (np.float32, np.bool_), (np.int8, np.float64)])
@pytest.mark.parametrize("out", [None, "csr"])
def test_kron_mixed_value_dtypes_upcast_as_scipy(dtypes, out, monkeypatch):
    (A, B), (SA, SB) = _operands(("csr", "coo"), ("array", "array"), dtypes, [np.int32] * 2)
    _refuse_hand_off(monkeypatch)
    r = sp.kron(A, B, format=out)
    assert r.dtype == np.result_type(*dtypes)
    _same(r, ss.kron(SA, SB, format=out))


@pytest.mark.parametrize("out", [None, "coo", "csr", "csc"])
@pytest.mark.parametrize("shapes", [((4, 3), (0, 5)), ((0, 3), (2, 5)), ((4, 3), (2, 5))])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_kron_of_empty_operands(out, shapes, flavour, monkeypatch):
    """No entries on one side: scipy's zero answer (float64, flagged
    canonical), from its COO branch and from its BSR branch alike."""
    A, SA = _pair("csr", shapes[0], np.int32, flavour=flavour, seed=3)
    B0 = getattr(ss, f"coo_{flavour}")(shapes[1], dtype=np.float32)   # no entries
    B, SB = getattr(sp, f"coo_{flavour}")(B0), B0
    _refuse_hand_off(monkeypatch)
    for x, y, sx, sy in ((A, B, SA, SB), (B, A, SB, SA)):
        r, s = sp.kron(x, y, format=out), ss.kron(sx, sy, format=out)
        assert s.nnz == 0 and s.dtype == np.float64
        _same(r, s)


def test_kron_bsr_branch_stays_scipys():
    """A B at least half full, format None or "bsr": scipy's BSR answer."""
    A, SA = _pair("csr", (4, 5), np.float32, seed=5)
    B, SB = _pair("csr", (2, 2), np.float32, seed=6, messy=False, fill=1)
    assert 2 * SB.nnz >= 4
    for out in (None, "bsr"):
        r, s = sp.kron(A, B, format=out), ss.kron(SA, SB, format=out)
        assert r.format == s.format == "bsr"
        np.testing.assert_array_equal(r.toarray(), s.toarray())
    _same(sp.kron(A, B, format="csr"), ss.kron(SA, SB, format="csr"))    # COO branch: ours


def test_kron_large_results_in_mlx_buffers(monkeypatch):
    """The large answers' path (filled in new MLX buffers), made small."""
    monkeypatch.setattr(_values, "_IN_MLX_BUFFERS", 1)
    (A, B), (SA, SB) = _operands(("coo", "csr"), ("array", "matrix"), [np.complex64] * 2,
                                 [np.int64, np.int32])
    _refuse_hand_off(monkeypatch)
    for out in (None, "coo", "csr", "csc"):
        _same(sp.kron(A, B, format=out), ss.kron(SA, SB, format=out))


def test_kron_answers_share_nothing_with_the_operands():
    (A, B), (SA, SB) = _operands(("csr", "csr"), ("array", "array"), [np.float32] * 2,
                                 [np.int32] * 2, messy=False)
    K = sp.kron(A, B, format="coo")
    K.data[:] = 7
    _same(A, SA)
    _same(B, SB)
    assert (np.asarray(K.data) == 7).all()


def test_kron_errors_and_other_formats_as_scipy():
    (A, B), (SA, SB) = _operands(("csr", "coo"), ("array", "array"), [np.float32] * 2,
                                 [np.int32] * 2)
    _raises_as_scipy(lambda: sp.kron(A, B, format="xyz"), lambda: ss.kron(SA, SB, format="xyz"))
    _raises_as_scipy(lambda: sp.kron(A, B, "csr", 3), lambda: ss.kron(SA, SB, "csr", 3))
    for out in ("lil", "dia", "bsr", "dok"):
        r, s = sp.kron(A, B, format=out), ss.kron(SA, SB, format=out)
        assert r.format == s.format == out
        np.testing.assert_array_equal(r.toarray(), s.toarray())
    # a dense operand: scipy's answer
    D = SB.toarray()
    _same(sp.kron(A, D, format="csr"), ss.kron(SA, D, format="csr"))


def test_kron_float16_keeps_the_hand_off(monkeypatch):
    S = _scipy_block("csr", (4, 4), np.float32, np.int32, seed=4)
    A, lent = float16_of(S, "unwrap", monkeypatch)
    r = sp.kron(A, A, format="csr")
    np.testing.assert_array_equal(r.toarray().astype(np.float32),
                                  ss.kron(S, S, format="csr").toarray())
    assert lent                 # scipy has no float16: that still goes the lending way


def test_kron_of_traced_values_keeps_its_gradient():
    """Under mx.grad the values take kron's MLX path: the gradient of a
    product through sp.kron(A, B) is the dense one in both operands."""
    SA = _scipy_block("csr", (4, 3), np.float32, np.int32, seed=7, messy=False)
    SB = _scipy_block("csr", (2, 5), np.float32, np.int32, seed=8, messy=False)
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal(15).astype(np.float32), rng.standard_normal(8).astype(np.float32)

    def loss(da, db):
        A = sp.csr_array((da, mx.array(SA.indices), mx.array(SA.indptr)), shape=SA.shape)
        B = sp.csr_array((db, mx.array(SB.indices), mx.array(SB.indptr)), shape=SB.shape)
        return mx.sum((sp.kron(A, B, format="csr") @ mx.array(x)) * mx.array(w))
    ga, gb = mx.grad(loss, argnums=(0, 1))(mx.array(SA.data), mx.array(SB.data))
    # w^T kron(A, B) x = sum W[i, k] A[i, j] B[k, l] X[j, l], W and X reshaped to blocks
    W, X = w.reshape(4, 2), x.reshape(3, 5)
    dA, dB = W @ SB.toarray() @ X.T, W.T @ SA.toarray() @ X
    rows_a, rows_b = (np.repeat(np.arange(S.shape[0]), np.diff(S.indptr)) for S in (SA, SB))
    np.testing.assert_allclose(np.array(ga), dA[rows_a, SA.indices], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(gb), dB[rows_b, SB.indices], rtol=1e-5, atol=1e-6)


# -- save_npz / load_npz ---------------------------------------------------------------
def _saved(lib, A, compressed):
    f = io.BytesIO()
    lib.save_npz(f, A, compressed=compressed)
    f.seek(0)
    return f


def _same_file(f1, f2):
    """Two npz files hold the same keys, in order, with the same arrays."""
    with np.load(f1) as a, np.load(f2) as b:
        assert list(a.keys()) == list(b.keys())
        for k in a.keys():
            assert a[k].dtype == b[k].dtype, k
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    f1.seek(0)
    f2.seek(0)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("dtype", DTYPES + [np.uint64, np.int8])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("compressed", [True, False])
def test_npz_round_trips_both_ways(fmt, flavour, dtype, index_dtype, compressed, monkeypatch):
    A, S = _pair(fmt, (9, 7), dtype, index_dtype, flavour, seed=11)
    _refuse_hand_off(monkeypatch)
    ours, theirs = _saved(sp, A, compressed), _saved(ss, S, compressed)
    _same_file(ours, theirs)                            # the file scipy writes
    want = ss.load_npz(theirs)
    theirs.seek(0)
    _same(sp.load_npz(ours), want)                      # ours -> ours
    ours.seek(0)
    _same(ss.load_npz(ours), want)                      # ours -> scipy
    r = sp.load_npz(theirs)                             # scipy -> ours
    _same(r, want)
    assert r.nnz == S.nnz > 0


def test_npz_empty_and_file_names(tmp_path, monkeypatch):
    E = sp.csc_matrix((0, 4), dtype=np.complex64)
    A, S = _pair("coo", (5, 5), np.float32, seed=2)
    _refuse_hand_off(monkeypatch)
    sp.save_npz(str(tmp_path / "e"), E)                 # numpy's rule: ".npz" added
    _same(sp.load_npz(tmp_path / "e.npz"), ss.load_npz(tmp_path / "e.npz"))
    sp.save_npz(tmp_path / "a.npz", A, False)
    _same(sp.load_npz(str(tmp_path / "a.npz")), S)
    assert sp.load_npz(tmp_path / "e.npz").shape == (0, 4)


def test_npz_loaded_values_are_free_and_unshared(monkeypatch):
    A, S = _pair("csr", (6, 6), np.float32, seed=3)
    B = sp.load_npz(_saved(sp, A, True))
    _refuse_hand_off(monkeypatch)
    B.data[:] = 2           # a write to the copy read back never reaches A
    _same(A, S)
    np.testing.assert_array_equal(np.asarray((B @ mx.ones(6))), 2 * np.diff(S.indptr))
    _same(sp.tril(B), ss.tril(S.__class__((np.full(S.nnz, 2, np.float32), S.indices,
                                           S.indptr), shape=S.shape)))


def _file(**arrays):
    f = io.BytesIO()
    np.savez(f, **arrays)
    f.seek(0)
    return f


DAMAGED = {
    "csr index past the shape": dict(indices=np.array([0, 9, 1], np.int32),
                                     indptr=np.array([0, 2, 3], np.int32), format=b"csr"),
    "csc negative index": dict(indices=np.array([0, -1, 1], np.int64),
                               indptr=np.array([0, 2, 3, 3], np.int64), format=b"csc"),
    "csr pointers falling": dict(indices=np.array([0, 1, 1], np.int32),
                                 indptr=np.array([0, 3, 2], np.int32), format=b"csr"),
    "coo row past the shape": dict(row=np.array([0, 2, 1], np.int32),
                                   col=np.array([0, 1, 2], np.int32), format=b"coo"),
    "coo col past the shape": dict(row=np.array([0, 1, 1], np.int64),
                                   col=np.array([0, 3, 2**33], np.int64), format=b"coo"),
}


@pytest.mark.parametrize("damage", DAMAGED)
@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_damaged_files_refused_before_a_kernel_reads_them(damage, flavour, monkeypatch):
    """An index out of bounds (which scipy's load_npz lets through): a
    ValueError at load (a matrix's int64 arrays, checked before they are
    narrowed) or at first use, before any kernel or scipy reads the arrays."""
    arrays = dict(DAMAGED[damage], shape=np.array([2, 3]), data=np.ones(3, np.float32))
    if flavour == "array":
        arrays["_is_array"] = True
    _refuse_hand_off(monkeypatch)

    def read(*a, **k):
        raise AssertionError("a kernel read the damaged arrays")
    for name in ("spmv", "spmm"):
        monkeypatch.setattr(sp._kernels, name, read, raising=False)
    with pytest.raises(ValueError):
        A = sp.load_npz(_file(**arrays))
        A @ mx.ones(3)


def _rewound(f):
    f.seek(0)
    return f


def test_npz_errors_are_scipys():
    for arrays in (dict(data=np.ones(2)),                               # no format
                   dict(format=b"xyz", data=np.ones(2), shape=np.array([2, 2])),
                   dict(format=b"lil", data=np.ones(2), shape=np.array([2, 2])),
                   dict(format=b"csr", data=np.ones(3), indices=np.zeros(3, np.int32),
                        indptr=np.array([0, 3, 3, 3]), shape=np.array([2, 2]))):
        f = _file(**arrays)         # (one file, read from its start: its name is in a message)
        _raises_as_scipy(lambda: sp.load_npz(_rewound(f)), lambda: ss.load_npz(_rewound(f)))
    L = sp.lil_array((3, 3))
    _raises_as_scipy(lambda: sp.save_npz(io.BytesIO(), L),
                     lambda: ss.save_npz(io.BytesIO(), ss.lil_array((3, 3))))


@pytest.mark.parametrize("fmt", ["dia", "bsr"])
def test_npz_other_formats_take_scipys_path(fmt):
    S = getattr(ss, f"{fmt}_array")(np.arange(16, dtype=np.float64).reshape(4, 4))
    A = getattr(sp, f"{fmt}_array")(S)
    f = _saved(sp, A, True)
    r = sp.load_npz(f)
    assert r.format == fmt and isinstance(r, sp.sparray)
    np.testing.assert_array_equal(r.toarray(), S.toarray())
    f.seek(0)
    np.testing.assert_array_equal(ss.load_npz(f).toarray(), S.toarray())


def test_npz_float16_values_keep_scipys_path():
    S = _scipy_block("csr", (4, 4), np.float32, np.int32, seed=4)
    A = sp.csr_array((mx.array(S.data).astype(mx.float16), mx.array(S.indices),
                      mx.array(S.indptr)), shape=S.shape)
    r = sp.load_npz(_saved(sp, A, True))
    np.testing.assert_array_equal(r.toarray().astype(np.float32), S.toarray())
