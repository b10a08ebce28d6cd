"""Arguments in, results out: how csgraph hands our arrays to scipy's
compiled graph routines and brings their answers back.

This is the one module of the package that reads a format's storage: an
array of ours is lent to scipy as a scipy object over read-only numpy views
of its MLX buffers (no copy; ``_bridge.lend``, the formats' own lending), and
an MLX dense array as a read-only numpy view.  scipy's graph routines only
read their input, but a few compiled ones declare writable buffers (maximum
flow) or sort a graph in place; they fail on the read-only flag and the call
is retried on copies, so scipy never writes into our buffers.
"""
import functools
import inspect

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss

from .. import _arrays
from .._formats import _bridge


def is_ours(x):
    return _bridge.is_ours(x)


def is_sparse(x):
    return _bridge.is_sparse(x)


def lend(x, copy=False):
    """What scipy is given for ``x``: ours as a scipy object of read-only views
    (or copies), MLX dense as numpy, anything else unchanged."""
    if is_ours(x):
        return _bridge.lend(x, copy=copy)
    if _arrays.is_mx(x):
        v = _arrays.to_np(x)          # a read-only view (bfloat16: a float32 copy)
        return np.array(v) if copy else v
    return x


def coo_class(x):
    """Our COO class of x's flavour (matrix input, matrix result)."""
    return _bridge.CLASSES["coo"][1 if isinstance(x, _ss.spmatrix) or
                                  getattr(x, "_is_array", True) is False else 0]


def adopt(x, S):
    """Our array takes a scipy object's arrays (copied into MLX): what scipy
    changed in place on a lent copy reaches the input, as it would scipy's."""
    x._assign_from(S)


def values_of(x):
    """The MLX values an argument carries (ours or an MLX array), or None."""
    if is_ours(x):
        d = getattr(x, "_data", None)
        return d if _arrays.is_mx(d) else None
    return x if _arrays.is_mx(x) else None


def state_of(*args):
    """_arrays.FREE / GRAD / TRACED for the inexact MLX values among args."""
    vals = [v for v in map(values_of, args)
            if v is not None and mx.issubdtype(v.dtype, mx.inexact)]
    return _arrays.trace_state(*vals) if vals else _arrays.FREE


def refuse_traced(name, state):
    """scipy's routines need concrete numbers: mx.compile / mx.vmap refused."""
    if state == _arrays.TRACED:
        raise NotImplementedError(
            f"csgraph.{name} runs scipy's compiled routine on the host, which cannot run "
            f"inside mx.compile / mx.vmap (the graph's values are traced)")


def carries_values(r):
    """Whether a result holds inexact MLX values (ours or MLX arrays)."""
    if type(r) is tuple:
        return any(carries_values(x) for x in r)
    v = values_of(r)
    if v is not None:
        return mx.issubdtype(v.dtype, mx.inexact)
    return is_ours(r) and np.dtype(r.dtype).kind in "fc"


def refuse_detached(name, state, r):
    """No silent gradients: under mx.grad a result carrying MLX values that
    scipy computed on the host would be cut off from the edge weights."""
    if state == _arrays.GRAD and carries_values(r):
        raise NotImplementedError(
            f"csgraph.{name} is not differentiable: scipy computes it on the host, and its "
            f"MLX values would be cut off from the graph's values under mx.grad. Take the "
            f"values out of the graph first (mx.stop_gradient), or use csgraph.laplacian, "
            f"which runs in MLX")
    return r


def bring_back(r):
    """scipy's result as ours: sparse results become our arrays (same format
    and flavour, values copied into MLX), tuples element-wise; numpy stays
    numpy."""
    if type(r) is tuple:
        return tuple(bring_back(x) for x in r)
    if _bridge.is_scipy(r):
        return _bridge.wrap(r)
    return r


def _read_only_failure(e):
    return isinstance(e, ValueError) and "read-only" in str(e)


def call_scipy(fn, graph_args, args, kwargs):
    """fn(*args, **kwargs) with the arguments at positions ``graph_args``
    (and keyword values) lent; retried on copies if scipy wants to write."""
    def run(copy):
        a = [lend(x, copy) if i in graph_args else _plain(x) for i, x in enumerate(args)]
        k = {n: lend(v, copy) if (is_ours(v) or _arrays.is_mx(v)) else v
             for n, v in kwargs.items()}
        return fn(*a, **k)
    try:
        return run(False)
    except ValueError as e:
        if not _read_only_failure(e):
            raise
    return run(True)


def _plain(x):
    """A non-graph argument (indices, predecessors ...): MLX as numpy."""
    return np.array(_arrays.to_np(x)) if _arrays.is_mx(x) else x


def routine(scipy_fn, graph_args=(0,)):
    """Our version of a scipy.sparse.csgraph routine: same signature, inputs
    lent to scipy (ours, scipy's, numpy, MLX), sparse results as ours."""
    name = scipy_fn.__name__
    graph_names = [p for i, p in enumerate(inspect.signature(scipy_fn).parameters)
                   if i in graph_args]

    @functools.wraps(scipy_fn, assigned=("__name__", "__qualname__"), updated=())
    def ours(*args, **kwargs):
        graphs = [args[i] for i in graph_args if i < len(args)] + \
                 [kwargs[n] for n in graph_names if n in kwargs]
        state = state_of(*graphs)
        refuse_traced(name, state)
        r = bring_back(call_scipy(scipy_fn, graph_args, args, kwargs))
        return refuse_detached(name, state, r)

    ours.__signature__ = inspect.signature(scipy_fn)
    ours.__module__ = "mlx_scipy_sparse.csgraph"
    ours.__doc__ = (
        f"scipy.sparse.csgraph.{name} on our arrays, scipy's, numpy or MLX arrays.\n\n"
        f"scipy's compiled routine runs on read-only views of the input (no copy); "
        f"sparse results come back as mlx_scipy_sparse arrays, numpy results as numpy. "
        f"Not differentiable: under mx.grad a result holding MLX values is refused.\n"
        f"See scipy.sparse.csgraph.{name} for the parameters.")
    return ours
