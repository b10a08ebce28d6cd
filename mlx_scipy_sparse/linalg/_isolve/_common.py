"""What every Krylov solver shares: the system, its tolerances, the answer.

``System`` is scipy's make_system for both kinds of caller.  The solver
always iterates on MLX vectors (float64 and complex64/float32 work is placed
on the CPU stream or the default device by ``System.stream``); the caller's
kind decides what comes back: numpy/scipy in -> numpy out in scipy's dtype,
``mx.array`` in -> ``mx.array`` out.  Products go through our operators: an
explicit matrix meets MLX vectors directly (our sparse product kernels); a
user's host-side LinearOperator is handed numpy vectors when the caller gave
numpy (scipy's tests write such operators), MLX vectors otherwise.
"""
import numpy as np
import mlx.core as mx

from ... import _arrays, _kernels
from .._interface import (IdentityOperator, is_ours, LinearOperator, MatrixLinearOperator,
                          aslinearoperator, work_stream)

def coerce(a, b):
    """scipy's answer dtype: the operator's and b's, non-float ones read as float64."""
    a = np.dtype(a) if np.dtype(a).char in "fdFD" else np.dtype(np.float64)
    b = np.dtype(b) if np.dtype(b).char in "fdFD" else np.dtype(np.float64)
    return np.result_type(a, b)


def tolerance(name, b_norm, atol=0., rtol=1e-5):
    """scipy's absolute stopping tolerance max(atol, rtol * |b|), and its error."""
    if isinstance(atol, str) or atol is None or atol < 0:
        raise ValueError(f"'scipy.sparse.linalg.{name}' called with invalid `atol`={atol}; "
                         "if set, `atol` must be a real, non-negative number.")
    return max(float(atol), float(rtol) * float(b_norm))


class HostOnly(Exception):
    """The system needs precision MLX cannot hold (complex128): solve on the host."""


def _is_explicit(op):
    return isinstance(op, (MatrixLinearOperator, IdentityOperator))


class System:
    """A, M, b, x0 of one solve as the solver sees them (MLX vectors)."""

    def __init__(self, name, A, b, x0, M):
        self.name = name
        self.mlx = isinstance(b, mx.array)
        A_in = A
        A = aslinearoperator(A)
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"expected square matrix, but got shape={(A.shape,)}")
        N = A.local_shape[0]
        if self.mlx:
            b_dtype = _arrays.np_dtype(b.dtype)
        else:
            b = np.asanyarray(b)
            b_dtype = b.dtype
        if tuple(b.shape) not in ((N, 1), (N,)):
            raise ValueError(f"shapes of A {A.shape} and b {tuple(b.shape)} are incompatible")
        if b_dtype.char not in "fdFD":
            b_dtype = np.dtype(np.float64)
        op_dtype = A.dtype if A.dtype is not None else np.asarray(A.matvec(np.zeros(N))).dtype
        self.dtype = coerce(op_dtype, b_dtype)             # scipy's answer dtype
        if self.dtype == np.complex128:
            if self.mlx:
                raise TypeError("the system is complex128, which MLX cannot hold; "
                                "pass numpy arrays to solve it on the host")
            raise HostOnly
        self.mx_dtype = _arrays.mx_dtype(self.dtype)
        self.on_cpu = self.mx_dtype == mx.float64 or not _kernels.gpu_default()
        self.stream = mx.cpu if self.on_cpu else mx.default_device()
        self.A = A
        self.N = N                  # this process's rows
        self.n_global = A.shape[0]  # scipy's n (restart lengths, default maxiter): same on every rank
        # a distributed operator brings its own reductions: the host BLAS path
        # (which sums locally) is only for the default one
        self.local_reductions = type(A).vdot is LinearOperator.vdot
        with mx.stream(self.stream):
            self.b = self.vector(b)
            self.M = self._preconditioner(A_in, A, M)
            self.x0 = None
            if isinstance(x0, str):
                if x0 == "Mb":
                    self.x0 = self.apply_M(self.b)
            elif x0 is not None:
                shape = tuple(x0.shape) if hasattr(x0, "shape") else np.shape(x0)
                if shape not in ((N, 1), (N,)):
                    raise ValueError(f"shapes of A {A.shape} and x0 {shape} are incompatible")
                self.x0 = self.vector(x0)
        self.matvec = self._applier(A, "matvec")
        self._rmatvec = None

    # -- vectors
    def vector(self, v):
        """v as a flat MLX vector of the solve's dtype, on the solve's stream."""
        if isinstance(v, mx.array):
            with mx.stream(work_stream(v.dtype, self.mx_dtype)):    # a float64 source: CPU
                v = v.reshape(-1)
                return v if v.dtype == self.mx_dtype else v.astype(self.mx_dtype)
        return _arrays.to_mx(np.asarray(v, dtype=self.dtype).reshape(-1))

    def answer(self, x):
        """x in the caller's kind: numpy of scipy's dtype, or MLX."""
        if self.mlx:
            return x
        return np.array(_arrays.to_np(x), dtype=self.dtype)

    def for_callback(self, x):
        return x if self.mlx else np.array(_arrays.to_np(x), dtype=self.dtype)

    # -- operators
    def _applier(self, op, method):
        fn = getattr(op, method)
        if self.mlx or _is_explicit(op):
            return lambda v: self.vector(fn(v))
        # a host-side operator given by numpy code: numpy in, numpy out
        return lambda v: self.vector(fn(np.array(_arrays.to_np(v))))

    @property
    def rmatvec(self):
        if self._rmatvec is None:
            self._rmatvec = self._applier(self.A, "rmatvec")
        return self._rmatvec

    def _preconditioner(self, A_in, A, M):
        if M is None:
            ps, rps = getattr(A_in, "psolve", None), getattr(A_in, "rpsolve", None)
            if ps is None and rps is None:
                self.psolve = self.rpsolve = None
                return None
            ident = lambda v: v     # noqa: E731
            M = LinearOperator(A.shape, matvec=ps or ident, rmatvec=rps or ident, dtype=A.dtype)
        else:
            M = aslinearoperator(M)
            if A.shape != M.shape:
                raise ValueError("matrix and preconditioner have different shapes")
        self.psolve = self._applier(M, "matvec")
        rp = self._applier(M, "rmatvec")
        self.rpsolve = rp
        return M

    def apply_M(self, v):
        return v if self.psolve is None else self.psolve(v)

    def apply_MH(self, v):
        return v if self.rpsolve is None else self.rpsolve(v)

    # -- reductions, through the operator (the distributed layer overrides vdot)
    def vdot(self, x, y):
        return self.A.vdot(x, y)

    def norm(self, x):
        v = self.A.vdot(x, x)
        return mx.sqrt(mx.real(v) if mx.issubdtype(v.dtype, mx.complexfloating) else v)

    def start(self):
        """x0 (zeros when not given) and r0 = b - A x0."""
        if self.x0 is None:
            return mx.zeros(self.b.shape, dtype=self.mx_dtype), self.b
        if not mx.any(self.x0).item():      # scipy skips the product for a zero x0
            return self.x0, self.b
        return self.x0, self.b - self.matvec(self.x0)


def _our_matrix(sysm, dtype):
    """(S, shape, flip) when the operator is our CSR/CSC array of ``dtype``
    (scipy's matrices have our copy): the product the kernel table can
    prepare once; else None."""
    op = sysm.A
    S = op._mx_matrix() if type(op) is MatrixLinearOperator else None
    if is_ours(S) and S.format in ("csr", "csc") \
            and isinstance(S.data, mx.array) and S.data.dtype == dtype:
        m, n = S.shape
        return S, *(((m, n), False) if S.format == "csr" else ((n, m), True))
    return None


def host_matvec(sysm, X):
    """For a solve bare on the CPU: fn(X2, x2) = A @ X2 as a numpy array,
    for an MLX vector X2 of X's shape and dtype and x2, a numpy view of the
    same buffer; the array is valid until the next call.  Over our CSR
    array the CPU kernels write into one buffer kept here; over CSC the
    kernel table's prepared product (no per-call decisions); where either
    refuses (inside a VJP every new array reads as traced) our array's
    numpy product, the same CPU kernel; otherwise the operator's matvec."""
    ours = _our_matrix(sysm, X.dtype)
    host = None if ours is None or ours[2] else \
        _kernels.host_product(ours[0].data, ours[0].indices, ours[0].indptr, ours[1])
    if host is not None:
        # into one buffer of ours: no MLX array a product (each cost a memset and an eval)
        out = np.empty(X.shape, dtype=_arrays.np_dtype(X.dtype))

        def into_out(X2, x2):
            host[0](x2, out)
            return out
        return into_out
    if ours is not None:
        S, shape, flip = ours
        fn = _kernels.fast_product(S.data, S.indices, S.indptr, shape, X, transpose=flip)

        def product(X2, x2):
            Y = fn(X2) if fn is not None else None
            if Y is None:
                return np.asarray(S @ x2)
            mx.eval(Y)
            return _arrays.to_np(Y)
        return product

    def generic(X2, x2):
        Y = sysm.matvec(X2)
        mx.eval(Y)
        return _arrays.to_np(Y)
    return generic


def bare_matvec(sysm):
    """fn(v) = A @ v launched with no per-call checks, or None.  Only for a
    solve whose inputs (A's values, b, x0) no transformation traces: every
    vector the solver then makes is free too, so the checks a product makes
    on each call (a few microseconds each, most of an iteration's host time
    on a GPU) can be made once, here."""
    ours = _our_matrix(sysm, sysm.mx_dtype)
    if ours is None:
        return None
    S, shape, flip = ours
    inputs = [S.data, sysm.b] + ([sysm.x0] if sysm.x0 is not None else [])
    if _arrays.trace_state(*inputs) != _arrays.FREE:
        return None
    return _kernels.fast_product(S.data, S.indices, S.indptr, shape, sysm.b, transpose=flip,
                                 checked=False)


def as_float(v):
    return float(v.item()) if isinstance(v, mx.array) else float(v)


def as_scalar(v):
    """A 0-d MLX value as a Python number (complex stays complex)."""
    v = v.item() if isinstance(v, mx.array) else v
    return v


def default_maxiter(sysm, maxiter, factor=10):
    """scipy's default, from the global size (a rank's share would differ per rank)."""
    return sysm.n_global * factor if maxiter is None else int(maxiter)


# iterations the last chunked solve made (scipy's count: updates of x); for benchmarks
stats = {"iterations": 0}


def iterate(step, state, maxiter, callback, sysm, every=8, top=None, stops=None):
    """Run ``step`` up to ``maxiter`` times, looking at the stop codes only
    every ``every`` iterations (each iteration when there is a callback,
    which sees each iterate as scipy's do).

    ``step(state, it) -> (state, code, pick)``: ``code`` a lazy 0-d int32
    (-1: go on; otherwise the reason to stop this iteration, as scipy's
    early returns would), ``pick(code) -> (x, info)`` the answer for it.
    The codes of a batch are read in one sync; the first stop wins, so the
    answer is the iterate scipy would return, never one past it.
    Returns (x, info) with info = maxiter when no stop came.
    ``stops(values)``: which read codes stop (default: those != -1); a
    step may then hand back any 0-d value (cg: |r|^2) and the test is made
    on the host, which saves the device a few tiny ops an iteration.
    ``top(state)``: scipy's test at the top of an iteration (a lazy bool);
    on the CPU it is read before each step, so no product is made past
    the last one scipy makes.
    """
    if sysm.on_cpu:
        every = 1       # nothing to overlap on the CPU
    pending = []
    stats["iterations"] = 0
    for it in range(maxiter):
        if every == 1 and top is not None and top(state).item():
            return state["x"], 0
        stats["iterations"] = it + 1
        state, code, pick = step(state, it)
        pending.append((code, pick))
        if callback is not None or len(pending) >= every or it == maxiter - 1:
            codes = mx.stack([c for c, _ in pending])
            mx.eval(codes, *state.values())
            values = np.array(codes)
            stop = values != -1 if stops is None else stops(values)
            for k, (c, (_, p)) in enumerate(zip(values.tolist(), pending)):
                if stop[k]:
                    stats["iterations"] = it + 1 - len(pending) + k
                    return p(c)
            pending = []
            if callback is not None:
                callback(sysm.for_callback(state["x"]))
    return state["x"], maxiter


def first(*pairs, default=-1):
    """A lazy int32 code: the code of the first true condition in ``pairs``
    ((condition, code), ...) or ``default``."""
    code = mx.array(default, dtype=mx.int32)
    for cond, c in reversed(pairs):
        code = mx.where(cond, mx.array(c, dtype=mx.int32), code)
    return code


def eps2(dtype):
    """scipy's breakdown tolerance: eps of the working dtype, squared."""
    return float(np.finfo(np.dtype(dtype).char).eps) ** 2
