"""maximum_flow: scipy's routine, its result's flow graph as our array."""
import inspect

import scipy.sparse.csgraph as _cg

from . import _inputs

_scipy_flow = _inputs.routine(_cg.maximum_flow)


def maximum_flow(csgraph, source, sink, *, method="dinic"):
    """scipy.sparse.csgraph.maximum_flow for our arrays, scipy's, numpy and
    MLX: scipy's MaximumFlowResult, whose ``flow`` is our CSR array (of the
    input's flavour)."""
    r = _scipy_flow(csgraph, source, sink, method=method)
    r.flow = _inputs.bring_back(r.flow)
    return r


maximum_flow.__signature__ = inspect.signature(_cg.maximum_flow)
