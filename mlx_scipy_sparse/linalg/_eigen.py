"""Eigensolvers: eigsh by a thick-restart Lanczos of our own; eigs, svds and
lobpcg through scipy on the host.

`eigsh` keeps ARPACK's meaning (k, which, v0, ncv, maxiter, tol,
return_eigenvectors, ArpackNoConvergence).  Our Lanczos (thick restart after
Wu & Simon, full reorthogonalization by classical Gram-Schmidt applied twice)
runs the standard real symmetric problem for which in LM/LA/SA/BE on large
operators (n >= OURS_FROM), on distributed operators (a true `distributed`
marker or local_shape != shape; inner products through A.vdot, and A.vdots
for a whole block in one reduction where offered) and on float32 MLX input on a GPU
(float64 stays on the host there: MLX GPUs refuse it).  What it does not
run goes to scipy's ARPACK on the host: generalized problems (M), shift-invert
(sigma, OPinv, modes), which='SM' (regular-mode ARPACK is the reference
there), complex Hermitian input, and small problems (ARPACK is exact enough
and cheap there, and scipy's tests pin its edge cases).

The vectors live where the operator computes: numpy float64 on the CPU (our
products run scipy's compiled kernels on views; MLX's float64 matmul on the
CPU is 5x slower than numpy's BLAS gemv, measured on 30 x 1M), MLX arrays on
a GPU or for a distributed operator.  The small projected problem is solved
on the host identically everywhere.
"""
import contextlib

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss
import scipy.sparse.linalg as _sl
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence  # noqa: F401

from .. import _arrays
from . import _hostcall as _h

__all__ = ["eigsh", "eigs", "svds", "lobpcg", "ArpackError", "ArpackNoConvergence"]

OURS_FROM = 1000            # smaller problems: scipy's ARPACK
_DGKS = 0.7071           # 1/sqrt(2): the classical choice for a second pass
_SEED = 0x5eed              # the default start vector: same call, same bits


# -- vectors ------------------------------------------------------------------
class _HostSpace:
    """Lanczos vectors as rows of a float64 numpy array."""

    def __init__(self, matvec, n, dtype):
        self.matvec, self.n, self.dtype = matvec, n, dtype

    def basis(self, m):
        return np.zeros((m + 1, self.n), dtype=self.dtype)

    def asvec(self, v):
        return np.asarray(v, dtype=self.dtype).ravel()

    def apply(self, x):
        return np.asarray(self.matvec(x), dtype=self.dtype).ravel()

    def dots(self, V, j, w):
        return V[:j] @ w if V.dtype.kind == "f" else V[:j].conj() @ w   # conj() copies

    def norm(self, w):
        return float(np.sqrt(np.real(np.vdot(w, w))))

    def subtract(self, V, j, w, h):
        w -= h @ V[:j]
        return w

    def recurrence(self, V, j, w, beta):
        """w - alpha V[j] - beta V[j-1] with alpha = <V[j], w>."""
        alpha = float(np.real(np.vdot(V[j], w)))
        w -= alpha * V[j]
        w -= beta * V[j - 1]
        return w, alpha

    def dots_norm(self, V, j, w, alpha):
        return self.dots(V, j, w), self.norm(w), (alpha or 0.0)

    def rotate(self, V, m, S):
        """A basis whose rows [:p] are S.T @ V[:m] (the kept Ritz vectors),
        written straight into a second buffer that then swaps with V (no
        temporary of p vectors, no copy back)."""
        p = S.shape[1]
        spare = getattr(self, "_spare", None)
        if spare is None or spare.shape != V.shape:
            spare = np.empty_like(V)
        np.matmul(np.ascontiguousarray(S.T), V[:m], out=spare[:p])
        self._spare = V
        return spare

    def scaled_into(self, V, i, w, s):
        np.multiply(w, s, out=V[i])
        return V[i]

    def ritz(self, V, m, S):
        return V[:m].T @ S

    def to_np(self, x):
        return x

    def context(self):
        return contextlib.nullcontext()


class _MlxSpace:
    """Lanczos vectors as MLX arrays on the default device; inner products
    through the operator's vdot when it is distributed (each rank holds its
    slice of every vector, and vdot sums over ranks)."""

    def __init__(self, op, n, dtype, vdot=None, vdots=None, op_dtype=None):
        self.op, self.n, self.vdot, self.vdots = op, n, vdot, vdots
        self.np_dtype = np.dtype(dtype)
        self.dtype = {np.dtype(np.float64): mx.float64, np.dtype(np.float32): mx.float32}[self.np_dtype]
        self.stream = mx.cpu if self.dtype == mx.float64 else mx.default_device()
        # a float64 operator's products run on the CPU stream (MLX GPUs refuse float64)
        f64 = op_dtype is not None and np.dtype(op_dtype) in (np.float64, np.complex128)
        self.op_stream = mx.cpu if f64 else self.stream

    def context(self):
        """Where the iteration's own MLX ops run (float64: the CPU stream)."""
        return mx.stream(self.stream)

    def basis(self, m):
        return mx.zeros((m + 1, self.n), dtype=self.dtype, stream=self.stream)

    def _cast(self, v):
        """v as a flat vector of the space's dtype; a float64 source is cast on
        the CPU stream (MLX GPUs refuse float64 even as an input)."""
        if not isinstance(v, mx.array):
            return _h.to_mx(np.asarray(v, dtype=self.np_dtype).ravel())
        with mx.stream(mx.cpu if mx.float64 in (v.dtype, self.dtype) else self.stream):
            return v.reshape(-1).astype(self.dtype)

    def asvec(self, v):
        return self._cast(v)

    def apply(self, x):
        with mx.stream(self.op_stream):
            y = self.op(x)
        return self._cast(y)

    def dots(self, V, j, w):
        with mx.stream(self.stream):
            return np.array(self._block(V, j, w).astype(mx.float64, stream=mx.cpu))

    def _block(self, V, j, w):
        """conj(V[:j]) @ w: one reduction over the ranks for all j where the
        operator offers vdots, else j of them (or a local matmul)."""
        if self.vdots is not None:
            return self.vdots(V[:j], w)
        if self.vdot is not None:
            return mx.stack([self.vdot(V[i], w) for i in range(j)])
        return (V[:j] * w).sum(axis=1) if self._summed() else V[:j] @ w

    def norm(self, w):
        with mx.stream(self.stream):
            s = self.vdot(w, w) if self.vdot is not None else (w * w).sum()
            return float(np.sqrt(max(float(s.astype(mx.float64, stream=mx.cpu)), 0.0)))

    def subtract(self, V, j, w, h):
        with mx.stream(self.stream):
            h = mx.array(h, dtype=self.dtype)
            # lazy: norm() evaluates
            return w - (_combination(h, V[:j]) if self._summed() else h @ V[:j])

    def _dot(self, x, y):
        return self.vdot(x, y) if self.vdot is not None else (x * y).sum()

    def recurrence(self, V, j, w, beta):
        with mx.stream(self.stream):
            alpha = self._dot(V[j], w)          # stays on the device
            # float(beta): a numpy scalar times an MLX array would answer numpy (a host copy)
            return w - alpha.astype(self.dtype) * V[j] - float(beta) * V[j - 1], alpha

    def dots_norm(self, V, j, w, alpha):
        """dots(V, j, w), |w| and alpha in one evaluation (one sync a step)."""
        with mx.stream(self.stream):
            parts = [self._block(V, j, w), self._dot(w, w)] + ([alpha] if alpha is not None else [])
            parts = [x.astype(mx.float64, stream=mx.cpu) for x in parts]
            mx.eval(parts)
        h, nn = np.array(parts[0]), float(parts[1])
        return h, float(np.sqrt(max(nn, 0.0))), (float(parts[2]) if alpha is not None else 0.0)

    def _summed(self):
        """float32 on a GPU: products summed by reductions, not matmul (see _combine)."""
        return self.dtype == mx.float32 and getattr(self.stream, "type", None) == mx.gpu

    def _combine(self, V, m, S):
        """The columns of S as combinations of V[:m] (rows).  On a GPU in
        float32 the products are summed one column at a time instead of by
        matmul, whose float32 precision MLX's CUDA build may reduce
        (MLX_ENABLE_TF32): measured on the H200, eigsh's Ritz vectors had
        residuals of 5-7e-4 through matmul and 3.5-7.5e-7 this way; V @ w
        alone, 24 x 1M, relative error 3.0e-6 against 5.2e-7."""
        Sm = mx.array(S, dtype=self.dtype)
        if not self._summed():
            return Sm.T @ V[:m]
        return mx.stack([_combination(Sm[:, i], V[:m]) for i in range(S.shape[1])])

    def rotate(self, V, m, S):
        with mx.stream(self.stream):
            p = S.shape[1]
            V[:p] = self._combine(V, m, S)
            mx.eval(V)
            return V

    def ritz(self, V, m, S):
        with mx.stream(self.stream):
            return self._combine(V, m, S).T

    def to_np(self, x):
        return np.array(x.astype(mx.float64, stream=mx.cpu))

    def scaled_into(self, V, i, w, s):
        with mx.stream(self.stream):
            w = w * s
            V[i] = w
            return w

    def cycle(self, V, p, m):
        """Lanczos steps p .. m-1 queued on the device with no sync: alpha
        and beta stay MLX scalars, and every step makes two full Gram-Schmidt
        passes (the host's test for a second one costs a sync a step, and
        the step-by-step iteration made two syncs a step).  Returns (alphas, betas) read in one sync at the
        end; the caller checks them for a breakdown (a beta near zero), which
        this cannot see in time to change direction."""
        alphas, betas = [], []
        with mx.stream(self.stream):
            for j in range(p, m):
                w = self.apply(V[j])
                h1, w = _project_out(V[:j + 1], w)
                h2, w = _project_out(V[:j + 1], w)
                beta = mx.sqrt((w * w).sum())
                alphas.append(h1[j] + h2[j])
                betas.append(beta)
                V[j + 1] = w / beta
            ab = mx.stack(alphas + betas).astype(mx.float64, stream=mx.cpu)
            mx.eval(ab, V)
        ab = np.array(ab)
        return ab[:m - p], ab[m - p:]


@mx.compile
def _combination(c, V):
    """c @ V as products summed in float32 (no matmul: see _MlxSpace._combine)."""
    return (c[:, None] * V).sum(axis=0)


@mx.compile
def _project_out(V, w):
    """(V @ w, w - (V @ w) @ V), one Gram-Schmidt pass in float32 sums."""
    h = (V * w).sum(axis=1)
    return h, w - _combination(h, V)


# -- the Lanczos iteration ---------------------------------------------------------
def _wanted(theta, k, which):
    """Indices of the k wanted Ritz values, most wanted first."""
    if which == "LA":
        return np.argsort(-theta, kind="stable")[:k]
    if which == "SA":
        return np.argsort(theta, kind="stable")[:k]
    if which == "LM":
        return np.argsort(-np.abs(theta), kind="stable")[:k]
    # BE: alternate from the ends, the high end first (one more there for odd k)
    order = np.argsort(theta, kind="stable")
    lo, hi, out = 0, len(theta) - 1, []
    while len(out) < min(k, len(theta)):
        out.append(order[hi])
        hi -= 1
        if len(out) < k and lo <= hi:
            out.append(order[lo])
            lo += 1
    return np.array(out)


def _broke_down(T, p, ab, eps, n):
    """Whether a queued cycle met an invariant subspace (the synced step's test)."""
    scale = max(1.0, np.abs(T[:p, :p]).max() if p else 0.0, np.abs(ab[0]).max(),
                np.abs(ab[1]).max())
    return bool(np.any(ab[1] <= eps * scale * np.sqrt(n)) or not np.all(np.isfinite(ab)))


class _Synced:
    """A space seen without its queued cycle (the step-by-step iteration)."""

    def __init__(self, space):
        self._space = space
        self.vdot = space.vdot

    def __getattr__(self, name):
        if name == "cycle":
            raise AttributeError(name)
        return getattr(self._space, name)


def lanczos(space, k, which, v0, ncv, maxiter, tol, eps):
    """Thick-restart Lanczos for the k wanted eigenpairs: (Ritz values, their
    coordinates in the basis (m, k), which converged (bool, k), the basis V).  ``maxiter`` counts
    restarts, as ARPACK's does."""
    with space.context():
        return _lanczos(space, k, which, v0, ncv, maxiter, tol, eps)


def _lanczos(space, k, which, v0, ncv, maxiter, tol, eps):
    m, n = ncv, space.n
    V = space.basis(m)
    v = space.asvec(v0)
    V[0] = v / space.norm(v)
    T = np.zeros((m, m))
    p = 0               # vectors kept from the last restart
    rng = np.random.default_rng(_SEED + 1)
    queued = getattr(space, "cycle", None) if getattr(space, "vdot", None) is None else None
    for it in range(maxiter):
        ab = queued(V, p, m) if queued is not None else None
        if ab is not None and not _broke_down(T, p, ab, eps, n):
            for j, (alpha, beta) in enumerate(zip(*ab), start=p):
                T[j, j] = alpha
                if j + 1 < m:
                    T[j + 1, j] = T[j, j + 1] = beta
            beta = ab[1][-1]
        elif ab is not None:        # rare: redo the solve with a sync a step
            return _lanczos(_Synced(space), k, which, v0, ncv, maxiter, tol, eps)
        for j in range(p, m) if ab is None else ():
            w = space.apply(V[j])
            alpha = None
            if j > p:
                # the three-term recurrence first (cheap), so that the full pass
                # below only removes rounding and rarely needs a second one
                w, alpha = space.recurrence(V, j, w, T[j - 1, j])
            # one trip to the host for the full pass's coefficients, |w| and alpha
            h, before, alpha = space.dots_norm(V, j + 1, w, alpha)
            w = space.subtract(V, j + 1, w, h)
            alpha += h[j].real
            beta = space.norm(w)
            if beta < _DGKS * before:
                # a second pass where the first cancelled much (Daniel, Gragg,
                # Kaufman, Stewart): twice is enough
                h2 = space.dots(V, j + 1, w)
                w = space.subtract(V, j + 1, w, h2)
                alpha += h2[j].real
                beta = space.norm(w)
            # only the diagonal is taken from h: the other entries are known
            # exactly (beta, and the restart's arrowhead), while their computed
            # values carry rounding of order eps*|A| that would keep converged
            # Ritz pairs' residual estimates from falling below it
            T[j, j] = alpha
            if beta <= eps * max(1.0, np.abs(T[:j + 1, :j + 1]).max()) * np.sqrt(n):
                # an invariant subspace: go on with a random direction orthogonal
                # to it (the coupling is zero)
                beta = 0.0
                w = space.asvec(rng.standard_normal(n) if isinstance(V, np.ndarray)
                                else rng.standard_normal(n).astype(np.float32))
                for _ in range(2):
                    w = space.subtract(V, j + 1, w, space.dots(V, j + 1, w))
                w = space.scaled_into(V, j + 1, w, 1.0 / space.norm(w))
            else:
                w = space.scaled_into(V, j + 1, w, 1.0 / beta)
            if j + 1 < m:
                T[j + 1, j] = T[j, j + 1] = beta
        theta, S = np.linalg.eigh(T)
        resid = np.abs(beta * S[m - 1])
        want = _wanted(theta, k, which)
        ok = resid[want] <= tol * np.maximum(np.abs(theta[want]), eps ** (2 / 3))
        if ok.all() or it == maxiter - 1:
            return theta[want], S[:, want], ok, V
        # keep the wanted Ritz vectors and half the rest, most wanted first
        p = min(m - 1, k + (m - k) // 2)
        keep = _wanted(theta, p, which)
        V_last = V[m]
        V = space.rotate(V, m, S[:, keep])
        V[p] = V_last
        T = np.zeros((m, m))
        T[:p, :p] = np.diag(theta[keep])
        T[p, :p] = T[:p, p] = beta * S[m - 1, keep]


# -- eigsh -------------------------------------------------------------------------
def _distributed(A):
    """A distributed operator (its marker, or vectors that are slices of the global ones)."""
    return getattr(A, "distributed", False) is True or \
        getattr(A, "local_shape", getattr(A, "shape", None)) != getattr(A, "shape", None)


def _dtype_of(A):
    """A's dtype as numpy's (an MLX array's dtype read through _arrays)."""
    dt = getattr(A, "dtype", None)
    if dt is None:
        return np.dtype(np.float64)
    return _arrays.np_dtype(dt) if isinstance(dt, mx.Dtype) else np.dtype(dt)


def _device_lanczos(A):
    """float32 MLX values on a GPU: the Lanczos vectors stay on the device.
    float64 never does (MLX GPUs refuse it; float32 vectors would lose its
    precision): it runs on the host as on a CPU."""
    from .._kernels import gpu_default
    return gpu_default() and _mlx_valued(A) and _dtype_of(A) == np.float32


def _mlx_valued(A):
    return _h.is_mx(A) or (_h.is_ours(A) and _h.is_mx(getattr(A, "data", None)))


def _ours_runs(A, k, M, sigma, which, Minv, OPinv, mode):
    if sigma is not None or M is not None or Minv is not None or OPinv is not None \
            or mode != "normal" or which not in ("LM", "LA", "SA", "BE"):
        return False
    shape = getattr(A, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != shape[1]:
        return False
    dt = _dtype_of(A)
    if dt.kind not in "fiub" or not (isinstance(k, (int, np.integer)) and 0 < k < shape[0] - 1):
        return False
    if _distributed(A):
        return True
    return shape[0] >= OURS_FROM or _device_lanczos(A)


def _matvec_of(A, host=False):
    if host and isinstance(A, mx.array):     # the host iteration: a numpy copy of the matrix
        An = _arrays.to_np(A)
        return lambda x: An @ x
    if _h.is_ours(A) or isinstance(A, (np.ndarray, _ss.sparray, _ss.spmatrix, mx.array)):
        return lambda x: A @ x
    return A.matvec


def eigsh(A, k=6, M=None, sigma=None, which="LM", v0=None, ncv=None, maxiter=None, tol=0,
          return_eigenvectors=True, Minv=None, OPinv=None, mode="normal", rng=None):
    """As scipy.sparse.linalg.eigsh (see the module's note for which cases run
    our Lanczos and which scipy's ARPACK).  MLX in -> MLX out; not
    differentiable (refused under mx.grad)."""
    if not _ours_runs(A, k, M, sigma, which, Minv, OPinv, mode):
        return _h.call(_sl.eigsh, (A,), dict(
            k=k, M=M, sigma=sigma, which=which, v0=v0, ncv=ncv, maxiter=maxiter, tol=tol,
            return_eigenvectors=return_eigenvectors, Minv=Minv, OPinv=OPinv, mode=mode,
            rng=rng), "eigsh")
    name = "eigsh"
    st = _h.state(name, A, v0)
    # our sparse arrays answer numpy as scipy's do; MLX comes back for MLX given
    mlx_out = _h.is_mx(A) or _h.is_mx(v0)
    if st == "grad":
        raise NotImplementedError(
            "eigsh is not differentiable: its Lanczos iteration is not traced, so MLX "
            "results under mx.grad would be cut off from A (a zero gradient)")
    n = A.shape[0] if not _distributed(A) else A.local_shape[0]
    # ARPACK's default is max(2k+1, 20); a thick restart keeping half the basis
    # needs fewer products with a slightly larger one (k=6 on a 30k-node
    # power-law Laplacian: 303 products at 24 against ARPACK's 351 at 20)
    ncv = min(A.shape[0], max(2 * k + 1, 24)) if ncv is None else ncv
    if not k < ncv <= A.shape[0]:
        raise ValueError(f"ncv must be k<ncv<=n, ncv={ncv}")
    maxiter = A.shape[0] * 10 if maxiter is None else maxiter
    if maxiter <= 0:
        raise ValueError("maxiter must be positive, maxiter=%d" % maxiter)
    dt = _dtype_of(A)
    out_dt = dt if dt.kind == "f" and dt.itemsize >= 4 else np.dtype(np.float64)
    eps = float(np.finfo(out_dt).eps)
    tol = eps if tol is None or tol <= 0 else float(tol)
    if v0 is None:
        v0 = np.random.default_rng(_SEED).uniform(-1, 1, n)
    elif np.shape(v0) != (n,) and np.shape(v0) != (n, 1):
        raise ValueError(f"v0 must have shape ({n},), got {np.shape(v0)}")
    from .._kernels import gpu_default
    if _distributed(A) or _device_lanczos(A):
        vdot = A.vdot if _distributed(A) else None
        vdots = getattr(A, "vdots", None) if _distributed(A) else None
        # float32 vectors only for a float32 operator on a GPU: float64 keeps
        # its precision (on the CPU stream)
        dtype = np.float32 if gpu_default() and dt == np.float32 else np.float64
        space = _MlxSpace(_matvec_of(A), n, dtype, vdot, vdots, op_dtype=dt)
    else:
        space = _HostSpace(_matvec_of(A, host=True), n, np.float64)
    theta, S, ok, V = lanczos(space, k, which, v0, ncv, maxiter, tol, eps)
    order = np.argsort(theta, kind="stable")        # ARPACK: ascending
    theta, S, ok = theta[order], S[:, order], ok[order]
    nconv = int(ok.sum())
    w = theta.astype(out_dt)
    X = space.ritz(V, ncv, S) if return_eigenvectors else None
    if nconv < k:
        Xn = None if X is None else space.to_np(X).astype(out_dt)
        raise ArpackNoConvergence(
            f"No convergence ({maxiter} iterations, {nconv}/{k} "
            f"eigenvectors converged)", w[ok], None if Xn is None else Xn[:, ok])
    if X is not None and isinstance(X, np.ndarray):
        X = X.astype(out_dt)
    if mlx_out:
        w = _h.to_mx(w)
        X = None if X is None else (X if isinstance(X, mx.array) else _h.to_mx(X))
    elif isinstance(X, mx.array):
        X = space.to_np(X).astype(out_dt)
    return (w, X) if return_eigenvectors else w


eigs = _h.hosted(_sl.eigs)
svds = _h.hosted(_sl.svds)
lobpcg = _h.hosted(_sl.lobpcg)
