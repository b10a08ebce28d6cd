"""Per-call time of large SpMVs in MLX's pipeline: by calls per evaluation
(1, 10, 50) and as a chain of async evaluations, beside torch.sparse -- to
tell kernel time (see profile_spmv.py) from MLX's per-op costs, e.g. the
zero-filled output an atomic kernel needs.

    python -m benchmarks.pipeline_probe
"""
import time

import numpy as np
import mlx.core as mx

from mlx_scipy_sparse._kernels import _gpu
from benchmarks.run import power_law, uniform

mx.set_default_device(mx.gpu)
rng = np.random.default_rng(0)


def per_call(fn, batch, reps=20):
    for _ in range(3):
        mx.eval(*[fn() for _ in range(batch)])
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        mx.eval(*[fn() for _ in range(batch)])
        ts.append((time.perf_counter() - t0) / batch)
    return np.median(ts) * 1e6


def chain(fn, n=50):
    for _ in range(3):
        mx.eval(fn())
    t0 = time.perf_counter()
    for _ in range(n):
        y = fn()
        mx.async_eval(y)
    mx.eval(y)
    mx.synchronize()
    return (time.perf_counter() - t0) / n * 1e6


import torch  # noqa: E402
for name, A in (("uniform", uniform(1_000_000, 16, rng)), ("powerlaw", power_law(1_000_000, 16, rng))):
    d, ind, ptr = mx.array(A.data), mx.array(A.indices), mx.array(A.indptr)
    x = mx.array(rng.standard_normal(A.shape[1]).astype(np.float32))
    mx.eval(d, ind, ptr, x)
    for v in (None, ("csr_vector", 8), ("csr_vector", 4), ("csr_adaptive", 1024, 2),
              ("csr_adaptive", 1024, 2, 1 << 40), ("csr_lb_vec", None)):
        fn = lambda v=v: _gpu.spmm(d, ind, ptr, *A.shape, x, False, mx.float32, variant=v,  # noqa: E731
                                   differentiable=False)
        label = "chosen " + ":".join(map(str, _gpu.choose(_gpu.row_stats(ptr), 1))) if v is None \
            else ":".join(map(str, v))
        print(f"{name:<9}{label:<34}", " ".join(f"b{b}={per_call(fn, b):7.1f}" for b in (1, 10, 50)),
              f"chain={chain(fn):7.1f} us", flush=True)
    At = torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)).cuda(),
                                 torch.from_numpy(A.indices.astype(np.int64)).cuda(),
                                 torch.from_numpy(A.data).cuda(), size=A.shape)
    xt = torch.from_numpy(np.array(x)).cuda()
    out = []
    for b in (1, 10, 50):
        for _ in range(3):
            [At @ xt for _ in range(b)]
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(20):
            [At @ xt for _ in range(b)]
            torch.cuda.synchronize()
        out.append(f"b{b}={(time.perf_counter() - t0) / 20 / b * 1e6:7.1f}")
    print(f"{name:<9}{'torch.sparse':<34}", " ".join(out), "us", flush=True)
