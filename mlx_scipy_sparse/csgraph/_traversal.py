"""connected_components and breadth_first_order: scipy's routine on the
host, or the MLX frontier versions (`_frontier`) for a large graph of ours
while the default device is a GPU."""
import inspect
import operator

import scipy.sparse.csgraph as _cg

from . import _frontier, _inputs, _pattern


def _frontier_ready(A):
    """An array of ours the MLX versions can take (square, CSR/CSC/COO,
    sizes within int32) and, unless forced, worth running on the GPU."""
    return (_inputs.is_ours(A) and A.format in ("csr", "csc", "coo") and A.ndim == 2
            and A.shape[0] == A.shape[1] and _pattern.fits(A) and _frontier.gpu_worthwhile(A))


_scipy_cc = _inputs.routine(_cg.connected_components)
_scipy_bfo = _inputs.routine(_cg.breadth_first_order)


def connected_components(csgraph, directed=True, connection="weak", return_labels=True):
    """scipy.sparse.csgraph.connected_components for our arrays, scipy's,
    numpy and MLX arrays: (n_components, labels) with numpy int32 labels.

    On a GPU, weak components (``connection='weak'`` or ``directed=False``)
    of a large array of ours are found by MLX array ops (hooking and pointer
    jumping, see `_frontier`); strong components and everything else run
    scipy's routine on zero-copy views.  Only the pattern is read (explicit
    zeros are edges), so no gradient is involved.
    """
    weak = isinstance(connection, str) and connection.lower() == "weak"
    if (weak or not directed) and isinstance(connection, str) \
            and connection.lower() in ("weak", "strong") and _frontier_ready(csgraph):
        _inputs.refuse_traced("connected_components", _inputs.state_of(csgraph))
        return _frontier.weak_components(csgraph, return_labels)
    return _scipy_cc(csgraph, directed, connection, return_labels)


def breadth_first_order(csgraph, i_start, directed=True, return_predecessors=True):
    """scipy.sparse.csgraph.breadth_first_order for our arrays, scipy's,
    numpy and MLX arrays: numpy int32 node order (and predecessors).

    On a GPU a large array of ours is searched level by level with MLX
    array ops (`_frontier`), giving scipy's order and predecessors exactly;
    otherwise scipy's routine runs on zero-copy views.
    """
    if _frontier_ready(csgraph) and _valid_start(i_start, csgraph.shape[0]):
        _inputs.refuse_traced("breadth_first_order", _inputs.state_of(csgraph))
        return _frontier.breadth_first_order(csgraph, int(i_start), directed,
                                             return_predecessors)
    return _scipy_bfo(csgraph, i_start, directed, return_predecessors)


def _valid_start(i, n):
    """A start scipy would accept; anything else goes to scipy, which
    answers it in its own way."""
    try:
        i = operator.index(i)
    except TypeError:
        return False
    return 0 <= i < n


connected_components.__signature__ = inspect.signature(_cg.connected_components)
breadth_first_order.__signature__ = inspect.signature(_cg.breadth_first_order)
