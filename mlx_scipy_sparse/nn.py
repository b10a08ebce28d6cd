"""mlx.nn layers on our sparse arrays: a linear layer with a fixed sparsity
pattern and learnable values, and a graph convolution.

Both run their products through the package's public API (``csr_array @ X``),
so the kernel table picks the backend: scipy's compiled routines eagerly on
the CPU (differentiable through a custom VJP), composed MLX ops inside
``mx.compile``, GPU kernels where there are some.  Nothing here picks a device.
"""
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import scipy.sparse as _ss

from . import _arrays
from ._formats import csr_array, issparse
from ._formats._base import _spbase

__all__ = ["SparseLinear", "GCNConv", "normalize_adjacency"]

_PATTERN = ("indices", "indptr")


class _PinnedSet(set):
    """A module's ``_no_grad`` set that keeps the pattern keys through
    ``unfreeze()``: integer index arrays must never reach an optimizer (a
    float update would turn them into floats and break the layer)."""

    def __init__(self, pinned):
        super().__init__(pinned)
        self._pinned = frozenset(pinned)

    def clear(self):
        super().clear()
        self.update(self._pinned)

    def difference_update(self, *others):
        super().difference_update(*others)
        self.update(self._pinned)

    def discard(self, key):
        if key not in self._pinned:
            super().discard(key)

    def remove(self, key):
        if key not in self._pinned:
            super().remove(key)


def _entries(pattern, shape):
    """(row, col, values or None, shape): a pattern's stored entries in its
    storage order (COO order for formats other than csr/csc/coo)."""
    if issparse(pattern):
        S = pattern.to_scipy() if hasattr(pattern, "to_scipy") else pattern
        if shape is not None and tuple(shape) != S.shape:
            raise ValueError(f"shape {tuple(shape)} does not match the pattern's {S.shape}")
        C = S.tocoo()
        return np.asarray(C.row), np.asarray(C.col), np.asarray(C.data), C.shape
    if shape is None:
        raise ValueError("shape is required with an (indices, indptr) pattern")
    indices, indptr = (np.asarray(_arrays.to_np(a)) for a in pattern)
    S = _ss.csr_array((np.zeros(indices.size, np.int8), indices, indptr), shape=shape)
    S.check_format(full_check=True)         # scipy's errors for bad indices/indptr
    return np.repeat(np.arange(S.shape[0]), np.diff(indptr)), indices, None, S.shape


def _canonical(row, col, shape):
    """CSR indices/indptr of the sorted, duplicate-free pattern, and a map
    taking values in storage order to values in that order (a gather, plus a
    segment sum where duplicates merge, as scipy sums them): MLX ops, so
    gradients flow through it."""
    order = np.lexsort((col, row))
    r, c = row[order], col[order]
    first = np.ones(r.size, dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    seg = np.cumsum(first) - 1
    idx = np.int32 if max(r.size, *shape) < 2**31 else np.int64   # scipy's index rule
    indptr = np.zeros(shape[0] + 1, dtype=idx)
    np.cumsum(np.bincount(r[first], minlength=shape[0]), out=indptr[1:])

    def to_canonical(v):
        v = _arrays.to_mx(v)
        if np.array_equal(order, np.arange(order.size)) and first.all():
            return v
        v = v[mx.array(order)]
        if first.all():
            return v
        return mx.zeros((int(first.sum()),), dtype=v.dtype).at[mx.array(seg)].add(v)
    return c[first].astype(idx), indptr, to_canonical


class SparseLinear(nn.Module):
    """y = x W^T + b with W of a fixed sparsity pattern and learnable values.

    Parameters: ``data`` (nnz,) and ``bias`` (out,) are trainable;
    ``indices`` and ``indptr`` (W's CSR pattern, W of shape (out, in)) are
    frozen parameters: saved by ``save_weights``, never trained, even after
    ``unfreeze()``.

    Args:
        pattern: a sparse array (ours or scipy's) of shape (out, in) whose
            stored positions form the pattern, or an ``(indices, indptr)`` pair
            with ``shape``.  Stored values are ignored unless ``values="pattern"``.
            Indices are sorted and duplicates merged (values summed, as scipy).
        shape: (out_features, in_features); required with an index pair.
        bias: add a learnable bias.
        values: initial values, one per stored entry of ``pattern`` in its
            storage order (COO order for other formats); "pattern" to take its own
            values, or None for uniform(-1/sqrt(k), 1/sqrt(k)) with k the
            row's fan-in (nn.Linear's rule applied to the kept inputs).
        dtype: of the values and bias (float32 by default).
    """

    def __init__(self, pattern, shape=None, bias=True, values=None, dtype=mx.float32):
        super().__init__()
        row, col, own, shape = _entries(pattern, shape)
        indices, indptr, to_canonical = _canonical(row, col, shape)
        self._shape = tuple(int(s) for s in shape)
        nnz = indices.size
        if isinstance(values, str) and values == "pattern":
            if own is None:
                raise ValueError('values="pattern" needs a sparse array as pattern')
            values = own
        if values is None:
            fan_in = np.maximum(np.diff(indptr), 1).astype(np.float64)
            scale = np.repeat(1.0 / np.sqrt(fan_in), np.diff(indptr))
            values = mx.random.uniform(-1.0, 1.0, (nnz,), dtype=dtype) * mx.array(scale, dtype)
        else:
            values = _arrays.to_mx(values)
            if values.shape != (row.size,):
                raise ValueError(f"values has shape {values.shape}, the pattern has "
                                 f"{row.size} entries")
            values = to_canonical(values)
            if values.dtype != dtype:
                values = _checked_cast(values, dtype)
        self.data = values
        self.indices = mx.array(indices)
        self.indptr = mx.array(indptr)
        if bias:
            self.bias = mx.zeros((self._shape[0],), dtype=dtype)
        self._no_grad = _PinnedSet(_PATTERN)

    @classmethod
    def from_dense(cls, linear, sparsity=0.9, bias=True):
        """Magnitude pruning of an ``nn.Linear``: keep the round((1-sparsity)*size)
        weights of largest magnitude (ties broken by position), with their values."""
        if not 0.0 <= sparsity < 1.0:
            raise ValueError("sparsity must be in [0, 1)")
        W = np.array(_arrays.to_np(linear.weight))
        keep = int(round((1.0 - sparsity) * W.size))
        flat = np.abs(W).ravel()
        kept = np.sort(np.argsort(-flat, kind="stable")[:keep])
        rows, cols = np.unravel_index(kept, W.shape)
        P = _ss.csr_array((W.ravel()[kept], (rows, cols)), shape=W.shape)
        layer = cls(P, bias=bias and "bias" in linear, values="pattern",
                    dtype=linear.weight.dtype)
        if "bias" in layer:
            layer.bias = mx.array(linear.bias)
        return layer

    @property
    def shape(self):
        return self._shape

    @property
    def in_features(self):
        return self._shape[1]

    @property
    def out_features(self):
        return self._shape[0]

    @property
    def nnz(self):
        return int(self.data.size)

    def weight(self):
        """W as our csr_array (values differentiable, pattern fixed)."""
        return csr_array((self.data, self.indices, self.indptr), shape=self._shape,
                         sorted_indices=True, canonical=True)

    def _extra_repr(self):
        density = self.nnz / max(1, self._shape[0] * self._shape[1])
        return (f"input_dims={self.in_features}, output_dims={self.out_features}, "
                f"nnz={self.nnz} (density={density:.4f}), bias={'bias' in self}")

    def __call__(self, x):
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        y = (self.weight() @ x2.T).T          # (batch, out)
        if "bias" in self:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)


def _checked_cast(a, dtype):
    """Cast that refuses to drop precision silently (float64 -> float32 etc.)."""
    src, dst = _arrays.np_dtype(a.dtype), _arrays.np_dtype(dtype)
    if not np.can_cast(src, dst, casting="same_kind") or np.dtype(dst).itemsize < np.dtype(src).itemsize:
        raise TypeError(f"values of dtype {src} would lose precision as {dst}; "
                        f"pass dtype={src} or cast explicitly")
    return a.astype(dtype)


class GCNConv(nn.Module):
    """Graph convolution (Kipf & Welling): H' = A (H W^T) + b.

    ``A`` is any of our sparse arrays (csr/csc/coo), usually
    ``normalize_adjacency(adj)``; it is an input, not a parameter, so one
    layer serves many graphs.  The dense transform runs first when it shrinks
    the features (fewer columns through the sparse product).
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        scale = math.sqrt(6.0 / (in_features + out_features))   # Glorot, as in the paper
        self.weight = mx.random.uniform(-scale, scale, (out_features, in_features))
        if bias:
            self.bias = mx.zeros((out_features,))

    def __call__(self, x, A):
        if not isinstance(A, _spbase):     # a scipy array would take X as numpy
            raise TypeError("A must be one of our sparse arrays, e.g. "
                            "normalize_adjacency(adj) or mlx_scipy_sparse.csr_array(adj)")
        out_f, in_f = self.weight.shape
        if out_f <= in_f:
            y = A @ (x @ self.weight.T)
        else:
            y = (A @ x) @ self.weight.T
        if "bias" in self:
            y = y + self.bias
        return y


def normalize_adjacency(A, add_self_loops=True, dtype=np.float32):
    """D^-1/2 (A + I) D^-1/2 as our csr_array (D: row sums of A + I).

    Degrees are summed in float64 and the result is cast once to ``dtype``
    (float32 by default, what GPUs run; pass float64 to keep full precision).
    Rows of zero degree stay zero.
    """
    if issparse(A):
        S = _ss.csr_array(A.to_scipy() if hasattr(A, "to_scipy") else A, dtype=np.float64)
    else:
        S = _ss.csr_array(np.asarray(_arrays.to_np(A), dtype=np.float64))
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {S.shape}")
    if add_self_loops:
        S = S + _ss.eye_array(S.shape[0], dtype=np.float64, format="csr")
    deg = np.asarray(S.sum(axis=1)).ravel()
    inv = np.zeros_like(deg)
    np.power(deg, -0.5, out=inv, where=deg > 0)
    D = _ss.dia_array((inv[None, :], [0]), shape=S.shape)
    N = _ss.csr_array(D @ S @ D)
    N.sum_duplicates()
    return csr_array(N.astype(dtype))
