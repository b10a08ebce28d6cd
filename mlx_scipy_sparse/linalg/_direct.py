"""Direct solvers: scipy's SuperLU on the host, our arrays and MLX arrays in and out.

SuperLU is the peer to beat for sparse direct solves (CuPy's GPU QR is 10x
slower on a 300x300 grid), so factorizations run on the host, on read-only
views of our buffers (no copy of the matrix).  Under mx.grad, `spsolve` and
`spsolve_triangular` are differentiable with respect to b and to A's values
by the adjoint solve: for x = A^-1 b with cotangent g, lam = A^-H g (the same
LU, solved with trans='H'), db = lam and dA_rc = -lam_r conj(x_c) on A's
stored entries (MLX's convention for complex gradients).  `SuperLU.solve` is
differentiable with respect to its right-hand side.
"""
import warnings

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss
import scipy.sparse.linalg as _sl
from scipy.sparse.linalg import MatrixRankWarning  # noqa: F401  (scipy's own class)
from scipy.sparse.linalg._dsolve import linsolve as _linsolve

from . import _hostcall as _h

__all__ = ["spsolve", "spsolve_triangular", "splu", "spilu", "factorized", "SuperLU",
           "MatrixRankWarning", "use_solver", "is_sptriangular", "spbandwidth"]

_GRAD = "grad"
_MX_OF = {np.dtype(np.float32): mx.float32, np.dtype(np.float64): mx.float64,
          np.dtype(np.complex64): mx.complex64}


def _solve_dtype(*dtypes):
    """numpy's promotion, then scipy's upcast of integers/bool to float64."""
    dt = np.result_type(*dtypes)
    return dt if dt.kind in "fc" else np.dtype(np.float64)


def _mx_dtype(dt, what):
    try:
        return _MX_OF[np.dtype(dt)]
    except KeyError:
        raise NotImplementedError(
            f"{what} under mx.grad needs a float32, float64 or complex64 result "
            f"(MLX cannot hold {np.dtype(dt)})") from None


def _entry_coords(S):
    """Row and column of each stored entry of a scipy CSR/CSC matrix."""
    major = np.repeat(np.arange(S.shape[0] if S.format == "csr" else S.shape[1]),
                      np.diff(S.indptr))
    return (major, S.indices) if S.format == "csr" else (S.indices, major)


def _linear_solve(name, data, S, b, solve, out_dtype, keep=None):
    """x = A^-1 b as an MLX op differentiable in ``data`` (A's stored values,
    in S's entry order) and ``b``.  solve(rhs, adjoint) works on 2-D numpy
    arrays; ``keep`` masks the entries the solve actually reads."""
    out = _mx_dtype(out_dtype, name)
    rows, cols = _entry_coords(S)
    vector = b.ndim == 1

    @mx.custom_function
    def f(d, rhs):
        return mx.array(solve(np.asarray(rhs, dtype=out_dtype), False), dtype=out)

    @f.vjp
    def f_vjp(primals, cot, x):
        d, rhs = primals
        lam = solve(np.asarray(cot, dtype=out_dtype), True)
        xn = np.asarray(x)
        gd = -np.einsum("ij,ij->i", lam[rows], np.conj(xn[cols]))
        if keep is not None:
            gd = np.where(keep, gd, 0)
        if not mx.issubdtype(d.dtype, mx.complexfloating):
            gd = gd.real
        if not mx.issubdtype(rhs.dtype, mx.complexfloating):
            lam = lam.real
        return mx.array(gd, dtype=d.dtype), mx.array(lam, dtype=rhs.dtype)

    with mx.stream(mx.cpu):     # float64 lives on the CPU stream (its slices and casts too)
        b2 = b[:, None] if vector else b
        x = f(data, b2.astype(out) if b2.dtype != out else b2)
        return x[:, 0] if vector else x


def _traced_pattern(A, name):
    """Ours with MLX values as (values, scipy CSR/CSC view of the same
    pattern): gradients reach A's own values through MLX's format conversion."""
    if _h.is_ours(A) and A.format in ("csr", "csc", "coo"):
        if A.format == "coo":
            A = A.tocsc()
        return A.data, _h.to_host(A)
    if _h.values_state(A) != "free":
        raise NotImplementedError(f"{name} under mx.grad: A's values are traced but A is not "
                                  f"one of our CSR/CSC/COO arrays")
    # A constant (scipy's, numpy, one of ours held on the host): gradients for b only
    S = _h.to_host(A)
    if not (_ss.issparse(S) and S.format in ("csr", "csc")):
        S = _ss.csc_array(S)
    return _h.to_mx(np.asarray(S.data)), S


def _differentiable(name, A, b, fallback):
    """The MLX path of a solve under mx.grad, or None where the host path applies."""
    if _h.state(name, A, b) != _GRAD:
        return None
    if _ss.issparse(b) or _h.is_ours(b):
        return None                     # sparse b: host, refused if values are traced
    b = b if _h.is_mx(b) else _h.to_mx(np.asarray(b))
    data, S = _traced_pattern(A, name)
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"matrix must be square (has shape {S.shape})")
    if S.shape[0] != b.shape[0]:
        raise ValueError(f"matrix - rhs dimension mismatch ({S.shape} - {b.shape[0]})")
    return fallback(data, S, b)


# -- spsolve ------------------------------------------------------------------
def spsolve(A, b, permc_spec=None, use_umfpack=True):
    """As scipy.sparse.linalg.spsolve (SuperLU on the host).  MLX b -> MLX x;
    under mx.grad differentiable with respect to b and A's values."""
    def lu_path(data, S, b):
        out_dtype = _solve_dtype(S.dtype, np.dtype(b.dtype))
        lu = {}

        def solve(rhs, adjoint):
            if "lu" not in lu:
                C = S.astype(out_dtype).tocsc()
                C.sum_duplicates()
                try:
                    lu["lu"] = _sl.splu(C, permc_spec=permc_spec)
                except RuntimeError:    # exactly singular: scipy's spsolve warns, gives nan
                    warnings.warn("Matrix is exactly singular", MatrixRankWarning, stacklevel=4)
                    lu["lu"] = None
            if lu["lu"] is None:
                return np.full(rhs.shape, np.nan, dtype=out_dtype)
            return lu["lu"].solve(rhs, trans="H" if adjoint else "N")
        return _linear_solve("spsolve", data, S, b, solve, out_dtype)

    x = _differentiable("spsolve", A, b, lu_path)
    if x is not None:
        if b.ndim == 2 and b.shape[1] == 1:
            x = x[:, 0]                 # scipy: an (n, 1) b is a vector
        return x
    return _h.call(_linsolve.spsolve, (A, b), dict(permc_spec=permc_spec,
                                                    use_umfpack=use_umfpack), "spsolve")


def spsolve_triangular(A, b, lower=True, overwrite_A=False, overwrite_b=False,
                       unit_diagonal=False):
    """As scipy.sparse.linalg.spsolve_triangular.  MLX b -> MLX x; under
    mx.grad differentiable with respect to b and A's values."""
    def tri_path(data, S, b):
        out_dtype = _solve_dtype(S.dtype, np.dtype(b.dtype))
        S = S.astype(out_dtype)
        rows, cols = _entry_coords(S)
        keep = (rows > cols if lower else rows < cols) if unit_diagonal else \
            (rows >= cols if lower else rows <= cols)
        SH = S.conj().T.tocsr()

        def solve(rhs, adjoint):
            return _sl.spsolve_triangular(SH if adjoint else S, rhs, lower=lower != adjoint,
                                          unit_diagonal=unit_diagonal)
        return _linear_solve("spsolve_triangular", data, S, b, solve, out_dtype, keep)

    x = _differentiable("spsolve_triangular", A, b, tri_path)
    if x is not None:
        return x
    return _h.call(_sl.spsolve_triangular, (A, b),
                   dict(lower=lower, overwrite_A=overwrite_A, overwrite_b=overwrite_b,
                        unit_diagonal=unit_diagonal), "spsolve_triangular")


# -- factorizations ---------------------------------------------------------------
class SuperLU:
    """scipy's SuperLU (L, U, perm_r, perm_c, shape, nnz, solve) holding its
    factors on the host; `solve` takes numpy (-> numpy) or MLX (-> MLX,
    differentiable with respect to the right-hand side) and L / U are ours."""

    def __init__(self, lu):
        self._lu = lu

    shape = property(lambda self: self._lu.shape)
    nnz = property(lambda self: self._lu.nnz)
    perm_r = property(lambda self: self._lu.perm_r)
    perm_c = property(lambda self: self._lu.perm_c)
    L = property(lambda self: _h.wrap(self._lu.L))
    U = property(lambda self: _h.wrap(self._lu.U))

    def __repr__(self):
        return f"<SuperLU of shape {self.shape} with {self.nnz} stored factor entries>"

    def solve(self, rhs, trans="N"):
        if not _h.is_mx(rhs):
            return self._lu.solve(_h.to_host(rhs), trans)
        if trans not in ("N", "T", "H"):
            raise ValueError("trans must be N, T, or H")
        st = _h.state("SuperLU.solve", rhs)
        if st != _GRAD:
            return _h.to_mx(self._lu.solve(np.asarray(rhs), trans))
        return self._solve_mx(rhs, trans)

    def _solve_mx(self, rhs, trans):
        lu = self._lu
        out_dtype = _solve_dtype(np.dtype(lu.L.dtype), np.dtype(rhs.dtype))
        out = _mx_dtype(out_dtype, "SuperLU.solve")
        # the adjoint of x = op(A)^-1 b is op(A)^-H g: N <-> H, and T is conj(A)^-1
        adjoint = {"N": lambda g: lu.solve(g, "H"), "H": lambda g: lu.solve(g, "N"),
                   "T": lambda g: np.conj(lu.solve(np.conj(g), "N"))}[trans]

        @mx.custom_function
        def f(b):
            return mx.array(lu.solve(np.asarray(b, dtype=out_dtype), trans), dtype=out)

        @f.vjp
        def f_vjp(b, cot, _):
            g = adjoint(np.asarray(cot, dtype=out_dtype))
            if not mx.issubdtype(b.dtype, mx.complexfloating):
                g = g.real
            return mx.array(g, dtype=b.dtype)

        with mx.stream(mx.cpu):
            return f(rhs)


def _factor(name, scipy_fn, A, kwargs):
    if _h.state(name, A) == _GRAD:
        raise NotImplementedError(
            f"{name} of traced values: its factors would be cut off from them under mx.grad "
            f"(use spsolve, which is differentiable with respect to A's values)")
    S = _h.to_host(A)
    try:
        return SuperLU(scipy_fn(S, **kwargs))
    except ValueError as e:
        if "read-only" not in str(e):
            raise
        return SuperLU(scipy_fn(_h.to_host(A, copy=True), **kwargs))


def splu(A, permc_spec=None, diag_pivot_thresh=None, relax=None, panel_size=None,
         options=None):
    """As scipy.sparse.linalg.splu: SuperLU's factorization on the host."""
    return _factor("splu", _sl.splu, A, dict(
        permc_spec=permc_spec, diag_pivot_thresh=diag_pivot_thresh, relax=relax,
        panel_size=panel_size, options=options))


def spilu(A, drop_tol=None, fill_factor=None, drop_rule=None, permc_spec=None,
          diag_pivot_thresh=None, relax=None, panel_size=None, options=None):
    """As scipy.sparse.linalg.spilu: SuperLU's incomplete factorization on the host."""
    return _factor("spilu", _sl.spilu, A, dict(
        drop_tol=drop_tol, fill_factor=fill_factor, drop_rule=drop_rule,
        permc_spec=permc_spec, diag_pivot_thresh=diag_pivot_thresh, relax=relax,
        panel_size=panel_size, options=options))


def factorized(A):
    """As scipy.sparse.linalg.factorized: a solve function with A factored once
    (SuperLU; the function takes numpy or MLX right-hand sides)."""
    if getattr(_linsolve.useUmfpack, "u", not _linsolve.noScikit):
        if _linsolve.noScikit:
            raise RuntimeError("Scikits.umfpack not installed.")
        return _h.call(_linsolve.factorized, (A,), {}, "factorized")
    return splu(A).solve


use_solver = _h.hosted(_sl.use_solver)
is_sptriangular = _h.hosted(_sl.is_sptriangular)
spbandwidth = _h.hosted(_sl.spbandwidth)
