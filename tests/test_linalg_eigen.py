"""eigsh (our thick-restart Lanczos and the ARPACK fallback), eigs, svds, lobpcg,
against scipy's ARPACK and dense numpy (float64)."""
import numpy as np
import pytest
import mlx.core as mx
import scipy.sparse as ss
import scipy.sparse.linalg as sl

import mlx_scipy_sparse as sp
from mlx_scipy_sparse.linalg import _eigen


def _graph_laplacian(n, seed=0):
    """Normalized Laplacian of a connected random graph (a spanning path plus
    random edges): eigenvalues in [0, 2], well separated at the top."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    r = np.concatenate([rng.integers(0, n, 3 * n), perm[:-1]])
    c = np.concatenate([rng.integers(0, n, 3 * n), perm[1:]])
    keep = r != c
    W = ss.coo_array((np.ones(keep.sum()), (r[keep], c[keep])), shape=(n, n)).tocsr()
    W = W + W.T
    W.data[:] = 1.0
    d = 1 / np.sqrt(np.asarray(W.sum(axis=1)).ravel())
    return (ss.eye_array(n) - ss.diags_array(d) @ W @ ss.diags_array(d)).tocsr()


@pytest.fixture(scope="module")
def lap():
    L = _graph_laplacian(1100)
    return L, np.linalg.eigvalsh(L.toarray())


def _expected(w_all, k, which):
    if which == "LA":
        return w_all[-k:]
    if which == "SA":
        return w_all[:k]
    if which == "LM":
        return np.sort(w_all[np.argsort(-np.abs(w_all))[:k]])
    return np.sort(np.concatenate([w_all[:k // 2], w_all[len(w_all) - (k - k // 2):]]))


@pytest.mark.parametrize("which", ["LA", "SA", "LM", "BE"])
def test_ours_matches_dense_eigenvalues(lap, which):
    L, w_all = lap
    assert L.shape[0] >= _eigen.OURS_FROM       # our Lanczos runs, not ARPACK
    w, X = sp.linalg.eigsh(sp.csr_array(L), k=6, which=which)
    assert isinstance(w, np.ndarray) and w.dtype == np.float64 and X.shape == (1100, 6)
    assert np.all(np.diff(w) >= 0)              # ascending, as ARPACK returns them
    np.testing.assert_allclose(w, _expected(w_all, 6, which), atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(L @ X - X * w, axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(X.T @ X, np.eye(6), atol=1e-10)


def test_ours_agrees_with_arpack_and_is_deterministic(lap):
    L, _ = lap
    A = sp.csr_array(L)
    w1 = sp.linalg.eigsh(A, k=5, which="LA", return_eigenvectors=False)
    w2 = sp.linalg.eigsh(A, k=5, which="LA", return_eigenvectors=False)
    np.testing.assert_array_equal(w1, w2)
    ref = np.sort(sl.eigsh(L, k=5, which="LA", return_eigenvectors=False))
    np.testing.assert_allclose(w1, ref, atol=1e-11)


def test_ours_on_scipy_input_operator_and_v0(lap):
    L, w_all = lap
    op = sp.linalg.aslinearoperator(sp.csr_array(L))
    v0 = np.ones(L.shape[0])
    for A in (L, op, sl.aslinearoperator(L)):
        w = sp.linalg.eigsh(A, k=4, which="LA", v0=v0, ncv=12, return_eigenvectors=False)
        np.testing.assert_allclose(w, w_all[-4:], atol=1e-10)


def test_mlx_in_mlx_out(lap):
    L, w_all = lap
    v0 = mx.array(np.ones(L.shape[0]), dtype=mx.float64)
    w, X = sp.linalg.eigsh(sp.csr_array(L), k=3, which="LA", v0=v0)
    assert isinstance(w, mx.array) and isinstance(X, mx.array)
    np.testing.assert_allclose(np.array(w), w_all[-3:], atol=1e-10)


def test_float32_input_gives_float32(lap):
    L, w_all = lap
    w, X = sp.linalg.eigsh(sp.csr_array(L.astype(np.float32)), k=3, which="LA")
    assert w.dtype == np.float32 and X.dtype == np.float32
    np.testing.assert_allclose(w, w_all[-3:], atol=1e-5)


def test_refused_under_grad(lap):
    L, _ = lap
    A = sp.csr_array(L)

    def f(d):
        B = sp.csr_array((d, A.indices, A.indptr), shape=L.shape)
        return mx.sum(sp.linalg.eigsh(B, k=2, which="LA", return_eigenvectors=False))
    with pytest.raises(NotImplementedError, match="not differentiable"), mx.stream(mx.cpu):
        mx.grad(f)(A.data)          # float64 MLX work: the CPU stream (GPUs refuse it)


def test_no_convergence_raises_arpack_error(lap):
    L, _ = lap
    with pytest.raises(sl.ArpackNoConvergence) as e:
        sp.linalg.eigsh(sp.csr_array(L), k=6, which="SA", maxiter=1, ncv=8)
    assert len(e.value.eigenvalues) < 6


def test_bad_ncv(lap):
    L, _ = lap
    with pytest.raises(ValueError, match="ncv must be k<ncv<=n"):
        sp.linalg.eigsh(sp.csr_array(L), k=6, ncv=6)


@pytest.mark.parametrize("dtype,use_vdot,tol,atol", [(np.float64, True, 1e-12, 1e-9),
                                                      (np.float32, False, 1e-6, 2e-5)])
def test_mlx_space_and_vdot_path(lap, dtype, use_vdot, tol, atol):
    """The MLX vectors of the GPU / distributed path (here on the CPU stream;
    float64 with inner products through the operator's vdot, float32 as on a GPU)."""
    L, w_all = lap
    A = sp.csr_array(L.astype(dtype))
    op = sp.linalg.aslinearoperator(A)
    space = _eigen._MlxSpace(lambda x: A @ x, L.shape[0], dtype,
                             vdot=op.vdot if use_vdot else None)
    v0 = np.random.default_rng(2).uniform(-1, 1, L.shape[0])
    theta, S, ok, V = _eigen.lanczos(space, 4, "LA", v0, 16, 500, tol,
                                        float(np.finfo(dtype).eps))
    assert ok.all()
    np.testing.assert_allclose(np.sort(theta), w_all[-4:], atol=atol)
    X = np.array(space.ritz(V, 16, S).astype(mx.float64, stream=mx.cpu))
    np.testing.assert_allclose(np.linalg.norm(L @ X - X * theta, axis=0), 0, atol=atol * 10)


def test_queued_cycle_matches_synced_steps_and_survives_breakdown(lap):
    """The GPU's queued Lanczos cycle (no sync a step) against the step-by-step
    one; and where v0 lies in a 3-dimensional invariant subspace (a beta
    of zero that the queued cycle cannot see in time), the answer of the
    step-by-step iteration, which it falls back to."""
    L, w_all = lap
    A = sp.csr_array(L.astype(np.float32))
    v0 = np.random.default_rng(2).uniform(-1, 1, L.shape[0])
    eps = float(np.finfo(np.float32).eps)
    got = []
    for synced in (False, True):
        space = _eigen._MlxSpace(lambda x: A @ x, L.shape[0], np.float32)
        assert hasattr(space, "cycle")
        space = _eigen._Synced(space) if synced else space
        theta, S, ok, V = _eigen.lanczos(space, 4, "LA", v0, 16, 500, 1e-6, eps)
        assert ok.all()
        got.append(np.sort(theta))
    np.testing.assert_allclose(got[0], w_all[-4:], atol=2e-5)
    np.testing.assert_allclose(got[0], got[1], atol=2e-5)
    n = 1500
    D = sp.csr_array(ss.diags_array(np.linspace(1.0, 2.0, n).astype(np.float32)).tocsr())
    v0 = np.zeros(n)
    v0[:3] = 1.0
    space = _eigen._MlxSpace(lambda x: D @ x, n, np.float32)
    theta, S, ok, V = _eigen.lanczos(space, 3, "LA", v0, 12, 500, 1e-6, eps)
    assert ok.all()
    np.testing.assert_allclose(np.sort(theta), np.linspace(1.0, 2.0, n)[-3:], atol=1e-5)


def test_distributed_operator_runs_ours():
    """An operator whose local_shape differs from its shape must not reach ARPACK."""
    L = _graph_laplacian(300, seed=4)
    inner = sp.linalg.aslinearoperator(sp.csr_array(L))

    class Local(sp.linalg.LinearOperator):       # one rank holding everything
        def __init__(self):
            super().__init__(np.float64, (300, 300))

        @property
        def local_shape(self):
            return (300, 1)          # differs from shape: the distributed code path

        def _matvec(self, x):
            return inner.matvec(x)

        def vdot(self, x, y):
            calls["vdot"] += 1
            return inner.vdot(x, y)
    calls = {"vdot": 0, "vdots": 0}
    w = sp.linalg.eigsh(Local(), k=3, which="LA", return_eigenvectors=False,
                        v0=mx.array(np.ones(300), dtype=mx.float64))
    np.testing.assert_allclose(np.array(w), np.linalg.eigvalsh(L.toarray())[-3:], atol=1e-9)
    assert calls["vdot"] > 0

    class Blocked(Local):           # marked distributed, with a block inner product
        distributed = True

        @property
        def local_shape(self):
            return (300, 300)

        def vdots(self, V, y):
            calls["vdots"] += 1
            return V @ y
    calls.update(vdot=0, vdots=0)
    w = sp.linalg.eigsh(Blocked(), k=3, which="LA", return_eigenvectors=False,
                        v0=mx.array(np.ones(300), dtype=mx.float64))
    np.testing.assert_allclose(np.array(w), np.linalg.eigvalsh(L.toarray())[-3:], atol=1e-9)
    assert calls["vdots"] > 0


# -- the ARPACK fallback and the hosted eigensolvers -----------------------------------
def test_small_problems_are_arpacks_answer():
    L = _graph_laplacian(60, seed=1)
    v0 = np.ones(60)
    w = sp.linalg.eigsh(sp.csr_array(L), k=3, which="LM", v0=v0, return_eigenvectors=False)
    np.testing.assert_array_equal(w, sl.eigsh(L, k=3, which="LM", v0=v0,
                                              return_eigenvectors=False))
    ws = sp.linalg.eigsh(sp.csc_array(L), k=2, sigma=0.5, v0=v0, return_eigenvectors=False)
    np.testing.assert_allclose(ws, sl.eigsh(L.tocsc(), k=2, sigma=0.5, v0=v0,
                                            return_eigenvectors=False), rtol=1e-12)


def test_eigs_svds_lobpcg_through_the_host():
    rng = np.random.default_rng(3)
    S = ss.random_array((50, 50), density=0.2, rng=rng, format="csr") + ss.eye_array(50)
    A = sp.csr_array(S)
    v0 = np.ones(50)
    w = sp.linalg.eigs(A, k=3, v0=v0, return_eigenvectors=False)
    np.testing.assert_allclose(np.sort_complex(w),
                               np.sort_complex(sl.eigs(S, k=3, v0=v0, return_eigenvectors=False)),
                               rtol=1e-10)
    s = sp.linalg.svds(A, k=3, return_singular_vectors=False, rng=0)
    np.testing.assert_allclose(np.sort(s), np.sort(np.linalg.svd(S.toarray())[1])[-3:],
                               rtol=1e-10)
    L = _graph_laplacian(200, seed=5)
    X = mx.array(rng.standard_normal((200, 3)), dtype=mx.float64)
    lam, V = sp.linalg.lobpcg(sp.csr_array(L), X, tol=1e-9, maxiter=500, largest=True)
    assert isinstance(lam, mx.array) and isinstance(V, mx.array)
    np.testing.assert_allclose(np.sort(np.array(lam)), np.linalg.eigvalsh(L.toarray())[-3:],
                               atol=1e-6)


def test_dense_mlx_operator_runs_ours(lap):
    """A dense MLX float64 matrix (n >= OURS_FROM): our Lanczos on a host copy, MLX out."""
    L, w_all = lap
    w, X = sp.linalg.eigsh(mx.array(L.toarray(), dtype=mx.float64), k=3, which="LA")
    assert isinstance(w, mx.array) and w.dtype == mx.float64 and isinstance(X, mx.array)
    np.testing.assert_allclose(np.array(w), w_all[-3:], atol=1e-10)
    Xn = np.array(X)
    np.testing.assert_allclose(np.linalg.norm(L @ Xn - Xn * np.array(w), axis=0), 0, atol=1e-9)
