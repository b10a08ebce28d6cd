"""LinearOperator: scipy's abstract matrix, taking numpy and MLX vectors.

Mirrors ``scipy.sparse.linalg.LinearOperator`` (shape, dtype, matvec/rmatvec/
matmat/rmatmat, adjoint/.H/.T, ``@``, ``*``, ``+``, ``**``, ``dot``, subclasses
with ``_matvec``/``_matmat``).  Vectors keep their kind: numpy in, numpy out
(scipy's types and reshaping); ``mx.array`` in, ``mx.array`` out, lazy and
differentiable where the operator's own product is (our sparse arrays, MLX
dense arrays).  A user function that answers an MLX vector with numpy values
is accepted outside transformations (the values are not traced by anything)
and refused under ``mx.grad``/``mx.compile``, where they would be cut off.

Two members serve the solvers (see notes/contract.md): ``local_shape``, the
shape of the vectors this process holds, and ``vdot(x, y)``, the accurate
conjugated inner product every solver takes its reductions through.
"""
import warnings

import numpy as np
import mlx.core as mx
import scipy.sparse as _ss

from .. import _arrays
from .. import _formats
from .. import _kernels

__all__ = ["LinearOperator", "aslinearoperator", "IdentityOperator",
           "MatrixLinearOperator", "vdot"]


# ---------------------------------------------------------------- helpers
def _is_mx(x):
    return isinstance(x, mx.array)


def _issparse(x):
    return _formats.issparse(x) or _ss.issparse(x)


def is_ours(x):
    """One of our sparse arrays (our issparse also answers True for scipy's)."""
    return _formats.issparse(x) and not _ss.issparse(x)


def _isshape(shape):
    if len(shape) != 2:
        return False
    try:
        return all(int(n) == n and int(n) >= 0 for n in shape)
    except (TypeError, ValueError):
        return False


def _np_dtype(dtype):
    return None if dtype is None else _arrays.np_dtype(dtype)


def _get_dtype(operators, dtypes=()):
    found = [_np_dtype(o.dtype) for o in operators if o is not None and getattr(o, "dtype", None) is not None]
    return np.result_type(*found, *dtypes)


def _stream_for(dtype):
    """float64 is refused on every MLX GPU: its ops go to the CPU stream."""
    return mx.cpu if dtype == mx.float64 else mx.default_device()


def _gpu_refuses(dtype):
    """Whether MLX GPUs refuse work with this dtype: float64 (also as an
    operator's declared numpy float64 / complex128, whose MLX values are float64)."""
    if dtype is None:
        return False
    if isinstance(dtype, mx.Dtype):
        return dtype == mx.float64
    try:
        return np.dtype(dtype) in (np.float64, np.complex128)
    except TypeError:
        return False


def work_stream(*dtypes):
    """The stream for MLX work that touches values of these dtypes: the CPU
    where one is refused on GPUs (float64), else the current default (which
    is the CPU anyway on a CPU-only machine or inside ``mx.stream(mx.cpu)``)."""
    return mx.cpu if any(_gpu_refuses(d) for d in dtypes) else mx.default_device()


def _conj(x):
    if _is_mx(x):
        return mx.conj(x) if mx.issubdtype(x.dtype, mx.complexfloating) else x
    return np.conj(x)


def _scalar(alpha):
    """A Python scalar: numpy scalars multiplying an mx.array would turn it
    into numpy (numpy's operator runs first)."""
    return alpha.item() if isinstance(alpha, np.generic) else alpha


def _mx_result(y, x, what):
    """``y`` answered to MLX input ``x``: MLX stays as it is; numpy values
    (a host-side user function) become MLX only where nothing traces x."""
    if _is_mx(y):
        return y
    if _issparse(y):
        y = y.toarray()
    y = np.asarray(y)
    if not _arrays.is_free(x):
        raise NotImplementedError(
            f"this LinearOperator's {what} computes on the host (it returned numpy for an MLX "
            "input): it cannot be differentiated or compiled; give it an MLX matvec")
    if y.dtype == np.complex128:
        raise TypeError("the operator returned complex128 values, which MLX cannot hold; "
                        "use numpy vectors for this operator")
    return _arrays.to_mx(y)


def vdot(x, y):
    """sum(conj(x) * y) over all entries, accurately.

    numpy vectors: a 0-d numpy array (float32/complex64 accumulated in
    float64).  MLX vectors: a 0-d MLX array of their common dtype, lazy and
    differentiable; on the CPU stream float32/complex64 products are summed
    in float64 (MLX's float32 sum on the CPU drifts: rel. err. 3e-4 at 1M
    entries), on a GPU MLX's tree reduction is used as it is.
    """
    if _is_mx(x) or _is_mx(y):
        x = x if _is_mx(x) else _arrays.to_mx(np.asarray(x))
        y = y if _is_mx(y) else _arrays.to_mx(np.asarray(y))
        with mx.stream(work_stream(x.dtype, y.dtype)):
            return _mx_vdot(x.reshape(-1), y.reshape(-1))
    x = np.asarray(x).ravel()
    y = np.asarray(y).ravel()
    dt = np.result_type(x.dtype, y.dtype)
    if dt in (np.float32, np.complex64, np.float16):
        wide = np.complex128 if dt.kind == "c" else np.float64
        return np.asarray(np.vdot(x.astype(wide), y.astype(wide))).astype(dt)
    return np.asarray(np.vdot(x, y))


@mx.compile
def _device_dot(x, y):
    """sum(conj(x) * y) as one compiled function (MLX may fuse the product in)."""
    if mx.issubdtype(x.dtype, mx.complexfloating):
        x = mx.conj(x)
    return mx.sum(x * y)


def _mx_vdot(x, y):
    dt = _kernels._result_dtype(x.dtype, y.dtype)
    if not mx.issubdtype(dt, mx.inexact):
        return mx.sum(x * y)
    if _kernels.gpu_default() and dt != mx.float64:
        return _device_dot(x, y)             # tree reduction on the device: accurate enough
    with mx.stream(mx.cpu):
        if dt == mx.float64:
            return mx.sum(x * y)
        f64 = mx.float64
        if dt != mx.complex64:
            return mx.sum(x.astype(f64) * y.astype(f64)).astype(dt)
        xr, xi = mx.real(x).astype(f64), mx.imag(x).astype(f64)
        yr, yi = mx.real(y).astype(f64), mx.imag(y).astype(f64)
        re = mx.sum(xr * yr + xi * yi).astype(mx.float32)
        im = mx.sum(xr * yi - xi * yr).astype(mx.float32)
        return re + 1j * im


# ---------------------------------------------------------------- the class
class LinearOperator:
    """Common interface for performing matrix vector products (scipy's).

    ``LinearOperator(shape, matvec, rmatvec=None, matmat=None, dtype=None,
    rmatmat=None)`` builds one from functions; subclasses implement
    ``_matvec`` or ``_matmat`` (and optionally ``_rmatvec``/``_adjoint``).
    """
    ndim = 2
    __array_ufunc__ = None      # numpy defers to us: x @ A, 2 * A come here

    def __new__(cls, *args, **kwargs):
        if cls is LinearOperator:       # called with functions: the custom operator
            return super().__new__(_CustomLinearOperator)
        obj = super().__new__(cls)
        if type(obj)._matvec == LinearOperator._matvec and type(obj)._matmat == LinearOperator._matmat:
            warnings.warn("LinearOperator subclass should implement at least one of _matvec and _matmat.",
                          category=RuntimeWarning, stacklevel=2)
        return obj

    def __init__(self, dtype, shape):
        if dtype is not None:
            dtype = _np_dtype(dtype)
        shape = tuple(shape)
        if not _isshape(shape):
            raise ValueError(f"invalid shape {shape!r} (must be 2-d)")
        self.dtype = dtype
        self.shape = tuple(int(n) for n in shape)

    # -- the solver contract
    @property
    def local_shape(self):
        """Shape of the vectors this process holds (``shape`` unless distributed)."""
        return self.shape

    def vdot(self, x, y):
        """Accurate sum(conj(x) * y): a 0-d array of the vectors' kind."""
        return vdot(x, y)

    def _init_dtype(self):
        if self.dtype is None:
            v = np.zeros(self.shape[-1], dtype=np.int8)
            try:
                self.dtype = np.asarray(self.matvec(v)).dtype
            except OverflowError:
                self.dtype = np.dtype(int)

    # -- defaults subclasses override
    def _matmat(self, X):
        if _is_mx(X):
            cols = [self.matvec(X[:, j:j + 1]) for j in range(X.shape[1])]
            return mx.concatenate(cols, axis=1) if cols else mx.zeros((self.shape[0], 0), dtype=X.dtype)
        return np.hstack([self.matvec(col.reshape(-1, 1)) for col in X.T])

    def _matvec(self, x):
        return self.matmat(x.reshape(-1, 1))

    def _rmatvec(self, x):
        if type(self)._adjoint == LinearOperator._adjoint:
            if type(self)._rmatmat != LinearOperator._rmatmat:
                return self._rmatmat(x.reshape(-1, 1)).reshape(-1)
            raise NotImplementedError
        return self.H.matvec(x)

    def _rmatmat(self, X):
        if type(self)._adjoint == LinearOperator._adjoint:
            if _is_mx(X):
                cols = [self.rmatvec(X[:, j:j + 1]) for j in range(X.shape[1])]
                return mx.concatenate(cols, axis=1) if cols else mx.zeros((self.shape[1], 0), dtype=X.dtype)
            return np.hstack([self.rmatvec(col.reshape(-1, 1)) for col in X.T])
        return self.H.matmat(X)

    # -- public products
    def _work_dtype(self):
        """The dtype this operator's own MLX work reaches (picks its stream)."""
        return self.dtype

    def _vec(self, x, n_in, n_out, fn, what):
        if _is_mx(x):
            if x.shape != (n_in,) and x.shape != (n_in, 1):
                raise ValueError("dimension mismatch")
            with mx.stream(work_stream(x.dtype, self._work_dtype())):
                y = _mx_result(fn(x), x, what)
                with mx.stream(work_stream(y.dtype)):
                    return y.reshape(n_out) if x.ndim == 1 else y.reshape(n_out, 1)
        x = np.asanyarray(x)
        if x.shape != (n_in,) and x.shape != (n_in, 1):
            raise ValueError("dimension mismatch")
        y = fn(x)
        if _is_mx(y):                # an MLX-only operator given numpy: numpy out
            y = _arrays.to_np(y)
        y = np.asmatrix(y) if isinstance(x, np.matrix) else np.asarray(y)
        if x.ndim == 1:
            return y.reshape(n_out)
        if x.ndim == 2:
            return y.reshape(n_out, 1)
        raise ValueError(f"invalid shape returned by user-defined {what}()")

    def matvec(self, x):
        """y = A @ x for a vector x of shape (N,) or (N, 1)."""
        M, N = self.shape
        return self._vec(x, N, M, self._matvec, "matvec")

    def rmatvec(self, x):
        """y = A^H @ x for a vector x of shape (M,) or (M, 1)."""
        M, N = self.shape
        return self._vec(x, M, N, self._rmatvec, "rmatvec")

    def _mat(self, X, n_in, fn, what):
        if _is_mx(X):
            if X.ndim != 2:
                raise ValueError(f"expected 2-d ndarray or matrix, not {X.ndim}-d")
            if X.shape[0] != n_in:
                raise ValueError(f"dimension mismatch: {self.shape}, {X.shape}")
            with mx.stream(work_stream(X.dtype, self._work_dtype())):
                return _mx_result(fn(X), X, what)
        if not _issparse(X):
            X = np.asanyarray(X)
        if X.ndim != 2:
            raise ValueError(f"expected 2-d ndarray or matrix, not {X.ndim}-d")
        if X.shape[0] != n_in:
            raise ValueError(f"dimension mismatch: {self.shape}, {X.shape}")
        try:
            Y = fn(X)
        except Exception as e:
            if _issparse(X):
                raise TypeError("Unable to multiply a LinearOperator with a sparse matrix."
                                " Wrap the matrix in aslinearoperator first.") from e
            raise
        if _is_mx(Y):
            Y = _arrays.to_np(Y)
        if isinstance(Y, np.matrix):
            Y = np.asmatrix(Y)
        return Y

    def matmat(self, X):
        """Y = A @ X for a dense (N, K) X."""
        return self._mat(X, self.shape[1], self._matmat, "matmat")

    def rmatmat(self, X):
        """Y = A^H @ X for a dense (M, K) X."""
        return self._mat(X, self.shape[0], self._rmatmat, "rmatmat")

    def __call__(self, x):
        return self @ x

    def __mul__(self, x):
        return self.dot(x)

    def __truediv__(self, other):
        if not np.isscalar(other):
            raise ValueError("Can only divide a linear operator by a scalar.")
        return _ScaledLinearOperator(self, 1.0 / other)

    def dot(self, x):
        """A @ x for a vector, A @ X for a matrix, a product operator for an operator."""
        if isinstance(x, LinearOperator):
            return _ProductLinearOperator(self, x)
        if np.isscalar(x):
            return _ScaledLinearOperator(self, x)
        if not _is_mx(x) and not _issparse(x):
            x = np.asarray(x)
        if x.ndim == 1 or x.ndim == 2 and x.shape[1] == 1:
            return self.matvec(x)
        if x.ndim == 2:
            return self.matmat(x)
        raise ValueError(f"expected 1-d or 2-d array or matrix, got {x!r}")

    def __matmul__(self, other):
        if np.isscalar(other):
            raise ValueError("Scalar operands are not allowed, use '*' instead")
        return self.__mul__(other)

    def __rmatmul__(self, other):
        if np.isscalar(other):
            raise ValueError("Scalar operands are not allowed, use '*' instead")
        return self.__rmul__(other)

    def __rmul__(self, x):
        if np.isscalar(x):
            return _ScaledLinearOperator(self, x)
        return self._rdot(x)

    def _rdot(self, x):
        """x @ A, through the transpose (no conjugation needed)."""
        if isinstance(x, LinearOperator):
            return _ProductLinearOperator(x, self)
        if np.isscalar(x):
            return _ScaledLinearOperator(self, x)
        if _is_mx(x):
            with mx.stream(work_stream(x.dtype, self._work_dtype())):   # x.T of float64: CPU
                return self._rdot_vec(x)
        if not _issparse(x):
            x = np.asarray(x)
        return self._rdot_vec(x)

    def _rdot_vec(self, x):
        if x.ndim == 1 or x.ndim == 2 and x.shape[0] == 1:
            return self.T.matvec(x.T).T
        if x.ndim == 2:
            return self.T.matmat(x.T).T
        raise ValueError(f"expected 1-d or 2-d array or matrix, got {x!r}")

    def __pow__(self, p):
        if np.isscalar(p):
            return _PowerLinearOperator(self, p)
        return NotImplemented

    def __add__(self, x):
        if isinstance(x, LinearOperator):
            return _SumLinearOperator(self, x)
        return NotImplemented

    def __neg__(self):
        return _ScaledLinearOperator(self, -1)

    def __sub__(self, x):
        return self.__add__(-x)

    def __repr__(self):
        M, N = self.shape
        dt = "unspecified dtype" if self.dtype is None else "dtype=" + str(self.dtype)
        return f"<{M}x{N} {self.__class__.__name__} with {dt}>"

    def adjoint(self):
        """The Hermitian adjoint A^H, as an operator."""
        return self._adjoint()

    H = property(adjoint)

    def transpose(self):
        """The transpose A^T, as an operator."""
        return self._transpose()

    T = property(transpose)

    def _adjoint(self):
        return _AdjointLinearOperator(self)

    def _transpose(self):
        return _TransposedLinearOperator(self)


# ---------------------------------------------------------------- operators
class _CustomLinearOperator(LinearOperator):
    """An operator given by the user's functions."""

    def __init__(self, shape, matvec, rmatvec=None, matmat=None, dtype=None, rmatmat=None):
        super().__init__(dtype, shape)
        self.args = ()
        self._fn_matvec = matvec
        self._fn_rmatvec = rmatvec
        self._fn_matmat = matmat
        self._fn_rmatmat = rmatmat
        self._init_dtype()

    def _matmat(self, X):
        if self._fn_matmat is not None:
            return self._fn_matmat(X)
        return super()._matmat(X)

    def _matvec(self, x):
        return self._fn_matvec(x)

    def _rmatvec(self, x):
        if self._fn_rmatvec is None:
            raise NotImplementedError("rmatvec is not defined")
        return self._fn_rmatvec(x)

    def _rmatmat(self, X):
        if self._fn_rmatmat is not None:
            return self._fn_rmatmat(X)
        return super()._rmatmat(X)

    def _adjoint(self):
        return _CustomLinearOperator(shape=(self.shape[1], self.shape[0]), matvec=self._fn_rmatvec,
                                     rmatvec=self._fn_matvec, matmat=self._fn_rmatmat,
                                     rmatmat=self._fn_matmat, dtype=self.dtype)


class _AdjointLinearOperator(LinearOperator):
    """A^H of any operator, through its r-products."""

    def __init__(self, A):
        super().__init__(dtype=A.dtype, shape=(A.shape[1], A.shape[0]))
        self.A = A
        self.args = (A,)

    def _matvec(self, x):
        return self.A._rmatvec(x)

    def _rmatvec(self, x):
        return self.A._matvec(x)

    def _matmat(self, x):
        return self.A._rmatmat(x)

    def _rmatmat(self, x):
        return self.A._matmat(x)


class _TransposedLinearOperator(LinearOperator):
    """A^T = conj(A^H conj(.)) of any operator."""

    def __init__(self, A):
        super().__init__(dtype=A.dtype, shape=(A.shape[1], A.shape[0]))
        self.A = A
        self.args = (A,)

    def _matvec(self, x):
        return _conj(self.A._rmatvec(_conj(x)))

    def _rmatvec(self, x):
        return _conj(self.A._matvec(_conj(x)))

    def _matmat(self, x):
        return _conj(self.A._rmatmat(_conj(x)))

    def _rmatmat(self, x):
        return _conj(self.A._matmat(_conj(x)))


def _work_dtype_of(operators):
    found = [d for d in (o._work_dtype() for o in operators) if d is not None]
    return np.result_type(*[_np_dtype(d) for d in found]) if found else None


class _SumLinearOperator(LinearOperator):
    def __init__(self, A, B):
        if not isinstance(A, LinearOperator) or not isinstance(B, LinearOperator):
            raise ValueError("both operands have to be a LinearOperator")
        if A.shape != B.shape:
            raise ValueError(f"cannot add {A} and {B}: shape mismatch")
        self.args = (A, B)
        super().__init__(_get_dtype([A, B]), A.shape)

    def _work_dtype(self):
        return _work_dtype_of(self.args)

    def _matvec(self, x):
        return self.args[0].matvec(x) + self.args[1].matvec(x)

    def _rmatvec(self, x):
        return self.args[0].rmatvec(x) + self.args[1].rmatvec(x)

    def _matmat(self, x):
        return self.args[0].matmat(x) + self.args[1].matmat(x)

    def _rmatmat(self, x):
        return self.args[0].rmatmat(x) + self.args[1].rmatmat(x)

    def _adjoint(self):
        A, B = self.args
        return A.H + B.H


class _ProductLinearOperator(LinearOperator):
    def __init__(self, A, B):
        if not isinstance(A, LinearOperator) or not isinstance(B, LinearOperator):
            raise ValueError("both operands have to be a LinearOperator")
        if A.shape[1] != B.shape[0]:
            raise ValueError(f"cannot multiply {A} and {B}: shape mismatch")
        super().__init__(_get_dtype([A, B]), (A.shape[0], B.shape[1]))
        self.args = (A, B)

    def _work_dtype(self):
        return _work_dtype_of(self.args)

    def _matvec(self, x):
        return self.args[0].matvec(self.args[1].matvec(x))

    def _rmatvec(self, x):
        return self.args[1].rmatvec(self.args[0].rmatvec(x))

    def _matmat(self, x):
        return self.args[0].matmat(self.args[1].matmat(x))

    def _rmatmat(self, x):
        return self.args[1].rmatmat(self.args[0].rmatmat(x))

    def _adjoint(self):
        A, B = self.args
        return B.H @ A.H


class _ScaledLinearOperator(LinearOperator):
    def __init__(self, A, alpha):
        if not isinstance(A, LinearOperator):
            raise ValueError("LinearOperator expected as A")
        if not np.isscalar(alpha):
            raise ValueError("scalar expected as alpha")
        if isinstance(A, _ScaledLinearOperator):   # fold, never touching A's own factor
            A, alpha = A.args[0], A.args[1] * alpha
        super().__init__(_get_dtype([A], [type(alpha)]), A.shape)
        self.args = (A, alpha)

    def _work_dtype(self):
        # a Python scalar factor keeps an MLX vector's dtype (its dtype reads float64)
        return self.args[0]._work_dtype()

    def _matvec(self, x):
        return _scalar(self.args[1]) * self.args[0].matvec(x)

    def _rmatvec(self, x):
        return _scalar(np.conj(self.args[1])) * self.args[0].rmatvec(x)

    def _matmat(self, x):
        return _scalar(self.args[1]) * self.args[0].matmat(x)

    def _rmatmat(self, x):
        return _scalar(np.conj(self.args[1])) * self.args[0].rmatmat(x)

    def _adjoint(self):
        A, alpha = self.args
        return A.H * np.conj(alpha)


class _PowerLinearOperator(LinearOperator):
    def __init__(self, A, p):
        if not isinstance(A, LinearOperator):
            raise ValueError("LinearOperator expected as A")
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"square LinearOperator expected, got {A!r}")
        if not (np.isscalar(p) and int(p) == p) or p < 0:
            raise ValueError("non-negative integer expected as p")
        super().__init__(_get_dtype([A]), A.shape)
        self.args = (A, int(p))

    def _power(self, fun, x):
        res = x if _is_mx(x) else np.array(x, copy=True)
        for _ in range(self.args[1]):
            res = fun(res)
        return res

    def _matvec(self, x):
        return self._power(self.args[0].matvec, x)

    def _rmatvec(self, x):
        return self._power(self.args[0].rmatvec, x)

    def _matmat(self, x):
        return self._power(self.args[0].matmat, x)

    def _rmatmat(self, x):
        return self._power(self.args[0].rmatmat, x)

    def _adjoint(self):
        A, p = self.args
        return A.H ** p


class MatrixLinearOperator(LinearOperator):
    """An explicit matrix: numpy, MLX dense, our sparse or scipy sparse.

    Each vector kind meets a matrix of its own kind: MLX vectors an MLX
    matrix (our sparse array, or the MLX copy of a numpy / scipy one, made
    once), numpy vectors a host one, so a product never crosses devices
    twice and MLX results stay on the graph.
    """

    def __init__(self, A):
        super().__init__(_np_dtype(A.dtype), A.shape)
        self.A = A
        self.args = (A,)
        self._adj = None
        self._for_mx = A if (_is_mx(A) or is_ours(A)) else None
        self._for_np = None if _is_mx(A) else A

    def _mx_matrix(self):
        if self._for_mx is None:
            A = self.A
            if _ss.issparse(A):
                self._for_mx = _formats.csr_array(A)
            else:
                self._for_mx = _arrays.to_mx(np.asarray(A))   # dtype kept (TypeError if MLX can't)
        return self._for_mx

    def _np_matrix(self):
        if self._for_np is None:
            self._for_np = _arrays.to_np(self.A)
        return self._for_np

    def _matmat(self, X):
        if _is_mx(X):
            A = self._mx_matrix()
            if _is_mx(A):
                dt = _kernels._result_dtype(A.dtype, X.dtype)
                with mx.stream(_stream_for(dt)):
                    return A @ X
            return A @ X
        return self._np_matrix().dot(X)

    def _adjoint(self):
        if self._adj is None:
            self._adj = _AdjointMatrixOperator(self)
        return self._adj


class _AdjointMatrixOperator(MatrixLinearOperator):
    """A^H of an explicit matrix: the conjugate transpose, kept as an array."""

    def __init__(self, op):
        A = op.A
        if _is_mx(A):
            with mx.stream(work_stream(A.dtype)):
                AH = _conj(A).T
        elif _ss.issparse(A) or _formats.issparse(A):
            AH = A.T.conj()
        else:
            AH = np.asarray(A).T.conj()
        super().__init__(AH)
        self.args = (op.A,)
        self._adj = op

    def _adjoint(self):
        return self._adj


class IdentityOperator(LinearOperator):
    """The identity of a given shape: returns its input."""

    def __init__(self, shape, dtype=None):
        super().__init__(dtype, shape)

    def _matvec(self, x):
        return x

    def _rmatvec(self, x):
        return x

    def _matmat(self, x):
        return x

    def _rmatmat(self, x):
        return x

    def _adjoint(self):
        return self


def aslinearoperator(A):
    """A as a LinearOperator: operators pass through; numpy, MLX dense, our
    sparse (any format) and scipy sparse arrays become matrix operators;
    objects with ``shape`` and ``matvec`` (scipy's operators among them) are
    wrapped with their ``rmatvec``/``rmatmat``/``dtype`` where they have them."""
    if isinstance(A, LinearOperator):
        return A
    if isinstance(A, (np.ndarray, mx.array)):
        if A.ndim > 2:
            raise ValueError("array must have ndim <= 2")
        if A.ndim < 2:
            raise ValueError(f"invalid shape {tuple(A.shape)!r} (must be 2-d)")
        return MatrixLinearOperator(A)
    if _issparse(A):
        return MatrixLinearOperator(A)
    if hasattr(A, "shape") and hasattr(A, "matvec"):
        return LinearOperator(A.shape, A.matvec, rmatvec=getattr(A, "rmatvec", None),
                              rmatmat=getattr(A, "rmatmat", None), dtype=getattr(A, "dtype", None))
    raise TypeError("type not understood")
