"""Hypothesis strategies and comparison helpers for tests/test_fuzz.py.

A case is a COO triplet list (duplicates, any order) that is built both as
ours and as scipy's, through one of several routes, so every difference seen
afterwards is a difference in the library and not in the inputs.
"""
import os

import numpy as np
import mlx.core as mx
import scipy.sparse as ss
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.extra import numpy as hnp

import mlx_scipy_sparse as sp

# 'ci' runs by default (a few hundred cases); MSS_FUZZ_PROFILE=long for >= 10,000.
_PER_TEST = {"ci": 40, "long": 1500}
PROFILE = os.environ.get("MSS_FUZZ_PROFILE", "ci")
for _name, _n in _PER_TEST.items():
    settings.register_profile(
        "mss-fuzz-" + _name, max_examples=_n, deadline=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much])
FUZZ = settings.get_profile("mss-fuzz-" + PROFILE)

DTYPES = [np.dtype(t) for t in (np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32,
                                np.uint32, np.int64, np.uint64, np.float32, np.float64,
                                np.complex64)]
FLOATS = [np.dtype(t) for t in (np.float32, np.float64, np.complex64)]
FORMATS = ["csr", "csc", "coo"]


def _elements(dtype, special=False):
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind == "u":
        return st.integers(0, 4)
    if dtype.kind == "i":
        return st.integers(-4, 4)
    small = st.integers(-4, 4).map(float)
    if dtype.kind == "c":
        return st.one_of(small.map(complex), st.complex_numbers(
            max_magnitude=1e3, allow_nan=False, allow_infinity=False, width=64))
    width = 32 if dtype == np.float32 else 64
    wide = st.floats(-1e3, 1e3, width=width)
    if special:
        wide = st.floats(width=width)      # nan, inf, subnormals: copied exactly
    return st.one_of(small, wide)


@st.composite
def shapes(draw):
    kind = draw(st.sampled_from(["small", "small", "small", "long_rows", "tall"]))
    if kind == "small":
        return draw(st.integers(0, 8)), draw(st.integers(0, 8))
    if kind == "long_rows":
        return draw(st.integers(0, 3)), draw(st.integers(40, 300))
    return draw(st.integers(40, 300)), draw(st.integers(0, 3))


@st.composite
def triplets(draw, shape=None, dtypes=DTYPES, special=False):
    """(dtype, shape, data, row, col) with duplicates and unsorted entries."""
    dtype = draw(st.sampled_from(dtypes))
    m, n = draw(shapes()) if shape is None else shape
    nnz = 0 if m * n == 0 else draw(st.integers(0, min(40, 2 * m * n)))
    row = draw(hnp.arrays(np.int64, nnz, elements=st.integers(0, max(m - 1, 0))))
    col = draw(hnp.arrays(np.int64, nnz, elements=st.integers(0, max(n - 1, 0))))
    if m * n and draw(st.booleans()):           # one full row or column: a long segment
        if n >= m:
            r = draw(st.integers(0, m - 1))
            row, col = np.r_[row, np.full(n, r)], np.r_[col, np.arange(n)[::-1]]
        else:
            c = draw(st.integers(0, n - 1))
            row, col = np.r_[row, np.arange(m)], np.r_[col, np.full(m, c)]
    data = draw(hnp.arrays(dtype, row.size, elements=_elements(dtype, special)))
    return dtype, (m, n), data, row, col


def _compressed_arrays(data, major, minor, n_major, idx=np.int32):
    """CSR-style arrays that keep duplicates and the drawn (unsorted) order."""
    order = np.argsort(major, kind="stable")
    indptr = np.zeros(n_major + 1, dtype=idx)
    np.cumsum(np.bincount(major, minlength=n_major), out=indptr[1:])
    return data[order], minor[order].astype(idx), indptr


def build(case, fmt, route, matrix=False):
    """(ours, scipy's) for one case, built by ``route``:
    'triplet' numpy arrays, 'mx' MLX arrays, 'scipy' a scipy object, 'dense'."""
    dtype, (m, n), data, row, col = case
    flavour = "_matrix" if matrix else "_array"
    ours, theirs = getattr(sp, fmt + flavour), getattr(ss, fmt + flavour)
    if fmt == "coo":
        args = (data, (row, col))
    elif fmt == "csr":
        args = _compressed_arrays(data, row, col, m)
    else:
        args = _compressed_arrays(data, col, row, n)
    S = theirs(args, shape=(m, n))
    if route == "triplet":
        return ours(args, shape=(m, n)), S
    if route == "mx":
        mxa = (mx.array(args[0], dtype=sp._arrays.mx_dtype(dtype)), tuple(map(mx.array, args[1]))) \
            if fmt == "coo" else (mx.array(args[0], dtype=sp._arrays.mx_dtype(dtype)),
                                  mx.array(args[1]), mx.array(args[2]))
        return ours(mxa, shape=(m, n)), S
    if route == "scipy":
        return ours(S), S
    D = S.toarray()
    return ours(D), theirs(D)


def tolerance(dtype):
    """Unit roundoff of a float dtype's precision."""
    single = np.dtype(dtype) in (np.float32, np.complex64)
    return float(np.finfo(np.float32 if single else np.float64).eps)


def assert_product_close(got, ref64, abs_product, dtype, k):
    """|got - exact| within a rounding bound: k products summed per entry
    (k = longest row), each carrying the result dtype's unit roundoff;
    ``abs_product`` is the product of the absolute values."""
    got = np.asarray(got)
    single = np.dtype(dtype) in (np.float32, np.complex64)
    tiny = np.finfo(np.float32 if single else np.float64).smallest_subnormal
    bound = (k + 2) * (tolerance(dtype) * abs_product + tiny)     # + underflow
    assert got.shape == ref64.shape, (got.shape, ref64.shape)
    err = np.abs(got.astype(np.complex128) - ref64)
    assert np.all(err <= bound), f"max error {np.max(err - bound)} over the bound"


def to_np(x):
    if sp.issparse(x):
        return x.toarray()
    return np.asarray(x)


def assert_same(got, want, exact=True):
    """Our result against scipy's: same kind, type family, dtype, values."""
    if ss.issparse(want):
        assert sp.issparse(got) and not ss.issparse(got), type(got)
        assert got.format == want.format and got.shape == want.shape
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        assert isinstance(got, sp.sparray) == isinstance(want, ss.sparray)
        got, want = got.toarray(), want.toarray()
    elif isinstance(want, np.ndarray):
        assert type(got) is type(want), (type(got), type(want))
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
    elif isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w, exact)
        return
    else:
        assert np.asarray(got).dtype == np.asarray(want).dtype, (type(got), type(want))
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if exact or want.dtype.kind not in "fc":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=tolerance(want.dtype) * 64, atol=1e-30)


def both(f, ours, theirs, exact=True):
    """f(*ours) against f(*theirs) (single operands need no tuple): equal
    results, or the same exception type."""
    ours = ours if type(ours) is tuple else (ours,)
    theirs = theirs if type(theirs) is tuple else (theirs,)
    try:
        want = f(*theirs)
    except Exception as e:                      # scipy refuses: so must we
        try:
            f(*ours)
        except type(e):
            return
        raise AssertionError(f"scipy raised {type(e).__name__}: {e}; we did not")
    assert_same(f(*ours), want, exact)
