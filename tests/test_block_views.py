"""tril / triu / hstack / vstack / bmat / block_array / block_diag of free
CPU values without a hand-off to scipy (_formats/_stack.py,
_formats/_triangles.py, _kernels/_blocks.py): scipy's answer bit for bit
(class, format, shape, dtype, values, index arrays and their dtypes, flags),
scipy's errors, and traced values still on their MLX paths."""
import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse._kernels import _values
from _block_cases import (
    assert_same as _same, float16_of,
    raises_as_scipy as _raises_as_scipy, refuse_hand_off as _refuse_hand_off,
    scipy_block as _scipy_block)

DTYPES = [np.float32, np.float64, np.int32, np.complex64, np.bool_]


def _pair(fmt, shape, dtype=np.float32, index_dtype=np.int32, flavour="array", seed=0,
          messy=True):
    """(ours, scipy's twin) made the same way from one scipy block."""
    S = _scipy_block(fmt, shape, dtype, index_dtype, seed, messy)
    A, T = getattr(sp, f"{fmt}_{flavour}")(S), getattr(ss, f"{fmt}_{flavour}")(S)
    index = A.coords[0] if fmt == "coo" else A.indptr
    assert np.asarray(index).dtype == (T.coords[0] if fmt == "coo" else T.indptr).dtype
    return A, T


# -- tril / triu ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("messy", [True, False])
def test_triangles_match_scipy(name, fmt, dtype, index_dtype, flavour, messy, monkeypatch):
    A, T = _pair(fmt, (13, 17), dtype, index_dtype, flavour, messy=messy)
    _refuse_hand_off(monkeypatch)
    for k in (0, 1, -2, 16, -12, 40, -40, np.int64(3)):
        r, s = getattr(sp, name)(A, k), getattr(ss, name)(T, k)
        _same(r, s)
        if k in (0, 1, -2):
            assert 0 < r.nnz < A.nnz                # a real mask: some kept, some dropped


@pytest.mark.parametrize("fmt", [None, "coo", "csr", "csc"])
@pytest.mark.parametrize("src", ["csr", "coo"])
def test_triangle_formats(fmt, src, monkeypatch):
    A, T = _pair(src, (20, 20), np.float64, seed=2)
    _refuse_hand_off(monkeypatch)
    _same(sp.tril(A, k=-1, format=fmt), ss.tril(T, k=-1, format=fmt))
    _same(sp.triu(A, format=fmt), ss.triu(T, format=fmt))


def test_triangle_cases_left_to_scipy():
    A, T = _pair("csr", (9, 9), seed=3)
    # an offset the int32 coordinates cannot hold: scipy's OverflowError
    with pytest.raises(OverflowError) as want:
        ss.tril(T, 2 ** 40)
    with pytest.raises(OverflowError) as got:
        sp.tril(A, 2 ** 40)
    assert str(got.value) == str(want.value)
    _same(sp.triu(A, 0.5), ss.triu(T, 0.5))          # a float offset: scipy's answer
    _same(sp.tril(A, format="lil").tocsr(), ss.tril(T, format="lil").tocsr())


def test_float16_keeps_the_hand_off(monkeypatch):
    S = _scipy_block("csr", (10, 10), np.float32, np.int32, seed=4)
    A, lent = float16_of(S, "lend", monkeypatch)
    for r, s in ((sp.tril(A), ss.tril(S)), (sp.hstack([A, A]), ss.hstack([S, S]))):
        assert r.dtype == np.float16
        np.testing.assert_array_equal(r.toarray(), s.toarray().astype(np.float16))
    assert lent                 # scipy has no float16: those still go the lending way


# -- hstack / vstack / bmat / block_array / block_diag -------------------------------
SHAPES = {"A": (12, 8), "B": (12, 10), "C": (6, 10), "D": (6, 8)}

OPS = {
    "hstack": lambda m, b: m.hstack([b["A"], b["B"]]),
    "hstack3": lambda m, b: m.hstack([b["B"], b["A"], b["B"]]),
    "vstack": lambda m, b: m.vstack([b["B"], b["C"]]),
    "bmat": lambda m, b: m.bmat([[b["A"], b["B"]], [None, b["C"]]]),
    "bmat full": lambda m, b: m.bmat([[b["A"], b["B"]], [b["D"], b["C"]]]),
    "bmat column": lambda m, b: m.bmat([[b["B"]], [b["C"]]]),
    "block_array": lambda m, b: m.block_array([[b["A"], None], [b["D"], b["C"]]]),
    "block_array full": lambda m, b: m.block_array([[b["A"], b["B"]], [b["D"], b["C"]]]),
    "block_diag": lambda m, b: m.block_diag([b["A"], b["C"], b["B"]]),
}

# formats, flavours, value and index dtypes of blocks A, B, C, D
FORMATS = {"csr": "csr" * 4, "csc": "csc" * 4, "coo": "coo" * 4, "mixed": "csrcsccoocsr"}
FLAVOURS = {"array": "aaaa", "matrix": "mmmm", "array first": "amam", "matrix first": "mama"}


def _blocks(formats, flavours, dtypes, index_dtypes, messy=True):
    ours, theirs = {}, {}
    for k, name in enumerate("ABCD"):
        fmt = formats[3 * k:3 * k + 3]
        flavour = "array" if flavours[k] == "a" else "matrix"
        ours[name], theirs[name] = _pair(fmt, SHAPES[name], dtypes[k], index_dtypes[k],
                                         flavour, seed=10 + k, messy=messy)
    return ours, theirs


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("formats", FORMATS)
@pytest.mark.parametrize("flavours", FLAVOURS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_blocks_match_scipy(op, formats, flavours, dtype, monkeypatch):
    ours, theirs = _blocks(FORMATS[formats], FLAVOURS[flavours], [dtype] * 4, [np.int32] * 4)
    _refuse_hand_off(monkeypatch)
    _same(OPS[op](sp, ours), OPS[op](ss, theirs))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("formats", FORMATS)
@pytest.mark.parametrize("flavours", FLAVOURS)
@pytest.mark.parametrize("index_dtypes", ["int64", "int64 first", "int32 first"])
def test_block_index_dtypes_match_scipy(op, formats, flavours, index_dtypes, monkeypatch):
    index = {"int64": [np.int64] * 4, "int64 first": [np.int64, np.int32] * 2,
             "int32 first": [np.int32, np.int64] * 2}[index_dtypes]
    ours, theirs = _blocks(FORMATS[formats], FLAVOURS[flavours], [np.float64] * 4, index)
    _refuse_hand_off(monkeypatch)
    _same(OPS[op](sp, ours), OPS[op](ss, theirs))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("formats", ["csr", "mixed"])
@pytest.mark.parametrize("dtypes", [(np.float32, np.int32, np.bool_, np.float32),
                                    (np.bool_, np.complex64, np.int32, np.float64)])
def test_mixed_value_dtypes_upcast_as_scipy(op, formats, dtypes, monkeypatch):
    ours, theirs = _blocks(FORMATS[formats], "aaaa", dtypes, [np.int32] * 4)
    s = OPS[op](ss, theirs)
    if s.dtype != np.complex128:        # (MLX cannot hold it: values on the host, by scipy)
        _refuse_hand_off(monkeypatch)
    _same(OPS[op](sp, ours), s)         # numpy's common dtype, as scipy's


@pytest.mark.parametrize("op", ["hstack", "vstack", "bmat", "bmat full", "block_diag"])
@pytest.mark.parametrize("formats", ["csr", "csc", "mixed"])
@pytest.mark.parametrize("fmt", [None, "csr", "csc", "coo"])
def test_format_argument(op, formats, fmt, monkeypatch):
    ours, theirs = _blocks(FORMATS[formats], "aaaa", [np.float32] * 4, [np.int32] * 4)
    _refuse_hand_off(monkeypatch)
    if op == "block_diag":
        r = sp.block_diag([ours["A"], ours["C"]], format=fmt)
        s = ss.block_diag([theirs["A"], theirs["C"]], format=fmt)
    else:
        r = OPS[op](_WithFormat(sp, fmt), ours)
        s = OPS[op](_WithFormat(ss, fmt), theirs)
    assert s.format == (fmt or s.format)
    _same(r, s)


class _WithFormat:
    """A namespace whose construction functions are called with format=."""
    def __init__(self, lib, fmt):
        self.lib, self.fmt = lib, fmt

    def __getattr__(self, name):
        return lambda blocks: getattr(self.lib, name)(blocks, format=self.fmt)


def test_large_results_in_mlx_buffers(monkeypatch):
    """The large arrays' path (results filled in new MLX buffers), made small."""
    monkeypatch.setattr(_values, "_IN_MLX_BUFFERS", 1)
    ours, theirs = _blocks(FORMATS["mixed"], "amam", [np.complex64] * 4, [np.int64] * 4)
    csr, csr_t = _blocks(FORMATS["csr"], "aaaa", [np.float64] * 4, [np.int64] * 4)
    _refuse_hand_off(monkeypatch)
    for op in OPS:
        _same(OPS[op](sp, ours), OPS[op](ss, theirs))
        _same(OPS[op](sp, csr), OPS[op](ss, csr_t))
    _same(sp.tril(ours["A"], 1), ss.tril(theirs["A"], 1))
    _same(sp.triu(csr["B"], -1), ss.triu(csr_t["B"], -1))


@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_empty_blocks(fmt, monkeypatch):
    ours, theirs = {}, {}
    for name, shape in {"A": (4, 3), "Z": (4, 0), "E": (0, 3), "N": (5, 3)}.items():
        S = getattr(ss, f"{fmt}_array")(shape, dtype=np.float32)       # no entries
        ours[name], theirs[name] = getattr(sp, f"{fmt}_array")(S), S
    _refuse_hand_off(monkeypatch)
    for build in (lambda m, b: m.hstack([b["A"], b["Z"], b["A"]]),
                  lambda m, b: m.vstack([b["A"], b["E"], b["N"]]),
                  lambda m, b: m.bmat([[b["A"], None], [None, b["N"]]]),
                  lambda m, b: m.bmat([[b["E"], None], [b["A"], b["A"]]]),
                  lambda m, b: m.block_diag([b["E"], b["Z"], b["A"]]),
                  lambda m, b: m.tril(b["A"]), lambda m, b: m.triu(b["Z"])):
        r, s = build(sp, ours), build(ss, theirs)
        assert s.nnz == 0
        _same(r, s)


def test_shape_mismatches_raise_as_scipy():
    o, t = _blocks(FORMATS["csr"], "aaaa", [np.float32] * 4, [np.int32] * 4)
    m, mt = _blocks(FORMATS["mixed"], "aaaa", [np.float32] * 4, [np.int32] * 4)
    for lib_call in (
            lambda L, b: L.hstack([b["A"], b["C"]]),
            lambda L, b: L.vstack([b["A"], b["B"]]),
            lambda L, b: L.bmat([[b["A"], b["B"]], [b["C"], None]]),
            lambda L, b: L.bmat([[b["A"], b["B"]], [b["D"], b["A"]]]),
            lambda L, b: L.block_array([[b["A"]], [b["B"]]]),
            lambda L, b: L.bmat([[b["A"], b["B"]], [b["C"]]]),
            lambda L, b: L.block_diag([b["A"], None]),
            lambda L, b: L.hstack([])):
        _raises_as_scipy(lambda: lib_call(sp, o), lambda: lib_call(ss, t))
        _raises_as_scipy(lambda: lib_call(sp, m), lambda: lib_call(ss, mt))


def test_traced_values_keep_their_gradient():
    """Under mx.grad the values take the MLX paths: the gradient of a
    product through sp.tril(A) and sp.hstack([A, B]) is the dense one."""
    S = _scipy_block("csr", (9, 9), np.float32, np.int32, seed=7)
    Sb = _scipy_block("csr", (9, 5), np.float32, np.int32, seed=8)
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal(14).astype(np.float32), rng.standard_normal(9).astype(np.float32)
    rows = np.repeat(np.arange(9), np.diff(S.indptr))

    def loss(d, db):
        A = sp.csr_array((d, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        B = sp.csr_array((db, mx.array(Sb.indices), mx.array(Sb.indptr)), shape=Sb.shape)
        y = sp.tril(A) @ mx.array(x[:9]) + sp.hstack([A, B]) @ mx.array(x)
        return mx.sum(y * mx.array(w))
    gd, gb = mx.grad(loss, argnums=(0, 1))(mx.array(S.data), mx.array(Sb.data))
    # dense: d loss / d A[r, c] = w[r] x[c] (tril: where r >= c, once more)
    kept = rows >= S.indices
    want = w[rows] * x[S.indices] * (1 + kept)
    np.testing.assert_allclose(np.array(gd), want, rtol=1e-6)
    rows_b = np.repeat(np.arange(9), np.diff(Sb.indptr))
    np.testing.assert_allclose(np.array(gb), w[rows_b] * x[9 + Sb.indices], rtol=1e-6)
