"""Gradients through linear solves by the adjoint solve (implicit differentiation).

For x = A^{-1} b and a real loss L with cotangent g = dL/dRe x + i dL/dIm x
(MLX's convention for complex values), dL = Re(<g, dx>) with
dx = A^{-1}(db - dA x), so with lambda = A^{-H} g:

    dL/db    = lambda
    dL/dA_ij = -lambda_i conj(x_j)       (for each stored entry (i, j))

The solver's iterations are never differentiated: the forward solve runs on
concrete copies of the values inside an ``mx.custom_function``, and its VJP
runs one more solve with A^H (the same solver, its tolerances and M^H).
The solve's ``info`` is scipy's, even when it did not converge (the gradient
is then as inexact as the solution).  Inside ``mx.compile`` a solver cannot
run (its stopping test reads values): that raises.
"""
import numpy as np
import mlx.core as mx

from .. import _arrays

__all__ = []    # nothing public: the solvers call solve()
from ._interface import (IdentityOperator, LinearOperator, MatrixLinearOperator, aslinearoperator,
                         is_ours, work_stream)


def _compile_refusal(name):
    return NotImplementedError(
        f"{name} cannot run inside mx.compile or mx.vmap: an iterative solver decides when to stop "
        "from computed values, which compiled code cannot read; call it outside the compiled "
        "function (mx.grad through it works)")


def _concrete(v):
    """A copy of v cut off from every transformation (made through the host:
    under mx.grad even a fresh MLX node of a tracer is traced)."""
    return _arrays.to_mx(np.array(_arrays.to_np(v)))


class _Parts:
    """The MLX values of A that gradients flow to, and how to rebuild A from them."""

    def __init__(self, A):
        self.A = A
        self.values = None            # the traced-or-not MLX value array
        self._pattern = None
        self.kind = "other"
        inner = A.A if isinstance(A, MatrixLinearOperator) and type(A) is MatrixLinearOperator else A
        if isinstance(inner, mx.array):
            self.kind, self.values, self.inner = "dense", inner, inner
        elif is_ours(inner) and inner.format in ("csr", "csc", "coo") \
                and isinstance(inner.data, mx.array):
            self.kind, self.values, self.inner = "sparse", inner.data, inner
        elif isinstance(inner, (np.ndarray,)) or is_ours(inner) or \
                (hasattr(inner, "format") and hasattr(inner, "tocsr")):
            self.kind, self.inner = "constant", inner

    def rebuild(self, values):
        """A with these (concrete) values in place of its own.  Its index
        arrays are made concrete too: a pattern computed under mx.grad (e.g.
        by tocsr of traced values) is a lazy node of the traced graph, which
        would keep every product off the kernel table's bare path."""
        if self.kind == "dense":
            return values
        if self.kind == "sparse":
            if self._pattern is None:
                S = self.inner
                if S.format == "coo":
                    self._pattern = (tuple(_concrete(c) for c in S.coords),)
                else:
                    self._pattern = (_concrete(S.indices), _concrete(S.indptr))
            return type(self.inner)((values, *self._pattern), shape=self.inner.shape)
        return self.A

    def entries(self):
        """(rows, cols) of the stored entries, as MLX int32 indices (int64
        only past int32's range: a GPU gathers int32 natively)."""
        S = self.inner
        if S.format == "coo":
            return _index(S.coords[0]), _index(S.coords[1])
        ptr = np.asarray(S.indptr)
        major = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
        minor = np.asarray(S.indices)
        if S.format == "csr":
            return _index(major), _index(minor)
        return _index(minor), _index(major)


def _index(a):
    a = np.asarray(a)
    small = a.size == 0 or int(a.max()) < 2 ** 31 - 1
    return mx.array(a.astype(np.int32, copy=False) if small else a)


def _adj_or_none(M):
    return None if M is None else aslinearoperator(M).H


def adjoint_of(A):
    """A^H in a form the solvers take (our sparse array / MLX dense / operator)."""
    if isinstance(A, mx.array):
        with mx.stream(work_stream(A.dtype)):
            return mx.conj(A).T if mx.issubdtype(A.dtype, mx.complexfloating) else A.T
    if is_ours(A):
        return A.T.conj()
    return aslinearoperator(A).H


def _closure_traced(A, n, dtype):
    """Whether a user operator's product carries values traced by a transformation."""
    data = getattr(A, "data", None)        # e.g. a distributed array's local values
    if isinstance(data, mx.array) and _arrays.trace_state(data) != _arrays.FREE:
        return True
    op = aslinearoperator(A)
    if type(op) in (MatrixLinearOperator, IdentityOperator):
        return False
    if isinstance(A, LinearOperator) or hasattr(A, "matvec"):
        try:
            with mx.stream(work_stream(dtype)):
                y = op.matvec(mx.zeros((op.local_shape[1],), dtype=dtype))
        except NotImplementedError:
            return True
        except Exception:
            return False
        return isinstance(y, mx.array) and _arrays.trace_state(y) != _arrays.FREE
    return False


def solve(name, run, A, b, x0=None, M=None, hermitian=False):
    """(x, info) = run(A, b, x0, M) made differentiable with respect to b and
    A's MLX values (our csr/csc/coo array's ``data``, or a dense MLX A).

    ``run`` takes concrete inputs and returns (x, info); numpy callers and
    untraced MLX calls go straight to it."""
    if not isinstance(b, mx.array):
        return run(A, b, x0, M)
    parts = _Parts(A)
    # float64 anywhere (b, A's values, A's dtype): every MLX op of the solve,
    # its forward and its VJP, on the CPU stream (MLX GPUs refuse float64)
    dtypes = (b.dtype, getattr(parts.values, "dtype", None), getattr(A, "dtype", None))
    with mx.stream(work_stream(*dtypes)):
        return _solve(name, run, A, b, x0, M, hermitian, parts, dtypes)


def _solve(name, run, A, b, x0, M, hermitian, parts, dtypes):
    watched = [b] + ([parts.values] if parts.values is not None else [])
    state = _arrays.trace_state(*watched)
    if parts.kind == "other" and _closure_traced(A, b.shape[0], b.dtype):
        raise NotImplementedError(
            f"{name}: gradients with respect to values inside a LinearOperator's functions are not "
            "supported; pass the sparse array (or a dense MLX array) itself")
    if state == _arrays.FREE:
        return run(A, b, x0, M)
    if state == _arrays.TRACED:
        raise _compile_refusal(name)
    info = []
    x0c = None if x0 is None or isinstance(x0, str) else _concrete(x0) if isinstance(x0, mx.array) else x0
    x0c = x0 if isinstance(x0, str) else x0c
    has_values = parts.values is not None

    def forward(b_, *vals):
        with mx.stream(work_stream(*dtypes)):
            A_c = parts.rebuild(_concrete(vals[0])) if has_values else A
            x, i = run(A_c, _concrete(b_), x0c, M)
            info.append(i)
            return x

    def backward(primals, cotangent, output):
        with mx.stream(work_stream(*dtypes, getattr(cotangent, "dtype", None))):
            return _backward(primals, cotangent, output)

    def _backward(primals, cotangent, output):
        vals = primals[1:]
        A_c = parts.rebuild(_concrete(vals[0])) if has_values else A
        AH = A_c if hermitian else adjoint_of(A_c)
        MH = M
        if M is not None and not hermitian:
            try:
                if isinstance(M, dict):     # qmr's split M1 (left), M2 (right): swapped for A^H
                    MH = {"M1": _adj_or_none(M.get("M2")), "M2": _adj_or_none(M.get("M1"))}
                else:
                    MH = aslinearoperator(M).H
            except Exception:       # an M without rmatvec: the adjoint solve goes unpreconditioned
                MH = None
        g = _concrete(cotangent)
        lam, _ = run(AH, g, None, MH, adjoint=True)
        lam = lam.astype(primals[0].dtype) if lam.dtype != primals[0].dtype else lam
        grads = [lam]
        if has_values:
            x = output if not isinstance(output, (list, tuple)) else output[0]
            xc = mx.conj(x) if mx.issubdtype(x.dtype, mx.complexfloating) else x
            if parts.kind == "dense":
                dA = -mx.outer(lam, xc)
            else:
                rows, cols = parts.entries()
                dA = -(lam[rows] * xc[cols])
            grads.append(dA.astype(vals[0].dtype))
        return tuple(grads)

    f = mx.custom_function(forward)
    f.vjp(backward)
    x = f(*watched)
    return x, info[0]
