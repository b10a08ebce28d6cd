"""Concurrent readers: several threads using one array read-only get scipy's
answers and leave the array as it was (issue 12).  Bounded in time: every
thread is joined with a deadline and the test fails if one is still running."""
import threading

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp

N_THREADS = 6
ROUNDS = 16
DEADLINE_S = 120


def _ops(A, S, x, X):
    """name -> (ours, scipy's) callables giving dense numpy results."""
    xm, Xm = mx.array(x), mx.array(X)
    return {
        "T.tocsr": (lambda: A.T.tocsr().toarray(), lambda: S.T.tocsr().toarray()),
        "tocsc": (lambda: A.tocsc().toarray(), lambda: S.tocsc().toarray()),
        "tocoo": (lambda: A.tocoo().toarray(), lambda: S.tocoo().toarray()),
        "A+A": (lambda: (A + A).toarray(), lambda: (S + S).toarray()),
        "A*2": (lambda: (A * 2).toarray(), lambda: (S * 2).toarray()),
        "sum0": (lambda: np.asarray(A.sum(axis=0)), lambda: S.sum(axis=0)),
        "A@x": (lambda: A @ x, lambda: S @ x),
        "A@X": (lambda: A @ X, lambda: S @ X),
        "A.T@X": (lambda: A.T @ X, lambda: S.T @ X),
        "A@xm": (lambda: np.array(A @ xm), lambda: S @ x),
        "A.T@Xm": (lambda: np.array(A.T @ Xm), lambda: S.T @ X),
        "handles": (lambda: np.array(A.indices).sum() + np.array(A.data).sum() * 0,
                    lambda: S.indices.sum()),
        "grad": (lambda: np.array(mx.grad(lambda v: mx.sum(
                    type(A)((v, A.indices, A.indptr), shape=A.shape) @ Xm))(A.data)),
                 lambda: _grad_ref(S, X)),
    }


def _grad_ref(S, X):
    # d/d data sum(A @ X) = sum of the row of X each stored entry multiplies
    return X.sum(axis=1)[S.indices]


def _run_threads(ops, n_threads=N_THREADS, rounds=ROUNDS):
    errors = []
    refs = {k: r() for k, (_, r) in ops.items()}
    names = list(ops)

    def work(t):
        for i in range(rounds):
            k = names[(t + i) % len(names)]
            try:
                got = ops[k][0]()
                np.testing.assert_allclose(np.asarray(got, dtype=np.float64),
                                           np.asarray(refs[k], dtype=np.float64),
                                           rtol=1e-4, atol=1e-4)
            except Exception as e:      # collected; the test asserts none happened
                errors.append((k, repr(e)[:200]))
    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S)
    assert not any(t.is_alive() for t in threads), "a reader thread did not finish in time"
    return errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_concurrent_readers_of_one_csr_array(dtype):
    S = ss.random_array((3000, 2000), density=0.01, format="csr", dtype=dtype, rng=0)
    A = sp.csr_array(S)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(2000).astype(dtype)
    X = rng.standard_normal((2000, 4)).astype(dtype)
    Xt = rng.standard_normal((3000, 4)).astype(dtype)
    ops = _ops(A, S, x, X)
    if dtype == np.float64 and mx.default_device() == mx.gpu:
        del ops["grad"]         # the loss's own float64 ops would need the CPU stream
    ops["A.T@X"] = (lambda: A.T @ Xt, lambda: S.T @ Xt)
    ops["A.T@Xm"] = (lambda: np.array(A.T @ mx.array(Xt)), lambda: S.T @ Xt)
    assert _run_threads(ops) == []
    # and the array is as it was
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    np.testing.assert_array_equal(np.array(A.indptr), S.indptr)


@pytest.mark.parametrize("fmt", ["csc", "coo"])
def test_concurrent_readers_of_csc_and_coo(fmt):
    S = ss.random_array((1500, 1500), density=0.01, format=fmt, dtype=np.float32, rng=2)
    A = getattr(sp, fmt + "_array")(S)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(1500).astype(np.float32)
    X = rng.standard_normal((1500, 3)).astype(np.float32)
    xm = mx.array(x)
    ops = {
        "tocsr": (lambda: A.tocsr().toarray(), lambda: S.tocsr().toarray()),
        "T": (lambda: A.T.toarray(), lambda: S.T.toarray()),
        "A@x": (lambda: A @ x, lambda: S @ x),
        "A.T@X": (lambda: A.T @ X, lambda: S.T @ X),
        "A@xm": (lambda: np.array(A @ xm), lambda: S @ x),
        "sum1": (lambda: np.asarray(A.sum(axis=1)), lambda: S.sum(axis=1)),
    }
    assert _run_threads(ops) == []
    np.testing.assert_array_equal(A.toarray(), S.toarray())


def test_first_uses_race_in_fresh_arrays():
    """Public handles, structure checks and kept products are made lazily by
    whichever thread comes first: many fresh arrays, every thread at once."""
    S = ss.random_array((400, 300), density=0.05, format="csr", dtype=np.float32, rng=4)
    x = np.ones(300, np.float32)
    ref = S @ x
    errors = []
    for _ in range(10):
        A = sp.csr_array(S)
        barrier = threading.Barrier(N_THREADS)

        def work():
            try:
                barrier.wait(10)
                ind = A.indices
                y = np.array(A @ mx.array(x))
                np.testing.assert_allclose(y, ref, rtol=1e-5)
                assert ind is A.indices     # one handle, whoever made it
            except Exception as e:
                errors.append(repr(e)[:200])
        ts = [threading.Thread(target=work, daemon=True) for _ in range(N_THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(DEADLINE_S)
        assert not any(t.is_alive() for t in ts)
    assert errors == []


def _view_ops(A, S, idx):
    """The CPU default's paths on views (session 11): name -> (ours,
    scipy's), dense numpy results."""
    dense = (lambda r: r.toarray() if ss.issparse(r) or sp.issparse(r) else np.asarray(r))
    pairs = {
        "max0": lambda M: M.max(axis=0), "argmin1": lambda M: M.argmin(axis=1),
        "argmax": lambda M: np.asarray(M.argmax()), "todense": lambda M: M.todense(),
        "cols": lambda M: M[:, idx], "colrange": lambda M: M[:, 100:900],
        "row": lambda M: M[7], "tril": lambda M: (sp if M is A else ss).tril(M, -3),
        "hstack": lambda M: (sp if M is A else ss).hstack([M, M]),
        "kron": lambda M: (sp if M is A else ss).kron(M[:20, :20], M[:10, :10], format="csr"),
        "reshape": lambda M: M.reshape((M.shape[1], M.shape[0])),
        "nonzero": lambda M: np.stack(M.nonzero()),
        "count1": lambda M: M.count_nonzero(axis=1), "eq": lambda M: (M == M.T.T),
    }
    return {k: (lambda f=f: dense(f(A)), lambda f=f: dense(f(S))) for k, f in pairs.items()}


def test_concurrent_readers_of_the_view_paths():
    """Several threads on one fresh array (first uses race: handles, checks,
    the kept transposition and reshape coordinates) through the paths on
    views: scipy's answers, the array as it was."""
    import warnings
    S = ss.random_array((1200, 1000), density=0.01, format="csr", dtype=np.float32, rng=4)
    A = sp.csr_array(S)
    idx = np.random.default_rng(5).integers(0, 1000, 300)
    with warnings.catch_warnings():                 # (== of two sparse arrays warns)
        warnings.simplefilter("ignore", ss.SparseEfficiencyWarning)
        assert _run_threads(_view_ops(A, S, idx)) == []
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    np.testing.assert_array_equal(np.array(A.indices), S.indices)
