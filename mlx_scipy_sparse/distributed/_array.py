"""The row-partitioned CSR array.

Each rank holds its rows as one ``sp.csr_array`` with a local column map:
columns 0..n-1 are the entries of x this rank owns, columns n.. its ghosts
(entries owned by other ranks, ascending global order).  A product starts
the halo exchange, multiplies the block of owned columns while it travels,
then adds the ghost block's product into the few rows that have ghost
entries (the halo rows: a stencil's boundary).  Keeping the ghost block to
those rows matters: a ghost block over every row made and added a second
full-length vector, which doubled the local compute (measured: 7.4 ms
against 2.6 for a 500k-row 2-D Poisson block on the H200 host's cores).
"""
import numpy as np
import mlx.core as mx
import scipy.sparse as _sps

from .. import csr_array
from ..linalg._interface import LinearOperator
from . import _comm, _dtypes, _exchange, _reduce
from ._plan import ExchangePlan


def _index(a):
    a = np.asarray(a)
    return a.astype(np.int32 if a.size == 0 or int(a.max()) < 2**31 - 1 else np.int64)


class _Pattern:
    """What a product needs besides the values, shared by every array of the
    pattern (with_values): the plan, its exchange functions, the split into
    owned and ghost columns."""

    def __init__(self, indices, indptr, rows, cols, group, nnz, exchange):
        ind, ptr = np.asarray(indices).astype(np.int64), np.asarray(indptr).astype(np.int64)
        c0, n_c = cols.start, cols.n_local
        own = (ind >= c0) & (ind < c0 + n_c)
        ghosts = np.unique(ind[~own])
        self.rows, self.cols, self.group, self.nnz = rows, cols, group, nnz
        self.plan = ExchangePlan(group, cols, ghosts, exchange)
        self.gather, self.scatter = _exchange.functions(self.plan, n_c)
        self.local_indices = _index(np.where(own, ind - c0, n_c + np.searchsorted(ghosts, ind)))
        self.indptr = _index(ptr)
        counted = np.concatenate([[0], np.cumsum(own)])
        own_ptr = counted[ptr]
        self.split = not own.all()           # any ghost entries on this rank
        self.own_pos = mx.array(_index(np.nonzero(own)[0]))
        self.ghost_pos = mx.array(_index(np.nonzero(~own)[0]))
        self.own_pattern = (_index(ind[own] - c0), _index(own_ptr))
        ghost_ptr = ptr - own_ptr              # ghost entries before each row
        halo = np.nonzero(np.diff(ghost_ptr))[0]
        self.halo_rows = mx.array(_index(halo))
        self.ghost_pattern = (_index(np.searchsorted(ghosts, ind[~own])),
                              _index(np.concatenate([[0], ghost_ptr[halo + 1]])))


class DistributedCSR(LinearOperator):
    """A sparse array of ``shape`` split by rows over the ranks of ``group``.

    It is an mlx_scipy_sparse.linalg LinearOperator whose vectors are this
    rank's slices (``local_shape``) and whose ``vdot`` sums over the ranks,
    so the package's solvers take it as it is: ``cg(A, b_local)``.

    Built by ``from_local_rows``, ``scatter`` or ``from_global`` (see
    mlx_scipy_sparse.distributed).  ``A @ x`` takes this rank's slice of x
    (``local_shape[1]`` entries: an mx.array, a numpy array or a
    DistributedVector) and returns this rank's slice of the product; the
    type follows x.  ``A.local``: the rows held here as an sp.csr_array in
    the local column map; ``A.ghosts``: the global columns of its ghost part.
    """

    def __init__(self, data, pattern, shape):
        p = pattern
        self._p = p
        self.group, self.rows, self.cols = p.group, p.rows, p.cols
        n_r, n_c = p.rows.n_local, p.cols.n_local
        self.local = csr_array((data, p.local_indices, p.indptr),
                               shape=(n_r, n_c + p.plan.n_ghost))
        LinearOperator.__init__(self, _dtypes.to_np(self.local.data.dtype), shape)
        d = self.local.data
        if not p.split:
            self._own = csr_array((d, *p.own_pattern), shape=(n_r, n_c))
        else:                                # gathers on the graph: values stay differentiable
            self._own = csr_array((mx.take(d, p.own_pos), *p.own_pattern), shape=(n_r, n_c))
        self._ghost = csr_array((mx.take(d, p.ghost_pos) if p.split else d[:0],
                                 *p.ghost_pattern), shape=(p.halo_rows.size, p.plan.n_ghost))
        _settle(self.local.data, self._own.data, self._ghost.data)

    # -- the operator contract -------------------------------------------
    @property
    def local_shape(self):
        """Shape of the vectors this rank holds (x's slice, y's slice)."""
        return (self.rows.n_local, self.cols.n_local)

    @property
    def nnz(self):
        return self._p.nnz

    @property
    def data(self):
        return self.local.data

    @property
    def ghosts(self):
        return self._p.plan.ghosts

    @property
    def plan(self):
        return self._p.plan

    def vdot(self, x, y):
        """sum(conj(x) * y) over all ranks (accurate local part + all_sum)."""
        return _reduce.vdot(_unwrap(x), _unwrap(y), self.group)

    def norm(self, x):
        return _reduce.norm(_unwrap(x), self.group)

    def vdots(self, V, y):
        """conj(V) @ y for the rows of V (k vectors of this rank's length):
        k inner products over all ranks in one all_sum, where k calls of
        vdot would take k (a Lanczos or GMRES orthogonalization step)."""
        return _reduce.vdots(_unwrap(V), _unwrap(y), self.group)

    distributed = True          # also where local_shape == shape (a rank holding every row)

    @property
    def reduces_across_ranks(self):
        """Whether vdot needs the other ranks (False for a group of one, where
        a solver may take its host path: vdot is then the local vdot)."""
        return self.group.size() > 1

    def with_values(self, data):
        """The same pattern and plan with other local values (e.g. traced by
        mx.grad): nothing is planned again."""
        data = data if isinstance(data, mx.array) else _dtypes.array(data)
        if data.shape != self.local.data.shape:
            raise ValueError(f"values of shape {data.shape}, the pattern has "
                             f"{self.local.data.shape}")
        return DistributedCSR(data, self._p, self.shape)

    # -- products ------------------------------------------------------------
    def _product(self, x, transpose):
        """mx.array x (this rank's slice) -> this rank's slice of A @ x or
        A.T @ x."""
        p = self._p
        if transpose:                        # A.T y: owned part here, ghost part to owners
            y = self._own.T @ x
            if p.plan.mode == "none":
                return y
            halo = x[:0] if p.halo_rows.size == 0 else mx.take(x, p.halo_rows, axis=0)
            return y + p.scatter(self._ghost.T @ halo)   # (MLX's take VJP fails on 0 rows)
        if p.plan.mode == "none":            # one rank, or nothing to import: no exchange
            return self._own @ x
        ghosts = p.gather(x)
        try:
            mx.async_eval(ghosts)            # the exchange runs while we multiply below
        except (ValueError, RuntimeError):   # traced by mx.compile: it joins the graph
            pass
        y = self.local_product(x, ghosts)
        if p.plan.n_ghost == 0:              # nothing reads the (empty) ghosts, yet this
            y = mx.depends(y, ghosts)        # rank must join the collective, compiled too
        return y

    def local_product(self, x, ghosts):
        """This rank's rows times (its slice of x, the ghost entries)."""
        y = self._own @ x
        if self._ghost.shape[0] == 0:
            return y
        return y.at[self._p.halo_rows].add(self._ghost @ ghosts)

    def _apply(self, x, transpose=False):
        want = self.local_shape[0] if transpose else self.local_shape[1]
        vec = isinstance(x, DistributedVector)
        if vec:
            x = x.local
        xs = getattr(x, "shape", None)
        if xs is None or len(xs) not in (1, 2) or xs[0] != want:
            raise ValueError(f"dimension mismatch: this rank's operand needs {want} rows "
                             f"(local_shape {self.local_shape}), got shape {xs}")
        if isinstance(x, mx.array):
            y = self._product(x, transpose)
        else:
            y = self._numpy_product(np.asarray(x), transpose)
        if vec:
            return DistributedVector(y, self.cols if transpose else self.rows, self.group)
        return y

    def _numpy_product(self, x, transpose):
        """numpy in, numpy out, in numpy's result dtype (complex128, which
        MLX lacks, multiplies on the host and travels as float64 pairs)."""
        out = np.result_type(self.dtype, x.dtype)
        if out.kind not in "fc":
            out = np.result_type(out, np.float64)
        xc = np.ascontiguousarray(x, dtype=out)
        if out == np.complex128:
            return self._complex128_product(xc, transpose)
        dt = _dtypes.to_mx(out)
        a = self
        if dt != self.local.data.dtype:
            with mx.stream(mx.cpu):              # float64 lives on the CPU stream
                a = self.with_values(self.local.data.astype(dt))
        return np.array(a._product(mx.array(xc, dtype=dt), transpose))

    def _complex128_product(self, xc, transpose):
        p = self._p
        xm = xc.view(np.float64).reshape(xc.shape[0], -1)
        A_own = _sps.csr_array((np.asarray(self._own.data).astype(np.complex128),
                                *p.own_pattern), shape=self._own.shape)
        A_gh = _sps.csr_array((np.asarray(self._ghost.data).astype(np.complex128),
                               *p.ghost_pattern), shape=self._ghost.shape)
        shape1 = xc.shape[1:]
        if transpose:
            y = A_own.T @ xc
            if p.plan.mode != "none":
                g = np.ascontiguousarray(A_gh.T @ xc[np.asarray(p.halo_rows)])
                pairs = g.view(np.float64).reshape(g.shape[0], -1)
                back = np.array(p.scatter(_dtypes.array(pairs)))
                y = y + back.view(np.complex128).reshape((-1,) + shape1)
            return y
        if p.plan.mode == "none":
            return A_own @ xc
        gh = np.array(p.gather(_dtypes.array(xm))).view(np.complex128).reshape((-1,) + shape1)
        y = A_own @ xc
        y[np.asarray(p.halo_rows)] += A_gh @ gh
        return y

    # LinearOperator's public products check the global shape; a rank's
    # vectors have local_shape, so they are taken over here
    def __matmul__(self, x):
        if isinstance(x, LinearOperator) or np.isscalar(x):
            return LinearOperator.__matmul__(self, x)
        return self._apply(x)

    def dot(self, x):
        if isinstance(x, LinearOperator) or np.isscalar(x):
            return LinearOperator.dot(self, x)
        return self._apply(x)

    def matvec(self, x):
        return self._apply(x)

    matmat = _matvec = _matmat = matvec

    def rmatvec(self, y):
        """conj(A).T @ y (this rank's slices), as scipy's rmatvec."""
        return self._adjoint() @ y

    rmatmat = _rmatvec = _rmatmat = rmatvec

    def _adjoint(self):
        return _Transposed(self, conjugate=True)

    def _transpose(self):
        return _Transposed(self, conjugate=False)

    def aslinearoperator(self):
        """This array itself: it is a LinearOperator with the solver contract."""
        return self

    # -- whole-matrix views (tests, small problems) -------------------------
    def gather_global(self):
        """The whole matrix as a scipy.sparse.csr_array on every rank
        (numpy values: off the MLX graph)."""
        g, p = self.group, self._p
        cols = np.concatenate([np.arange(self.cols.start, self.cols.stop), p.plan.ghosts])
        ind = cols[np.asarray(self.local.indices)]
        ptr = np.asarray(self.local.indptr).astype(np.int64)
        data = np.asarray(self.local.data)
        if g.size() == 1:
            return _sps.csr_array((data, ind, ptr), shape=self.shape)
        counts = np.diff(ptr)
        all_counts = _comm.allgather_host(g, counts)
        all_ind = _comm.allgather_host(g, ind)
        dtype = data.dtype
        words = data.view(np.uint8)
        all_data = [w.view(dtype) for w in _comm.allgather_host(g, words)]
        indptr = np.concatenate([[0], np.cumsum(np.concatenate(all_counts))])
        return _sps.csr_array((np.concatenate(all_data), np.concatenate(all_ind), indptr),
                              shape=self.shape)

    def __repr__(self):
        return (f"<DistributedCSR {self.shape[0]}x{self.shape[1]}, {self.nnz} stored, "
                f"rank {self.group.rank()} of {self.group.size()}: rows "
                f"{self.rows.start}:{self.rows.stop}, {self.plan.n_ghost} ghosts, "
                f"exchange '{self.plan.mode}'>")


class _Transposed(LinearOperator):
    """A.T or A.H: products through the reverse exchange."""

    def __init__(self, A, conjugate):
        LinearOperator.__init__(self, A.dtype, A.shape[::-1])
        self._A, self._conj = A, conjugate
        self.group, self.rows, self.cols = A.group, A.cols, A.rows

    @property
    def local_shape(self):
        return self._A.local_shape[::-1]

    def vdot(self, x, y):
        return self._A.vdot(x, y)

    def _apply(self, y):
        A = self._A
        if not (self._conj and self.dtype.kind == "c"):
            return A._apply(y, True)
        if isinstance(y, DistributedVector):
            return DistributedVector(_conj(A._apply(_conj(y.local), True)), self.rows, self.group)
        return _conj(A._apply(_conj(y), True))

    def __matmul__(self, y):
        if isinstance(y, LinearOperator) or np.isscalar(y):
            return LinearOperator.__matmul__(self, y)
        return self._apply(y)

    def matvec(self, y):
        return self._apply(y)

    matmat = dot = _matvec = _matmat = matvec

    def rmatvec(self, x):
        return (self._A if self._conj or self.dtype.kind != "c" else _Conjugated(self._A)) @ x

    rmatmat = _rmatvec = _rmatmat = rmatvec

    def _adjoint(self):
        return self._A if self._conj or self.dtype.kind != "c" else _Conjugated(self._A)

    def _transpose(self):
        return self._A if not self._conj or self.dtype.kind != "c" else _Conjugated(self._A)


class _Conjugated:
    """conj(A) of a complex distributed array (the adjoint of A.T): products
    as conj(A @ conj(x))."""

    def __init__(self, A):
        self._A = A

    def __matmul__(self, x):
        if isinstance(x, DistributedVector):
            return DistributedVector(_conj((self._A @ _conj(x.local))), self._A.rows,
                                     self._A.group)
        return _conj(self._A @ _conj(x))


def _settle(*arrays):
    """Evaluate values that are lazy results (slices, gathers) once, here:
    the product's fast path inspects lazy operands on every call (0.8 ms a
    call measured on a 1000-row block).  Values traced by mx.compile stay
    as they are."""
    try:
        mx.eval(*arrays)
    except (ValueError, RuntimeError):
        pass


def _conj(x):
    return mx.conj(x) if isinstance(x, mx.array) else np.conj(x)


def _unwrap(x):
    return x.local if isinstance(x, DistributedVector) else x


from ._vector import DistributedVector  # noqa: E402  (the vector class uses this module)
