"""scipy blocks for the tests of the view paths that build from blocks
(tests/test_block_views.py, tests/test_kron_npz_views.py)."""
import numpy as np
import scipy.sparse as ss


def scipy_block(fmt, shape, dtype, index_dtype, seed, messy=True, fill=6, real=1.0):
    """A scipy block with about 1/``fill`` of its places stored (values
    -5..5 times ``real``, or 1.5 - 0.5j for complex, or their signs for
    bool); ``messy``: repeated entries, and lines in no order."""
    rng = np.random.default_rng(seed)
    m, n = shape
    nnz = m * n // fill
    row, col = rng.integers(0, max(m, 1), nnz), rng.integers(0, max(n, 1), nnz)
    if messy and nnz:
        row, col = np.r_[row, row[:3]], np.r_[col, col[:3]]
    vals = rng.integers(-5, 6, len(row))
    data = vals > 0 if dtype == np.bool_ else (vals * (1.5 - 0.5j if dtype == np.complex64
                                                        else real)).astype(dtype)
    if fmt == "coo":
        S = ss.coo_array((data, (row.astype(index_dtype), col.astype(index_dtype))), shape=shape)
    else:
        major, minor, n_major = (row, col, m) if fmt == "csr" else (col, row, n)
        order = np.argsort(major, kind="stable")
        ptr = np.r_[0, np.cumsum(np.bincount(major, minlength=n_major))]
        S = getattr(ss, f"{fmt}_array")((data[order], minor[order].astype(index_dtype),
                                         ptr.astype(index_dtype)), shape=shape)
    if not messy:
        S.sum_duplicates()
    return S


def float16_of(S, lent_through, monkeypatch):
    """Our CSR array of scipy's S with float16 values (which scipy lacks),
    and a list that grows each time ``lent_through`` (a name in _bridge)
    lends an operand to scipy."""
    import mlx.core as mx
    import mlx_scipy_sparse as sp
    from mlx_scipy_sparse._formats import _bridge
    A = sp.csr_array((mx.array(S.data).astype(mx.float16), mx.array(S.indices),
                      mx.array(S.indptr)), shape=S.shape)
    lent, real = [], getattr(_bridge, lent_through)
    monkeypatch.setattr(_bridge, lent_through,
                        lambda *a, **k: lent.append(1) or real(*a, **k))
    return A, lent


def assert_same(r, s):
    """Ours (r) is scipy's answer (s) bit for bit: class and flavour,
    format, shape, dtype, arrays and their dtypes, flags."""
    import mlx_scipy_sparse as sp
    assert type(r).__name__ == type(s).__name__, (type(r), type(s))
    assert isinstance(r, (sp.sparray, ss.sparray)) == isinstance(s, ss.sparray)
    assert r.format == s.format and r.shape == s.shape and r.dtype == s.dtype
    names = ("data", "row", "col") if s.format == "coo" else ("data", "indices", "indptr")
    for name in names:
        got, want = np.asarray(getattr(r, name)), getattr(s, name)
        assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want, err_msg=name)
    if s.format != "coo":
        assert r.has_sorted_indices == s.has_sorted_indices
    assert r.has_canonical_format == s.has_canonical_format


def raises_as_scipy(ours, theirs):
    """ours() raises what theirs() (scipy's call) raises: type and words."""
    import pytest
    with pytest.raises(Exception) as want:
        theirs()
    with pytest.raises(type(want.value)) as got:
        ours()
    assert str(got.value) == str(want.value)


def refuse_hand_off(monkeypatch):
    """Any lending of our arrays to scipy fails the test."""
    from mlx_scipy_sparse._formats import _bridge

    def refuse(*a, **k):
        raise AssertionError("handed to scipy")
    for name in ("call", "lend", "unwrap"):
        monkeypatch.setattr(_bridge, name, refuse)
