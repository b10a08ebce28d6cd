"""Repeated calls must not grow host memory: the GPU backend's per-pattern
caches are bounded LRUs (checked here on the host-side parts, which need no GPU)."""
import mlx.core as mx

from mlx_scipy_sparse._kernels import _gpu


def test_row_stats_cache_is_bounded_and_correct():
    for n in range(1, 300):
        ptr = mx.arange(0, 2 * n + 1, 2)
        assert _gpu.row_stats(ptr) == (2.0, 2, 2 * n)
    assert len(_gpu._stats) <= 64


def test_size_parameter_cache_is_bounded():
    for n in range(1000):
        assert _gpu._P(n, n + 1).tolist() == [n, n + 1]
    assert len(_gpu._params) <= 256


def test_pattern_cache_is_bounded():
    # patterns are prepared on the host (index dtypes, row statistics); no launch
    keep = []
    for n in range(1, 200):
        ind, ptr = mx.zeros((n,), dtype=mx.int32), mx.arange(0, n + 1, dtype=mx.int32)
        keep.append((ind, ptr))             # alive, so ids cannot be reused
        pat = _gpu._pattern(ind, ptr, n, 1)
        assert pat.nnz == n and pat.stats == (1.0, 1, n)
    assert len(_gpu._patterns) <= 64


def test_repeated_products_do_not_grow_memory():
    # on whatever device MLX runs (the GPU kernels on a GPU machine)
    import numpy as np
    import mlx_scipy_sparse as sp
    A = sp.random_array((2000, 2000), density=0.01, format="csr", dtype=np.float32, rng=1)
    x = mx.ones((2000, 8))
    for _ in range(5):
        mx.eval(A @ x, A.T @ x)
    mx.clear_cache()
    base = mx.get_active_memory()
    for _ in range(200):
        mx.eval(A @ x, A.T @ x)
    mx.clear_cache()
    assert mx.get_active_memory() <= base + (1 << 16)


def test_reuse_host_memory_is_opt_in_and_keeps_results():
    import subprocess
    import sys
    # in a child process: the setting is process-wide
    code = (
        "import numpy as np, mlx.core as mx, scipy.sparse as ss, mlx_scipy_sparse as sp\n"
        "S = ss.random_array((3000, 500), density=0.05, format='csr', dtype=np.float32, rng=0)\n"
        "A = sp.csr_array(S); X = np.random.default_rng(1).standard_normal((500, 4000)).astype(np.float32)\n"
        "mx.set_cache_limit(1 << 20)\n"
        "ok = sp.reuse_host_memory()\n"
        "assert mx.set_cache_limit(1 << 31) == 1 << 30   # raised to max_block\n"
        "mx.set_cache_limit(1 << 30)\n"
        "sp.reuse_host_memory(1 << 20)\n"
        "assert mx.set_cache_limit(1 << 30) == 1 << 30   # never lowered\n"
        "Y = [np.array(A @ mx.array(X)) for _ in range(3)]\n"
        "ref = S.astype(np.float64) @ X.astype(np.float64)\n"
        "assert all(np.allclose(y, ref, rtol=1e-4, atol=1e-4) for y in Y)\n"
        "print(ok)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("True" if sys.platform.startswith("linux") else "False")
    import pytest
    import mlx_scipy_sparse as sp
    with pytest.raises(ValueError, match="max_block"):
        sp.reuse_host_memory(0)


def test_import_keeps_freed_buffers_unless_the_cache_limit_was_chosen():
    import subprocess
    import sys
    from mlx_scipy_sparse._kernels import _host_memory
    # a fresh process each: the limit is process-wide; the call answers the old limit
    probe = "import mlx.core as mx\n{}import mlx_scipy_sparse\nprint(mx.set_cache_limit(0))\n"
    runs = [subprocess.run([sys.executable, "-c", probe.format(pre)], capture_output=True,
                           text=True, timeout=120) for pre in ("", "mx.set_cache_limit(5 << 20)\n")]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    default, chosen = (int(r.stdout.split()[-1]) for r in runs)
    assert chosen == 5 << 20                        # the caller's choice stands
    if _host_memory._cpu_only_build():
        assert (1 << 28) <= default <= (1 << 30)    # raised from MLX's 32 MB
    else:
        assert _host_memory.keep_freed_buffers() is None   # MLX's GPU allocators: theirs
    # a large result is made again in the buffers the last one freed
    code = ("import mlx.core as mx, mlx_scipy_sparse\n"
            "a = mx.ones(1 << 24); mx.eval(a)\n"
            "for _ in range(3):\n    b = a * 2; mx.eval(b); del b\n"
            "print(mx.get_cache_memory())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    if _host_memory._cpu_only_build():
        assert int(r.stdout.split()[-1]) >= 1 << 26      # the 64 MB result was kept


def test_patterns_take_int32_copies_where_the_values_fit(monkeypatch):
    ind, ptr = mx.array([0, 3, 1], dtype=mx.int64), mx.array([0, 2, 3], dtype=mx.int64)
    i2, p2 = _gpu._prep_pattern(ind, ptr, 4)
    assert i2.dtype == p2.dtype == mx.int32
    assert i2.tolist() == [0, 3, 1] and p2.tolist() == [0, 2, 3]
    assert ind.dtype == mx.int64                        # the caller's arrays untouched
    # column indices that may not fit 32 bits: both stay int64
    i3, p3 = _gpu._prep_pattern(ind, ptr.astype(mx.int32), 2 ** 31)
    assert i3.dtype == p3.dtype == mx.int64
    monkeypatch.setattr(_gpu, "_WIDE", True)            # the benchmarks' switch
    assert _gpu._prep_pattern(ind, ptr, 4)[0].dtype == mx.int64
