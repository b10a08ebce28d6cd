"""The work blocks csr_adaptive runs (cut on the host, so checked here
without a GPU): replaying them the way the kernel does must give A @ x for
every row exactly once, whatever the row lengths.  The kernel itself is
checked on a GPU by tests/gpu_check.py."""
import numpy as np
import pytest
import scipy.sparse as ss

from mlx_scipy_sparse._kernels._gpu import adaptive_blocks


def replay(ptr, ind, data, x, bk, pm, ch):
    """y as the kernel computes it, and how often each row was written whole."""
    y = np.zeros(ptr.size - 1)
    written = np.zeros(ptr.size - 1, dtype=int)
    lens = np.diff(ptr)
    for b0, b1 in bk.reshape(-1, 2):
        if b1 >= 0:                       # row group: one store per row
            assert 1 <= b1 - b0 <= 256
            rows = pm[b0:b1]
            nonempty = np.maximum(lens[rows], 1)
            assert nonempty.max() <= 2 * nonempty.min()  # one length class a group
            for r in rows:
                y[r] = data[ptr[r]:ptr[r + 1]] @ x[ind[ptr[r]:ptr[r + 1]]]
                written[r] += 1
        else:                             # piece of a long row: atomic add
            p0 = -1 - b1
            pe = min(p0 + ch, ptr[b0 + 1])
            assert ptr[b0] <= p0 < pe
            y[b0] += data[p0:pe] @ x[ind[p0:pe]]
    return y, written


@pytest.mark.parametrize("m", [1, 7, 300, 3000])
@pytest.mark.parametrize("ch", [8, 64, 1024])
@pytest.mark.parametrize("per_lane", [1, 2, 8])
def test_blocks_cover_every_row_once(m, ch, per_lane):
    rng = np.random.default_rng(m * 31 + ch + per_lane)
    lens = np.minimum((rng.pareto(1.0, m) * 3).astype(np.int64), 5000)
    lens[::5] = 0                                        # empty rows
    lens[m // 2] = 20000                                 # one very long row
    ptr = np.concatenate(([0], np.cumsum(lens)))
    ind = rng.integers(0, 100, ptr[-1])
    data = rng.standard_normal(ptr[-1])
    x = rng.standard_normal(100)
    bk, pm = adaptive_blocks(ptr, ch, per_lane)
    assert bk.dtype == np.int64 and pm.dtype == np.int32
    y, written = replay(ptr, ind, data, x, bk, pm, ch)
    np.testing.assert_allclose(y, ss.csr_array((data, ind, ptr), shape=(m, 100)) @ x,
                               rtol=1e-12, atol=1e-12)
    long_rows = lens > 8 * ch
    assert np.all(written[~long_rows] == 1) and np.all(written[long_rows] == 0)


def test_blocks_of_degenerate_patterns():
    bk, pm = adaptive_blocks(np.array([0]), 1024)                  # no rows
    assert bk.size == 0 and pm.size == 1                           # (MLX wants a buffer)
    bk, pm = adaptive_blocks(np.zeros(600, dtype=np.int32), 1024)  # 599 empty rows
    groups = bk.reshape(-1, 2)
    assert np.all(groups[:, 1] >= 0) and np.all(groups[:, 1] - groups[:, 0] == [256, 256, 87])
    assert sorted(pm) == list(range(599))


def test_uniform_rows_keep_their_order():
    """One length class: the rows stay in order, so y is written coalesced."""
    ptr = np.arange(0, 16 * 1000 + 1, 16)
    bk, pm = adaptive_blocks(ptr, 1024)
    assert np.array_equal(pm, np.arange(1000))
    assert np.all(bk.reshape(-1, 2)[:-1, 1] - bk.reshape(-1, 2)[:-1, 0] == 32)   # W = 8
