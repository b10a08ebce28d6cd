"""The prepared product a sparse array keeps for repeated `A @ X` (the GPU's
bare launch with every per-call decision taken once).  No GPU here: the
kernel table's GPU pieces are replaced by the composed MLX product, which
exercises the caching and the refusals; tests/gpu_check.py runs the real one."""
import numpy as np
import mlx.core as mx
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import _kernels
from mlx_scipy_sparse._kernels import _composed

S = ss.random_array((40, 30), density=0.2, format="csr", rng=5, dtype=np.float32)


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend the default device is a GPU whose bare launch is the composed
    product; count the launches and the plans made."""
    calls = {"plans": 0, "launches": 0, "products": 0}

    def bare_plan(data, indices, indptr, n_rows, n_cols, xshape, transpose):
        calls["plans"] += 1

        def launch(X):
            calls["launches"] += 1
            return _composed.spmm(data, indices, indptr, n_rows, n_cols, X, transpose, data.dtype)
        return launch

    def prepared_product(data, indices, indptr, n_rows, n_cols, xshape, transpose):
        # the real one is the launch inside a custom function with the VJP; the
        # composed product is differentiable by MLX itself
        def product(d, X):
            calls["products"] += 1
            return _composed.spmm(d, indices, indptr, n_rows, n_cols, X, transpose, d.dtype)
        return product

    class FakeGpu:
        supports = staticmethod(lambda dtype: dtype == mx.float32)

    FakeGpu.bare_plan = staticmethod(bare_plan)
    FakeGpu.prepared_product = staticmethod(prepared_product)
    monkeypatch.setattr(_kernels, "_gpu", FakeGpu)
    monkeypatch.setattr(_kernels, "gpu_default", lambda: True)
    # the slow route: what spmm does off the GPU
    real = _kernels.spmm
    monkeypatch.setattr(_kernels, "spmm", lambda *a, **k: _cpu_spmm(real, *a, **k))
    return calls


def _cpu_spmm(real, *a, **k):
    _kernels.gpu_default, saved = (lambda: False), _kernels.gpu_default
    try:
        return real(*a, **k)
    finally:
        _kernels.gpu_default = saved


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_repeated_products_reuse_one_plan(fake_gpu, fmt):
    A = getattr(sp, fmt + "_array")(S)
    ref = S.astype(np.float64)
    for k in ((30,), (30, 4)):
        for _ in range(3):
            X = mx.array(np.random.default_rng(len(k)).standard_normal(k).astype(np.float32))
            np.testing.assert_allclose(np.array(A @ X), ref @ np.array(X, dtype=np.float64),
                                       rtol=1e-5, atol=1e-5)
    # one plan per operand shape; the first product of each shape takes the slow route
    assert fake_gpu["plans"] == 2 and fake_gpu["launches"] == 4


def test_new_values_drop_the_plan(fake_gpu):
    A = sp.csr_array(S)
    X = mx.ones((30,))
    mx.eval(A @ X, A @ X)
    A.data = A.data * 2                      # a new array: the kept plan no longer applies
    np.testing.assert_allclose(np.array(A @ X), 2 * (S @ np.ones(30)), rtol=1e-5)
    np.testing.assert_allclose(np.array(A @ X), 2 * (S @ np.ones(30)), rtol=1e-5)
    assert fake_gpu["plans"] == 2


def test_traced_operands(fake_gpu):
    """A gradient tracer (evaluated by the caller or not) gets the right
    gradient, through the kept product, which carries its VJP, or spmm's
    route; what mx.compile traces is refused by the kept product."""
    A = sp.csr_array(S)
    X = mx.array(np.arange(30, dtype=np.float32))
    mx.eval(A @ X, A @ X)                   # a plan is kept
    W = mx.array(np.linspace(-1, 1, 40).astype(np.float32))
    for evaluated in (False, True):
        def loss(x):
            if evaluated:
                mx.eval(x)                  # passes evaluation like a free array
            return mx.sum((A @ x) * W)
        g = mx.grad(loss)(X)
        np.testing.assert_allclose(np.array(g), S.T @ np.array(W), rtol=1e-5, atol=1e-6)
    assert fake_gpu["products"] >= 1         # the kept product with its VJP ran
    launches = fake_gpu["launches"]
    gc = mx.compile(lambda x: A @ x)(X)
    np.testing.assert_allclose(np.array(gc), S @ np.array(X), rtol=1e-5)
    assert fake_gpu["launches"] == launches   # the kept product refused the traced operand


def test_device_change_takes_the_slow_route(fake_gpu, monkeypatch):
    A = sp.csr_array(S)
    X = mx.ones((30,))
    mx.eval(A @ X, A @ X)
    launches = fake_gpu["launches"]
    monkeypatch.setattr(_kernels, "gpu_default", lambda: False)
    np.testing.assert_allclose(np.array(A @ X), S @ np.ones(30), rtol=1e-5)
    assert fake_gpu["launches"] == launches


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("idx", [np.int32, np.int64])
def test_cpu_prepared_product_matches_scipy(monkeypatch, fmt, k, idx):
    """Off the GPU the kept plan is the CPU's (chunk bounds worked out once,
    int64 patterns narrowed to int32 copies); it must follow in-place writes
    to the values, which it views per call."""
    monkeypatch.setattr(_kernels, "gpu_default", lambda: False)
    big = ss.random_array((700, 500), density=0.3, format=fmt, rng=3, dtype=np.float32)
    big.indices, big.indptr = big.indices.astype(idx), big.indptr.astype(idx)
    assert big.nnz * (k or 1) >= _kernels._cpu._PARALLEL_NNZ     # shared out in chunks
    A = getattr(sp, fmt + "_array")(big)
    rng = np.random.default_rng(1)
    shape = (500,) if k is None else (500, k)
    for _ in range(3):
        X = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(np.array(A @ mx.array(X)), big.astype(np.float64) @ X,
                                   rtol=1e-4, atol=1e-4)
    assert A._fast
    A.data[0] = 100.0
    ref = big.astype(np.float64)
    ref.data[0] = 100.0
    np.testing.assert_allclose(np.array(A @ mx.array(X)), ref @ X, rtol=1e-4, atol=1e-4)


def test_indices_written_in_place_drop_the_plan(fake_gpu):
    A = sp.csr_array(S)
    X = mx.ones((30,))
    mx.eval(A @ X, A @ X)
    ind = A.indices
    ind[0] = 10 ** 6                          # the kept plan must not run on this
    with pytest.raises(ValueError):
        A @ X
    assert fake_gpu["launches"] == 1


def test_narrowed_index_copies():
    from mlx_scipy_sparse._kernels import _cpu
    ind, ptr = np.array([0, 4, 2], np.int64), np.array([0, 1, 3], np.int64)
    i2, p2 = _cpu.narrowed(ind, ptr, 5)
    assert i2.dtype == p2.dtype == np.int32
    assert i2.tolist() == [0, 4, 2] and p2.tolist() == [0, 1, 3]
    assert _cpu.narrowed(ind, ptr, 2 ** 31)[0] is ind            # columns may not fit
    assert _cpu.narrowed(ind, ptr.astype(np.int32), 5)[0] is ind  # mixed: left alone


def test_cpu_kept_pattern_follows_in_place_index_writes(monkeypatch):
    """The CPU's kept int32 copy of an int64 pattern must go when .indices is
    written in place (the same object, so only the write count tells)."""
    monkeypatch.setattr(_kernels, "gpu_default", lambda: False)
    big = ss.random_array((300, 200), density=0.3, format="csr", rng=8, dtype=np.float32)
    big.indices, big.indptr = big.indices.astype(np.int64), big.indptr.astype(np.int64)
    A = sp.csr_array(big)
    x = np.random.default_rng(2).standard_normal(200).astype(np.float32)
    for _ in range(2):
        np.testing.assert_allclose(np.array(A @ mx.array(x)), big @ x, rtol=1e-4, atol=1e-4)
    col = (int(big.indices[0]) + 1) % 200
    while col in big.indices[:big.indptr[1]]:          # a column row 0 lacks
        col = (col + 1) % 200
    ind = A.indices
    ind[0] = col
    ref = big.copy()
    ref.indices[0] = col
    np.testing.assert_allclose(np.array(A @ mx.array(x)), ref @ x, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.array(A @ mx.array(x)), ref @ x, rtol=1e-4, atol=1e-4)


def test_cpu_kept_pattern_goes_with_its_arrays(monkeypatch):
    """The CPU's int32 copies are cached by pattern, but must not keep a
    dropped matrix (or its copies) alive."""
    import gc
    monkeypatch.setattr(_kernels, "gpu_default", lambda: False)
    from collections import OrderedDict
    monkeypatch.setattr(_kernels, "_cpu_patterns", OrderedDict())
    big = ss.random_array((300, 200), density=0.3, format="csr", rng=9, dtype=np.float32)
    big.indices, big.indptr = big.indices.astype(np.int64), big.indptr.astype(np.int64)
    A = sp.csr_array(big)
    x = mx.array(np.ones(200, np.float32))
    mx.eval(A @ x, A @ x)
    assert len(_kernels._cpu_patterns) == 1
    del A
    gc.collect()
    assert not _kernels._cpu_patterns
