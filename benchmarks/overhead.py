"""Where the time of a small GPU SpMV goes (per call, 10 calls per sync):
dense MLX matvec, an empty MLX custom kernel, our raw launch, the
differentiable product, the public ``A @ x``, torch.sparse; and whether a
product of a still-pending X is queued without a host sync.

    python -m benchmarks.overhead
"""
import time

import numpy as np
import scipy.sparse as ss
import mlx.core as mx

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import _arrays, _kernels
from mlx_scipy_sparse._kernels import _gpu
from benchmarks.run import _median_time, mx_sync

mx.set_default_device(mx.gpu)
rng = np.random.default_rng(0)
S = ss.random_array((1024, 1024), density=0.01, format="csr", rng=rng, dtype=np.float32)
A = sp.csr_array(S)
d, ind, ptr = A.data, A.indices, A.indptr
X = mx.array(rng.standard_normal(1024).astype(np.float32))
W = mx.array(S.toarray())
mx.eval(d, ind, ptr, X, W)
empty = mx.fast.cuda_kernel(name="msp_empty", input_names=["x"], output_names=["y"],
                            source="if (threadIdx.x == 0 && blockIdx.x == 0) y[0] = x[0];")
rows = {
    "dense W @ x": lambda: W @ X,
    "x + 1 (one MLX op)": lambda: X + 1,
    "empty custom kernel": lambda: empty(inputs=[X], grid=(256, 1, 1), threadgroup=(256, 1, 1),
                                         output_shapes=[(1,)], output_dtypes=[mx.float32])[0],
    "empty kernel, 3 template args": lambda: empty(
        inputs=[X], grid=(256, 1, 1), threadgroup=(256, 1, 1), output_shapes=[(1,)],
        output_dtypes=[mx.float32], template=[("T", mx.float32), ("IT", mx.int32), ("CH", 8)])[0],
    "_gpu._mm (raw launch)": lambda: _gpu._mm(d, ind, ptr, 1024, 1024, X, False),
    "_gpu.spmm (custom_function)": lambda: _gpu.spmm(d, ind, ptr, 1024, 1024, X, False, mx.float32),
    "A @ x (public)": lambda: A @ X,
}
_unchecked = _kernels.fast_product(d, ind, ptr, (1024, 1024), X, checked=False)
rows["prepared launch, unchecked"] = lambda: _unchecked(X)


def _probe_on(stream):
    """is_free with its stop_gradient probe scheduled on ``stream``."""
    def probe(a):
        try:
            mx.async_eval(a)
            mx.async_eval(mx.stop_gradient(a, stream=stream))
        except ValueError:
            return False
        return True
    return probe


for label, probe in (("probe on the GPU stream", _probe_on(mx.gpu)),
                     ("probe on the CPU stream", _probe_on(mx.cpu))):
    rows[f"prepared + {label}"] = lambda probe=probe: (probe(X), _unchecked(X))[1]
    rows[f"x + 1 after {label}"] = lambda probe=probe: (probe(X), X + 1)[1]
for name, fn in rows.items():
    print(f"{name:<30}{_median_time(fn, mx_sync, 200, batch=10) * 1e3:8.1f} us/call (10 a sync)"
          f"{_median_time(fn, mx_sync, 200, batch=1) * 1e3:8.1f} us/call (1 a sync)", flush=True)
t0 = time.perf_counter()
for _ in range(1000):
    _arrays.is_free(X)
print(f"host only: the tracer probe is_free(X) {(time.perf_counter() - t0) * 1e3:8.2f} us/call")
for name, fn in rows.items():
    fn()
    t0 = time.perf_counter()
    for _ in range(1000):
        fn()
    print(f"host only (no eval) {name:<30}{(time.perf_counter() - t0) * 1e3:8.2f} us/call", flush=True)
    mx.eval(fn())
try:
    import torch
    At = torch.sparse_csr_tensor(torch.from_numpy(S.indptr.astype(np.int64)).cuda(),
                                 torch.from_numpy(S.indices.astype(np.int64)).cuda(),
                                 torch.from_numpy(S.data).cuda(), size=S.shape)
    xt = torch.from_numpy(np.array(X)).cuda()
    ms = _median_time(lambda: At @ xt, lambda _: torch.cuda.synchronize(), 200, batch=10)
    print(f"{'torch.sparse At @ x':<30}{ms * 1e3:8.1f} us/call")
except Exception as e:  # pragma: no cover
    print("torch:", type(e).__name__, e)
# a pending X: the product must queue without waiting for it
big = mx.random.normal((4096, 4096))
mx.eval(big, big @ big)               # the process's first matmul sets up cuBLAS: not ours to time
t0 = time.perf_counter()
Xp = (big @ big)[:1024, 0]            # ~1 ms of GPU work, not evaluated
y = A @ Xp
t_queue = time.perf_counter() - t0
mx.eval(y)
print(f"A @ pending_x queued in {t_queue * 1e3:.2f} ms host time (a sync would take ~1 ms)")
