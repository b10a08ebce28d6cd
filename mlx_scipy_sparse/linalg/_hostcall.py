"""The one place that hands our arrays to scipy.sparse.linalg.

For routines we do not reimplement, `hosted(fn)` wraps scipy's function:
arguments are converted (our sparse arrays -> scipy views of our buffers,
MLX arrays -> numpy, our LinearOperators -> scipy LinearOperators), scipy
runs, and results come back by the rule "numpy in -> numpy out, MLX in ->
MLX out, our sparse out where scipy returns sparse".

Values computed on the host are cut off from MLX's graph, so they are
never handed back as MLX arrays under mx.grad: the call raises
NotImplementedError instead (and under mx.compile / mx.vmap, where the host
cannot run at all).  The format layer's bridge already knows how to detect
those states and how to lend our arrays to scipy; it is reused here.
"""
import functools

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss
import scipy.sparse.linalg as _sl

from .._formats import _bridge

is_ours = _bridge.is_ours
wrap = _bridge.wrap


def is_mx(x):
    return isinstance(x, mx.array)


def _our_operator(x):
    """One of our LinearOperators (scipy cannot call its products itself)."""
    try:
        from ._interface import LinearOperator
        if isinstance(x, LinearOperator):
            return True
    except ImportError:
        pass
    return (not isinstance(x, (_sl.LinearOperator, np.ndarray, _ss.sparray, _ss.spmatrix))
            and not is_ours(x) and hasattr(x, "shape") and hasattr(x, "matvec")
            and type(x).__module__.startswith("mlx_scipy_sparse"))


def _np_out(y):
    return np.asarray(y) if is_mx(y) else y


def scipy_operator(op):
    """A scipy LinearOperator running one of ours on numpy vectors."""
    if getattr(op, "local_shape", op.shape) != op.shape:
        raise NotImplementedError("a distributed operator cannot be handed to scipy's "
                                  "host routines (it holds only part of each vector)")
    kw = dict(matvec=lambda x: _np_out(op.matvec(x)), dtype=getattr(op, "dtype", None))
    for name in ("rmatvec", "matmat", "rmatmat"):
        if hasattr(op, name):
            kw[name] = (lambda f: lambda x: _np_out(f(x)))(getattr(op, name))
    return _sl.LinearOperator(op.shape, **kw)


def to_host(x, copy=False):
    """Our arrays, MLX arrays and our operators as scipy/numpy sees them
    (containers element-wise).  Our sparse arrays and MLX arrays are lent as
    read-only views where possible."""
    if is_ours(x):
        return _bridge.lend(x, copy)
    if is_mx(x):
        v = np.array(x, copy=copy)
        if not copy:
            v.flags.writeable = False
        return v
    if _our_operator(x):
        return scipy_operator(x)
    if type(x) in (tuple, list):
        return type(x)(to_host(v, copy) for v in x)
    return x


def had_mx(*objs):
    """Whether MLX arrays are among the (dense) operands: results come back as MLX."""
    for x in objs:
        if is_mx(x):
            return True
        if type(x) in (tuple, list) and had_mx(*x):
            return True
    return False


def to_mx(r):
    """numpy results -> MLX (dtypes MLX holds; float64 lives on the CPU),
    scipy sparse -> ours, containers element-wise."""
    if isinstance(r, np.ndarray) and not isinstance(r, np.matrix):
        try:
            return mx.array(r, dtype=_MX[r.dtype])
        except KeyError:
            return r
    if isinstance(r, (_ss.sparray, _ss.spmatrix)):
        return wrap(r)
    if type(r) in (tuple, list):
        return type(r)(to_mx(v) for v in r)
    return r


_MX = {np.dtype(k): v for k, v in (
    (np.float32, mx.float32), (np.float64, mx.float64), (np.complex64, mx.complex64),
    (np.float16, mx.float16), (np.int32, mx.int32), (np.int64, mx.int64),
    (np.bool_, mx.bool_), (np.int8, mx.int8), (np.uint8, mx.uint8),
    (np.int16, mx.int16), (np.uint16, mx.uint16), (np.uint32, mx.uint32),
    (np.uint64, mx.uint64))}


def from_host(r, mlx_out):
    """scipy's result in our terms: sparse -> ours; numpy -> MLX if MLX came in."""
    if mlx_out:
        return to_mx(r)
    if isinstance(r, (_ss.sparray, _ss.spmatrix)):
        return wrap(r)
    if type(r) in (tuple, list):
        return type(r)(from_host(v, False) for v in r)
    return r


def values_state(*operands):
    """"free" / "grad" / "traced": the state of the MLX values among operands."""
    return _bridge.values_state(*operands)


def state(name, *operands):
    """FREE / GRAD; under mx.compile / mx.vmap the host cannot run: refused."""
    return _bridge.transformed(name, *operands)


def refuse_detached(name, st, r):
    return _bridge.refuse_detached(name, st, r)


def call(fn, args, kwargs, name=None):
    """fn(*args, **kwargs) run by scipy on host views, result back in our terms."""
    name = name or getattr(fn, "__name__", "scipy routine")
    st = state(name, *args, *kwargs.values())
    mlx_out = had_mx(*args, *kwargs.values())

    def run(copy):
        return fn(*to_host(list(args), copy), **{k: to_host(v, copy) for k, v in kwargs.items()})
    try:
        r = run(False)
    except ValueError as e:         # scipy wanted to write into a lent view
        if "read-only" not in str(e):
            raise
        r = run(True)
    return refuse_detached(name, st, from_host(r, mlx_out))


def hosted(fn):
    """scipy.sparse.linalg's ``fn`` taking and giving our arrays (run on the host)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return call(fn, args, kwargs)
    wrapper.__doc__ = (f"scipy.sparse.linalg.{fn.__name__}, run by scipy on the host "
                       f"(not differentiable: refused under mx.grad).\n\n" + (fn.__doc__ or ""))
    wrapper._hosted = True
    wrapper.__module__ = __name__      # ours (scipy runs it), not scipy's module
    return wrapper
