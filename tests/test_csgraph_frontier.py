"""The MLX (GPU) versions of connected_components and breadth_first_order,
run here on the CPU stream, against scipy's answers exactly; and the
dispatch that picks them."""
import numpy as np
import pytest
import mlx.core as mx
import scipy.sparse as ss
import scipy.sparse.csgraph as cg

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import csgraph
from mlx_scipy_sparse.csgraph import _frontier


def _random(rng, n, fmt):
    S = ss.random_array((n, n), density=min(1.0, rng.uniform(0, 4.0 / n)), rng=rng, format="coo")
    if fmt == "noncanonical":           # duplicates and unsorted rows
        r, c = np.concatenate([S.row, S.row[::-1]]), np.concatenate([S.col, S.col[::-1]])
        order = rng.permutation(r.size)
        S = ss.coo_array((np.ones(r.size), (r[order], c[order])), shape=(n, n))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(S.row, minlength=n))])
        rows = np.argsort(S.row, kind="stable")
        return ss.csr_array((S.data[rows], S.col[rows], indptr), shape=(n, n))
    return S.asformat(fmt)


# the CPU stream everywhere; on a machine with a GPU, the GPU too
DEVICES = [mx.cpu] + ([mx.gpu] if mx.is_available(mx.gpu) else [])


@pytest.mark.parametrize("device", DEVICES, ids=str)
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "noncanonical"])
def test_frontier_matches_scipy(fmt, device):
    rng = np.random.default_rng(7)
    with mx.stream(device):
        for n in [1, 2, 5, 17, 60, 200]:
            for _ in range(4):
                S = _random(rng, n, fmt)
                A = sp.from_scipy(S)
                k, labels = _frontier.weak_components(A)
                k_ref, labels_ref = cg.connected_components(S, connection="weak")
                assert k == k_ref and labels.dtype == labels_ref.dtype
                np.testing.assert_array_equal(labels, labels_ref)
                assert _frontier.weak_components(A, return_labels=False) == k_ref
                for directed in (True, False):
                    start = int(rng.integers(0, n))
                    order, pred = _frontier.breadth_first_order(A, start, directed)
                    o_ref, p_ref = cg.breadth_first_order(S, start, directed)
                    assert order.dtype == o_ref.dtype and pred.dtype == p_ref.dtype
                    np.testing.assert_array_equal(order, o_ref)
                    np.testing.assert_array_equal(pred, p_ref)
                    alone = _frontier.breadth_first_order(A, start, directed, False)
                    np.testing.assert_array_equal(alone, o_ref)


@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_long_path_and_explicit_zeros(device):
    """A path (many levels, many hooking rounds) whose weights are explicit
    zeros: scipy's traversals read the pattern, so must ours."""
    n = 300
    rows = np.arange(n - 1)
    S = ss.csr_array((np.zeros(n - 1), (rows, rows + 1)), shape=(n, n))
    A = sp.from_scipy(S)
    with mx.stream(device):
        assert _frontier.weak_components(A)[0] == 1
        for directed in (True, False):
            o, p = _frontier.breadth_first_order(A, 150, directed)
            o_ref, p_ref = cg.breadth_first_order(S, 150, directed)
            np.testing.assert_array_equal(o, o_ref)
            np.testing.assert_array_equal(p, p_ref)


# scipy's own routine, given a start out of range, reports an ignored IndexError
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_public_functions_take_the_frontier_route_when_chosen(monkeypatch):
    """On a GPU the public functions pick the MLX versions for large graphs;
    forced here, the answers stay scipy's, and what the route does not
    cover (strong components, scipy input, a start out of range) still
    goes to scipy."""
    calls = []
    real_cc, real_bfo = _frontier.weak_components, _frontier.breadth_first_order
    monkeypatch.setattr(_frontier, "gpu_worthwhile", lambda A: True)
    monkeypatch.setattr(_frontier, "weak_components",
                        lambda *a: calls.append("cc") or real_cc(*a))
    monkeypatch.setattr(_frontier, "breadth_first_order",
                        lambda *a: calls.append("bfo") or real_bfo(*a))
    S = _random(np.random.default_rng(3), 80, "csr")
    A = sp.from_scipy(S)
    with mx.stream(mx.cpu):
        r = csgraph.connected_components(A, directed=True, connection="weak")
        np.testing.assert_array_equal(r[1], cg.connected_components(S)[1])
        o = csgraph.breadth_first_order(A, 3, directed=False)
        np.testing.assert_array_equal(o[0], cg.breadth_first_order(S, 3, directed=False)[0])
        assert calls == ["cc", "bfo"]
        csgraph.connected_components(A, connection="strong")
        csgraph.connected_components(S)
        csgraph.breadth_first_order(A, 500)
        assert calls == ["cc", "bfo"]
        with pytest.raises(ValueError, match="connection must be 'weak' or 'strong'"):
            csgraph.connected_components(A, connection="medium")


def test_not_chosen_on_the_cpu():
    A = sp.csr_array(ss.random_array((50, 50), density=0.1, rng=0))
    assert not _frontier.gpu_worthwhile(A) or mx.default_device().type == mx.DeviceType.gpu
