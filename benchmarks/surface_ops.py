"""The everyday-op list of issue 13, shared by `benchmarks/surface.py` (timing,
MLX/host, mx.compile, gradients) and `tests/test_surface_gradients.py`.

Each entry is an `Op`: ``fn(A, B, o)`` runs the op on one side's operands,
ours (`mlx_scipy_sparse`, MLX values) or scipy's (numpy), or CuPy's for the
GPU column, so the same callable times both.  ``o`` (`Operands`) holds the
rest: the namespace (``o.lib``), dense operands, index arguments and operands
derived from A (k x k slices for densifying ops, an unsorted copy, ...),
sized so that every op stays sensible at 1M x 1M (see `Operands`).

``grad`` says what a gradient means for the op: None where none does (bool
or integer results, serialisation), "A" for the values of A, "Ax" for the
values of A and the dense MLX operand ``o.x``.  `differentiable_form` turns
a result into the MLX float array a loss is built from.
"""
import io
import pickle
from dataclasses import dataclass
from typing import Callable, Optional

import mlx.core as mx
import numpy as np
import scipy.sparse as ss

import mlx_scipy_sparse as sp


@dataclass(frozen=True)
class Op:
    name: str
    fn: Callable                 # fn(A, B, o) -> result
    grad: Optional[str] = "A"    # None, "A" or "Ax" (see the module docstring)
    inplace: Optional[str] = None   # the operand the call writes: a fresh copy each call,
    #                                 passed as the first argument (fn returns it)
    cupy: object = None          # CuPy's form where it differs (its classes are
    #                              spmatrix: `*` is a product), False where CuPy lacks it


class Operands:
    """One side's operands.  ``side`` is "ours", "scipy" or "cupy".

    ``ref_A`` / ``ref_B`` are scipy twins of A and B (the same pattern),
    from which the integer arguments (stored entries, index lists) are read
    once.  Operands derived from A are built on first use from the A given
    here, so inside a differentiated or compiled function they are part of
    the traced computation.  Sizes: ``k`` (dense results and dense operands
    of A's shape) is min(n, 2000); ``m`` (kron operands) is the slice size
    with about 100 entries.
    """

    def __init__(self, A, B, ref_A, ref_B, side, x=None, peer=None):
        self.A, self.B, self.side = A, B, side
        # the GPU peer (CuPy, or scipy standing in for a dry run) brings its
        # sparse namespace and dense array module
        self.lib = {"ours": sp, "scipy": ss}[side] if peer is None else peer.lib
        self.xp = mx if side == "ours" else np if peer is None else peer.xp
        n = ref_A.shape[0]
        density = max(ref_A.nnz / float(n * n), 1e-12)
        self.n = n
        self.k = min(n, 2000)
        self.m = max(2, min(n, int(round((100 / density) ** 0.5))))
        self.r0, self.r1 = n // 5, n // 5 + max(2, n // 10)
        self.c0, self.c1 = n // 3, n // 3 + max(2, n // 10)
        rng = np.random.default_rng(7)
        self.idx = np.sort(rng.choice(n, size=min(n, 64), replace=False))
        self.mask = np.arange(n) % 3 == 0
        # a stored entry of A and a stored entry in each of 8 rows (set ops)
        ptr, ind = ref_A.indptr, ref_A.indices
        rows = np.flatnonzero(np.diff(ptr))
        self.i = int(rows[len(rows) // 2])
        self.j = int(ind[ptr[self.i]])
        pick = rows[np.linspace(0, len(rows) - 1, min(8, len(rows))).astype(int)]
        self.set_rows = pick
        self.set_cols = ind[ptr[pick]]
        # dense operands: numpy on both CPU sides, MLX (`xm`, `Dm`, `X`) for ours
        self.xn = rng.uniform(0.5, 1.5, n)
        Dk = rng.uniform(0.5, 1.5, (self.k, self.k))
        self.rowv = rng.uniform(0.5, 1.5, (1, n))
        self.colv = rng.uniform(0.5, 1.5, (n, 1))
        Xn = rng.uniform(0.5, 1.5, (n, 8))
        dt = ref_A.dtype
        self.xn, Dk, self.rowv, self.colv, Xn = (a.astype(dt) for a in
                                                 (self.xn, Dk, self.rowv, self.colv, Xn))
        self.Dn = Dk
        C = ref_A.tocoo()
        self.row, self.col = C.row, C.col       # A's coordinates (canonical order)
        self.rowm = self.rowv
        if side == "ours":
            wide = dict(dtype=mx.float64) if dt == np.float64 else {}
            self.x = x if x is not None else mx.array(self.xn, **wide)
            self.Dm = mx.array(Dk, **wide)
            self.X = mx.array(Xn, **wide)
            self.rowm = mx.array(self.rowv, **wide)
        elif side == "scipy":
            self.x, self.Dm, self.X = self.xn, Dk, Xn
        else:                            # CuPy: every dense operand on the device
            xp = self.xp
            self.x, self.Dm, self.X = (xp.asarray(a) for a in (self.xn, Dk, Xn))
            self.Dn, self.rowv, self.colv = (xp.asarray(a) for a in (Dk, self.rowv, self.colv))
            self.xn, self.rowm = self.x, self.rowv
        self._ref = ref_A
        self._cache = {}

    # -- operands derived from A (built once, from this side's A) ------------
    def _derived(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @property
    def Ak(self):
        return self._derived("Ak", lambda: self.A if self.k == self.n else self.A[:self.k, :self.k])

    @property
    def Bk(self):
        return self._derived("Bk", lambda: self.B if self.k == self.n else self.B[:self.k, :self.k])

    @property
    def Am(self):
        return self._derived("Am", lambda: self.A[:self.m, :self.m])

    @property
    def Bm(self):
        return self._derived("Bm", lambda: self.B[:self.m, :self.m])

    @property
    def Amat(self):
        """A in the matrix flavour (getrow/getcol are spmatrix methods), built
        from A's arrays (csr_matrix(A) itself is an entry of the list)."""
        return self._derived("Amat", lambda: self.A if self.side == "cupy" else
                             self.lib.csr_matrix((self.A.data, self.A.indices, self.A.indptr),
                                                 shape=self.A.shape))

    @property
    def Ac(self):
        return self._derived("Ac", lambda: self.A.astype(np.complex64))

    @property
    def U(self):
        """A with the indices of every row in reverse order (unsorted CSR)."""
        def build():
            ptr = self._ref.indptr
            rows = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
            perm = (ptr[rows] + ptr[rows + 1] - 1 - np.arange(ptr[-1])).astype(np.int64)
            ind = self._ref.indices[perm]
            return self._compressed(self._take(self.A.data, perm), ind, ptr)
        return self._derived("U", build)

    @property
    def Cdup(self):
        """A as COO with its first half of entries stored twice (duplicates)."""
        def build():
            C = self._ref.tocoo()
            h = np.arange(C.nnz // 2)
            row = np.concatenate([C.row, C.row[h]])
            col = np.concatenate([C.col, C.col[h]])
            d = self.A.data
            data = self._concat([d, self._take(d, h)])
            return self.lib.coo_matrix((data, (self._dense_ix(row), self._dense_ix(col))),
                                       shape=C.shape) if self.side == "cupy" else \
                self.lib.coo_array((data, (row, col)), shape=C.shape)
        return self._derived("Cdup", build)

    @property
    def Z(self):
        """A with every fifth stored value an explicit zero."""
        def build():
            keep = (np.arange(self._ref.nnz) % 5 != 0).astype(self._ref.dtype)
            d = self.A.data * self._dense_of(keep)
            return self._compressed(d, self._ref.indices, self._ref.indptr)
        return self._derived("Z", build)

    # -- side-neutral helpers -------------------------------------------------
    def _compressed(self, data, ind, ptr):
        shape = self._ref.shape
        if self.side == "cupy":
            return self.lib.csr_matrix((data, self._dense_ix(ind), self._dense_ix(ptr)),
                                       shape=shape)
        return self.lib.csr_array((data, ind, ptr), shape=shape)

    def _take(self, d, perm):
        if self.side == "ours":
            return mx.take(d, mx.array(perm))
        return d[self._dense_ix(perm)]

    def _concat(self, parts):
        return self.xp.concatenate(parts)

    def _dense_of(self, a):
        if self.side == "ours":
            return mx.array(a, dtype=mx.float64) if a.dtype == np.float64 else mx.array(a)
        return self.xp.asarray(a)

    def _dense_ix(self, a):
        """An index argument: numpy for ours and scipy, on the device for CuPy."""
        return self.xp.asarray(a) if self.side == "cupy" else a


def _set(A, key, v):
    A[key] = v
    return A


def _call(A, method, *args):
    getattr(A, method)(*args)
    return A


def _resized(A, shape):
    A.resize(shape)
    return A


def _npz(A, o):
    f = io.BytesIO()
    o.lib.save_npz(f, A)
    f.seek(0)
    return o.lib.load_npz(f)


UNARY = ("arcsin", "arcsinh", "arctan", "arctanh", "ceil", "deg2rad", "expm1", "floor",
         "log1p", "rad2deg", "rint", "sign", "sin", "sinh", "sqrt", "tan", "tanh", "trunc")


def _ops():
    L = []

    def op(name, fn, grad="A", **kw):
        L.append(Op(name, fn, grad, **kw))
    # -- arithmetic: sparse, dense numpy, dense MLX (ours; scipy: the numpy twin), scalars
    op("A + B", lambda A, B, o: A + B)
    op("A - B", lambda A, B, o: A - B)
    op("A * B", lambda A, B, o: A * B, cupy=lambda A, B, o: A.multiply(B))
    op("Ak / Bk", lambda A, B, o: o.Ak / o.Bk)
    op("Ak + D (numpy)", lambda A, B, o: o.Ak + o.Dn)
    op("Ak + D (mx)", lambda A, B, o: o.Ak + o.Dm, cupy=False)
    op("Ak - D (numpy)", lambda A, B, o: o.Ak - o.Dn)
    op("D (mx) - Ak", lambda A, B, o: o.Dm - o.Ak, cupy=False)
    op("Ak * D (numpy)", lambda A, B, o: o.Ak * o.Dn, cupy=lambda A, B, o: o.Ak.multiply(o.Dn))
    op("Ak * D (mx)", lambda A, B, o: o.Ak * o.Dm, cupy=False)
    op("D (mx) * Ak", lambda A, B, o: o.Dm * o.Ak, cupy=False)
    op("Ak / D (numpy)", lambda A, B, o: o.Ak / o.Dn)
    op("Ak / D (mx)", lambda A, B, o: o.Ak / o.Dm, cupy=False)
    op("A * 2", lambda A, B, o: A * 2.0)
    op("2 * A", lambda A, B, o: 2.0 * A)
    op("A / 2", lambda A, B, o: A / 2.0)
    op("A + 1 (raises)", lambda A, B, o: A + 1.0)
    op("A - 1 (raises)", lambda A, B, o: A - 1.0)
    op("A *= 2", lambda A, B, o: _imul(A), inplace="A")
    op("A /= 2", lambda A, B, o: _idiv(A), inplace="A")
    op("-A", lambda A, B, o: -A)
    op("abs(A)", lambda A, B, o: abs(A))
    op("abs(A - B)", lambda A, B, o: abs(A - B))
    op("A.multiply(B)", lambda A, B, o: A.multiply(B))
    op("A.multiply(row)", lambda A, B, o: A.multiply(o.rowv))
    op("A.multiply(col)", lambda A, B, o: A.multiply(o.colv))
    op("A.multiply(row mx)", lambda A, B, o: A.multiply(o.rowm), cupy=False)
    op("A.multiply(2)", lambda A, B, o: A.multiply(2.0))
    op("A.maximum(B)", lambda A, B, o: A.maximum(B))
    op("A.minimum(B)", lambda A, B, o: A.minimum(B))
    op("A.minimum(0.3)", lambda A, B, o: A.minimum(0.3))
    op("A.power(2)", lambda A, B, o: A.power(2))
    op("A.power(0.5)", lambda A, B, o: A.power(0.5))
    op("A ** 2", lambda A, B, o: A ** 2, cupy=lambda A, B, o: A.power(2))
    # -- comparisons (bool results; dense-ish ones on k x k slices)
    op("A != B", lambda A, B, o: A != B, grad=None)
    op("A < B", lambda A, B, o: A < B, grad=None)
    op("A > 0.5", lambda A, B, o: A > 0.5, grad=None)
    op("Ak == Bk", lambda A, B, o: o.Ak == o.Bk, grad=None)
    op("Ak <= D (numpy)", lambda A, B, o: o.Ak <= o.Dn, grad=None)
    # -- unary methods
    for f in UNARY:
        op(f"A.{f}()", lambda A, B, o, f=f: getattr(A, f)())
    op("round(A, 1)", lambda A, B, o: round(A, 1) if o.side != "cupy" else A.__round__(1))
    # -- reductions
    for name, fn, g in [
            ("A.sum()", lambda A: A.sum(), "A"), ("A.sum(axis=0)", lambda A: A.sum(axis=0), "A"),
            ("A.sum(axis=1)", lambda A: A.sum(axis=1), "A"), ("A.mean()", lambda A: A.mean(), "A"),
            ("A.mean(axis=0)", lambda A: A.mean(axis=0), "A"),
            ("A.mean(axis=1)", lambda A: A.mean(axis=1), "A"),
            ("A.max()", lambda A: A.max(), "A"), ("A.max(axis=0)", lambda A: A.max(axis=0), "A"),
            ("A.max(axis=1)", lambda A: A.max(axis=1), "A"), ("A.min()", lambda A: A.min(), "A"),
            ("A.min(axis=0)", lambda A: A.min(axis=0), "A"),
            ("A.min(axis=1)", lambda A: A.min(axis=1), "A"),
            ("A.argmax()", lambda A: A.argmax(), None),
            ("A.argmax(axis=1)", lambda A: A.argmax(axis=1), None),
            ("A.argmin()", lambda A: A.argmin(), None),
            ("A.argmin(axis=0)", lambda A: A.argmin(axis=0), None),
            ("A.diagonal()", lambda A: A.diagonal(), "A"),
            ("A.diagonal(k=1)", lambda A: A.diagonal(k=1), "A"),
            ("A.trace()", lambda A: A.trace(), "A"),
            ("A.nonzero()", lambda A: A.nonzero(), None),
            ("A.count_nonzero()", lambda A: A.count_nonzero(), None),
            ("A.count_nonzero(axis=0)", lambda A: A.count_nonzero(axis=0), None)]:
        op(name, lambda A, B, o, fn=fn: fn(A), grad=g)
    # -- conversions, copies, canonical forms
    op("A.tocsr()", lambda A, B, o: A.tocsr())
    op("A.tocsc()", lambda A, B, o: A.tocsc())
    op("A.tocoo()", lambda A, B, o: A.tocoo())
    op("A.T.tocsr()", lambda A, B, o: A.T.tocsr())
    op("A.tocoo().tocsr()", lambda A, B, o: A.tocoo().tocsr())
    op("A.tocsc().tocsr()", lambda A, B, o: A.tocsc().tocsr())
    op("Ak.toarray()", lambda A, B, o: o.Ak.toarray())
    op("Ak.todense()", lambda A, B, o: o.Ak.todense())
    op("A.copy()", lambda A, B, o: A.copy())
    op("csr_array(A)", lambda A, B, o: o.lib.csr_array(A), cupy=False)
    op("csc_array(A)", lambda A, B, o: o.lib.csc_array(A), cupy=False)
    op("coo_array(A)", lambda A, B, o: o.lib.coo_array(A), cupy=False)
    op("csr_matrix(A)", lambda A, B, o: o.lib.csr_matrix(A))
    op("coo_array((A.data, (row, col)))", lambda A, B, o: o.lib.coo_array(
        (A.data, (o._dense_ix(o.row), o._dense_ix(o.col))), shape=A.shape), cupy=False)
    op("A.asformat('csc')", lambda A, B, o: A.asformat("csc"))
    op("A.transpose()", lambda A, B, o: A.transpose())
    op("find(A) values", lambda A, B, o: o.lib.find(A)[2])
    op("A.astype(float64)", lambda A, B, o: A.astype(np.float64))
    op("A.astype(int32)", lambda A, B, o: A.astype(np.int32), grad=None)
    op("A.sort_indices() (sorted)", lambda A, B, o: _call(A, "sort_indices"), inplace="A")
    op("U.sort_indices() (unsorted)", lambda U, B, o: _call(U, "sort_indices"), inplace="U")
    op("A.sum_duplicates() (canonical)", lambda A, B, o: _call(A, "sum_duplicates"),
       inplace="A")
    op("Cdup.sum_duplicates() (COO)", lambda C, B, o: _call(C, "sum_duplicates"),
       inplace="Cdup")
    op("A.eliminate_zeros() (none)", lambda A, B, o: _call(A, "eliminate_zeros"), inplace="A")
    op("Z.eliminate_zeros() (20% zeros)", lambda Z, B, o: _call(Z, "eliminate_zeros"),
       inplace="Z")
    op("A.has_canonical_format", lambda A, B, o: A.has_canonical_format, grad=None)
    # -- indexing: get
    op("A[i, j] (stored)", lambda A, B, o: A[o.i, o.j])
    op("A[i] (row)", lambda A, B, o: A[o.i], cupy=lambda A, B, o: A[o.i])
    op("A[r0:r1] (rows)", lambda A, B, o: A[o.r0:o.r1])
    op("A[:, c0:c1] (columns)", lambda A, B, o: A[:, o.c0:o.c1])
    op("A[::2] (step)", lambda A, B, o: A[::2])
    op("A[idx] (fancy rows)", lambda A, B, o: A[o._dense_ix(o.idx)])
    op("A[:, idx] (fancy columns)", lambda A, B, o: A[:, o._dense_ix(o.idx)])
    op("A[idx, idx] (fancy pairs)", lambda A, B, o: A[o._dense_ix(o.idx), o._dense_ix(o.idx)])
    op("A[mask] (boolean rows)", lambda A, B, o: A[o._dense_ix(o.mask)])
    op("A[:, mask] (boolean columns)", lambda A, B, o: A[:, o._dense_ix(o.mask)])
    op("Amat.getrow(i)", lambda A, B, o: o.Amat.getrow(o.i))
    op("Amat.getcol(j)", lambda A, B, o: o.Amat.getcol(o.j))
    # -- indexing: set (on a fresh copy each call)
    op("A[i, j] = 3 (stored)", lambda A, B, o: _set(A, (o.i, o.j), 3.0), inplace="A")
    op("A[rows, cols] = 3 (stored)",
       lambda A, B, o: _set(A, (o._dense_ix(o.set_rows), o._dense_ix(o.set_cols)), 3.0),
       inplace="A")
    op("Ak[r0:r1] = 3 (row slice)", lambda A, B, o: _set(A, slice(o.r0, o.r1), 3.0),
       inplace="Ak")
    op("Ak[:, c0:c1] = 3 (column slice)",
       lambda A, B, o: _set(A, (slice(None), slice(o.c0, o.c1)), 3.0), inplace="Ak")
    op("Ak[mask] = 3 (boolean rows)", lambda A, B, o: _set(A, o._dense_ix(o.mask[:o.k]), 3.0),
       inplace="Ak")
    op("A.setdiag(2)", lambda A, B, o: _call(A, "setdiag", 2.0), inplace="A")
    op("A.resize(n+1, n+1)", lambda A, B, o: _resized(A, (o.n + 1, o.n + 1)), inplace="A")
    op("A.resize(n/2, n/2)", lambda A, B, o: _resized(A, (o.n // 2, o.n // 2)), inplace="A")
    op("A.reshape(2n, n/2)", lambda A, B, o: A.reshape((2 * o.n, o.n // 2)))
    # -- construction from our arrays (values MLX) and from MLX dense values
    op("hstack([A, B])", lambda A, B, o: o.lib.hstack([A, B]))
    op("vstack([A, B])", lambda A, B, o: o.lib.vstack([A, B]))
    op("bmat([[A, B], [None, A]])", lambda A, B, o: o.lib.bmat([[A, B], [None, A]]))
    op("block_diag([A, B])", lambda A, B, o: o.lib.block_diag([A, B]))
    op("kron(Am, Bm)", lambda A, B, o: o.lib.kron(o.Am, o.Bm, format="csr"))
    op("tril(A)", lambda A, B, o: o.lib.tril(A))
    op("triu(A, k=1)", lambda A, B, o: o.lib.triu(A, k=1))
    op("diags_array([x, x[1:]], csr) (x mx)",
       lambda A, B, o: o.lib.diags_array([o.x, o.x[1:]], offsets=[0, 1], format="csr"),
       grad="x", cupy=lambda A, B, o: o.lib.diags([o.x, o.x[1:]], [0, 1], format="csr"))
    op("diags([x], [0]) (x mx)", lambda A, B, o: o.lib.diags([o.x], [0]), grad="x")
    # -- complex parts
    op("A.real", lambda A, B, o: A.real)
    op("A.imag", lambda A, B, o: A.imag)
    op("A.conj()", lambda A, B, o: A.conj())
    op("Ac.real (complex64)", lambda A, B, o: o.Ac.real, grad=None)
    op("Ac.conj() (complex64)", lambda A, B, o: o.Ac.conj(), grad=None)
    # -- serialisation (leaves the graph by construction)
    op("pickle round trip", lambda A, B, o: pickle.loads(pickle.dumps(A)), grad=None,
       cupy=False)
    op("npz save/load (BytesIO)", lambda A, B, o: _npz(A, o), grad=None)
    # -- products and chains that end in one
    op("A @ x", lambda A, B, o: A @ o.x, grad="Ax")
    op("A @ X (8 columns)", lambda A, B, o: A @ o.X)
    op("A.dot(x)", lambda A, B, o: A.dot(o.x), grad="Ax")
    op("A.T @ x", lambda A, B, o: A.T @ o.x, grad="Ax")
    op("x @ A", lambda A, B, o: o.x @ A, grad="Ax")
    op("A @ x (numpy)", lambda A, B, o: A @ o.xn, grad=None)
    op("A.tocsc() @ x", lambda A, B, o: A.tocsc() @ o.x, grad="Ax")
    op("A[r0:r1] @ X", lambda A, B, o: A[o.r0:o.r1] @ o.X)
    op("(A / 2) @ x", lambda A, B, o: (A / 2.0) @ o.x, grad="Ax")
    op("(A + A) @ x", lambda A, B, o: (A + A) @ o.x, grad="Ax")
    op("(A.multiply(B) + A.T) @ x", lambda A, B, o: (A.multiply(B) + A.T) @ o.x, grad="Ax")
    op("A[:, idx].sum(axis=0)", lambda A, B, o: A[:, o._dense_ix(o.idx)].sum(axis=0))
    return L


def _imul(A):
    A *= 2.0
    return A


def _idiv(A):
    A /= 2.0
    return A


OPS = _ops()
BY_NAME = {o.name: o for o in OPS}
assert len(BY_NAME) == len(OPS), "op names must be unique"


# -- turning a result into something to differentiate ------------------------
class NotMLX(Exception):
    """The op gave a numpy/scalar result for traced MLX values (nothing a
    gradient can flow through; not a silent zero, but not differentiable)."""


def differentiable_form(r, traced=True):
    """The MLX float array a loss is built from: MLX results as they are, our
    sparse arrays as a dense product with the identity (the product is
    differentiable and checked elsewhere), so the op's own gradient path is
    what is tested.  A numpy or scalar result raises `NotMLX` for ``traced``
    values; for concrete ones (finite differences) it is taken as it is."""
    if isinstance(r, mx.array):
        return r
    if sp.issparse(r) and not isinstance(r, (ss.sparray, ss.spmatrix)):
        eye = mx.eye(r.shape[-1], dtype=mx.float64 if r.dtype == np.float64 else mx.float32)
        # a 1-D result (A[i]) as one row: the 1-D product runs through scipy
        return (r if r.ndim == 2 else r.reshape((1, r.shape[0]))) @ eye
    if traced or isinstance(r, (ss.sparray, ss.spmatrix, tuple)) or r is None:
        raise NotMLX(type(r).__name__)
    return mx.array(np.asarray(r, dtype=np.float64), dtype=mx.float64)


def sync(r):
    """Wait for a result: evaluate the MLX arrays it holds (lazy values and
    lazily built index arrays of our sparse results)."""
    if isinstance(r, mx.array):
        mx.eval(r)
    elif isinstance(r, (tuple, list)):
        for v in r:
            sync(v)
    elif sp.issparse(r) and not isinstance(r, (ss.sparray, ss.spmatrix)):
        arrays = [v for v in vars(r).values() if isinstance(v, mx.array)]
        if arrays:
            mx.eval(*arrays)
    return r
