"""A[i, j] for two integers on free CPU values: read on views of the
arrays (scipy's own route lends the whole array to a scipy object first:
42 us a call on a 40k-entry array against scipy's 10 us)."""
import numbers

import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _bridge


def _index(k, n):
    """k as an in-range index of an axis of n, or None (scipy's path then
    raises scipy's error, or handles what this does not)."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (numbers.Integral, np.integer)):
        return None
    k = int(k)
    k = k + n if k < 0 else k
    return k if 0 <= k < n else None


class ScalarEntry:
    """__getitem__ of CSR/CSC with the (int, int) case read here."""

    def __getitem__(self, key):
        v = self._entry(key) if type(key) is tuple and len(key) == 2 and self.ndim == 2 else None
        return v if v is not None else _bridge.call(self, "__getitem__", (key,), {})

    def _entry(self, key):
        """scipy's answer for A[i, j]: the stored values there summed (duplicates
        included), a numpy scalar of the dtype; None where this does not apply."""
        data = self._data
        if self._on_host() or not _arrays.is_mx(data) or data.dtype == mx.bfloat16 \
                or not _kernels.bare_cpu(data):
            return None
        m, n = self._shape
        i, j = _index(key[0], m), _index(key[1], n)
        if i is None or j is None:
            return None
        self._ensure_valid()
        if not self._valid:
            return None
        major, minor = (i, j) if self.format == "csr" else (j, i)
        ptr = _arrays.to_np(self._indptr)
        s, e = int(ptr[major]), int(ptr[major + 1])
        hit = _arrays.to_np(self._indices)[s:e] == minor
        return _arrays.to_np(data)[s:e][hit].sum(dtype=self.dtype)
