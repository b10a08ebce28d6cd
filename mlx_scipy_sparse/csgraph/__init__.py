"""mlx_scipy_sparse.csgraph: scipy.sparse.csgraph on our arrays.

``from mlx_scipy_sparse import csgraph`` in place of ``from scipy.sparse
import csgraph``: the same names and signatures.  Every routine takes our
sparse arrays (any format, array or matrix flavour), scipy's, numpy arrays
and MLX arrays.

* Graph algorithms (traversals, shortest paths, spanning trees, flows,
  matchings, reorderings) run scipy's compiled routines on zero-copy,
  read-only views of our arrays.  Sparse results come back as our arrays
  (scipy's format and flavour), numpy results as numpy; an MLX dense graph
  is read as numpy and gives numpy results (the answers are computed on the
  host, off the MLX graph).  They are not differentiable: under mx.grad a
  result holding MLX values (a spanning tree, a path graph) is refused, and
  under mx.compile every one is.
* ``laplacian`` runs in MLX for MLX values (our CSR/CSC/COO arrays, MLX
  dense arrays), differentiable with respect to the edge weights; see its
  docstring for what each input gives back.
* ``connected_components`` (weak) and ``breadth_first_order`` of a large
  graph of ours run as MLX array ops while the default device is a GPU
  (`_frontier`); elsewhere scipy's routines.
"""
import scipy.sparse.csgraph as _cg
from scipy.sparse.csgraph import NegativeCycleError  # noqa: F401  (scipy's, so excepts match)

from ._inputs import routine as _routine
from ._laplacian import laplacian  # noqa: F401
from ._traversal import breadth_first_order, connected_components  # noqa: F401
from ._flow import maximum_flow  # noqa: F401

__all__ = list(_cg.__all__)

for _name in ("breadth_first_tree", "depth_first_order", "depth_first_tree", "shortest_path",
              "dijkstra", "bellman_ford", "johnson", "floyd_warshall", "yen",
              "reconstruct_path", "construct_dist_matrix", "minimum_spanning_tree",
              "maximum_bipartite_matching", "min_weight_full_bipartite_matching",
              "reverse_cuthill_mckee", "structural_rank", "csgraph_from_dense",
              "csgraph_from_masked", "csgraph_masked_from_dense", "csgraph_to_dense",
              "csgraph_to_masked"):
    globals()[_name] = _routine(getattr(_cg, _name))
del _name
