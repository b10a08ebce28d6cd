"""Vector work of a solve bare on the CPU, on the MLX buffers' host memory.

On the CPU an MLX vector's buffer is host memory, and MLX's own CPU
elementwise ops and sums cost several times BLAS's (1M float64 entries,
2 cores: mx.sum(x*y) 2-7 ms, ddot 0.5-0.9 ms; a float32 mx.sum drifts by
3e-4).  So, like the kernel table's CPU backend (scipy's compiled routines on
zero-copy views), a solve that no transformation traces does its axpys and
inner products with BLAS in place on vectors it owns.  float32/complex64
inner products are BLAS sums of blocks of 16384 entries added in float64.
"""
import numpy as np
from scipy.linalg import blas

from ... import _arrays

_BLOCK = 16384


class HostVectors:
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.axpy_ = blas.get_blas_funcs("axpy", dtype=self.dtype)
        self.wide = self.dtype in (np.float32, np.complex64)

    def own(self, v):
        """A private, writeable host copy of an MLX or numpy vector."""
        return np.array(_arrays.to_np(v), dtype=self.dtype)

    def dot(self, x, y):
        """sum(conj(x) * y), a Python number."""
        n = x.shape[0]
        if n == 0:                  # a rank holding no rows (BLAS refuses empty vectors)
            return self.dtype.type(0)
        # numpy's vdot: the same BLAS, but it releases the GIL (scipy's wrappers
        # do not), so chunks of a vector can be summed on several threads
        if not self.wide or n <= _BLOCK:
            return np.vdot(x, y)
        total = 0.0
        for i in range(0, n, _BLOCK):
            total += complex(np.vdot(x[i:i + _BLOCK], y[i:i + _BLOCK])) if self.dtype.kind == "c" \
                else float(np.vdot(x[i:i + _BLOCK], y[i:i + _BLOCK]))
        return total

    def axpy(self, a, x, y):
        """y += a * x in place."""
        if x.shape[0] == 0:
            return
        out = self.axpy_(x, y, a=a)
        if out is not y:            # BLAS wrote a copy (it never should for ours): keep y right
            y[...] = out
