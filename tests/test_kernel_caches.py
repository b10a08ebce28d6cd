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
