"""Patterns apart from values: integer pattern functions, kept per pattern,
and the value primitives that carry values (and their gradients) onto a
new pattern.

A pattern function (the permutation of a CSR -> CSC conversion, the merging
of duplicate COO coordinates) reads index arrays on the host with numpy or
scipy's compiled routines, once per pattern: its result is kept, keyed by
the index arrays' identity and holding them weakly, so a loop over a fixed
pattern computes it once.  Formats hold their index arrays through objects
nobody writes (see _formats._values.IndexHandles), so identity is enough.

The value primitives take MLX values and MLX index maps.  Outside any
transformation on the CPU they run numpy on zero-copy views (MLX's CPU
gather and scatter are slow); otherwise (a gradient, mx.compile, a GPU) they
are MLX ops, which MLX differentiates and compiles itself.
"""
import weakref
from collections import OrderedDict

import numpy as np
import mlx.core as mx

from .. import _arrays
from ._cpu import (csr_transpose, drop_zeros_into, line_diagonal, intersection_slots, rows_of, sort_lines_into,
                   ones_product, union_slots)
from . import _device_patterns as device_patterns
from ._composed import running_sum
from ._device import gpu_default, stream_for

_MEMO = OrderedDict()
_MEMO_SIZE = 32


def memo(kind, arrays, compute):
    """compute() once per (kind, arrays): kept while the arrays live."""
    key = (kind,) + tuple(id(a) if _arrays.is_mx(a) else a for a in arrays)
    with _arrays.STATE_LOCK:
        hit = _MEMO.get(key)
        if hit is not None and all(r() is a for r, a in zip(hit[0], _mx_only(arrays))):
            _MEMO.move_to_end(key)
            return hit[1]
    value = compute()

    def gone(_ref, key=key):
        lock = getattr(_arrays, "STATE_LOCK", None)
        if lock is None:        # interpreter exit: module globals already cleared
            return
        with lock:
            entry = _MEMO.get(key)
            if entry is not None and any(_ref is r for r in entry[0]):
                del _MEMO[key]
    refs = tuple(weakref.ref(a, gone) for a in _mx_only(arrays))
    with _arrays.STATE_LOCK:
        _MEMO[key] = (refs, value)
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return value


def _mx_only(arrays):
    return [a for a in arrays if _arrays.is_mx(a)]


def _index_mx(a):
    return _arrays.settled(mx.array(a))


# -- pattern functions ---------------------------------------------------------
def _narrowed(arrays, maxval, narrow):
    """The matrix flavour's rule (scipy checks contents): int64 index arrays
    become int32 when every value fits."""
    if narrow and arrays[0].dtype == np.int64 and maxval <= _I32MAX:
        return [a.astype(np.int32) for a in arrays]
    return arrays


_I32MAX = 2 ** 31 - 1


def transpose_pattern(indices, indptr, n_rows, n_cols, narrow=False):
    """(perm, indices, indptr) of the CSR of A.T for A in CSR (n_rows x
    n_cols): A.T's values are A's values[perm].  scipy's csr_tocsc on the
    entry numbers, so the order (sorted indices) is scipy's."""
    def compute():
        if gpu_default() and device_patterns.fits((indices, indptr), indices.size):
            return device_patterns.transpose(indices, indptr, n_rows, n_cols)
        ind, ptr = _arrays.to_np(indices), _arrays.to_np(indptr)
        order = np.arange(ind.size, dtype=np.int64 if ind.size > _I32MAX else np.int32)
        perm, t_ind, t_ptr = csr_transpose(order, ind, ptr, n_rows, n_cols)
        t_ind, t_ptr = _narrowed([t_ind, t_ptr], max(n_rows, ind.size), narrow)
        return _index_mx(perm), _index_mx(t_ind), _index_mx(t_ptr)
    return memo("transpose", (indices, indptr, n_rows, n_cols, narrow), compute)


def entry_rows(indptr, nnz):
    """Row of every stored entry of a CSR pattern (COO's row array)."""
    return memo("rows", (indptr, nnz),
                lambda: _index_mx(rows_of(_arrays.to_np(indptr), nnz)))


def merge_pattern(major, minor, n_major, n_minor, narrow=False):
    """COO coordinates (major, minor) -> the canonical compressed pattern
    (sorted, duplicates merged) that scipy's tocsr/tocsc gives:
    (slot, indices, indptr, n): entry k's value is added into slot[k]; slot
    is None when there is nothing to merge or sort (values pass unchanged)."""
    def compute():
        key = _arrays.to_np(major).astype(np.int64) * n_minor \
            + _arrays.to_np(minor).astype(np.int64)
        idx = np.result_type(_arrays.np_dtype(major.dtype), _arrays.np_dtype(minor.dtype),
                             np.int32)
        if key.size == 0:       # scipy builds an empty array: index dtype from the shape
            idx = np.dtype(np.int64 if max(n_major, n_minor) > _I32MAX else np.int32)
        uniq, slot = np.unique(key, return_inverse=True)
        width = max(n_minor, 1)
        indptr = np.zeros(n_major + 1, dtype=idx)
        np.cumsum(np.bincount(uniq // width, minlength=n_major), out=indptr[1:])
        indices, indptr = _narrowed([(uniq % width).astype(idx), indptr],
                                    max(n_minor, uniq.size), narrow)
        in_place = uniq.size == key.size and bool(np.all(slot == np.arange(slot.size)))
        slot = None if in_place else _index_mx(slot.astype(
            np.int32 if slot.size <= _I32MAX else np.int64))
        return slot, _index_mx(indices), _index_mx(indptr), int(uniq.size)
    return memo("merge", (major, minor, n_major, n_minor, narrow), compute)


# -- value primitives ---------------------------------------------------------
def bare_cpu(*arrays):
    """numpy on views will do: no transformation sees the values, and they
    live on the CPU (the default device, or float64, which MLX keeps off GPUs)."""
    on_cpu = not gpu_default() or all(a.dtype == mx.float64 for a in arrays)
    return on_cpu and _arrays.trace_state(*arrays) == _arrays.FREE


def gather(values, index):
    """values[index] (index an MLX integer array); differentiable (the VJP
    is a scatter-add, which MLX derives)."""
    if bare_cpu(values) and values.dtype != mx.bfloat16:
        return mx.array(np.take(_arrays.to_np(values), _arrays.to_np(index)), dtype=values.dtype)
    with mx.stream(stream_for(values.dtype)):
        return mx.take(values, index)


def scatter_sum(values, slot, n):
    """out[j] = sum of values[k] with slot[k] == j, added in k's order (as
    scipy sums duplicates); differentiable (the VJP is a gather)."""
    if bare_cpu(values) and values.dtype != mx.bfloat16:
        out = np.zeros(n, dtype=_arrays.np_dtype(values.dtype))
        np.add.at(out, _arrays.to_np(slot), _arrays.to_np(values))
        return mx.array(out, dtype=values.dtype)
    dev = mx.cpu if values.dtype in _arrays.GPU_SCATTER_REFUSED else stream_for(values.dtype)
    with mx.stream(dev):
        if values.size == 0 or n == 0:
            return mx.zeros((n,), dtype=values.dtype)
        return mx.zeros((n,), dtype=values.dtype).at[slot].add(values)


def spread(values, slot, n):
    """out[slot[k]] = values[k] for distinct slots, zeros elsewhere (a
    scatter_sum whose slots never meet: numpy's fancy assignment on the CPU,
    5x faster than its add.at); differentiable (the VJP is a gather)."""
    if bare_cpu(values) and values.dtype != mx.bfloat16:
        out = np.zeros(n, dtype=_arrays.np_dtype(values.dtype))
        out[_arrays.to_np(slot)] = _arrays.to_np(values)
        return mx.array(out, dtype=values.dtype)
    return scatter_sum(values, slot, n)


def drop_zeros(values, indices, indptr, n_lines, n_other, has_zeros=False):
    """(values, indices, indptr) of a compressed pattern without its stored
    zeros, for free values on the CPU: scipy's compiled pass, run in place on
    copies (one pass where the general path takes five numpy passes); the
    arrays themselves where nothing is zero.  None where this does not apply
    (values elsewhere, a dtype the pass lacks).  ``has_zeros``: the caller
    found a zero already (the check is not made twice)."""
    if not bare_cpu(values) or indices.dtype != indptr.dtype:
        return None
    v = _arrays.to_np(values)
    if v.dtype.kind not in "biufc" or v.dtype.itemsize < 4:
        return None
    if not has_zeros and v.all():
        return values, indices, indptr          # nothing to drop: the same arrays
    if len(v) < _IN_MLX_BUFFERS:
        d, i, p = (np.array(_arrays.to_np(a)) for a in (values, indices, indptr))
        n = drop_zeros_into(d, i, p, n_lines, n_other)
        # copies of the kept prefixes: an MLX slice would cost an evaluation (~20 us)
        return tuple(mx.array(h, dtype=a.dtype) for h, a in
                     ((d[:n], values), (i[:n], indices), (p, indptr)))
    # large: one copy into new MLX buffers, the pass in place there, the kept
    # prefixes as slices of them (a second copy cost as much as the pass)
    made = [_arrays.fresh_copy(_arrays.to_np(a), a.dtype) for a in (values, indices, indptr)]
    if any(m is None for m in made):
        return None
    (d, dw), (i, iw), (p, pw) = made
    n = drop_zeros_into(dw, iw, pw, n_lines, n_other)
    return d[:n], i[:n], p


_IN_MLX_BUFFERS = 1 << 20      # entries from which the pass runs in MLX's buffers


def line_sums(values, indptr, dtype):
    """The sum of each major line (rows of CSR) of numpy values ``values``
    (a view of free CPU values) in numpy dtype ``dtype``, as scipy's sum
    along that axis computes it: numpy's add.reduceat over the lines that
    hold entries (in the values' dtype, as there), zero elsewhere."""
    ptr = _arrays.to_np(indptr)
    lines = np.flatnonzero(np.diff(ptr))
    out = np.zeros(len(ptr) - 1, dtype=dtype)
    if lines.size:
        out[lines] = np.add.reduceat(values, ptr[lines])
    return out


def ones_sums(values, indices, indptr, n_minor, dtype, across=True):
    """The sum at each minor index (``across``: columns of CSR) or of each
    line of numpy values ``values`` (a view of free CPU values) in numpy
    dtype ``dtype``, as scipy's product with ones computes it."""
    return ones_product(values, _arrays.to_np(indices), _arrays.to_np(indptr), n_minor, dtype,
                        across)


def kept_on_view(keep, indices, indptr):
    """(values, indices, indptr) of the entries of a compressed pattern that
    the numpy bool array ``keep`` marks, in order, as MLX arrays with True
    values: scipy's answer to a comparison whose False entries it drops.
    The pattern's own index arrays where every entry stays."""
    n = int(np.count_nonzero(keep))
    values = mx.array(np.ones(n, dtype=np.bool_))
    if n == keep.size:
        return values, indices, indptr
    ind, ptr = _arrays.to_np(indices), _arrays.to_np(indptr)
    before = np.zeros(keep.size + 1, dtype=ptr.dtype)       # kept entries before each one
    np.cumsum(keep, dtype=ptr.dtype, out=before[1:])
    return values, mx.array(ind[keep]), mx.array(before[ptr])


def diagonal_of(values, indices, indptr, k, n_major, n_minor):
    """Diagonal k (along the minor axis) of numpy values ``values`` (a view
    of free CPU values) on a compressed pattern, as scipy's diagonal."""
    return line_diagonal(k, n_major, n_minor, _arrays.to_np(indptr), _arrays.to_np(indices),
                         values)


def sort_lines(values, indices, indptr):
    """(values, indices) of a compressed pattern with each line's indices
    sorted, for free values on the CPU: scipy's compiled sort on copies made
    in new MLX buffers (scipy sorts its arrays in place; ours may be shared).
    None where this does not apply (values elsewhere, a dtype the pass
    lacks, index arrays of two dtypes)."""
    if not bare_cpu(values) or indices.dtype != indptr.dtype:
        return None
    if _arrays.np_dtype(values.dtype).kind not in "biufc" or values.dtype == mx.float16 \
            or values.dtype == mx.bfloat16:
        return None
    made = [_arrays.fresh_copy(_arrays.to_np(a), a.dtype) for a in (values, indices)]
    if any(m is None for m in made):
        return None
    (d, dw), (i, iw) = made
    sort_lines_into(dw, iw, _arrays.to_np(indptr))
    return d, i


def stack_lines(parts, index_dtype):
    """(data, indices, indptr) of compressed arrays laid end to end along
    their major axis (vstack of CSR, hstack of CSC), index arrays in
    ``index_dtype``, for free values of one dtype on the CPU; None elsewhere.
    Large: MLX's concatenate writes each result once (numpy's, then a copy
    into MLX, wrote it twice: 44 against 26 ms for 2 x 16M floats); small:
    numpy on views (an MLX evaluation costs ~20 us)."""
    if not all(bare_cpu(d) and d.dtype == parts[0][0].dtype and d.dtype != mx.bfloat16
               for d, _, _ in parts):
        return None
    idx = _arrays.mx_dtype(np.dtype(index_dtype))
    if sum(d.size for d, _, _ in parts) < _IN_MLX_BUFFERS:
        data = np.concatenate([_arrays.to_np(d) for d, _, _ in parts])
        indices = np.concatenate([_arrays.to_np(i) for _, i, _ in parts], dtype=index_dtype)
        starts, base = [], 0
        for _, _, p in parts:
            p = _arrays.to_np(p)
            starts.append(p[:-1].astype(index_dtype) + index_dtype(base))
            base += int(p[-1])
        indptr = np.concatenate(starts + [np.array([base], dtype=index_dtype)])
        return mx.array(data, dtype=parts[0][0].dtype), mx.array(indices), mx.array(indptr)
    with mx.stream(mx.cpu):
        data = mx.concatenate([d for d, _, _ in parts])
        indices = mx.concatenate([i for _, i, _ in parts])
        if indices.dtype != idx:
            indices = indices.astype(idx)
        starts, base = [], 0
        for _, _, p in parts:
            starts.append(p[:-1].astype(idx) + base)
            base += int(_arrays.to_np(p)[-1])
        indptr = mx.concatenate(starts + [mx.array([base], dtype=idx)])
    return data, indices, indptr


def compact(keep):
    """(positions of keep's True entries in order, their count) for a
    concrete MLX bool array: the count is read (one scalar), the positions
    made where keep lives (a cumulative sum and a scatter on a GPU, numpy's
    flatnonzero on a view on the CPU).  Positions are None when every entry
    is kept (nothing moves)."""
    n_all = keep.size
    if not gpu_default():
        k = _arrays.to_np(keep)
        if k.all():                     # the usual case, 10x cheaper than the positions
            return None, n_all
        pos = np.flatnonzero(k)
        return (None if pos.size == n_all else mx.array(pos.astype(
            np.int32 if n_all < 2 ** 31 else np.int64))), int(pos.size)
    wide = mx.int32 if n_all < 2 ** 31 else mx.int64
    with mx.stream(stream_for(wide) if wide == mx.int32 else mx.cpu):  # (GPU scatter: int32)
        k = keep.astype(wide)
        n = int(mx.sum(k).item())
        if n == n_all:
            return None, n
        # each kept entry's place is the count kept before it; the rest land on slot n
        slot = mx.where(keep, running_sum(k) - 1, n)
        pos = mx.zeros((n + 1,), dtype=wide).at[slot].add(mx.arange(n_all, dtype=wide))[:n]
    return pos, n


def nonzero_mask(values):
    """values != 0 where the values live: a numpy mask on a view for free
    values with the CPU as default device (no MLX evaluation; what compact
    and kept_pattern then take on the CPU), an MLX one elsewhere."""
    if not gpu_default() and bare_cpu(values) and values.dtype != mx.bfloat16:
        return _arrays.to_np(values) != 0
    with mx.stream(stream_for(values.dtype)):
        return values != 0


def kept_pattern(indices, indptr, keep, src):
    """(indices, indptr) of a compressed pattern keeping the entries at
    positions ``src`` (``keep`` the matching mask): a line's new start is
    the count kept before its old start (on the CPU a binary search of the
    old starts in ``src``, a cumulative sum read at indptr elsewhere)."""
    if not gpu_default():
        s, p = _arrays.to_np(src), _arrays.to_np(indptr)
        ptr = s.searchsorted(p.astype(s.dtype, copy=False)).astype(p.dtype, copy=False)
        return (_arrays.settled(mx.array(_arrays.to_np(indices)[s])),
                _arrays.settled(mx.array(ptr)))
    wide = mx.int32 if keep.size < 2 ** 31 else mx.int64
    with mx.stream(stream_for(mx.int32) if wide == mx.int32 else mx.cpu):
        before = mx.concatenate([mx.zeros((1,), dtype=wide), running_sum(keep.astype(wide))])
        ptr = mx.take(before, indptr).astype(indptr.dtype)
        ind = mx.take(indices, src)
    return _arrays.settled(ind), _arrays.settled(ptr)


def elementwise(values, np_fn, mx_fn, out):
    """An elementwise function of the values, result dtype ``out`` (numpy's
    for np_fn).  Bare on the CPU it is numpy's own loop on a view (scipy's
    bits exactly); under a transformation or on a GPU the MLX function,
    which MLX differentiates."""
    if bare_cpu(values) and values.dtype != mx.bfloat16:
        v = _arrays.to_np(values)
        if isinstance(np_fn, np.ufunc) and values.dtype == out:
            # a copy in MLX's memory, then numpy's loop in place on it before anyone
            # sees it: one fresh buffer, not two (16M values: 55 ms against 71 here)
            made = _arrays.fresh_copy(v, out)
            if made is not None:
                new, w = made
                np_fn(w, out=w)
                return new
        return mx.array(np.asarray(np_fn(v)), dtype=out)
    with mx.stream(stream_for(out)):
        return mx_fn(values if values.dtype == out else values.astype(out))


def _map_mx(a):
    return _index_mx(a.astype(np.int32 if a.size <= _I32MAX else np.int64))


def _on_device(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
    """A merge of two patterns runs where they live on a GPU (both MLX)."""
    arrays = (a_ind, a_ptr, b_ind, b_ptr)
    return gpu_default() and all(_arrays.is_mx(a) for a in arrays) and \
        device_patterns.fits(arrays, a_ind.size + b_ind.size)


def lines_pattern(indices, indptr, lines):
    """(src, indices, indptr) of the lines ``lines`` (numbers in range) of a
    compressed pattern, on a GPU where the pattern lives; None elsewhere
    (scipy's selection on stand-ins decides there)."""
    if not (gpu_default() and _arrays.is_mx(indices)
            and device_patterns.fits((indices, indptr), indices.size)):
        return None
    return device_patterns.pick_lines(indices, indptr, lines)


def union_pattern(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
    """Two canonical compressed patterns -> (slot_a, slot_b, indices, indptr,
    n): their union (sorted), and where each operand's entries sit in it."""
    def compute():
        if _on_device(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
            return device_patterns.union(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor)
        arrays = [_arrays.to_np(a) for a in (a_ind, a_ptr, b_ind, b_ptr)]
        sa, sb, ind, ptr = union_slots(*arrays, n_major, n_minor)
        return _map_mx(sa), _map_mx(sb), _index_mx(ind), _index_mx(ptr), int(ind.size)
    return memo("union", (a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor), compute)


def intersection_pattern(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
    """Two canonical compressed patterns -> (pick_a, pick_b, indices,
    indptr): the entries both hold (sorted), and where each operand has them."""
    def compute():
        if _on_device(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
            return device_patterns.intersection(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor)
        arrays = [_arrays.to_np(a) for a in (a_ind, a_ptr, b_ind, b_ptr)]
        ia, ib, ind, ptr = intersection_slots(*arrays, n_major, n_minor)
        return _map_mx(ia), _map_mx(ib), _index_mx(ind), _index_mx(ptr)
    return memo("intersection", (a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor), compute)


def reshaped_coords(row, col, shape, new_shape, order, idx):
    """COO coordinates (row, col) of an array of ``shape`` laid out again
    as ``new_shape`` in numpy order ``order`` ('C' or 'F'), index dtype
    ``idx``: scipy's COO reshape (the entries keep their order, so the
    values pass through as they are).  Kept per pattern and shape."""
    def compute():
        r, c = _arrays.to_np(row), _arrays.to_np(col)
        (m, n), (m2, n2) = shape, new_shape
        if order == "C":
            r2, c2 = np.divmod(np.multiply(n, r, dtype=np.int64) + c, n2)
        else:
            c2, r2 = np.divmod(np.multiply(m, c, dtype=np.int64) + r, m2)
        return _index_mx(r2.astype(idx)), _index_mx(c2.astype(idx))
    return memo("reshape", (row, col, shape, new_shape, order, np.dtype(idx)), compute)
