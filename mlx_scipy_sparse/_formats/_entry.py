"""A[i, j] for two integers, a range of rows of CSR (columns of CSC), and
a CSR matrix's row (a CSC matrix's column), read on views of free CPU
values without a scipy object: scipy's own route lends the whole array to
a scipy object first and wraps its answer back (on a 40k-entry array
A[i, j] 42 us against scipy's 10, getrow 120 us against 33).
"""
import numbers

import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _bridge, _minor

_ALL = slice(None)
_I32MAX = np.iinfo(np.int32).max


def _index(k, n):
    """k as an in-range index of an axis of n, or None (scipy's path then
    raises scipy's error, or handles what this does not)."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (numbers.Integral, np.integer)):
        return None
    k = int(k)
    k = k + n if k < 0 else k
    return k if 0 <= k < n else None


def _readable(A):
    """Whether A's arrays can be read on views here: free values on the CPU
    (bfloat16 has no numpy view) and a checked pattern."""
    data = A._data
    if A._on_host() or not _arrays.is_mx(data) or data.dtype == mx.bfloat16:
        return False
    _bridge.values_state(A)     # notes A's own values free: later calls skip the probe
    if not _kernels.bare_cpu(data):
        return False
    A._ensure_valid()
    return bool(A._valid)


class ScalarEntry:
    """__getitem__ of CSR/CSC: single entries and ranges of whole lines read
    here, everything else through scipy."""

    def __getitem__(self, key):
        v = None
        if self.ndim == 2:
            if type(key) is tuple and len(key) == 2:
                v = self._entry(key)
                if v is None:
                    v = self._pairs(key)
                if v is None:
                    v = self._major_slice(key)
                if v is None and type(key[1]) is slice and key[1] == _ALL:
                    v = self._major_pick(key[0])
            elif type(key) is slice:
                v = self._major_slice((key, _ALL))
                if v is None:
                    v = self._major_pick(key)
            else:
                v = self._major_pick(key)
            if v is None:       # across the minor axis, or one whole line
                v = _minor.select(self, key)
        if v is None:
            v = _bridge.call(self, "__getitem__", (key,), {})
            if isinstance(v, np.generic) and type(v) is not self.dtype.type \
                    and v.dtype == self.dtype:
                # scipy on a view of an MLX int64 buffer answers np.longlong,
                # on its own arrays np.int64
                v = self.dtype.type(v)
        return v

    def _pairs(self, key):
        """scipy's answer for A[rows, cols] with two integer arrays of one 1-D
        shape: the values at those places (a numpy array; a 1 x n matrix
        for the matrix flavour); None where this does not apply."""
        r, c = key
        if type(r) is not np.ndarray or type(c) is not np.ndarray or r.ndim != 1 \
                or r.shape != c.shape or r.size == 0 or r.dtype.kind not in "iu" \
                or c.dtype.kind not in "iu" or not _readable(self):    # (no places: scipy's COO)
            return None
        m, n = self._shape
        r, c = _in_range(r, m), _in_range(c, n)
        if r is None or c is None:
            return None
        major, minor, n_major, n_minor = (r, c, m, n) if self.format == "csr" else (c, r, n, m)
        out = _kernels.sample_values(_arrays.to_np(self._data), _arrays.to_np(self._indices),
                                     _arrays.to_np(self._indptr), n_major, n_minor, major, minor)
        if out is None:
            return None
        return out if self._is_array else np.asmatrix(out)

    def _major_slice(self, key):
        """A[r0:r1] / A[r0:r1, :] of CSR, A[:, c0:c1] of CSC (step 1): a range
        of whole lines (a mini-batch of rows), or None."""
        major, minor = key if self.format == "csr" else key[::-1]
        if type(major) is not slice or type(minor) is not slice or minor != _ALL \
                or major.step not in (None, 1):
            return None
        n = self._shape[0] if self.format == "csr" else self._shape[1]
        i0, i1, _ = major.indices(n)
        return major_range(self, i0, max(i0, i1))

    def _major_pick(self, key):
        """A[idx] of CSR for a 1-D integer or boolean index array (or list)
        or a slice with a step: scipy's row picking (csr_row_index) on views
        of free CPU values, new arrays of the same class; None where this
        does not apply (scipy's path answers, and raises its errors)."""
        if self.format != "csr" or (type(key) is slice and key.step in (None, 1)):
            return None
        m = self._shape[0]
        if type(key) is slice:
            lines = np.arange(*key.indices(m))
        elif isinstance(key, (list, np.ndarray)):
            lines = np.asarray(key)
            if lines.ndim != 1 or lines.size == 0:
                return None
            if lines.dtype == np.bool_:
                if lines.size != m:
                    return None
                lines = np.flatnonzero(lines)
            elif lines.dtype.kind not in "iu":
                return None
            else:
                lines = _in_range(lines, m)
        else:
            return None
        if lines is None or lines.size == 0 or not _readable(self):
            return None
        got = _kernels.pick_lines(_arrays.to_np(self._data), _arrays.to_np(self._indices),
                                  _arrays.to_np(self._indptr), lines)
        if got is None:
            return None
        d, ind, ptr = got
        if not self._is_array and ind.dtype == np.int64 and \
                max(lines.size, self._shape[1], d.size) <= _I32MAX:
            ind, ptr = ind.astype(np.int32), ptr.astype(np.int32)   # the matrix constructor's rule
        known = (lambda flag: True if flag else None)
        return type(self)._built((lines.size, self._shape[1]),
                                 mx.array(d, dtype=self._data.dtype), mx.array(ind), mx.array(ptr),
                                 sorted_indices=known(self._sorted),
                                 canonical=known(self._canonical))

    def _entry(self, key):
        """scipy's answer for A[i, j]: the stored values there summed (duplicates
        included), a numpy scalar of the dtype; None where this does not apply."""
        m, n = self._shape
        i, j = _index(key[0], m), _index(key[1], n)
        if i is None or j is None or not _readable(self):
            return None
        major, minor = (i, j) if self.format == "csr" else (j, i)
        ptr = _arrays.to_np(self._indptr)
        s, e = int(ptr[major]), int(ptr[major + 1])
        hit = _arrays.to_np(self._indices)[s:e] == minor
        return _arrays.to_np(self._data)[s:e][hit].sum(dtype=self.dtype)


def _in_range(k, n):
    """A non-empty integer index array as in-range indices of an axis of n
    (negative ones counted from the end), or None (scipy then raises its
    error)."""
    lo, hi = int(k.min()), int(k.max())
    if lo < -n or hi >= n:
        return None
    return np.where(k < 0, k + n, k) if lo < 0 else k


def major_line(A, name, k):
    """A.getrow(k) of a CSR matrix / A.getcol(k) of a CSC one (see
    major_range); scipy's path where this does not apply."""
    n_major = A._shape[0] if A.format == "csr" else A._shape[1]
    i = _index(k, n_major)
    r = None if i is None else major_range(A, i, i + 1)
    return r if r is not None else _bridge.call(A, name, (k,), {})


def major_range(A, i0, i1):
    """Lines i0 .. i1-1 along A's major axis (rows of CSR, columns of CSC) as
    an array of the same format and flavour, for free CPU values: the
    entries copied (numpy slices of views: nothing lazy to keep, nothing
    shared with A); sorted / canonical known only where A's are (scipy
    works them out on the slice).  None elsewhere (traced values go on to
    the moves that keep their gradient)."""
    if not _readable(A):
        return None
    data = A._data
    ptr = _arrays.to_np(A._indptr)[i0:i1 + 1]
    s, e = int(ptr[0]), int(ptr[-1])
    shape = (i1 - i0, A._shape[1]) if A.format == "csr" else (A._shape[0], i1 - i0)
    # the matrix constructor narrows int64 index arrays whose contents fit
    narrow = not A._is_array and max(shape) <= _I32MAX and e - s <= _I32MAX
    indptr = mx.array(ptr - ptr[0], dtype=mx.int32 if narrow else A._indptr.dtype)
    # (dtype given: mx.array of float64 numpy would make float32)
    d = mx.array(_arrays.to_np(data)[s:e], dtype=data.dtype)
    ind = mx.array(_arrays.to_np(A._indices)[s:e], dtype=mx.int32 if narrow else A._indices.dtype)
    return type(A)._built(shape, d, ind, indptr, sorted_indices=True if A._sorted else None,
                          canonical=True if A._canonical else None)
