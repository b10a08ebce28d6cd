"""The threaded CPU backend: row blocks, the worker queue, fresh outputs
zeroed block by block, and both ways of handing MLX its output (copied from
numpy below _cpu.COPY_OUT_BELOW elements, written in place above)."""
import os
import signal
import time

import numpy as np
import mlx.core as mx
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import _kernels
from mlx_scipy_sparse._kernels import _cpu


@pytest.fixture(autouse=True)
def cpu_default():
    """These tests are about the CPU backend: on a GPU machine, the default
    device would send float32/float16 products to the GPU kernels instead."""
    saved = mx.default_device()
    mx.set_default_device(mx.cpu)
    yield
    mx.set_default_device(saved)


def _big(m, n, seed, dtype=np.float64):
    # nnz well above _PARALLEL_NNZ, so every product takes the threaded path
    S = ss.random_array((m, n), density=min(1.0, 2.5 * _cpu._PARALLEL_NNZ / (m * n)),
                        format="csr", rng=seed, dtype=dtype)
    assert S.nnz >= _cpu._PARALLEL_NNZ
    return S


@pytest.mark.parametrize("idx", [np.int32, np.int64])
@pytest.mark.parametrize("parts", [1, 2, 3, 8])
def test_blocks_cover_all_rows_in_order(idx, parts):
    S = _big(5000, 300, 0)
    ptr = S.indptr.astype(idx)
    b = _cpu._blocks(ptr, parts)
    assert b[0] == 0 and b[-1] == 5000 and b == sorted(set(b))
    assert len(b) - 1 <= parts
    sizes = np.diff(ptr[b])
    assert sizes.max() <= S.nnz / parts + np.diff(ptr).max()


def test_blocks_of_empty_and_tiny_patterns():
    assert _cpu._blocks(np.array([0], np.int32), 2) == [0, 0]
    assert _cpu._blocks(np.zeros(4, np.int64), 2) == [0, 3]       # rows, no entries
    assert _cpu._blocks(np.array([0, 5], np.int32), 4) == [0, 1]  # fewer rows than parts


def test_run_re_raises_from_the_caller_and_from_workers():
    ran = []

    def ok():
        ran.append(1)

    def bad():
        raise KeyError("x")
    with pytest.raises(KeyError):
        _cpu._run([ok, bad, ok])      # failure on a worker
    with pytest.raises(KeyError):
        _cpu._run([bad, ok, ok])      # failure on the caller: still waits for the rest
    assert len(ran) == 4
    _cpu._run([ok, ok, ok, ok, ok])   # more jobs than workers; queue still usable
    assert len(ran) == 9


@pytest.mark.parametrize("k", [None, 1, 7])
def test_numpy_fresh_output_is_zeroed_per_block(k):
    S = _big(30000, 400, 1)
    X = np.random.default_rng(2).standard_normal(400 if k is None else (400, k))
    for _ in range(3):       # reused allocations hold old values unless zeroed
        Y = _cpu.spmm(S.data, S.indices, S.indptr, *S.shape, X)
        np.testing.assert_allclose(Y, S @ X, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [None, 4, 40])   # outputs below and above COPY_OUT_BELOW
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mx_threaded_products_match_scipy_and_keep_dtype(k, dtype):
    S = _big(20000, 500, 3, dtype)
    A = sp.csr_array(S)
    X = np.random.default_rng(4).standard_normal(500 if k is None else (500, k)).astype(dtype)
    assert (X.size // 500) * 20000 != _cpu.COPY_OUT_BELOW
    for _ in range(2):
        Y = A @ sp._arrays.to_mx(X)   # mx.array would round float64 to float32
        assert Y.dtype == sp._arrays.mx_dtype(dtype)
        ref = S.astype(np.float64) @ X.astype(np.float64)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(np.array(Y), ref, rtol=tol, atol=tol)


def test_mx_threaded_float16_product_stays_float16():
    # float16 is computed in float32 (sparsetools has no half) and then cast
    S = _big(20000, 500, 5, np.float32)
    d16 = S.data.astype(np.float16)
    X = np.random.default_rng(6).standard_normal((500, 3)).astype(np.float16)
    Y = _kernels.spmm(mx.array(d16), mx.array(S.indices), mx.array(S.indptr), S.shape,
                      mx.array(X))
    assert Y.dtype == mx.float16
    S16 = ss.csr_array((d16.astype(np.float32), S.indices, S.indptr), shape=S.shape)
    ref = (S16 @ X.astype(np.float32)).astype(np.float16)
    np.testing.assert_array_equal(np.array(Y), ref)


@pytest.mark.parametrize("k", [None, 40])
def test_grad_through_threaded_path_matches_dense(k):
    S = _big(20000, 500, 7)
    A = sp.csr_array(S)
    rng = np.random.default_rng(8)
    X = rng.standard_normal(500 if k is None else (500, k))
    G = rng.standard_normal(20000 if k is None else (20000, k))
    ind, ptr = A.indices, A.indptr

    def loss(v, x):
        return mx.sum(_kernels.spmm(v, ind, ptr, S.shape, x) * sp._arrays.to_mx(G))
    gv, gx = mx.grad(loss, argnums=(0, 1))(sp._arrays.to_mx(S.data), sp._arrays.to_mx(X))
    assert gv.dtype == mx.float64 and gx.dtype == mx.float64
    rows = np.repeat(np.arange(20000), np.diff(S.indptr))
    Gm = G.reshape(20000, -1)
    Xm = X.reshape(500, -1)
    np.testing.assert_allclose(np.array(gv), np.einsum("ij,ij->i", Gm[rows], Xm[S.indices]),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.array(gx), S.T @ G, rtol=1e-10, atol=1e-10)


def test_concurrent_callers_share_the_workers():
    from concurrent.futures import ThreadPoolExecutor
    S = _big(20000, 500, 9)
    Xs = [np.random.default_rng(10 + i).standard_normal((500, i + 1)) for i in range(6)]
    with ThreadPoolExecutor(3) as ex:
        outs = list(ex.map(lambda X: _cpu.spmm(S.data, S.indices, S.indptr, *S.shape, X), Xs))
    for X, Y in zip(Xs, outs):
        np.testing.assert_allclose(Y, S @ X, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_forked_child_starts_its_own_workers():
    S = _big(20000, 500, 11)
    X = np.random.default_rng(12).standard_normal((500, 3))
    ref = S @ X
    _cpu.spmm(S.data, S.indices, S.indptr, *S.shape, X)     # parent's workers exist
    pid = os.fork()
    if pid == 0:                    # child: the parent's worker threads are gone
        ok = np.allclose(_cpu.spmm(S.data, S.indices, S.indptr, *S.shape, X), ref)
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("forked child hung waiting for workers")


@pytest.mark.parametrize("k", [None, 8])       # output above COPY_OUT_BELOW for k=8
def test_mx_threaded_bfloat16_product_is_not_lost(k):
    # bfloat16 has no numpy view: writing "in place" into to_np's copy gave zeros
    S = _big(100000, 300, 13, np.float32)
    X = np.random.default_rng(14).standard_normal(300 if k is None else (300, k))
    X = X.astype(np.float32)
    bf = mx.array(S.data).astype(mx.bfloat16)
    xb = mx.array(X).astype(mx.bfloat16)
    Y = _kernels.spmm(bf, mx.array(S.indices), mx.array(S.indptr), S.shape, xb)
    assert Y.dtype == mx.bfloat16 and Y.shape == (S @ X).shape
    Sb = ss.csr_array((np.array(bf.astype(mx.float32)), S.indices, S.indptr), shape=S.shape)
    ref = mx.array(Sb @ np.array(xb.astype(mx.float32))).astype(mx.bfloat16)
    np.testing.assert_array_equal(np.array(Y.astype(mx.float32)), np.array(ref.astype(mx.float32)))


def test_shared_chunks_each_run_once_and_errors_reach_the_caller():
    seen = []
    _cpu._share(13, lambda c, t: seen.append((c, t)))
    assert sorted(c for c, _ in seen) == list(range(13))
    assert all(0 <= t < _cpu._THREADS for _, t in seen)

    def bad(c, t):
        if c == 5:
            raise KeyError("x")
    with pytest.raises(KeyError):
        _cpu._share(9, bad)
    _cpu._share(3, lambda c, t: None)          # the workers are still usable


@pytest.mark.parametrize("k", [1, 64])
def test_chunks_cover_all_rows(k):
    S = _big(3000, 400, 4)
    b = _cpu.chunks(S.indptr, k)
    assert b[0] == 0 and b[-1] == 3000 and b == sorted(set(b))
    assert len(b) - 1 <= _cpu._THREADS * _cpu._CHUNKS_PER_THREAD
    assert _cpu.chunks(S.indptr[:3], k) == [0, 2]       # too small to split: one chunk


@pytest.mark.parametrize("vec", [True, False])
def test_transposed_product_when_the_caller_takes_no_chunk(monkeypatch, vec):
    """A.T @ X adds into one private output per thread; the slot that gets a
    given ``out`` may take no chunk at all (a worker took them all)."""
    S = _big(2000, 300, 6)
    X = np.random.default_rng(0).standard_normal((2000,) if vec else (2000, 3))
    monkeypatch.setattr(_cpu, "_THREADS", 2)
    monkeypatch.setattr(_cpu, "_share", lambda n, run, static=False: [run(c, 1) for c in range(n)])
    out = np.zeros((300,) if vec else (300, 3))
    Y = _cpu.spmm(S.data, S.indices, S.indptr, 2000, 300, X, transpose=True, out=out)
    assert Y is out
    np.testing.assert_allclose(Y, S.T @ X, rtol=1e-12, atol=1e-12)
    Y2 = _cpu.spmm(S.data, S.indices, S.indptr, 2000, 300, X, transpose=True)
    np.testing.assert_allclose(Y2, S.T @ X, rtol=1e-12, atol=1e-12)
