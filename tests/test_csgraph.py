"""csgraph's routines on our arrays, scipy's, numpy and MLX: scipy's
answers, result types, errors, and scipy never writing into our buffers."""
import inspect

import numpy as np
import pytest
import mlx.core as mx
import scipy.sparse as ss
import scipy.sparse.csgraph as cg

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import csgraph
from mlx_scipy_sparse.csgraph import _inputs


def _weighted(n=12, seed=0, density=0.3):
    rng = np.random.default_rng(seed)
    G = np.round(rng.uniform(1, 9, (n, n)), 1) * (rng.random((n, n)) < density)
    np.fill_diagonal(G, 0)
    return G


KINDS = {
    "csr_array": sp.csr_array, "csc_array": sp.csc_array, "coo_array": sp.coo_array,
    "csr_matrix": sp.csr_matrix, "lil_array": sp.lil_array,
    "numpy": np.array, "mlx": lambda G: mx.array(G, dtype=mx.float64),
    "scipy_csr": ss.csr_array,
}

CALLS = {
    "connected_components": lambda f, G: f(G, connection="strong"),
    "breadth_first_order": lambda f, G: f(G, 0, directed=False),
    "breadth_first_tree": lambda f, G: f(G, 0),
    "depth_first_order": lambda f, G: f(G, 1),
    "depth_first_tree": lambda f, G: f(G, 1, directed=False),
    "shortest_path": lambda f, G: f(G, return_predecessors=True),
    "dijkstra": lambda f, G: f(G, indices=[0, 3], limit=10.0),
    "bellman_ford": lambda f, G: f(G, directed=False, indices=2),
    "johnson": lambda f, G: f(G, return_predecessors=True),
    "floyd_warshall": lambda f, G: f(G, unweighted=True),
    "yen": lambda f, G: f(G, 0, 5, 3),
    "minimum_spanning_tree": lambda f, G: f(G),
    "reverse_cuthill_mckee": lambda f, G: f(G if not isinstance(G, np.ndarray) and
                                            not isinstance(G, mx.array) else ss.csr_array(G)),
    "structural_rank": lambda f, G: f(G if not isinstance(G, np.ndarray) and
                                      not isinstance(G, mx.array) else ss.csr_array(G)),
    "maximum_bipartite_matching": lambda f, G: f(G if not isinstance(G, np.ndarray) and
                                                 not isinstance(G, mx.array) else ss.csr_array(G),
                                                 perm_type="column"),
    "min_weight_full_bipartite_matching": lambda f, G: f(G),
    "csgraph_to_dense": lambda f, G: f(G, null_value=-1)
    if not isinstance(G, (np.ndarray, mx.array))
    else f(ss.csr_array(np.asarray(G))),
}


def _same(ours, ref):
    if isinstance(ref, tuple):
        assert type(ours) is tuple and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _same(a, b)
    elif ss.issparse(ref):
        assert sp.issparse(ours) and not ss.issparse(ours), type(ours)
        assert ours.format == ref.format
        assert isinstance(ours, sp.spmatrix) == isinstance(ref, ss.spmatrix)
        assert ours.dtype == ref.dtype
        np.testing.assert_array_equal(ours.toarray(), ref.toarray())
    elif isinstance(ref, np.ndarray):
        assert type(ours) is type(ref) and ours.dtype == ref.dtype
        np.testing.assert_array_equal(ours, ref)
    else:
        assert ours == ref


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_routine_matches_scipy(name, kind):
    G = _weighted()
    G[G != 0] += 0.0
    if name == "min_weight_full_bipartite_matching":
        G = G + np.diag(np.arange(1, G.shape[0] + 1))      # a full matching exists
    graph = KINDS[kind](G)
    same_for_scipy = graph.to_scipy() if sp.issparse(graph) and not ss.issparse(graph) \
        else G if kind == "mlx" else graph
    try:
        ref = CALLS[name](getattr(cg, name), same_for_scipy)
    except Exception as e:          # scipy refuses this input: so must we, in its words
        with pytest.raises(type(e)) as ours:
            CALLS[name](getattr(csgraph, name), graph)
        assert str(ours.value) == str(e)
        return
    ours = CALLS[name](getattr(csgraph, name), graph)
    _same(ours, ref)


def test_matrix_flavour_in_matrix_out():
    G = _weighted()
    T = csgraph.minimum_spanning_tree(sp.csr_matrix(G))
    assert isinstance(T, sp.csr_matrix)
    T = csgraph.breadth_first_tree(sp.csr_array(G), 0)
    assert isinstance(T, sp.csr_array) and not isinstance(T, sp.spmatrix)
    flow = csgraph.maximum_flow(sp.csr_matrix(G.astype(np.int32)), 0, 5).flow
    assert isinstance(flow, sp.csr_matrix)


def test_namespace_and_signatures_are_scipys():
    for name in cg.__all__:
        assert hasattr(csgraph, name), name
        ours, theirs = getattr(csgraph, name), getattr(cg, name)
        if callable(theirs) and not isinstance(theirs, type):
            assert inspect.signature(ours) == inspect.signature(theirs), name
    assert csgraph.NegativeCycleError is cg.NegativeCycleError
    assert sp.csgraph is csgraph


def test_maximum_flow_and_path_reconstruction():
    G = _weighted().astype(np.int32)
    r, ref = csgraph.maximum_flow(sp.csr_array(G), 0, 7), cg.maximum_flow(ss.csr_array(G), 0, 7)
    assert r.flow_value == ref.flow_value
    _same(r.flow, ref.flow)
    for method in ("edmonds_karp", "dinic"):
        assert csgraph.maximum_flow(sp.csr_array(G), 0, 7, method=method).flow_value == \
            ref.flow_value
    Gf = _weighted()
    _, pred = cg.shortest_path(Gf, return_predecessors=True, indices=0)
    _same(csgraph.reconstruct_path(sp.csr_array(Gf), mx.array(pred)),
          cg.reconstruct_path(ss.csr_array(Gf), pred))
    _, pred = cg.shortest_path(Gf, return_predecessors=True)
    _same(csgraph.construct_dist_matrix(sp.csr_array(Gf), pred),
          cg.construct_dist_matrix(ss.csr_array(Gf), pred))


def test_dense_conversions():
    G = _weighted()
    G[1, 2] = np.inf
    G[3, 4] = np.nan
    for f, kw in (("csgraph_from_dense", {}), ("csgraph_masked_from_dense", {"null_value": 0})):
        ours = getattr(csgraph, f)(mx.array(np.where(np.isnan(G), 0, G), dtype=mx.float64), **kw)
        ref = getattr(cg, f)(np.where(np.isnan(G), 0, G), **kw)
        if ss.issparse(ref):
            _same(ours, ref)
        else:
            np.testing.assert_array_equal(ours.mask, ref.mask)
            np.testing.assert_array_equal(ours.filled(-1), ref.filled(-1))
    _same(csgraph.csgraph_from_dense(G), cg.csgraph_from_dense(G))
    M = cg.csgraph_masked_from_dense(G)
    _same(csgraph.csgraph_from_masked(M), cg.csgraph_from_masked(M))
    ref = cg.csgraph_to_masked(ss.csr_array(np.nan_to_num(G, posinf=0)))
    ours = csgraph.csgraph_to_masked(sp.csr_array(np.nan_to_num(G, posinf=0)))
    np.testing.assert_array_equal(ours.mask, ref.mask)


def test_errors_as_scipy():
    cases = [
        lambda m: m.connected_components(np.ones((2, 3))),
        lambda m: m.shortest_path(sp.csr_array(np.ones((2, 3))) if m is csgraph
                                  else ss.csr_array(np.ones((2, 3)))),
        lambda m: m.connected_components(np.eye(3), connection="medium"),
        lambda m: m.shortest_path(np.eye(3), method="XX"),
        lambda m: m.dijkstra(mx.array(np.eye(3)) if m is csgraph else np.eye(3), indices=5),
        lambda m: m.reverse_cuthill_mckee(np.eye(3)),
        lambda m: m.maximum_flow(ss.csr_array(np.eye(3)), 0, 1),
        lambda m: m.minimum_spanning_tree(np.ones((2, 3))),
    ]
    for case in cases:
        with pytest.raises(Exception) as theirs:
            case(cg)
        with pytest.raises(type(theirs.value)) as ours:
            case(csgraph)
        assert str(ours.value) == str(theirs.value)
    G = _weighted()
    G[0, 1], G[1, 0] = -5.0, 1.0
    with pytest.raises(csgraph.NegativeCycleError):
        csgraph.bellman_ford(sp.csr_array(G))


def test_scipy_never_writes_our_buffers():
    G = _weighted().astype(np.int32)
    A = sp.csr_array(G)
    before = [np.array(np.asarray(a)) for a in (A.data, A.indices, A.indptr)]
    csgraph.maximum_flow(A, 0, 7)                   # wants writable buffers: run on copies
    csgraph.minimum_spanning_tree(A.astype(np.float64), overwrite=True)
    csgraph.shortest_path(A, overwrite=True)
    csgraph.laplacian(A, copy=True)
    for b, a in zip(before, (A.data, A.indices, A.indptr)):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_lent_views_are_read_only_and_shared():
    A = sp.csr_array(_weighted())
    S = _inputs.lend(A)
    for arr in (S.data, S.indices, S.indptr):
        assert not arr.flags.writeable
    assert np.shares_memory(S.indices, _inputs.lend(A).indices)    # no copy per call
    X = mx.array(_weighted())
    v = _inputs.lend(X)
    assert not v.flags.writeable and np.shares_memory(v, _inputs.lend(X))


def test_transformations():
    S = ss.csr_array(_weighted())
    ind, ptr = mx.array(S.indices), mx.array(S.indptr)

    def tree_loss(v):
        T = csgraph.minimum_spanning_tree(sp.csr_array((v, ind, ptr), shape=S.shape))
        return mx.sum(T.data)

    with mx.stream(mx.cpu):
        v = mx.array(S.data, dtype=mx.float64)
        with pytest.raises(NotImplementedError, match="not differentiable"):
            mx.grad(tree_loss)(v)

        def labels_loss(v):          # integer results carry no gradient: allowed
            A = sp.csr_array((v, ind, ptr), shape=S.shape)
            n, labels = csgraph.connected_components(A, connection="strong")
            assert n == cg.connected_components(S, connection="strong")[0]
            return mx.sum(v * mx.array(labels[rows] == 0))
        rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
        g = mx.grad(labels_loss)(v)
        lab = cg.connected_components(S, connection="strong")[1]
        np.testing.assert_array_equal(np.asarray(g), (lab[rows] == 0).astype(float))

        def compiled(v):
            return mx.array(csgraph.shortest_path(sp.csr_array((v, ind, ptr), shape=S.shape)))
        with pytest.raises(NotImplementedError, match="mx.compile"):
            mx.compile(compiled)(v)
