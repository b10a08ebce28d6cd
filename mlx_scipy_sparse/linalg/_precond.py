"""Preconditioners usable as a solver's ``M`` (LinearOperators approximating A^{-1}).

* ``jacobi(A)``: 1 / diag(A), applied in MLX to MLX vectors (on the device,
  no sync) and in numpy to numpy vectors.
* ``ilu(A, drop_tol, fill_factor)``: scipy's SuperLU threshold ILU
  (``spilu``), factored and applied on the host (an MLX vector goes to the
  host and back: one sync an application).
* ``ilu0(A)`` / ``ic0(A)``: ILU(0) / IC(0) with A's own pattern, factored
  on the host (a row loop: up to ~1e5 rows) and applied by two host
  triangular solves.  Not yet on the device.
"""
import numpy as np
import mlx.core as mx
import scipy.sparse as _ss
import scipy.sparse.linalg as _sl

from .. import _arrays
from ._interface import is_ours, LinearOperator, work_stream

__all__ = []      # extensions, not scipy names: import them from this module


def _host_sparse(A):
    if is_ours(A):
        return A.to_scipy().tocsc()
    if isinstance(A, mx.array):
        return _ss.csc_array(_arrays.to_np(A))
    if _ss.issparse(A) or isinstance(A, np.ndarray):
        return _ss.csc_array(A)
    raise TypeError("a preconditioner needs an explicit matrix (sparse, numpy or MLX)")


class _Jacobi(LinearOperator):
    def __init__(self, inv):
        super().__init__(inv.dtype, (inv.shape[0], inv.shape[0]))
        self._inv = inv
        self._inv_mx = {}

    def _work_dtype(self):
        return None         # _scale picks its stream from the factors it uses

    def _scale(self, x, conj):
        inv = np.conj(self._inv) if conj else self._inv
        if isinstance(x, mx.array):
            # the factors in the vector's dtype (a float64 x keeps them as they
            # are), cast on the host: an MLX cast of float64 would be GPU work
            keep = x.dtype == mx.float64 or _arrays.np_dtype(x.dtype) == inv.dtype
            key = (conj, None if keep else x.dtype)
            if key not in self._inv_mx:
                self._inv_mx[key] = _arrays.to_mx(inv if keep else inv.astype(_arrays.np_dtype(x.dtype)))
            d = self._inv_mx[key]
            with mx.stream(work_stream(d.dtype, x.dtype)):
                return (d.reshape(-1, 1) * x) if x.ndim == 2 else d * x
        x = np.asarray(x)
        return inv.reshape(-1, 1) * x if x.ndim == 2 else inv * x

    def _matvec(self, x):
        return self._scale(x, False)

    def _matmat(self, X):
        return self._scale(X, False)

    def _rmatvec(self, x):
        return self._scale(x, True)

    def _rmatmat(self, X):
        return self._scale(X, True)


def jacobi(A):
    """Diagonal (Jacobi) preconditioner: M = diag(A)^{-1}.  Zero diagonal
    entries raise ValueError (the inverse would not exist)."""
    d = _host_sparse(A).diagonal() if not isinstance(A, np.ndarray) else np.diagonal(A).copy()
    if np.any(d == 0):
        raise ValueError("jacobi: A has zero diagonal entries")
    if d.dtype.kind not in "fc":
        d = d.astype(np.float64)
    return _Jacobi(1 / d)


class _SuperLUInverse(LinearOperator):
    """x -> solve with host SuperLU factors (numpy kept numpy, MLX kept MLX)."""

    def __init__(self, factor, shape, dtype):
        super().__init__(dtype, shape)
        self.factor = factor

    def _solve(self, x, trans):
        if isinstance(x, mx.array):
            out = self.factor.solve(np.array(_arrays.to_np(x)), trans=trans)
            return _arrays.to_mx(out.astype(_arrays.np_dtype(x.dtype), copy=False))
        return self.factor.solve(np.asarray(x), trans=trans)

    def _matvec(self, x):
        return self._solve(x, "N")

    def _matmat(self, X):
        return self._solve(X, "N")

    def _rmatvec(self, x):
        return self._solve(x, "H")

    def _rmatmat(self, X):
        return self._solve(X, "H")


def ilu(A, drop_tol=None, fill_factor=None, **options):
    """Incomplete LU by scipy's spilu on the host, as an operator applying
    (LU)^{-1}.  Keywords as spilu's."""
    S = _host_sparse(A)
    f = _sl.spilu(S, drop_tol=drop_tol, fill_factor=fill_factor, **options)
    return _SuperLUInverse(f, S.shape, S.dtype)


class _TriangularInverse(LinearOperator):
    """x -> U^{-1} L^{-1} x for host factors (L unit lower, U upper)."""

    def __init__(self, L, U):
        super().__init__(U.dtype, U.shape)
        self.L, self.U = L, U
        self.LH, self.UH = None, None

    def _solve(self, x, adjoint):
        mlx = isinstance(x, mx.array)
        v = np.array(_arrays.to_np(x)) if mlx else np.asarray(x)
        dt = np.result_type(v.dtype, self.U.dtype)
        v = v.astype(dt, copy=False)
        if not adjoint:
            y = _sl.spsolve_triangular(self.L, v, lower=True, unit_diagonal=True)
            y = _sl.spsolve_triangular(self.U, y, lower=False)
        else:                       # (LU)^H = U^H L^H
            if self.LH is None:
                self.LH, self.UH = self.L.conj().T.tocsr(), self.U.conj().T.tocsr()
            y = _sl.spsolve_triangular(self.UH, v, lower=True)
            y = _sl.spsolve_triangular(self.LH, y, lower=False, unit_diagonal=True)
        return _arrays.to_mx(y.astype(_arrays.np_dtype(x.dtype), copy=False)) if mlx else y

    def _matvec(self, x):
        return self._solve(x, False)

    def _matmat(self, X):
        return self._solve(X, False)

    def _rmatvec(self, x):
        return self._solve(x, True)

    def _rmatmat(self, X):
        return self._solve(X, True)


def ilu0_factors(A):
    """ILU(0) on the host: (L unit lower, U upper) CSR with A's own pattern.

    Row by row (IKJ order): each earlier row k < i that row i references
    eliminates its entry, updating only positions row i already stores.
    A Python loop over the stored lower entries: meant for matrices up to
    ~1e5 rows (a few seconds), not for millions."""
    S = _host_sparse(A).tocsr()
    S.sum_duplicates()
    S.sort_indices()
    n = S.shape[0]
    ptr, ind = S.indptr, S.indices
    val = S.data.astype(np.result_type(S.dtype, np.float64), copy=True)
    diag = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        hit = np.nonzero(ind[ptr[i]:ptr[i + 1]] == i)[0]
        if len(hit) == 0:
            raise ValueError(f"ILU(0): row {i} stores no diagonal entry")
        diag[i] = ptr[i] + hit[0]
    where = np.full(n, -1, dtype=np.int64)          # column -> position in the current row
    for i in range(n):
        lo, hi = ptr[i], ptr[i + 1]
        cols = ind[lo:hi]
        where[cols] = np.arange(lo, hi)
        for p in range(lo, diag[i]):
            k = ind[p]
            if val[diag[k]] == 0:
                raise ValueError(f"ILU(0): zero pivot in row {k}")
            val[p] /= val[diag[k]]
            ks, ke = diag[k] + 1, ptr[k + 1]
            tgt = where[ind[ks:ke]]
            keep = tgt >= 0
            val[tgt[keep]] -= val[p] * val[ks:ke][keep]
        where[cols] = -1
    F = _ss.csr_array((val, ind.copy(), ptr.copy()), shape=S.shape)
    L = _ss.tril(F, k=-1, format="csr") + _ss.eye_array(n, dtype=val.dtype, format="csr")
    U = _ss.triu(F, format="csr")
    return L.tocsr(), U.tocsr()


def ilu0(A):
    """ILU(0): factored on the host with A's own pattern, applied by two
    host triangular solves (an MLX vector goes to the host and back)."""
    return _TriangularInverse(*ilu0_factors(A))


def ic0(A):
    """IC(0) for Hermitian positive definite A: its ILU(0) factors, which are
    L and U = D L^H (so M = L D L^H, Hermitian), applied as ilu0's."""
    return ilu0(A)
