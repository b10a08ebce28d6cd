"""What MLX's CUDA backend adds to a chain of dependent launches, and whether
its float32 matmul keeps float32 precision.  Run once per MLX setting:

    python benchmarks/mlx_cuda_probe.py                          # MLX's defaults
    MLX_USE_CUDA_GRAPHS=0 python benchmarks/mlx_cuda_probe.py    # plain stream launches
    MLX_MAX_MB_PER_BUFFER=100000 python benchmarks/mlx_cuda_probe.py
    MLX_SPARSE_CG_GW=1 MLX_SPARSE_CG_GROUPS=2048 python benchmarks/mlx_cuda_probe.py --cg-only

Prints: CG (2-D Poisson 1000^2, float32, rtol 1e-6) through our one-kernel
iteration; 500 chained launches of that iteration against 500 launches on
the same inputs (no chain), and the Python time to build the chain; a chain of 500 elementwise ops; the relative
error of V @ w (24 x 1M, float32) against float64.
"""
import os
import sys
import time

import numpy as np
import mlx.core as mx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mlx_scipy_sparse as sp  # noqa: E402
from mlx_scipy_sparse.linalg import cg  # noqa: E402
from mlx_scipy_sparse.linalg._isolve import _cg, _common  # noqa: E402
from benchmarks.solvers import poisson  # noqa: E402


def per(fn, k):
    fn()
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) / k * 1e6


def main():
    env = {k: v for k, v in os.environ.items() if k.startswith("MLX_")}
    print("MLX", mx.__version__, mx.default_device(), "settings", env or "defaults")
    S = poisson(1000).astype(np.float32)
    A = sp.csr_array(S)
    b = mx.array(np.random.default_rng(0).standard_normal(S.shape[0]).astype(np.float32))
    mx.eval(b)

    def solve():
        x, _ = cg(A, b, rtol=1e-6)
        mx.eval(x)
    solve()
    t = time.perf_counter()
    solve()
    its = _common.stats["iterations"]
    dt = time.perf_counter() - t
    print(f"cg: {dt * 1e3:.1f} ms, {its} iterations, {dt / its * 1e6:.1f} us an iteration")

    s = _common.System("cg", A, b, None, None)
    step, nb, product = _cg.one_kernel_plan(s)
    n = S.shape[0]
    z = mx.zeros((n,), dtype=mx.float32)
    V0 = mx.concatenate([mx.stack([b, product(b), z, z], axis=1).reshape(-1), b, z,
                         mx.zeros((8,), dtype=mx.float32)])
    flags = np.array([0, 1, 0, 0, 0], np.int32).view(np.float32)     # running, 1 iteration done
    aux0 = mx.concatenate([mx.ones((2 * nb,), dtype=mx.float32),
                           mx.array(np.concatenate([np.float32([1.0, 1.0, 0.0]), flags]))])
    mx.eval(V0, aux0)

    def chained(k=500, evaluate=True):
        V, aux = V0, aux0
        for _ in range(k):
            V, aux = step(V, aux)
        if evaluate:
            mx.eval(V, aux)
        return V, aux

    def independent(k=500):
        outs = [step(V0, aux0)[1] for _ in range(k)]
        mx.eval(outs)
    print(f"one-kernel iteration: chained {per(chained, 500):.1f} us a launch, "
          f"independent {per(independent, 500):.1f} us, "
          f"building the graph alone {per(lambda: chained(evaluate=False), 500):.1f} us")
    if "--cg-only" in sys.argv:
        return

    v = mx.ones((n,), dtype=mx.float32)

    def ew_chain(k=500):
        u = v
        for _ in range(k):
            u = u * 1.0001 + 0.5
        mx.eval(u)
    print(f"elementwise chain: {per(ew_chain, 500):.1f} us an op")
    rng = np.random.default_rng(1)
    V = rng.standard_normal((24, n)).astype(np.float32)
    w = rng.standard_normal(n).astype(np.float32)
    ref = V.astype(np.float64) @ w.astype(np.float64)
    got = np.array(mx.array(V) @ mx.array(w))
    got2 = np.array((mx.array(V) * mx.array(w)).sum(axis=1))
    print(f"V @ w relative error: matmul {np.abs(got - ref).max() / np.abs(ref).max():.2e}, "
          f"multiply+sum {np.abs(got2 - ref).max() / np.abs(ref).max():.2e}")


if __name__ == "__main__":
    mx.set_default_device(mx.gpu)
    main()
