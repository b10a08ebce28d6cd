"""The CPU's compiled passes behind in-place restructuring of free values
(`eliminate_zeros` by scipy's one pass on copies): scipy's answer bit for
bit, flags kept, and nothing handed out before (handles, the caller's arrays,
views) changed by the call."""
import numpy as np
import pytest
import scipy.sparse as ss
import mlx.core as mx

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import _kernels


def _with_zeros(fmt, dtype, index_dtype, seed=0, unsorted=False):
    S = ss.random(40, 30, density=0.2, format=fmt, random_state=seed)
    S = (S * 10).astype(dtype)
    S.data[::3] = 0
    S.indices = S.indices.astype(index_dtype)
    S.indptr = S.indptr.astype(index_dtype)
    if unsorted:                                # reverse each line's entries
        for k in range(len(S.indptr) - 1):
            a, b = S.indptr[k], S.indptr[k + 1]
            S.indices[a:b] = S.indices[a:b][::-1].copy()
            S.data[a:b] = S.data[a:b][::-1].copy()
        S.has_sorted_indices = False
    return S


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.complex64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("unsorted", [False, True])
def test_eliminate_zeros_matches_scipy(fmt, dtype, index_dtype, unsorted):
    S0 = _with_zeros(fmt, dtype, index_dtype, unsorted=unsorted)
    A = getattr(sp, f"{fmt}_array")(S0)
    S = getattr(ss, f"{fmt}_array")(S0)        # made the same way: flags not yet known
    S.eliminate_zeros()
    A.eliminate_zeros()
    assert A.nnz == S.nnz and A.dtype == S.dtype
    np.testing.assert_array_equal(np.asarray(A.data), S.data)
    np.testing.assert_array_equal(np.asarray(A.indices), S.indices)
    np.testing.assert_array_equal(np.asarray(A.indptr), S.indptr)
    assert A.has_sorted_indices == S.has_sorted_indices


def test_eliminate_zeros_leaves_earlier_handles_and_sources_alone():
    S = _with_zeros("csr", np.float32, np.int32)
    data, ind, ptr = (mx.array(a) for a in (S.data, S.indices, S.indptr))
    A = sp.csr_array((data, ind, ptr), shape=S.shape)
    before = [np.array(a) for a in (data, ind, ptr)]
    h_data, h_ind = A.data, A.indices           # handed out before the call
    h_before = np.array(h_data), np.array(h_ind)
    T = A.T
    T_before = T.toarray()
    A.eliminate_zeros()
    for a, b in zip((data, ind, ptr), before):  # the caller's arrays: untouched
        np.testing.assert_array_equal(np.array(a), b)
    np.testing.assert_array_equal(np.array(h_data), h_before[0])
    np.testing.assert_array_equal(np.array(h_ind), h_before[1])
    np.testing.assert_array_equal(T.toarray(), T_before)
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    assert not np.any(np.asarray(A.data) == 0)


def test_drop_zeros_is_not_taken_for_traced_values():
    S = _with_zeros("csr", np.float32, np.int32)
    A = sp.csr_array(S)
    seen = []

    def f(v):
        seen.append(_kernels.drop_zeros(v, A._indices, A._indptr, *S.shape))
        return v.sum()
    mx.grad(f)(mx.array(S.data))
    assert seen == [None]
