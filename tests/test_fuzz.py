"""Differential fuzzing against scipy.sparse (and float64 dense math).

Default profile 'ci': 40 cases a test.  `MSS_FUZZ_PROFILE=long` runs 1500 a
test (>= 10,000 in all); add `--hypothesis-show-statistics` for the counts.
"""
import operator
import warnings

import numpy as np
import mlx.core as mx
import pytest
from hypothesis import given, strategies as st

from _fuzz_cases import (DTYPES, FLOATS, FORMATS, FUZZ, assert_product_close, assert_same,
                         both, build, triplets)
from mlx_scipy_sparse import _arrays

ROUTES = ["triplet", "mx", "scipy", "dense"]
formats, routes = st.sampled_from(FORMATS), st.sampled_from(ROUTES)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning",
                                        "ignore::scipy.sparse.SparseEfficiencyWarning")


def _arrays_of(M):
    names = ("data", "row", "col") if M.format == "coo" else ("data", "indices", "indptr")
    return [getattr(M, a) for a in names]


def assert_same_arrays(A, S):
    """Stored arrays equal bit for bit (nan too), with scipy's dtypes."""
    for a, s in zip(_arrays_of(A), _arrays_of(S)):
        assert _arrays.np_dtype(a.dtype) == s.dtype, (a.dtype, s.dtype)
        np.testing.assert_array_equal(np.asarray(a), s)


@FUZZ
@given(case=triplets(special=True), fmt=formats, route=routes, matrix=st.booleans())
def test_construction_matches_scipy(case, fmt, route, matrix):
    A, S = build(case, fmt, route, matrix)
    assert type(A).__name__ == type(S).__name__
    assert (A.shape, A.dtype, A.nnz) == (S.shape, S.dtype, S.nnz)
    assert_same_arrays(A, S)
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    assert A.has_canonical_format == S.has_canonical_format
    if fmt != "coo":
        assert A.has_sorted_indices == S.has_sorted_indices


@FUZZ
@given(case=triplets(special=True), fmt=formats, route=routes, matrix=st.booleans(),
       target=formats)
def test_conversions_both_ways(case, fmt, route, matrix, target):
    import mlx_scipy_sparse as sp
    A, S = build(case, fmt, route, matrix)
    B, T = A.asformat(target), S.asformat(target)
    assert_same(B, T)
    assert_same_arrays(B, T)
    R = B.to_scipy()                                   # ours -> scipy
    assert type(R) is type(T)
    assert_same_arrays(R, T)
    C = sp.from_scipy(T)                               # scipy -> ours
    assert type(C).__name__ == type(T).__name__
    assert_same_arrays(C, T)
    both(lambda M: M.T.asformat(target), A, S)
    both(lambda M: M.todense(), A, S)
    both(lambda M: M.astype(np.float64), A, S)


def _operand(rng, shape, dtype):
    X = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        X = X + 1j * rng.standard_normal(shape)
    return X.astype(dtype)


_PRODUCTS = {
    "A@v": (lambda M, X: M @ X, lambda m, n, k: (n,)),
    "A@col": (lambda M, X: M @ X, lambda m, n, k: (n, 1)),
    "A@X": (lambda M, X: M @ X, lambda m, n, k: (n, k)),
    "v@A": (lambda M, X: X @ M, lambda m, n, k: (m,)),
    "X@A": (lambda M, X: X @ M, lambda m, n, k: (k, m)),
    "A.T@v": (lambda M, X: M.T @ X, lambda m, n, k: (m,)),
    "A.T@X": (lambda M, X: M.T @ X, lambda m, n, k: (m, k)),
}


def _check_product(A, S, case, prod, X, Xours):
    f, _ = _PRODUCTS[prod]
    want = f(S, X)
    if _arrays.is_mx(Xours) and prod[0] in "vX":
        # mx.array.__matmul__ raises TypeError on a foreign operand instead of
        # returning NotImplemented, so Python never reaches our __rmatmul__
        got = A.__rmatmul__(Xours)
    else:
        got = f(A, Xours)
    if _arrays.is_mx(Xours):
        assert isinstance(got, mx.array)
        assert _arrays.np_dtype(got.dtype) == want.dtype, (got.dtype, want.dtype)
        got = np.array(got)
    else:
        assert type(got) is np.ndarray and got.dtype == want.dtype, (type(got), got.dtype)
    if want.dtype.kind not in "fc":                    # integer products wrap like scipy's
        np.testing.assert_array_equal(got, want)
        return
    # exact reference: every stored entry summed in complex128 (toarray() would
    # sum duplicates in the dtype itself: bool ORs, small ints wrap)
    C = S.tocoo()
    row, col = C.coords
    D = np.zeros(S.shape, np.complex128)
    np.add.at(D, (row, col), C.data.astype(np.complex128))
    Dabs = np.zeros(S.shape)                 # |entries| summed: duplicates may cancel
    np.add.at(Dabs, (row, col), np.abs(C.data.astype(np.complex128)))
    k = max(np.bincount(row).max(), np.bincount(col).max()) if row.size else 0
    assert_product_close(got, f(D, X.astype(np.complex128)), f(Dabs, np.abs(X)),
                         want.dtype, k)


@FUZZ
@given(case=triplets(), fmt=formats, route=routes, xdtype=st.sampled_from(FLOATS),
       prod=st.sampled_from(list(_PRODUCTS)), k=st.integers(0, 4), seed=st.integers(0, 2**16))
def test_products_with_numpy_operands(case, fmt, route, xdtype, prod, k, seed):
    A, S = build(case, fmt, route)
    X = _operand(np.random.default_rng(seed), _PRODUCTS[prod][1](*case[1], k), xdtype)
    _check_product(A, S, case, prod, X, X)


@FUZZ
@given(case=triplets(), fmt=formats, route=routes,
       xdtype=st.sampled_from(FLOATS + [np.dtype(np.int32)]),
       prod=st.sampled_from(list(_PRODUCTS)), k=st.integers(0, 4), seed=st.integers(0, 2**16))
def test_products_with_mlx_operands(case, fmt, route, xdtype, prod, k, seed):
    A, S = build(case, fmt, route)
    X = _operand(np.random.default_rng(seed), _PRODUCTS[prod][1](*case[1], k), xdtype)
    Xmx = mx.array(X, dtype=_arrays.mx_dtype(xdtype))
    out = np.result_type(A.dtype, xdtype)
    if not _arrays.supported_dtype(out):     # e.g. complex64 with int32 -> complex128
        with pytest.raises(TypeError, match=str(out)):
            A.__rmatmul__(Xmx) if prod[0] in "vX" else _PRODUCTS[prod][0](A, Xmx)
        return
    _check_product(A, S, case, prod, X, Xmx)


_BINARY = {
    "add": operator.add, "sub": operator.sub, "mul": lambda a, b: a.multiply(b),
    "max": lambda a, b: a.maximum(b), "min": lambda a, b: a.minimum(b),
    "ne": operator.ne, "lt": operator.lt, "ge": operator.ge,
    "spgemm": lambda a, b: a @ b.T, "div": operator.truediv,
    "add_dense": lambda a, b: a + b.toarray(), "mul_dense": lambda a, b: a.multiply(b.toarray()),
    "mul_row": lambda a, b: a.multiply(b.toarray()[:1]), "hstack": None,
}
_UNARY = {
    "scale_int": lambda a: a * 3, "scale_float": lambda a: 2.5 * a,
    "scale_f32": lambda a: a * np.float32(0.5), "scale_complex": lambda a: a * (1 - 2j),
    "div_scalar": lambda a: a / 4, "neg": operator.neg, "abs": abs, "pow": lambda a: a ** 2,
    "conj": lambda a: a.conj(), "real": lambda a: a.real if hasattr(a, "real") else a,
    "astype_f32": lambda a: a.astype(np.float32), "copy": lambda a: a.copy(),
}


@FUZZ
@given(data=st.data(), fmt=formats, fmt2=formats, route=routes,
       op=st.sampled_from(list(_BINARY) + list(_UNARY)))
def test_arithmetic(data, fmt, fmt2, route, op):
    import mlx_scipy_sparse as sp
    case = data.draw(triplets(), label="A")
    A, S = build(case, fmt, route)
    if op in _UNARY:
        both(_UNARY[op], A, S)
        return
    case2 = data.draw(triplets(shape=case[1]), label="B")
    B, T = build(case2, fmt2, "triplet")
    if op == "hstack":
        both(lambda a, b: sp.hstack([a, b]) if isinstance(a, sp.sparray) else
             __import__("scipy.sparse").sparse.hstack([a, b]), (A, B), (S, T))
        return
    both(_BINARY[op], (A, B), (S, T))


_REDUCTIONS = {
    "sum": lambda a: a.sum(), "sum0": lambda a: a.sum(axis=0), "sum1": lambda a: a.sum(axis=1),
    "sum_f64": lambda a: a.sum(axis=1, dtype=np.float64), "mean0": lambda a: a.mean(axis=0),
    "mean": lambda a: a.mean(), "max": lambda a: a.max(), "min1": lambda a: a.min(axis=1),
    "argmax0": lambda a: a.argmax(axis=0), "argmin": lambda a: a.argmin(),
    "nnz": lambda a: a.nnz, "count_nonzero": lambda a: a.count_nonzero(),
    "count_nonzero0": lambda a: a.count_nonzero(axis=0), "diag": lambda a: a.diagonal(),
    "diag1": lambda a: a.diagonal(1), "trace": lambda a: a.trace(),
    "max_abs": lambda a: abs(a).max(axis=1),
}


@FUZZ
@given(case=triplets(), fmt=formats, route=routes, matrix=st.booleans(),
       op=st.sampled_from(list(_REDUCTIONS)))
def test_reductions(case, fmt, route, matrix, op):
    A, S = build(case, fmt, route, matrix)
    both(_REDUCTIONS[op], A, S, exact=False)


@st.composite
def _keys(draw, shape):
    m, n = shape

    def idx(size):
        return st.integers(-size, size - 1) if size else st.just(0)

    def sl(size):
        return st.builds(slice, st.none() | st.integers(-size - 1, size + 1),
                         st.none() | st.integers(-size - 1, size + 1),
                         st.none() | st.sampled_from([1, 2, -1, 3]))

    def fancy(size):
        return st.lists(idx(size), max_size=5) if size else st.just([])
    kind = draw(st.sampled_from(["ij", "i", "col", "slices", "rows", "cols", "pairs", "mask"]))
    if kind == "ij":
        return draw(idx(m)), draw(idx(n))
    if kind == "i":
        return draw(idx(m))
    if kind == "col":
        return slice(None), draw(idx(n))
    if kind == "slices":
        return draw(sl(m)), draw(sl(n))
    if kind == "rows":
        return draw(fancy(m)), slice(None)
    if kind == "cols":
        return slice(None), draw(fancy(n))
    if kind == "pairs":
        r = draw(fancy(m))
        return r, draw(st.lists(idx(n), min_size=len(r), max_size=len(r)) if n else st.just(r))
    return np.array(draw(st.lists(st.booleans(), min_size=m, max_size=m)), dtype=bool)


@FUZZ
@given(data=st.data(), fmt=formats, route=routes, matrix=st.booleans())
def test_indexing(data, fmt, route, matrix):
    case = data.draw(triplets(), label="A")
    A, S = build(case, fmt, route, matrix)
    key = data.draw(_keys(case[1]), label="key")
    both(lambda a: a[key], A, S)


_CANONICAL = {
    "sum_duplicates": lambda a: (a.sum_duplicates(), a)[1],
    "eliminate_zeros": lambda a: (a.eliminate_zeros(), a)[1],
    "sort_indices": lambda a: (a.sort_indices(), a)[1] if a.format != "coo" else a,
    "sorted_indices": lambda a: a.sorted_indices() if a.format != "coo" else a,
    "canonical_flag": lambda a: a.has_canonical_format,
    "tocsr_sum": lambda a: a.tocsr().sum_duplicates() or a.tocsr(),
    "transpose_copy": lambda a: a.transpose(copy=True),
}


@FUZZ
@given(case=triplets(), fmt=formats, route=routes, op=st.sampled_from(list(_CANONICAL)))
def test_canonicalisation(case, fmt, route, op):
    A, S = build(case, fmt, route)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both(_CANONICAL[op], A, S)
    if op in ("sum_duplicates", "eliminate_zeros", "sort_indices"):
        _CANONICAL[op](A), _CANONICAL[op](S)
        assert_same_arrays(A, S)                      # in place, same arrays as scipy's
    np.testing.assert_array_equal(A @ np.ones(S.shape[1]), S @ np.ones(S.shape[1]))
