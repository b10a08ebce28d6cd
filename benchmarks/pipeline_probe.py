import time, numpy as np, mlx.core as mx
import mlx_scipy_sparse as sp
from mlx_scipy_sparse._kernels import _gpu
from benchmarks.run import uniform
mx.set_default_device(mx.gpu)
rng = np.random.default_rng(0)
A = uniform(1_000_000, 16, rng)
As = sp.csr_array(A); x = mx.array(rng.standard_normal(A.shape[1]).astype(np.float32)); mx.eval(x, As @ x)
big = mx.array(rng.standard_normal(40_000_000).astype(np.float32)); mx.eval(big)
d, ind, ptr = As._data, As._indices, As._indptr
def per_call(fn, batch, reps=20):
    for _ in range(3): mx.eval(*[fn() for _ in range(batch)])
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); mx.eval(*[fn() for _ in range(batch)]); ts.append((time.perf_counter() - t0) / batch)
    return np.median(ts) * 1e6
def keep_out(fn, batch):
    # outputs discarded one by one (no 10 live buffers)
    for _ in range(3): mx.eval(fn())
    t0 = time.perf_counter()
    for _ in range(batch * 5): y = fn(); mx.async_eval(y)
    mx.eval(y); mx.synchronize()
    return (time.perf_counter() - t0) / (batch * 5) * 1e6
rows = {"A@x public": lambda: As @ x,
        "raw _mm": lambda: _gpu._mm(d, ind, ptr, *A.shape, x, False),
        "big*2 (160MB r+w)": lambda: big * 2,
        "big.sum()": lambda: big.sum()}
for name, fn in rows.items():
    print(f"{name:<22}", " ".join(f"b{b}={per_call(fn, b):7.1f}" for b in (1, 10, 50)), f"async-chain={keep_out(fn, 10):7.1f} us", flush=True)
import torch
At = torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)).cuda(), torch.from_numpy(A.indices.astype(np.int64)).cuda(), torch.from_numpy(A.data).cuda(), size=A.shape)
xt = torch.from_numpy(np.array(x)).cuda()
for b in (1, 10, 50):
    for _ in range(3): [At @ xt for _ in range(b)]; torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(20): [At @ xt for _ in range(b)]; torch.cuda.synchronize()
    print(f"torch b{b}: {(time.perf_counter()-t0)/20/b*1e6:7.1f} us")
bt = torch.from_numpy(np.array(big)).cuda()
for _ in range(3): bt * 2
torch.cuda.synchronize(); t0 = time.perf_counter()
for _ in range(50): bt * 2
torch.cuda.synchronize(); print(f"torch big*2: {(time.perf_counter()-t0)/50*1e6:7.1f} us")
