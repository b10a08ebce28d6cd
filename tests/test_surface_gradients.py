"""No silent gradients over the everyday-op surface (issue 13).

Walks `benchmarks/surface_ops.OPS` (the list the surface benchmark times):
for every op whose result is MLX values or one of our arrays, mx.grad of a
scalar loss of the result with respect to A's values (and the dense MLX
operand where the op takes one) either matches central finite differences
in float64 or raises NotImplementedError.  A gradient that comes back wrong
or zero without a word is a failure.  Chains that end in a product are
checked entry by entry, and the ops whose gradient is right today are held
to it.
"""
import sys
import warnings
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the benchmarks package

import mlx_scipy_sparse as sp                                         # noqa: E402
from benchmarks.surface import Grad, gradient_check, random_pair, runs_in_mlx  # noqa: E402
from benchmarks.surface_ops import BY_NAME, OPS, UNARY, Operands     # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")

# Ops whose gradient matched central differences when this test was written:
# they must stay right (a NotImplementedError here is a regression too).
GRAD_OK_TODAY = (
    "A + B", "A - B", "A * B", "Ak + D (mx)", "D (mx) - Ak", "Ak * D (numpy)", "Ak * D (mx)",
    "D (mx) * Ak", "Ak / D (mx)", "A * 2", "2 * A", "A / 2", "A *= 2", "A /= 2", "-A",
    "abs(A)", "abs(A - B)", "A.multiply(B)", "A.multiply(row)", "A.multiply(row mx)",
    "A.multiply(col)", "A.maximum(B)", "A.minimum(B)", "A.power(2)", "A.power(0.5)", "A ** 2",
    *(f"A.{f}()" for f in UNARY),
    "round(A, 1)", "A.sum()", "A.sum(axis=0)", "A.sum(axis=1)", "A.mean()", "A.mean(axis=0)",
    "A.mean(axis=1)", "A.diagonal()", "A.diagonal(k=1)", "A.tocsr()", "A.tocsc()",
    "A.tocoo()", "A.T.tocsr()", "A.tocoo().tocsr()", "A.tocsc().tocsr()", "Ak.toarray()",
    "Ak.todense()", "A.copy()", "coo_array((A.data, (row, col)))", "A.asformat('csc')",
    "A.transpose()", "A.astype(float64)", "A.sort_indices() (sorted)",
    "A.sum_duplicates() (canonical)", "A.eliminate_zeros() (none)", "A[i, j] (stored)",
    "A[i] (row)", "A[r0:r1] (rows)", "A[:, c0:c1] (columns)", "A[::2] (step)",
    "A[idx] (fancy rows)", "A[:, idx] (fancy columns)", "A[idx, idx] (fancy pairs)",
    "A[mask] (boolean rows)", "A[:, mask] (boolean columns)", "Amat.getrow(i)",
    "Amat.getcol(j)", "A[i, j] = 3 (stored)", "A[rows, cols] = 3 (stored)",
    "A.reshape(2n, n/2)", "hstack([A, B])", "vstack([A, B])", "bmat([[A, B], [None, A]])",
    "block_diag([A, B])", "kron(Am, Bm)", "tril(A)", "triu(A, k=1)", "A.real", "A.imag",
    "A.conj()", "A @ x", "A @ X (8 columns)", "A.dot(x)", "A.T @ x", "x @ A", "A.tocsc() @ x",
    "A[r0:r1] @ X", "(A / 2) @ x", "(A + A) @ x", "(A.multiply(B) + A.T) @ x",
    "A[:, idx].sum(axis=0)")

# Ops the surface benchmark finds in MLX (no scipy hand-off) today.
IN_MLX_TODAY = (
    "Ak + D (mx)", "D (mx) - Ak", "Ak * D (mx)", "D (mx) * Ak", "Ak / D (mx)", "A * 2",
    "2 * A", "A / 2", "A *= 2", "A /= 2", "-A", "abs(A)", "A.multiply(row mx)", "A.power(2)",
    "A.power(0.5)", "A ** 2", *(f"A.{f}()" for f in UNARY), "round(A, 1)", "A.tocsr()",
    "A.tocsc()", "A.tocoo()", "A.T.tocsr()", "A.tocoo().tocsr()", "A.tocsc().tocsr()",
    "A.copy()", "coo_array((A.data, (row, col)))", "A.asformat('csc')", "A.transpose()",
    "A.astype(float64)", "A.astype(int32)", "A.sort_indices() (sorted)",
    "A.sum_duplicates() (canonical)", "A.eliminate_zeros() (none)", "A.has_canonical_format",
    "diags_array([x, x[1:]], csr) (x mx)", "diags([x], [0]) (x mx)", "A.real", "A.imag",
    "A.conj()", "Ac.real (complex64)", "Ac.conj() (complex64)", "A @ x", "A @ X (8 columns)",
    "A.dot(x)", "A.T @ x", "x @ A", "A @ x (numpy)", "A.tocsc() @ x", "(A / 2) @ x",
    "csr_array(A)", "csc_array(A)", "coo_array(A)", "csr_matrix(A)")

DIFFERENTIABLE = [op.name for op in OPS if op.grad is not None]


@pytest.fixture(scope="module")
def G():
    return Grad()


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradient_is_right_or_refused(G, name):
    """mx.grad matches central differences, or the op refuses under mx.grad
    (NotImplementedError), or its result for traced values is numpy (no MLX
    array a loss could silently detach from)."""
    status, detail = gradient_check(BY_NAME[name], G)
    assert status in ("ok", "NotImplementedError", "numpy"), f"{name}: {status} {detail}"
    if name in GRAD_OK_TODAY:
        assert status == "ok", f"{name} regressed: {status} {detail}"


def test_the_list_covers_the_issue():
    """Every family of the issue's 'Cover at least' list has entries."""
    names = " ".join(op.name for op in OPS)
    for needle in ("A + B", "D (numpy)", "D (mx)", "A * 2", "A / 2", "multiply", "maximum",
                   "minimum", "power", "**", "abs", "-A", "!=", "<", "sqrt", "sin", "expm1",
                   "log1p", "rint", "sign", "sum(", "mean(", "max(", "min(", "argmax",
                   "argmin", "diagonal", "trace", "nonzero", "count_nonzero", "tocsr",
                   "tocsc", "tocoo", "toarray", "todense", "copy", "astype", "sort_indices",
                   "sum_duplicates", "eliminate_zeros", "A[i, j]", "(rows)", "(columns)",
                   "fancy", "boolean", "= 3", "setdiag", "resize", "reshape", "getrow",
                   "getcol", "hstack", "vstack", "bmat", "block_diag", "kron", "tril", "triu",
                   "diags", ".real", ".imag", "conj", "pickle", "npz", "x @ A", "A @ x",
                   "A.T @ x"):
        assert needle in names, needle
    assert len(OPS) >= 140


def test_ops_in_mlx_today_stay_in_mlx():
    SA, SB = random_pair(64, 0.1, np.float32, seed=4)
    o = Operands(sp.csr_array(SA), sp.csr_array(SB), SA, SB, "ours")
    o_sc = Operands(SA, SB, SA, SB, "scipy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        where = {name: runs_in_mlx(BY_NAME[name], o, o_sc) for name in IN_MLX_TODAY}
    assert {n: w for n, w in where.items() if w not in ("yes", "pattern")} == {}


# -- chains that end in a product: every entry of the gradient ---------------------


def _full_check(f, v0, x0, wrt, eps=1e-6):
    """mx.grad of sum(W * f(v, x)) against central differences entry by entry
    for the arguments in ``wrt`` (0: A's values, 1: the dense operand)."""
    out = f(v0, x0)
    W = mx.array(np.random.default_rng(0).uniform(-1, 1, out.shape), dtype=mx.float64)

    def loss(v, x):
        return mx.sum(W * f(v, x))
    gv, gx = mx.grad(loss, argnums=(0, 1))(v0, x0)
    for arg, g in [(a, (gv, gx)[a]) for a in wrt]:
        base = [np.array(v0), np.array(x0)]
        fd = np.zeros(base[arg].size)
        for e in range(fd.size):
            vals = []
            for s in (1, -1):
                p = [b.copy() for b in base]
                p[arg].reshape(-1)[e] += s * eps
                vals.append(loss(mx.array(p[0], dtype=mx.float64),
                                 mx.array(p[1], dtype=mx.float64)).item())
            fd[e] = (vals[0] - vals[1]) / (2 * eps)
        np.testing.assert_allclose(np.array(g).reshape(-1), fd, rtol=1e-6, atol=1e-8,
                                   err_msg=f"gradient w.r.t. argument {arg}")
        assert np.abs(fd).max() > 0            # the check can fail on a zero gradient


# name -> (f(A, B, x, idx), x's ndim, arguments differentiated)
CHAINS = {
    "A.tocsc() @ x": (lambda A, B, x, idx: A.tocsc() @ x, 1, (0, 1)),
    "A[10:50] @ X": (lambda A, B, X, idx: A[10:50] @ X, 2, (0, 1)),
    "(A / 2.0) @ x": (lambda A, B, x, idx: (A / 2.0) @ x, 1, (0, 1)),
    "(A + A) @ x": (lambda A, B, x, idx: (A + A) @ x, 1, (0, 1)),
    "(A.multiply(B) + A.T) @ x": (lambda A, B, x, idx: (A.multiply(B) + A.T) @ x, 1, (0, 1)),
    "A[:, idx].sum(axis=0)": (lambda A, B, x, idx: A[:, idx].sum(axis=0), 1, (0,)),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_chain_into_a_product_differentiates_entry_by_entry(name):
    f, ndim, wrt = CHAINS[name]
    SA, SB = random_pair(60, 0.025, np.float64, 0.1, 0.9, seed=11)
    idx = np.array([3, 7, 20, 41, 59])
    x0 = np.random.default_rng(2).uniform(-1, 1, (60,) if ndim == 1 else (60, 3))
    with mx.stream(mx.cpu):
        A0, B = sp.csr_array(SA), sp.csr_array(SB)

        def g(v, x):
            A = sp.csr_array((v, A0.indices, A0.indptr), shape=A0.shape)
            return f(A, B, x, idx)
        # the value itself is scipy's
        want = f(SA, SB, x0, idx)
        got = g(A0.data, mx.array(x0, dtype=mx.float64))
        np.testing.assert_allclose(np.array(got), np.asarray(want).reshape(np.shape(got)),
                                   rtol=1e-12, atol=1e-12)
        _full_check(g, A0.data, mx.array(x0, dtype=mx.float64), wrt)


def test_a_zero_gradient_is_caught_by_the_check(G):
    """The walk's check is not blind: values taken off the graph fail it."""
    from benchmarks.surface_ops import Op
    detached = Op("detached", lambda A, B, o: sp.csr_array(
        (mx.stop_gradient(A.data), A.indices, A.indptr), shape=A.shape) @ o.x, grad="Ax")
    status, detail = gradient_check(detached, G)
    assert status == "WRONG", detail
