"""vstack of CSR arrays and hstack of CSC arrays for free values on the CPU:
scipy's own fast case (the blocks' arrays laid end to end, the line pointers
shifted), done on views of our arrays instead of a hand-off to scipy and a
copy back (80k entries: 65 us for scipy's, 216 us through the hand-off).

The other cases of hstack / vstack, and bmat, block_array and block_diag,
follow scipy's _block and block_diag on views the same way (_kernels._blocks):
blocks all CSR (all CSC) joined line by line by scipy's csr_hstack, anything
else as COO coordinates shifted to each block's place (2000^2 at 1%:
bmat([[A, B], [None, A]]) 1.5 ms through the hand-off, 0.53 ms here)."""
import itertools

import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _bridge

_MAJOR = {"vstack": ("csr", 0), "hstack": ("csc", 1)}
# every other case of these (and bmat, block_array, block_diag) is
# assembled below as scipy's _block and block_diag do
STACKS = tuple(_MAJOR) + ("bmat", "block_array", "block_diag")
_I32MAX = np.iinfo(np.int32).max


def stacked(name, args, kwargs):
    """scipy's answer to ``name(...)`` for free CPU values of our CSR, CSC
    and COO arrays; None where this does not apply (scipy then answers,
    errors included)."""
    r = _end_to_end(name, args, kwargs) if name in _MAJOR else None
    return r if r is not None else _assembled(name, args, kwargs)


def _end_to_end(name, args, kwargs):
    """scipy's answer to ``name(blocks)`` where scipy would stack the
    blocks end to end; None where it would not (or this cannot tell)."""
    fmt, axis = _MAJOR[name]
    if len(args) != 1 or set(kwargs) - {"format"} or kwargs.get("format") not in (None, fmt):
        return None
    blocks = args[0]
    if type(blocks) not in (list, tuple) or not blocks or not all(
            _bridge.is_ours(b) and b.format == fmt and b.ndim == 2
            and _arrays.is_mx(getattr(b, "_data", None)) for b in blocks):
        return None
    other = blocks[0].shape[1 - axis]
    if any(b.shape[1 - axis] != other for b in blocks):
        return None                                     # scipy's error
    for b in blocks:
        b._ensure_valid()
        if not b._valid:
            return None
    # scipy's index dtype for the stack: int64 past int32's range, or for an
    # array result when a block's indptr is int64 (a matrix result is narrowed
    # again by its constructor wherever the contents fit)
    nnz, n = sum(b.nnz for b in blocks), sum(b.shape[axis] for b in blocks)
    array = any(b._is_array for b in blocks)
    wide = max(nnz, other, n if not array else 0) > _I32MAX or \
        (array and any(b._indptr.dtype != mx.int32 for b in blocks))
    idx = np.int64 if wide else np.int32
    got = _kernels.stack_lines([(b._data, b._indices, b._indptr) for b in blocks], idx)
    if got is None:
        return None
    cls = _bridge.CLASSES[fmt][0 if array else 1]
    return cls._built((n, other) if axis == 0 else (other, n), *got)


# -- scipy's _block (hstack, vstack, bmat, block_array) and block_diag ----------
_POSITIONAL = {"hstack": 3, "vstack": 3, "bmat": 3, "block_array": 1, "block_diag": 3}
# the answer's formats whose conversion from the COO answer is ours (no hand-off)
FORMATS = (None, "coo", "csr", "csc")


def _options(name, args, kwargs):
    """(blocks, format) of a call; None for what is left to scipy: a dtype
    asked for, another format, arguments scipy would refuse."""
    given = dict(zip(("format", "dtype"), args[1:]))
    if not 1 <= len(args) <= _POSITIONAL[name] or set(kwargs) - {"format", "dtype"} \
            or set(kwargs) & set(given):
        return None
    given.update(kwargs)
    if given.get("dtype") is not None or given.get("format") not in FORMATS:
        return None
    return args[0], given.get("format")


def _index_array(b):
    return b._coords[0] if b.format == "coo" else b._indptr


def _readable(b):
    """Whether block ``b`` can be read on views: ours, 2-D CSR/CSC/COO with
    MLX values, checked, with int32 or int64 index arrays."""
    if not (_bridge.is_ours(b) and b.ndim == 2 and b.format in ("csr", "csc", "coo")
            and _arrays.is_mx(getattr(b, "_peek", lambda: None)())):
        return False
    b._ensure_valid()
    return b._valid is True and _index_array(b).dtype in (mx.int32, mx.int64)


def all_readable(blocks):
    """Whether these blocks can be read on views, and numpy's common dtype
    of their values is one MLX holds (complex64 with float64 is not)."""
    return all(_readable(b) for b in blocks) and \
        _arrays.supported_dtype(np.result_type(*(b.dtype for b in blocks))) and \
        _kernels.views_apply(*(b._peek() for b in blocks))


def fits(*sizes):
    """Sizes within int32's range: scipy's index dtypes then follow the
    operands' types alone (past it, scipy answers)."""
    return all(s <= _I32MAX for s in sizes)


def coo_index(b):
    """The index dtype of scipy's COO of block ``b`` (sizes within int32's):
    a COO's own; a CSR / CSC array's own, int32 for a matrix (tocoo makes a
    matrix, whose constructor narrows its coordinates where they fit)."""
    wide = _index_array(b).dtype == mx.int64
    return np.int64 if wide and (b._is_array or b.format == "coo") else np.int32


def entries(b, idx):
    """numpy (data, row, col) of b's stored entries in scipy's tocoo order."""
    if b.format == "coo":
        return _kernels.coo_entries(b._peek(), *b._coords, idx)
    return _kernels.compressed_entries(b._peek(), b._indices, b._indptr, b.format == "csc", idx)


def coo_answer(shape, arrays, array, fmt):
    """Our COO of (data, row, col) (scipy's COO answers are never flagged
    canonical), converted as scipy's asformat(fmt)."""
    data, row, col = arrays
    cls = _bridge.CLASSES["coo"][0 if array else 1]
    out = cls._built(shape, data, (row, col), canonical=False)
    return out if fmt in (None, "coo") else out.asformat(fmt)


def _assembled(name, args, kwargs):
    """scipy's _block / block_diag for free CPU values of our blocks; None
    where this does not apply."""
    if _kernels.keep_in_mlx():
        return None
    opts = _options(name, args, kwargs)
    if opts is None:
        return None
    blocks, fmt = opts
    if name == "block_diag":
        return _diagonal(blocks, fmt)
    grid = _grid(name, blocks)
    present = [b for row in grid for b in row if b is not None] if grid else []
    if not present or not all_readable(present):
        return None
    array = name == "block_array" or any(b._is_array for b in present)
    full = len(present) == sum(len(row) for row in grid)
    for major in ("csr", "csc"):        # scipy's fast cases: blocks all CSR, or all CSC
        if full and fmt in (None, major) and all(b.format == major for b in present):
            return _compressed_grid(grid, major, array)
    return _coo_grid(grid, fmt, array)


def _grid(name, blocks):
    """The blocks as the rows of a grid, as scipy's hstack / vstack / bmat
    see them; None where they are not a non-empty rectangle of lists."""
    if type(blocks) not in (list, tuple) or not blocks:
        return None
    if name == "hstack":
        return [list(blocks)]
    if name == "vstack":
        return [[b] for b in blocks]
    if not all(type(r) in (list, tuple) for r in blocks) or len({len(r) for r in blocks}) != 1 \
            or not blocks[0]:
        return None
    return [list(r) for r in blocks]


def _compressed_grid(grid, fmt, array):
    """scipy's fast case for blocks all CSR (all CSC): the blocks of each
    grid row (column) joined line by line (csr_hstack), the joins then laid
    end to end.  None on mismatched shapes (scipy's error)."""
    groups = grid if fmt == "csr" else [list(col) for col in zip(*grid)]
    major, minor = (0, 1) if fmt == "csr" else (1, 0)
    joins, wide = [], False     # joins: (views, lines, widths, index dtype) of each group
    for group in groups:
        lines = {b.shape[major] for b in group}
        widths = [b.shape[minor] for b in group]
        if len(lines) != 1 or not fits(sum(widths), sum(b.nnz for b in group)):
            return None
        int64 = any(b._indptr.dtype == mx.int64 for b in group)
        # a join takes its first block's flavour: an array keeps int64 index
        # arrays, a matrix narrows them again (one block is not joined)
        group_wide = int64 and (len(group) == 1 or group[0]._is_array)
        views = [_kernels.compressed_views(b._peek(), b._indices, b._indptr) for b in group]
        joins.append((views, lines.pop(), widths, np.int64 if group_wide else np.int32))
        wide |= group_wide
    width, n_lines = sum(joins[0][2]), sum(j[1] for j in joins)
    if any(sum(j[2]) != width for j in joins) or not fits(n_lines, width):
        return None
    idx = np.int64 if array and wide else np.int32
    if len(joins) == 1 and len(joins[0][0]) > 1:    # one join (hstack of CSR) is the answer
        data, indices, indptr = _kernels.joined_lines(*joins[0][:3], idx, into_mlx=True)
    else:
        data, indices, indptr = _kernels.lines_end_to_end(
            [v[0] if len(v) == 1 else _kernels.joined_lines(v, n, w, i) for v, n, w, i in joins],
            idx)
    cls = _bridge.CLASSES[fmt][0 if array else 1]
    return cls._built((n_lines, width) if fmt == "csr" else (width, n_lines),
                      data, indices, indptr)


def _coo_grid(grid, fmt, array):
    """scipy's general case: every block as COO (tocoo's order), its
    coordinates shifted to its place, laid end to end block by block in
    row-major order.  None on mismatched shapes (scipy's error)."""
    heights, widths, placed = [0] * len(grid), [0] * len(grid[0]), []
    for i, row in enumerate(grid):
        for j, b in enumerate(row):
            if b is None:
                continue
            # scipy's check: a block row's height is that of its first block
            # with rows (an empty one leaves it open), and so for columns
            for sizes, at, n in ((heights, i, b.shape[0]), (widths, j, b.shape[1])):
                if sizes[at] == 0:
                    sizes[at] = n
                elif sizes[at] != n:
                    return None
            placed.append((i, j, b))
    row_at, col_at = [0, *itertools.accumulate(heights)], [0, *itertools.accumulate(widths)]
    shape = (row_at[-1], col_at[-1])
    if not fits(*shape, sum(b.nnz for _, _, b in placed)):
        return None
    idx = np.int64 if any(coo_index(b) == np.int64 for _, _, b in placed) else np.int32
    dtype = np.result_type(*(b.dtype for _, _, b in placed))
    parts = [(*entries(b, idx), row_at[i], col_at[j]) for i, j, b in placed]
    return coo_answer(shape, _kernels.coords_end_to_end(parts, idx, dtype), array, fmt)


def _diagonal(mats, fmt):
    """scipy's block_diag of our blocks: each one's COO entries shifted to
    its place on the diagonal; None for anything else in the list."""
    if type(mats) not in (list, tuple) or not mats or not all_readable(mats):
        return None
    row_at = [0, *itertools.accumulate(b.shape[0] for b in mats)]
    col_at = [0, *itertools.accumulate(b.shape[1] for b in mats)]
    shape = (row_at[-1], col_at[-1])
    if not fits(*shape, sum(b.nnz for b in mats)):
        return None
    idx = np.int64 if any(coo_index(b) == np.int64 for b in mats) else np.int32
    dtype = np.result_type(*(b.dtype for b in mats))
    parts = [(*entries(b, idx), row_at[k], col_at[k]) for k, b in enumerate(mats)]
    return coo_answer(shape, _kernels.coords_end_to_end(parts, idx, dtype),
                       any(b._is_array for b in mats), fmt)
