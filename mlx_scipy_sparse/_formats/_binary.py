"""Sparse-sparse arithmetic and reductions whose values are traced, in MLX.

Under mx.grad, mx.compile or mx.vmap the values must keep their graph, so
`A + B`, `A - B`, `A.multiply(B)` and `sum`/`mean` run as pattern functions
(the union or intersection of two canonical patterns, kept per pattern) and
value primitives (scatter and gather).  The pattern there is structural:
entries whose values cancel stay stored (explicit zeros), since a pattern
that depended on the values could carry no gradient and could not compile.

Outside a transformation scipy does these on views (its exact answer, with
zeros dropped) -- a GPU path for free values is later work.
"""
import operator
import warnings

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss

from .. import _arrays, _kernels
from . import _bridge, _device_reduce, _on_views, _select


# scipy's names for the compiled elementwise routines of two sparse operands
_ELEMENTWISE_OPS = {"__add__": "_plus_", "__sub__": "_minus_", "multiply": "_elmul_",
                    "maximum": "_maximum_", "minimum": "_minimum_",
                    "__ne__": "_ne_", "__lt__": "_lt_", "__gt__": "_gt_"}
_COMPARISONS = ("__ne__", "__lt__", "__gt__")


def _exact_sum_dtype(dtype):
    """What scipy (numpy) sums bool and integer values in: 64 bits, unsigned
    staying unsigned; other dtypes as they are."""
    if dtype == mx.bool_ or mx.issubdtype(dtype, mx.signedinteger):
        return mx.int64
    if mx.issubdtype(dtype, mx.unsignedinteger):
        return mx.uint64
    return dtype


def _transformed(*operands):
    """Whether MLX values among these operands are traced."""
    return _bridge.values_state(*operands) != _arrays.FREE


def _moved_in_mlx(A):
    """Whether A's in-place canonicalisation (sorting, merging duplicates)
    moves its values in MLX: free values under the device rule, or traced
    values (the gathers carry their gradient; the pattern is concrete) of a
    checked 2-D CSR, CSC or COO array."""
    if _select.applies(A):
        return True
    if not (hasattr(A, "_data") and A.ndim == 2 and A.format in ("csr", "csc", "coo")
            and not A._on_host() and _transformed(A)):
        return False
    A._ensure_valid()
    return bool(A._valid)


def _settle(C, state):
    """Free values get scipy's answer, which stores no zero an op produced
    (a cancellation, max(-1, 0)): one scalar check on the device, and the
    rare array that has such zeros drops them (traced values keep the
    structural pattern: it cannot depend on them)."""
    if state != _arrays.FREE or C.nnz == 0:
        return C
    keep = _kernels.nonzero_mask(C._values())
    src, n = _kernels.compact(keep)
    if src is None:
        return C
    data, ind, ptr = kept_entries(C, keep, src)
    return type(C)._built(C.shape, data, ind, ptr, sorted_indices=True, canonical=True)


def kept_entries(C, keep, src):
    """(data, indices, indptr) of a compressed array's entries at positions
    ``src`` (in order; ``keep`` the matching mask)."""
    ind, ptr = _kernels.kept_pattern(C._indices, C._indptr, keep, src)
    return _kernels.gather(C._values(), src), ind, ptr


def _canonical(X, fmt):
    """X as a canonical `fmt` (CSR/CSC) array, built in MLX; None if it cannot be."""
    if X.format != "coo" and X._pattern_ready() and X.has_canonical_format:
        if X.format == fmt:
            return X
        F = X._flip()           # a permutation of the values, no merging
        F._canonical = True
        return F
    C = X if X.format == "coo" else X._convert_in_mlx("coo", False)
    return None if C is None else C._convert_in_mlx(fmt, False)


class BinaryOps:
    """Mixin of CSR, CSC and COO."""

    def _pair(self, other, state):
        """(A, B, result class) as canonical arrays of one compressed format,
        or None where scipy does the op."""
        if not (_bridge.is_ours(other) and hasattr(other, "_data")) or self.ndim != 2 \
                or other.ndim != 2 or self.shape != other.shape or self._on_host() \
                or other._on_host() or self.dtype == np.bool_ or other.dtype == np.bool_ \
                or (state == _arrays.FREE and not _kernels.keep_in_mlx()) \
                or not _arrays.supported_dtype(np.result_type(self.dtype, other.dtype)):
            return None
        fmt = "csc" if self.format == "csc" else "csr"
        A, B = _canonical(self, fmt), _canonical(other, fmt)
        if A is None or B is None:
            return None
        return A, B, _bridge.CLASSES[fmt][0 if self._is_array else 1]

    def _on_union(self, other, name, combine):
        """combine(a, b) of the two operands' values spread over the union of
        their patterns (an absent entry is an implicit zero)."""
        state = _bridge.values_state(self, other)
        if state == _arrays.FREE:
            r = self._pair_on_views(other, name)
            if r is not None:
                return r
        pair = self._pair(other, state)
        if pair is None:
            return _bridge.call(self, name, (other,), {}, state=state)
        A, B, cls = pair
        ia, ib, ind, ptr, n = _kernels.union_pattern(A._indices, A._indptr, B._indices,
                                                     B._indptr, A._major(A.shape),
                                                     A._minor(A.shape))
        out = _arrays.mx_dtype(np.result_type(A.dtype, B.dtype))
        with mx.stream(_kernels.stream_for(out)):       # float64: the CPU stream
            a = _kernels.spread(A._values().astype(out), ia, n)     # canonical: slots distinct
            b = _kernels.spread(B._values().astype(out), ib, n)
            data = combine(a, b)
        return _settle(cls._built(A.shape, data, ind, ptr, sorted_indices=True,
                                  canonical=True), state)

    def _pair_on_views(self, other, name):
        """Free CPU values of two canonical arrays of one compressed format,
        shape and dtype: scipy's own compiled routine for the op (the one its
        `_binopt` calls) run on views, no scipy object made, scipy's answer
        bit for bit; None where this does not apply (scipy's path decides)."""
        op = _ELEMENTWISE_OPS.get(name)
        if op is None or not (_bridge.is_ours(other) and hasattr(other, "_data")) \
                or self.format not in ("csr", "csc") or other.format not in ("csr", "csc") \
                or self.ndim != 2 or other.ndim != 2 or self.shape != other.shape \
                or _kernels.keep_in_mlx() or self._on_host() or other._on_host():
            return None
        if other.format != self.format:     # scipy converts the other operand first
            if not other._known_flag("has_canonical_format"):
                return None
            other = other._flip()           # (sorted, no repeats: canonical as well)
            other._canonical = True
        av, bv = self._values(), other._values()
        if av.dtype != bv.dtype or av.dtype in (mx.bool_, mx.float16, mx.bfloat16) \
                or not _kernels.bare_cpu(av, bv) or not self._known_flag("has_canonical_format") \
                or not other._known_flag("has_canonical_format"):
            return None
        views = [tuple(_arrays.to_np(a) for a in (v, X._indices, X._indptr))
                 for v, X in ((av, self), (bv, other))]
        data, ind, ptr = _kernels.elementwise_pair(op, self._major(self.shape),
                                                   self._minor(self.shape), *views,
                                                   bool_result=name in _COMPARISONS)
        # the matrix constructor then narrows the index arrays to int32 where they
        # fit; an array keeps int64 from either operand (as scipy's)
        if not self._is_array and ind.dtype == np.int64 and max(self.shape) < 2 ** 31 \
                and len(ind) < 2 ** 31:
            ind, ptr = ind.astype(np.int32), ptr.astype(np.int32)
        new = _arrays.to_mx(data)               # (float64 stays float64)
        _arrays.note_free(new)                  # made here from free values
        cls = _bridge.CLASSES[self.format][0 if self._is_array else 1]
        return cls._built(self.shape, new, _arrays.to_mx(ind), _arrays.to_mx(ptr),
                          sorted_indices=True, canonical=True)

    def maximum(self, other):
        r = self._with_scalar(other, np.maximum, mx.maximum)
        return self._on_union(other, "maximum", mx.maximum) if r is None else r

    def minimum(self, other):
        r = self._with_scalar(other, np.minimum, mx.minimum)
        return self._on_union(other, "minimum", mx.minimum) if r is None else r

    def _with_scalar(self, s, np_op, mx_op):
        """maximum(A, s) for s <= 0 (minimum: s >= 0), where zero stays zero:
        the op on the stored values of the canonical CSR/CSC form (COO gives
        CSR), numpy's result dtype, zeros it makes dropped (scipy's), in MLX
        where the values stay there; None otherwise (scipy's dense case too)."""
        if not (np.isscalar(s) and isinstance(s, (int, float, np.integer, np.floating))) \
                or isinstance(s, (bool, np.bool_)) or self.ndim != 2 or self._on_host() \
                or self.dtype.kind not in "iuf" or np_op(0, s):
            return None
        out = np_op(np.ones(1, dtype=self.dtype), s).dtype
        r = self._stored_with_scalar_on_host(s, out, np_op)
        return self._stored_with_scalar(s, out, mx_op) if r is None else r

    def _stored_with_scalar_on_host(self, s, out, np_op):
        """_stored_with_scalar for free values on the CPU default, of a
        canonical CSR/CSC array: numpy's op on a view of the values (scipy's
        own computation), the pattern shared, zeros it made dropped by
        scipy's compiled pass; None where this does not apply (a hand-off
        to scipy cost 3x the op at 40k entries)."""
        if self.format not in ("csr", "csc") or _kernels.keep_in_mlx() \
                or not _arrays.supported_dtype(out) or not self._known_flag("has_canonical_format"):
            return None
        vals = self._values()
        if not _kernels.bare_cpu(vals) or vals.dtype == mx.bfloat16:
            return None
        new = np_op(_arrays.to_np(vals), s)
        new = mx.array(new, dtype=_arrays.mx_dtype(out))
        _arrays.note_free(new)                  # made here from free values
        ind, ptr = self._indices, self._indptr
        if not _all_nonzero(new):
            got = _kernels.drop_zeros(new, ind, ptr, self._major(self.shape),
                                      self._minor(self.shape), has_zeros=True)
            if got is None:
                return None
            new, ind, ptr = got
        cls = _bridge.CLASSES[self.format][0 if self._is_array else 1]
        return cls._built(self.shape, new, ind, ptr, sorted_indices=True, canonical=True)

    # comparisons whose result is sparse (False where both are absent): the
    # union's values compared, then the False entries dropped (_settle)
    def __ne__(self, other):
        r = self._with_numpy_dense(other, operator.ne)
        return self._on_union(other, "__ne__", mx.not_equal) if r is None else r

    def __lt__(self, other):
        return self._order(other, "__lt__", mx.less, lambda s: s <= 0)

    def __gt__(self, other):
        return self._order(other, "__gt__", mx.greater, lambda s: s >= 0)

    # dense results (numpy operands) and all-True-but results (sparse ones):
    # free CPU values on views, else scipy's
    def __eq__(self, other):
        return self._dense_compared(other, "__eq__", operator.eq, "__ne__")

    def __le__(self, other):
        return self._dense_compared(other, "__le__", operator.le, "__gt__")

    def __ge__(self, other):
        return self._dense_compared(other, "__ge__", operator.ge, "__lt__")

    def _dense_compared(self, other, name, op, opposite):
        r = self._with_numpy_dense(other, op)
        if r is None and _bridge.is_ours(other) and self.dtype.kind != "c":
            r = self._complement_compared(other, name, opposite)
        return _bridge.call(self, name, (other,), {}) if r is None else r

    def _complement_compared(self, other, name, opposite):
        """A == B (<=, >=) of two sparse arrays, as scipy answers it: True
        wherever the opposite comparison is not, with scipy's warning."""
        if getattr(other, "shape", None) != self.shape or not hasattr(other, "_data") \
                or _transformed(self, other):
            return None
        inverse = self._pair_on_views(other, opposite)
        r = None if inverse is None else _on_views.complement(inverse)
        if r is not None:
            sym = {"__eq__": ("==", "!="), "__le__": ("<=", ">"), "__ge__": (">=", "<")}[name]
            warnings.warn(f"Comparing two sparse matrices using {sym[0]} is inefficient. "
                          f"Try using {sym[1]} instead.", _ss.SparseEfficiencyWarning,
                          stacklevel=4)
        return r

    def _with_numpy_dense(self, other, op):
        """op(A, D) for a numpy array D: scipy compares D with A densified;
        so does this, A densified on views for free CPU values, in MLX for
        traced ones (an MLX bool array, which mx.compile can trace; the
        matrix flavour's 2-D).  None where another path decides."""
        if type(other) is not np.ndarray:
            return None
        if _transformed(self):
            dense = self._densified()
            if dense is None or not _arrays.supported_dtype(other.dtype) \
                    or not _broadcasts_to(other.shape, self.shape):
                return None                 # (scipy's path and errors)
            d = _arrays.to_mx(other)
            with mx.stream(_kernels.stream_for(mx.float64 if mx.float64 in (dense.dtype, d.dtype)
                                               else dense.dtype)):
                return op(dense, d)
        if _kernels.keep_in_mlx():
            return None
        dense = _on_views.dense(self, "todense", None)
        return None if dense is None else op(dense, other)

    def _order(self, other, name, compare, sparse_result):
        r = self._with_numpy_dense(other, operator.lt if name == "__lt__" else operator.gt)
        if r is not None:
            return r
        if self.dtype.kind == "c" or _is_complex(other):
            return _bridge.call(self, name, (other,), {})    # numpy's complex order
        r = self._scalar_compare(other, name, compare, sparse_result)
        return self._on_union(other, name, compare) if r is None else r

    def _scalar_compare(self, s, name, compare, sparse_result):
        """A > s (s >= 0) / A < s (s <= 0): a subset of A's entries, in MLX where
        values stay there (a GPU, or traced); None otherwise."""
        if not (np.isscalar(s) and isinstance(s, (int, float, np.integer, np.floating))) \
                or not sparse_result(s) or self.ndim != 2 or self._on_host() \
                or self.dtype == np.bool_ or not _arrays.supported_dtype(self.dtype):
            return None
        # numpy's rule for the comparison dtype (NEP 50: a numpy scalar counts, a
        # Python one takes the array's dtype where it fits; where not, scipy's)
        if isinstance(s, (int, float)) and np.asarray(s).astype(self.dtype) != s:
            return None
        r = self._compared_on_view(s, name)
        return self._stored_with_scalar(s, np.result_type(self.dtype, s), compare) \
            if r is None else r

    def _compared_on_view(self, s, name):
        """A > s / A < s of a canonical CSR / CSC array with free CPU values,
        as scipy computes it (numpy's comparison of the stored values, the
        False ones dropped), on views; None where that path is not this one."""
        v = self._free_view() if self.format in ("csr", "csc") else None
        if v is None or not self.has_canonical_format:   # (scipy merges repeats first)
            return None
        keep = (np.greater if name == "__gt__" else np.less)(v, s)
        data, ind, ptr = _kernels.kept_on_view(keep, self._indices, self._indptr)
        return type(self)._built(self.shape, data, ind, ptr, sorted_indices=True,
                                 canonical=True)

    def _stored_with_scalar(self, s, out, fn):
        """fn(values, s) in numpy dtype ``out`` over the stored entries of the
        canonical CSR/CSC form (COO gives CSR), zeros it makes dropped for free
        values; in MLX for traced values or under the device rule, else None."""
        state = _bridge.values_state(self)
        if (state == _arrays.FREE and not _kernels.keep_in_mlx()) \
                or not _arrays.supported_dtype(out):
            return None
        fmt = "csc" if self.format == "csc" else "csr"
        C = _canonical(self, fmt)
        if C is None:
            return None
        mo = _arrays.mx_dtype(out)
        with mx.stream(_kernels.stream_for(mo)):
            data = fn(C._values().astype(mo), mx.array(s, dtype=mo))
        cls = _bridge.CLASSES[fmt][0 if self._is_array else 1]
        return _settle(cls._built(C.shape, data, C._indices, C._indptr, sorted_indices=True,
                                  canonical=True), state)

    def __add__(self, other):
        r = self._with_dense(other, mx.add, 1, 1, "add")
        return self._on_union(other, "__add__", mx.add) if r is None else r

    def __radd__(self, other):          # ours + ours comes to __add__ first
        r = self._with_dense(other, lambda a, x: mx.add(x, a), 1, 1, "add")
        return _bridge.call(self, "__radd__", (other,), {}) if r is None else r

    def __sub__(self, other):
        r = self._with_dense(other, mx.subtract, 1, -1, "sub")
        return self._on_union(other, "__sub__", mx.subtract) if r is None else r

    def __rsub__(self, other):
        r = self._with_dense(other, lambda a, x: mx.subtract(x, a), -1, 1, "rsub")
        return _bridge.call(self, "__rsub__", (other,), {}) if r is None else r

    def _with_dense(self, other, fn, a_sign, d_sign, how):
        """fn(A densified, other) for an MLX dense operand, or a numpy one
        when A's values are traced (scipy's sparse +/- dense is dense): MLX
        out, differentiable with respect to both; a numpy operand and free
        CPU values: scipy's numpy answer on views.  None otherwise.
        ``a_sign * A + d_sign * other`` is what fn computes (``how`` names it)."""
        if type(other) is np.ndarray:
            if not _transformed(self):
                return _on_views.with_numpy_dense(self, other, how)
            if _arrays.supported_dtype(other.dtype):
                other = _arrays.to_mx(other)    # traced values: MLX out, as for an MLX operand
        if not _arrays.is_mx(other) or self.ndim != 2 or self._on_host() or other.ndim > 2 \
                or self.dtype == np.bool_ or other.dtype == mx.bool_:
            return None
        if np.broadcast_shapes(self.shape, tuple(other.shape)) != self.shape:
            raise ValueError(f"inconsistent shapes {self.shape} and {tuple(other.shape)}")
        out = _arrays.mx_dtype(np.result_type(self.dtype, _arrays.np_dtype(other.dtype)))
        r = self._dense_plus(other, out, a_sign, d_sign)
        if r is not None:
            return r
        dense = self._densified()
        if dense is None:
            return None
        with mx.stream(_kernels.stream_for(out)):
            return fn(dense.astype(out), other.astype(out))

    def _dense_plus(self, other, out, a_sign, d_sign):
        """a_sign * A + d_sign * other for free values on the CPU: other
        copied into a new MLX array of A's shape, negated there where asked,
        then A's entries added at their places by numpy, in place, before
        anyone sees it (scipy's order of operations: other + a, a - other,
        other - a).  The composed way (densify, then an MLX add) cost 3x
        scipy's at 2000^2.  None where it does not apply."""
        vals = self._values()
        if out in (mx.bfloat16, mx.float16) or vals.dtype == mx.bfloat16 \
                or not self._known_flag("has_canonical_format") \
                or not _kernels.bare_cpu(vals, other):
            return None
        rows, cols = self._axis_slots(1), self._axis_slots(0)
        if rows is None or cols is None:
            return None
        m, n = self.shape
        o = _arrays.to_np(other).astype(_arrays.np_dtype(out), copy=False)
        made = _arrays.fresh_copy(np.broadcast_to(o, self.shape), out)   # a row: in full
        if made is None:
            return None
        new, w = made
        w = w.reshape(-1)
        if d_sign < 0:
            np.negative(w, out=w)
        at = _arrays.to_np(rows).astype(np.int64) * n + _arrays.to_np(cols)
        a = _arrays.to_np(vals).astype(w.dtype, copy=False)
        if a_sign < 0:
            w[at] -= a
        else:
            w[at] += a
        return new

    def _sample(self, other):
        """self * a dense operand (same shape, a row or a column, as scipy
        broadcasts it): COO of self's entries, each value times the dense
        entry at its place.  In MLX for an MLX operand (MLX in, MLX out) or
        traced values; None where scipy does it."""
        if self.ndim != 2 or self._on_host():
            return None
        if not _kernels.keep_in_mlx():
            # numpy, or a free MLX operand on the CPU (nothing to differentiate: its view)
            host = other if type(other) is np.ndarray else _arrays.to_np(other) \
                if _arrays.is_mx(other) and other.dtype not in (mx.float16, mx.bfloat16) \
                and _kernels.bare_cpu(other) else None
            r = None if host is None else self._sample_on_host(host)
            if r is not None:
                return r
        if not _arrays.is_mx(other) and not (isinstance(other, np.ndarray)
                                             and type(other) is np.ndarray
                                             and _arrays.supported_dtype(other.dtype)
                                             and (_kernels.keep_in_mlx() or _transformed(self))):
            return None
        D = _arrays.to_mx(other)
        with mx.stream(_kernels.stream_for(D.dtype)):       # float64: the CPU stream
            D = D[None, :] if D.ndim == 1 else D
        (m, n) = self.shape
        if D.ndim != 2 or D.shape not in ((m, n), (1, n), (m, 1)) or D.dtype == mx.bool_:
            return None
        C = self._sampled_entries()
        row, col = C._coords
        out = _arrays.mx_dtype(np.result_type(self.dtype, _arrays.np_dtype(D.dtype)))
        with mx.stream(_kernels.stream_for(out)):
            flat = D.reshape(-1)
            # the full shape first: a (1, 1) operand of a (1, n) array is a column
            # (one value for the row), never n values read past its end
            at = row.astype(mx.int64) * n + col.astype(mx.int64) if D.shape == (m, n) \
                else col if D.shape == (1, n) else row
            picked = _kernels.gather(flat.astype(out), at)
            return C._with_values(C._values().astype(out) * picked)

    def _sampled_entries(self):
        """The COO entries a product with a dense operand is taken at, as
        scipy takes them: a COO array's duplicates summed first (scipy goes
        through CSR there: a bool pair is True once, a float pair adds before
        the product), a compressed array's entries as they are."""
        return self.tocsr().tocoo() if self.format == "coo" and not self._canonical \
            else self.tocoo()

    def _sample_on_host(self, D):
        """_sample for a numpy operand (or a free MLX operand's view) and free
        CPU values: the product at the entries by numpy on views (scipy's
        dtype rule and bits), scipy's COO of them; None elsewhere (a row or
        column array, a result dtype MLX lacks, traced values)."""
        m, n = self.shape
        if D.ndim != 2 or m < 2 or n < 2 or D.shape not in ((m, n), (1, n), (m, 1)) \
                or D.dtype.kind not in "biufc":
            return None
        vals = self._values()
        if vals.dtype in (mx.float16, mx.bfloat16) or not _kernels.bare_cpu(vals):
            return None
        C = self._sampled_entries()
        row, col = (_arrays.to_np(c) for c in C._coords)
        at = (row, col) if D.shape == (m, n) else (0, col) if D.shape == (1, n) else (row, 0)
        data = np.multiply(_arrays.to_np(C._values()), D[at])
        if not _arrays.supported_dtype(data.dtype):
            return None
        return C._with_values(mx.array(data, dtype=_arrays.mx_dtype(data.dtype)))

    def __rmul__(self, other):
        r = self._sample(other) if _arrays.is_mx(other) else None
        return super().__rmul__(other) if r is None else r

    def __truediv__(self, other):
        """A / MLX dense: A times the reciprocal at A's entries (scipy's
        rule: implicit zeros stay zero)."""
        if _arrays.is_mx(other) and other.ndim > 0 and other.dtype != mx.bool_:
            # numpy's 1 / other: floats keep their dtype, integers go to float64
            inexact = mx.issubdtype(other.dtype, mx.inexact)
            recip = other.dtype if inexact else mx.float64
            with mx.stream(_kernels.stream_for(recip)):
                r = self._sample(mx.reciprocal(other.astype(recip)))
            if r is not None:
                return r
        if type(other) is np.ndarray and other.ndim > 0 and other.dtype.kind in "iuf":
            # numpy's 1 / other (scipy's reciprocal, its bits), sampled in MLX where
            # the values stay there (_sample decides)
            with np.errstate(divide="ignore"):
                r = self._sample(np.true_divide(1.0, other))
            if r is not None:
                return r
        if _bridge.is_ours(other) and hasattr(other, "_data"):
            if _transformed(self, other):
                r = self._divided_mx(other)
            else:
                r = None if _kernels.keep_in_mlx() else _on_views.divided(self, other)
            if r is not None:
                return r
        return super().__truediv__(other)

    def _divided_mx(self, other):
        """A / B of two sparse arrays with traced values: scipy's dense answer
        (float64 quotients, NaN where neither stores a place, inf where only
        A does) as an MLX array densified from both, differentiable with
        respect to both; None where scipy's path decides."""
        if self.ndim != 2 or other.shape != self.shape or other.dtype.kind == "c" \
                or self.dtype.kind == "c":
            return None
        a, b = self._densified(), other._densified()
        if a is None or b is None:
            return None
        with mx.stream(_kernels.stream_for(mx.float64)):
            # (+ 0.0: scipy stores no zero quotient and leaves +0 there, not -0)
            return _kernels.quotient(a.astype(mx.float64), b.astype(mx.float64)) + 0.0

    def multiply(self, other):
        if np.isscalar(other) and not isinstance(other, (str, bytes)):
            r = self._scale(other)              # scipy's A.multiply(s) is A * s
            if r is not None:
                return r
        r = self._sample(other) if not _bridge.is_sparse(other) else None
        if r is not None:
            return r
        state = _bridge.values_state(self, other)
        if state == _arrays.FREE:
            r = self._pair_on_views(other, "multiply")
            if r is not None:
                return r
        pair = self._pair(other, state)
        if pair is None:
            return _bridge.call(self, "multiply", (other,), {}, state=state)
        A, B, cls = pair
        ia, ib, ind, ptr = _kernels.intersection_pattern(
            A._indices, A._indptr, B._indices, B._indptr, A._major(A.shape), A._minor(A.shape))
        out = _arrays.mx_dtype(np.result_type(A.dtype, B.dtype))
        with mx.stream(_kernels.stream_for(out)):
            data = _kernels.gather(A._values().astype(out), ia) * \
                _kernels.gather(B._values().astype(out), ib)
        return _settle(cls._built(A.shape, data, ind, ptr, sorted_indices=True, canonical=True),
                       state)

    def __mul__(self, other):          # arrays: `*` is elementwise (matrices: spmatrix's)
        if _bridge.is_ours(other):     # elementwise, as scipy's sparray `*`
            return self.multiply(other)
        if not _bridge.is_sparse(other) and not np.isscalar(other):
            r = self._sample(other)
            if r is not None:
                return r
        return super().__mul__(other)

    def sum(self, axis=None, dtype=None, out=None):
        """scipy's sum; with traced values an MLX result (1-D for arrays, a
        (1, n) or (m, 1) 2-D array for matrices) that carries the gradient;
        free values under the device rule are summed there (scipy's types)."""
        v = None if axis is not None or dtype is not None or out is not None else \
            self._free_canonical_view()
        if v is not None and v.size and v.dtype not in (np.float16,):
            # scipy's own reduction of its data, on a view (a matrix for the matrix flavour)
            return np.sum(v if self._is_array else _device_reduce.as_matrix(v))
        r = self._axis_sums_on_view(axis) if dtype is None and out is None else None
        if r is not None:
            return r
        state = _bridge.values_state(self)
        device = state == _arrays.FREE and _device_reduce.applies(self)
        r = None
        if dtype is None and out is None and self.ndim == 2 and not self._on_host() \
                and (state != _arrays.FREE or device):
            r = self._sum_mx(axis, bare=device)
        if r is None and axis is None and dtype is None and out is None and state == _arrays.FREE \
                and self.ndim == 2 and self.nnz and not self._on_host() \
                and self._values().dtype not in (mx.float16, mx.bfloat16) \
                and self._known_flag("has_canonical_format"):
            # scipy's own reduction (np.sum of its data, a matrix for the matrix
            # flavour; it sums duplicates first, so canonical arrays only) on a
            # view: a hand-off cost 3x the sum at 40k entries
            v = _arrays.to_np(self._values())
            return np.sum(v if self._is_array else _device_reduce.as_matrix(v))
        if r is None:
            return _bridge.call(self, "sum", (), _sum_kwargs(axis, dtype, out), state=state)
        return _device_reduce.in_scipy_form(self, "sum", _sum_kwargs(axis, None, None), r) \
            if device else r

    def _axis_sums_on_view(self, axis, mean=False):
        """A sum along an axis of a CSR / CSC array with free CPU values, as
        scipy computes it, on views in its types: along the lines (rows of
        CSR) numpy's add.reduceat, scipy's own reduction there; across them
        the routine its product with ones runs (no duplicate summing, any
        index order, either way).  ``mean``: scipy's mean, the sum of the
        values scaled first (float64 for bool and integers), as it computes
        it.  None where that path is not this one.  The hand-off cost 3x
        scipy's 60 us at 40k entries (a GCN normalises by these sums)."""
        if self.format not in ("csr", "csc") or isinstance(axis, (bool, np.bool_)) \
                or not isinstance(axis, (int, np.integer)) or axis not in (0, 1, -1, -2):
            return None
        along = axis in ((1, -1) if self.format == "csr" else (0, -2))
        if (mean or not along) and not isinstance(axis, int):
            return None         # numpy integers: scipy's own checks raise there
        v = self._free_view()
        if v is None:
            return None
        dtype = _arrays.np_dtype(_exact_sum_dtype(self._values().dtype))
        if mean:
            if v.dtype.kind in "biu" and not self.has_canonical_format:
                return None     # scipy's astype(float64) sums the duplicates first
            v = v.astype(np.float64) if v.dtype.kind in "biu" else v
            v = v * (1.0 / self.shape[axis])
            dtype = v.dtype
        if along and not mean:
            r = _kernels.line_sums(v, self._indptr, dtype)
        else:       # (scipy's mean passes the axis as a tuple: its sum takes this path)
            r = _kernels.ones_sums(v, self._indices, self._indptr, self._minor(self.shape),
                                   dtype, across=not along)
        if self._is_array:
            return r
        return _device_reduce.as_matrix(r.reshape((-1, 1) if axis in (1, -1) else (1, -1)))

    def _sum_mx(self, axis, bare=False):
        """The sum in MLX, or None where the axis is not one of the two.
        ``bare`` (free values on a device): a compressed array sums its rows
        or columns as a product with ones, our SpMV kernels, rather than by a
        scatter-add of every value.  (On the H200 the whole call measured
        2.1 ms for 16M entries either way: handing the answer back as numpy
        costs more than the sum.)"""
        vals = self._values()
        if not bare and vals.dtype != _exact_sum_dtype(vals.dtype):
            with mx.stream(mx.cpu):     # 64-bit integers: the CPU stream (GPU scatter refuses them)
                vals = vals.astype(_exact_sum_dtype(vals.dtype))
        if axis is None:
            if bare and not _kernels.gpu_default() and vals.dtype != mx.float64:
                # MLX's float32 sum on the CPU drifts (3e-4 at 1M entries): added
                # in float64 there; a GPU's tree reduction is accurate as it is
                with mx.stream(mx.cpu):
                    if vals.dtype == mx.complex64:
                        re = mx.sum(mx.real(vals).astype(mx.float64)).astype(mx.float32)
                        im = mx.sum(mx.imag(vals).astype(mx.float64)).astype(mx.float32)
                        return re + 1j * im
                    return mx.sum(vals.astype(mx.float64)).astype(vals.dtype)
            with mx.stream(_kernels.stream_for(vals.dtype)):
                return mx.sum(vals)
        if axis not in (0, 1, -1, -2):
            return None
        axis %= 2
        # (not where the ones would outnumber the entries and the answer, as in
        # a 1 x 2**31 array)
        if bare and self.format != "coo" and self._pattern_ready() \
                and self.shape[axis] <= 4 * max(self.nnz, self.shape[1 - axis]):
            n_in = self.shape[axis]
            r = self @ mx.ones((n_in,), dtype=vals.dtype) if axis == 1 else \
                self.T @ mx.ones((n_in,), dtype=vals.dtype)
            return r if self._is_array else (r[None, :] if axis == 0 else r[:, None])
        slots = self._axis_slots(axis)
        if slots is None:
            return None
        r = _kernels.scatter_sum(vals, slots, self.shape[1 - axis])
        if self._is_array:
            return r
        with mx.stream(_kernels.stream_for(r.dtype)):
            return r[None, :] if axis == 0 else r[:, None]

    def max(self, axis=None, out=None, *, explicit=False):
        return self._extreme("max", mx.max, mx.maximum, axis, out, explicit)

    def min(self, axis=None, out=None, *, explicit=False):
        return self._extreme("min", mx.min, mx.minimum, axis, out, explicit)

    def argmax(self, axis=None, out=None, *, explicit=False):
        return self._arg_extreme("argmax", axis, out, explicit)

    def argmin(self, axis=None, out=None, *, explicit=False):
        return self._arg_extreme("argmin", axis, out, explicit)

    def _arg_extreme(self, name, axis, out, explicit):
        """Along an axis under the device rule: worked out where the values
        live (_device_reduce.arg_extreme_axis); inside mx.compile, MLX int64
        answers; free CPU values: scipy's answers on views; scipy's otherwise."""
        if out is None and not _kernels.keep_in_mlx():
            r = _on_views.arg_extreme_along(self, name, axis, explicit) if axis is not None \
                else _on_views.arg_extreme_all(self, name, explicit)
            if r is not None:
                return r
        if out is None and self.ndim == 2 and self.nnz and all(self.shape) \
                and _bridge.values_state(self) == _arrays.TRACED \
                and self._known_flag("has_canonical_format"):
            if axis in (0, 1, -1, -2):
                r = _device_reduce.arg_extreme_axis_traced(self, name, axis % 2, explicit)
            elif axis is None and not explicit:
                C = self if self.format in ("csr", "coo") else self.tocsr()  # row-major order
                r = _device_reduce.arg_extreme_all_traced(C, name)
            else:
                r = None
            if r is not None:
                return r
        if out is None and axis in (0, 1, -1, -2) and self.ndim == 2 and self.nnz \
                and all(self.shape) and not _transformed(self) and _device_reduce.applies(self) \
                and self._known_flag("has_canonical_format"):
            r = _device_reduce.arg_extreme_axis(self, name, axis % 2, explicit)
            if r is not None:
                return r
        if out is None and axis is None and not explicit and self.ndim == 2 and self.nnz \
                and all(self.shape) and not _transformed(self) and _device_reduce.applies(self) \
                and self._known_flag("has_canonical_format"):
            C = self if self.format in ("csr", "coo") else self.tocsr()  # row-major order
            r = _device_reduce.arg_extreme_all(C, name)
            if r is not None:
                return r
        return _bridge.call(self, name, (), _extreme_kwargs(axis, out, explicit))

    def _extreme(self, name, reduce, with_zero, axis, out, explicit):
        """max()/min() over every entry, in MLX with traced values or under
        the device rule (implicit zeros count unless every place is
        stored); free values on the CPU: numpy's reduction on a view of
        them, as scipy reduces its own data (a hand-off to scipy cost 5x the
        op on a 40k-entry array); scipy's otherwise."""
        v = None if axis is not None or out is not None or explicit else \
            self._free_canonical_view()
        if v is not None and v.size and v.dtype.kind in "fiu":
            ufunc, t = np.maximum if name == "max" else np.minimum, self.dtype.type
            m = ufunc.reduce(v)
            if v.size != self._shape[0] * self._shape[1]:
                m = ufunc(t(0), m)
            return t(m)     # numpy's type for the dtype (int64, not the view's longlong)
        if out is None and axis is not None and not _kernels.keep_in_mlx():
            r = _on_views.extreme_along(self, name, axis, explicit)
            if r is not None:                  # free CPU values: scipy's answer on views
                return r
        traced = _transformed(self)
        device = not traced and _device_reduce.applies(self)
        if device and axis in (0, 1, -1, -2) and out is None and not explicit and self.ndim == 2 \
                and self.nnz and self._known_flag("has_canonical_format"):
            r = _device_reduce.extreme_axis(self, name, axis % 2)
            if r is not None:
                return r
        if traced and axis in (0, 1, -1, -2) and out is None and not explicit \
                and self.ndim == 2 and self.nnz and all(self.shape) and not self._on_host() \
                and self._known_flag("has_canonical_format"):
            r = _device_reduce.extreme_axis_traced(self, name, axis % 2)
            if r is not None:
                return r
        if axis is not None or out is not None or explicit or self.ndim != 2 \
                or self._on_host() or self.nnz == 0 or self.dtype.kind not in "fiu" \
                or not self._known_flag("has_canonical_format"):
            return _bridge.call(self, name, (), _extreme_kwargs(axis, out, explicit))
        if not (traced or device):
            v = _arrays.to_np(self._values())
            ufunc = np.maximum if name == "max" else np.minimum
            m = ufunc.reduce(v)
            if self.nnz != self.shape[0] * self.shape[1]:
                m = ufunc(self.dtype.type(0), m)
            return self.dtype.type(m)     # numpy's type for the dtype (int64, not longlong)
        vals = self._values()
        with mx.stream(_kernels.stream_for(vals.dtype)):
            r = reduce(vals)
            if self.nnz < self.shape[0] * self.shape[1]:
                r = with_zero(r, mx.zeros((), vals.dtype))
        return _device_reduce.in_scipy_form(self, name, {}, r) if device else r

    def trace(self, offset=0):
        """scipy's; with traced values the sum of the diagonal, in MLX."""
        d = self._diagonal_on_view(offset)
        if d is not None:                   # free CPU values: scipy's sum of its diagonal
            return d.sum()
        if self.ndim == 2 and not self._on_host():
            if _transformed(self):
                d = self.diagonal(offset)
                if _arrays.is_mx(d):
                    return d.sum()
            elif _device_reduce.applies(self):     # summed where the values live
                from ._moves import moved
                d = moved("diagonal", lambda a, k: a[0].diagonal(*a[1:], **k),
                          (self, offset), {})
                if d is not None:
                    with mx.stream(_kernels.stream_for(d.dtype)):
                        return _device_reduce.in_scipy_form(self, "trace", {}, d.sum())
        return _bridge.call(self, "trace", (offset,), {})

    # -- in-place canonicalisation: nothing to do returns at once ------------------
    def sum_duplicates(self):
        if self._known_flag("has_canonical_format"):
            return None
        if _moved_in_mlx(self):         # merged in MLX, where the values live
            C = self._canonical_form() if self.format == "coo" else \
                _canonical(self, self.format)
            if C is not None:
                return _select.adopt(self, C)
        if self.format == "coo" and not _kernels.keep_in_mlx():
            C = _on_views.coo_merged(self)   # free CPU values: scipy's merge on views
            if C is not None:
                return _select.adopt(self, C)
        return _bridge.call(self, "sum_duplicates", (), {})

    def sort_indices(self):
        if self._known_flag("has_sorted_indices"):
            return None
        if self.format != "coo" and _moved_in_mlx(self):
            from ._inplace import sorted_in_mlx
            C = sorted_in_mlx(self)
            if C is not None:
                return _select.adopt(self, C)
        if self.format != "coo" and self._pattern_ready():
            got = _kernels.sort_lines(self._values(), self._indices, self._indptr)
            if got is not None:     # free CPU values: scipy's sort on our fresh copies
                return _select.adopt(self, type(self)._built(
                    self.shape, *got, self._indptr, sorted_indices=True))
        return _bridge.call(self, "sort_indices", (), {})

    def eliminate_zeros(self):
        """Nothing to do when no stored value is zero (read on the host
        where the values can be read: not traced by mx.compile)."""
        vals = self._values()
        if _select.applies(self):
            return _select.eliminate_zeros(self)
        if self.format != "coo" and _arrays.is_mx(vals) and _kernels.bare_cpu(vals) \
                and _select.dropped_by_host_pass(self):
            return None         # (free CPU values: the pass reads for zeros once, itself)
        readable = self.ndim == 2 and _arrays.is_mx(vals) and _arrays.evaluable(vals) \
            and vals.dtype != mx.bfloat16
        if readable and _all_nonzero(vals):
            self._ensure_valid()
            return None
        if _select.dropped_by_host_pass(self, has_zeros=readable):
            return None
        return _bridge.call(self, "eliminate_zeros", (), {})

    def nonzero(self):
        if _select.applies(self):
            return _select.nonzero(self)
        r = None if _kernels.keep_in_mlx() else _on_views.nonzero(self)
        return _bridge.call(self, "nonzero", (), {}) if r is None else r

    def _known_flag(self, name):
        """The canonical flag, worked out from the index arrays where it can
        be (COO keeps scipy's flag alone, as scipy does)."""
        if self.ndim != 2 or (self.format != "coo" and not self._pattern_ready()):
            return False
        if self.format == "coo":
            return bool(self._canonical) and name == "has_canonical_format"
        return bool(getattr(self, name))

    def toarray(self, order=None, out=None):
        """scipy's dense array; with traced values an MLX array (duplicates
        added, as scipy adds them) that carries the gradient."""
        dense = self._dense_either("toarray", order) if out is None else None
        return super().toarray(order=order, out=out) if dense is None else dense

    def todense(self, order=None, out=None):
        dense = self._dense_either("todense", order) if out is None else None
        return super().todense(order=order, out=out) if dense is None else dense

    def _dense_either(self, name, order):
        dense = self._dense_mx()
        if dense is None and not _kernels.keep_in_mlx():
            dense = _on_views.dense(self, name, order)     # free CPU values: on views
        return self._dense_device(name, order) if dense is None else dense

    def _dense_mx(self):
        return self._densified() if _transformed(self) else None

    def _dense_device(self, name, order):
        """toarray()/todense() of free values under the device rule: made
        where the values live, handed back as scipy's numpy array (np.matrix
        for todense of a matrix); None where scipy does it."""
        if order not in (None, "C", "F") or self._on_host() or self.ndim != 2 \
                or not _device_reduce.applies(self) or self._values().dtype == mx.bfloat16 \
                or _transformed(self):
            return None
        dense = self._densified()
        if dense is None:
            return None
        out = np.array(_arrays.to_np(dense), order=order or "C")
        return _device_reduce.as_matrix(out) if name == "todense" and not self._is_array \
            else out

    def _densified(self):
        """The dense MLX array (duplicates added), None where it cannot be
        made in MLX."""
        if self.ndim == 1 and self.format == "coo" and not self._on_host():
            self._ensure_valid()        # (a max / min along an axis, traced)
            return _kernels.scatter_sum(self._values(), self._coords[0], self.shape[0]) \
                if self._valid else None
        if self.ndim != 2 or self._on_host():
            return None
        rows, cols = self._axis_slots(1), self._axis_slots(0)
        if rows is None or cols is None:
            return None
        m, n = self.shape
        vals = self._values()
        if _kernels.bare_cpu(vals) and vals.dtype != mx.bfloat16 \
                and self._known_flag("has_canonical_format"):
            # one place per entry: numpy's assignment, not a scatter-add (numpy's
            # add.at and MLX's CPU scatter took 3x scipy's whole `A + D` at 2000^2)
            out = np.zeros(m * n, dtype=_arrays.np_dtype(vals.dtype))
            out[_arrays.to_np(rows).astype(np.int64) * n + _arrays.to_np(cols)] = \
                _arrays.to_np(vals)
            return mx.array(out.reshape(m, n), dtype=vals.dtype)
        with mx.stream(_kernels.stream_for(vals.dtype)):    # float64: the CPU stream
            at = rows.astype(mx.int64) * n + cols.astype(mx.int64)
            return _kernels.scatter_sum(vals, at, m * n).reshape(m, n)

    def mean(self, axis=None, dtype=None, out=None):
        traced = _transformed(self)
        device = not traced and _device_reduce.applies(self)
        total = None
        if dtype is None and out is None and (traced or device) and self.ndim == 2 \
                and not self._on_host() and (axis is None or axis in (0, 1, -1, -2)):
            total = self._sum_mx(axis, bare=device)
        if total is None and dtype is None and out is None and not traced and not device:
            r = self._axis_sums_on_view(axis, mean=True) if axis is not None else self._mean_on_view()
            if r is not None:       # free CPU values: scipy's mean on views
                return r
        if total is None:
            return _bridge.call(self, "mean", (), _sum_kwargs(axis, dtype, out))
        n = self.shape[0] * self.shape[1] if axis is None else self.shape[axis % 2]
        if not mx.issubdtype(total.dtype, mx.inexact):
            with mx.stream(mx.cpu):     # scipy's mean of bool / integers: float64
                total = total.astype(mx.float64)
        with mx.stream(_kernels.stream_for(total.dtype)):
            r = total / n
        return _device_reduce.in_scipy_form(self, "mean", _sum_kwargs(axis, None, None), r) \
            if device else r

    def _free_view(self):
        """A read-only numpy view of free CPU values (any index order) for
        scipy's own computation on views, or None (float16, which scipy
        lacks; values elsewhere or traced; an unchecked pattern).  A
        caller's write through a handed-out index array (A.indices[k] = j,
        maybe through another array sharing it, as A.T does) is taken in
        and checked first: the paths on views read the pattern too."""
        if self.__dict__.get("_handles"):
            self._ensure_valid()
        v = self._free_canonical_view(canonical=False)
        if v is None and self.ndim == 2 and not self._on_host():
            self._ensure_valid()            # a first call: checked and probed once, kept
            if _bridge.values_state(self) == _arrays.FREE:
                v = self._free_canonical_view(canonical=False)
        return None if v is None or v.dtype == np.float16 else v

    def _diagonal_on_view(self, k):
        """scipy's diagonal of a CSR / CSC array with free CPU values, by its
        compiled routine on views; None where that path is not this one."""
        if self.format not in ("csr", "csc") or isinstance(k, (bool, np.bool_)) \
                or not isinstance(k, (int, np.integer)):
            return None
        v = self._free_view()
        if v is None:
            return None
        k = int(k) if self.format == "csr" else -int(k)
        n_major, n_minor = self.shape if self.format == "csr" else self.shape[::-1]
        return _kernels.diagonal_of(v, self._indices, self._indptr, k, n_major, n_minor)

    def diagonal(self, k=0):
        d = self._diagonal_on_view(k)
        return d if d is not None else _bridge.call(self, "diagonal", (k,), {})

    def _mean_on_view(self):
        """scipy's mean over every place for free CPU values of a canonical
        array (scipy sums repeated entries first), on a view: its values
        scaled (float64 for bool and integers), then numpy's sum of them."""
        v = self._free_view()
        if v is None or not v.size or not self.has_canonical_format:
            return None
        v = v.astype(np.float64) if v.dtype.kind in "biu" else v
        v = v * (1.0 / (self.shape[0] * self.shape[1]))
        return np.sum(v if self._is_array else _device_reduce.as_matrix(v), dtype=v.dtype)

    def _axis_slots(self, axis):
        """For each stored entry, its position along the axis kept by a sum
        over ``axis`` (the row for axis 1, the column for axis 0)."""
        if self.format == "coo":
            self._ensure_valid()
            return self._coords[1 - axis] if self._valid else None
        if not self._pattern_ready():
            return None
        along_major = (axis == 1) == (self.format == "csr")
        return _kernels.entry_rows(self._indptr, self.nnz) if along_major else self._indices


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _all_nonzero(vals):
    """Whether no value is zero: read where the values live (on a GPU one
    reduction and a scalar, not a copy of every value to the host)."""
    if _kernels.gpu_default() and vals.dtype != mx.float64:
        return bool(mx.all(vals != 0).item())
    return bool(np.all(_arrays.to_np(vals)))


def _sum_kwargs(axis, dtype, out):
    return {k: v for k, v in (("axis", axis), ("dtype", dtype), ("out", out)) if v is not None}


def _extreme_kwargs(axis, out, explicit):
    kw = {k: v for k, v in (("axis", axis), ("out", out)) if v is not None}
    if explicit:
        kw["explicit"] = True
    return kw


def _is_complex(x):
    d = getattr(x, "dtype", None)
    if d is not None:
        return np.dtype(d).kind == "c"
    return isinstance(x, (complex, np.complexfloating))
