"""Ops that only move values -- indexing and slicing, getrow/getcol,
diagonal, tril/triu, stacking, reshape -- with traced values.

Under mx.grad or mx.compile the values must keep their graph, so the op is
split: scipy's own op runs once on stand-ins whose values are the entry
numbers (1, 2, ... across all sparse operands), and its result says where
each of its entries comes from.  That is a pattern function, kept per
pattern and arguments; the traced values then follow by one gather.  The
operands are made canonical first (in MLX), so scipy never adds entry
numbers together.  Outside a transformation scipy's op runs as it is.
"""
import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _bridge, _device_reduce
from ._entry import _in_range

# scipy methods and construction functions that only move values
MOVES = frozenset({
    "__getitem__", "getrow", "getcol", "_getrow", "_getcol", "diagonal", "reshape",
    "tril", "triu", "hstack", "vstack", "bmat", "block_array", "block_diag",
})


def _key(x, depth=0):
    """A hashable stand-in for an argument, or raise TypeError where there is
    none (then the op is not kept, and scipy's path decides)."""
    if depth > 4:
        raise TypeError
    if x is None or x is Ellipsis or isinstance(x, (bool, int, float, str, np.integer)):
        return x
    if isinstance(x, slice):
        return ("slice", _key(x.start), _key(x.stop), _key(x.step))
    if _bridge.is_ours(x):
        return ("sparse", x.format, x.shape, x._is_array)
    if _arrays.is_mx(x):
        x = _arrays.to_np(x)        # index arrays: concrete (a traced one cannot be read)
    if isinstance(x, np.ndarray):
        return ("nd", x.shape, x.dtype.str, x.tobytes())
    if isinstance(x, (tuple, list)):
        return (type(x).__name__,) + tuple(_key(v, depth + 1) for v in x)
    if isinstance(x, dict):
        return tuple(sorted((k, _key(v, depth + 1)) for k, v in x.items()))
    raise TypeError


def _sparse_in(x, depth=0):
    if _bridge.is_ours(x):
        return [x]
    if isinstance(x, (tuple, list)) and depth < 4:
        return [s for v in x for s in _sparse_in(v, depth + 1)]
    return []


def _substitute(x, it, depth=0):
    """x with each of our sparse operands replaced by the next of ``it``."""
    if _bridge.is_ours(x):
        return next(it)
    if isinstance(x, (tuple, list)) and depth < 4:
        return type(x)(_substitute(v, it, depth + 1) for v in x)
    if _arrays.is_mx(x):
        return np.array(_arrays.to_np(x))
    return x


def _canonical(X):
    """X with sorted, merged entries, built in MLX; None where it cannot be."""
    if not hasattr(X, "_data") or X.ndim != 2 or X._on_host():
        return None
    if X.format == "coo":
        return X._canonical_form()
    from ._binary import _canonical as compressed
    return compressed(X, X.format)


def _stand_ins(bases, numbered):
    """scipy copies of the bases whose values are entry numbers (counted
    across the numbered ones, from 1) or ones (the others)."""
    off, out = 0, []
    for b, on in zip(bases, numbered):
        ids = np.arange(off + 1, off + b.nnz + 1, dtype=np.float64) if on \
            else np.ones(b.nnz, dtype=np.float64)
        out.append(b._with_values(mx.array(ids, dtype=mx.float64))._to_sp())
        off += b.nnz if on else 0
    return out


def kron_moved(f, args, kwargs, free=False):
    """kron(A, B) with traced values (``free``: free ones under the device
    rule, of canonical operands, so the pattern is scipy's): each result
    entry is a_i * b_j, and scipy's kron run on (numbers, ones) and (ones,
    numbers) stand-ins says which i and j (a pattern function, kept)."""
    ops = _sparse_in(args[:2])
    if len(ops) != 2 or len(args) > 3 or set(kwargs) - {"format"}:
        return None
    if free and not all(X.format in ("csr", "csc") and X._pattern_ready() and X.has_canonical_format
                        for X in ops):
        return None
    bases = [_canonical(X) for X in ops]
    if any(b is None for b in bases):
        return None
    fmt = kwargs.get("format", args[2] if len(args) > 2 else None)

    def compute():
        ra = f(*_stand_ins(bases, (True, False)), format=fmt)
        rb = f(*_stand_ins(bases, (False, True)), format=fmt)
        if ra.format not in ("csr", "csc", "coo"):  # scipy chose BSR: a host format
            return None
        pick = [_arrays.settled(mx.array(np.asarray(r.data).astype(np.int64) - 1))
                for r in (ra, rb)]
        return _bridge.wrap(ra), pick[0], pick[1]
    # formats and shapes in the key: a transpose shares its index arrays
    kept = _kernels.memo(("kron", _key(fmt)) + tuple((b.format, b.shape) for b in bases),
                         [a for b in bases for a in _index_arrays(b)], compute)
    if kept is None:
        return None
    shell, ia, ib = kept
    dtype = _arrays.mx_dtype(np.result_type(*[b.dtype for b in bases]))
    with mx.stream(_kernels.stream_for(dtype)):
        a, b = (x._values().astype(dtype) for x in bases)
        return shell._with_values(_kernels.gather(a, ia) * _kernels.gather(b, ib))


def moved(name, call_scipy, args, kwargs, free=False):
    """Our result of a value-moving op whose sparse operands have traced
    values, or None where this path does not apply.  ``call_scipy(args,
    kwargs)`` runs scipy's op on scipy stand-ins.  ``free``: the values are
    not traced (kept in MLX on a GPU): sparse results are ours, dense ones
    (diagonal, paired fancy indexing) are gathered on the device and handed
    back as scipy's numpy array or matrix (the same values: nothing is
    added); float64 and bfloat16 values stay scipy's, and reshape keeps
    scipy's identity rules."""
    if name not in MOVES:
        return None
    if name == "__getitem__" and _sparse_in(args[1:]):
        return None             # a sparse index (boolean mask) is not an operand
    try:
        key = (name, _key(args), _key(kwargs))
    except TypeError:
        return None
    ops = _sparse_in((args, kwargs))
    bases = [_canonical(X) for X in ops]
    if not bases or any(b is None for b in bases):
        return None
    index_arrays = [a for b in bases for a in _index_arrays(b)]

    def compute():
        rows = _rows_where_they_live(name, args, bases)
        if rows is not None:
            return rows
        stand_ins = _stand_ins(bases, [True] * len(bases))
        it = iter(stand_ins)
        r = call_scipy(_substitute(args, it), _substitute(kwargs, it))
        same = [k for k, S in enumerate(stand_ins) if r is S]
        if same:            # scipy answered its operand itself (reshape to its shape)
            return ("self", same[0], None)
        if _bridge.is_sparse(r):
            src = np.asarray(r.data).astype(np.int64) - 1
            shell = _bridge.wrap(r)
            return ("sparse", shell, _arrays.settled(mx.array(src)))
        matrix = isinstance(r, np.matrix)
        r = np.asarray(r)
        return ("dense", (r.shape, matrix),
                _arrays.settled(mx.array(r.astype(np.int64).ravel() - 1)))
    kind, first, src = _kernels.memo(("move",) + key, index_arrays, compute)
    if kind == "self":
        return ops[first]
    np_dtype = np.result_type(*[b.dtype for b in bases])
    if free and kind != "sparse" and (first[0] == () or np_dtype == np.float64
                                      or not _arrays.supported_dtype(np_dtype)
                                      or any(b._values().dtype == mx.bfloat16 for b in bases)):
        return None             # scalars (A[i, j]) keep scipy's numpy scalar path
    dtype = _arrays.mx_dtype(np_dtype)
    with mx.stream(_kernels.stream_for(dtype)):         # float64: the CPU stream
        vals = [b._values() for b in bases]
        vals = mx.concatenate([v if v.dtype == dtype else v.astype(dtype) for v in vals]) \
            if len(vals) > 1 else vals[0].astype(dtype)
        if kind == "sparse":
            return first._with_values(_kernels.gather(vals, src))
        picked = _kernels.gather(vals, mx.maximum(src, 0)) if vals.size \
            else mx.zeros(src.shape, dtype)
        shape, matrix = first
        dense = mx.where(src >= 0, picked, mx.zeros((), dtype)).reshape(shape)
    if not free:
        return dense
    out = np.array(_arrays.to_np(dense)).astype(np_dtype, copy=False)
    return _device_reduce.as_matrix(out) if matrix else out


def _rows_where_they_live(name, args, bases):
    """``A[idx]`` of a CSR with a 1-D integer index, its rows picked where
    the pattern lives (a GPU: `_kernels.lines_pattern`), as compute()
    answers; None elsewhere, and for indices out of range (scipy's path
    then raises scipy's IndexError)."""
    if name != "__getitem__" or len(args) != 2 or len(bases) != 1 or bases[0].format != "csr":
        return None
    key = args[1]
    if _arrays.is_mx(key):
        key = _arrays.to_np(key)
    if not isinstance(key, (list, np.ndarray)):
        return None
    idx = np.asarray(key)
    b = bases[0]
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        return None
    lines = _in_range(idx, b.shape[0]) if idx.size else idx
    if lines is None:
        return None
    # (a copy: MLX refuses the negative strides of a reversed index view)
    got = _kernels.lines_pattern(b._indices, b._indptr, np.array(lines, order="C"))
    if got is None:
        return None
    src, ind, ptr = got
    shell = type(b)._built((idx.size, b.shape[1]), None, ind, ptr,
                           sorted_indices=True, canonical=True)
    return ("sparse", shell, src)


def _index_arrays(b):
    return list(b._coords) if b.format == "coo" else [b._indices, b._indptr]


def diags_moved(f, args, kwargs):
    """diags / diags_array of diagonals given as arrays, some of them MLX
    with traced values: scipy lays out stand-ins numbered 1, 2, ... (every
    element of every diagonal, in order) and each result entry gathers its
    value from the diagonals (differentiable).  Every element laid out stays
    stored (scipy drops the zeros, which a trace cannot see), and the result
    is CSR where scipy would answer DIA (our DIA keeps its values on the
    host).  None where the diagonals are not 1-D arrays (numbers, nested
    lists: scipy's path)."""
    diagonals, rest = (args[0], args[1:]) if args else (kwargs.get("diagonals"), ())
    if len(rest) > 2:               # format / dtype given by position: scipy's path
        return None
    single = _arrays.is_mx(diagonals) or isinstance(diagonals, np.ndarray)
    parts = [diagonals] if single else list(diagonals) if isinstance(diagonals, (list, tuple)) \
        else None
    if not parts or not all((_arrays.is_mx(d) or isinstance(d, np.ndarray)) and d.ndim == 1
                            for d in parts):
        return None
    dtype = kwargs.get("dtype")
    fmt = kwargs.get("format") or "csr"
    if fmt == "dia":
        fmt = "csr"
    if fmt not in ("csr", "csc", "coo"):
        return None
    starts = np.cumsum([0] + [int(d.shape[0]) for d in parts])
    stand = [np.arange(a + 1, b + 1, dtype=np.float64) for a, b in zip(starts[:-1], starts[1:])]
    kw = dict(kwargs, format=fmt, dtype=np.float64)
    kw.pop("diagonals", None)
    r = f(stand[0] if single else type(diagonals)(stand), *rest, **kw)
    src = _arrays.settled(mx.array(np.asarray(r.data).astype(np.int64) - 1))
    out = np.dtype(dtype) if dtype is not None else \
        np.result_type(*[_arrays.np_dtype(d.dtype) for d in parts])
    mdt = _arrays.mx_dtype(out)
    with mx.stream(_kernels.stream_for(mdt)):
        vals = mx.concatenate([_arrays.to_mx(d).astype(mdt) for d in parts])
        return _bridge.wrap(r)._with_values(_kernels.gather(vals, src))
