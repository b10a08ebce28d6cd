"""How the way MLX is waited on changes per-call time on a GPU: `mx.eval`
of a batch, `mx.async_eval` of the batch then `mx.synchronize()`, and an
`async_eval` per call as it is made, beside torch.sparse; plus the cost of
handing a large device result to numpy (`np.array`, fault-driven migration
of managed memory) against a `cudaMemcpy` out of the same buffer.

    python -m benchmarks.sync_probe
"""
import ctypes
import time

import numpy as np
import mlx.core as mx

import mlx_scipy_sparse as sp
from benchmarks.run import power_law, pruned, uniform

mx.set_default_device(mx.gpu)
rng = np.random.default_rng(0)


def eval_all(fn, b):
    mx.eval(*[fn() for _ in range(b)])


def async_then_sync(fn, b):
    ys = [fn() for _ in range(b)]
    mx.async_eval(*ys)
    mx.synchronize()


def async_each(fn, b):
    for _ in range(b):
        mx.async_eval(fn())
    mx.synchronize()


def per_call(wait, fn, b, reps=30):
    for _ in range(3):
        wait(fn, b)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        wait(fn, b)
        ts.append((time.perf_counter() - t0) / b)
    return np.median(ts) * 1e6


def row(name, fn, torch_fn=None):
    cells = []
    for b in (1, 10):
        for w in (eval_all, async_then_sync, async_each):
            cells.append(f"{w.__name__}/b{b}={per_call(w, fn, b):7.1f}")
        if torch_fn is not None:
            import torch
            def tw(f, bb):
                for _ in range(bb):
                    f()
                torch.cuda.synchronize()
            cells.append(f"torch/b{b}={per_call(tw, torch_fn, b):7.1f}")
    print(f"{name:<22}", "  ".join(cells), "us", flush=True)


def main():
    import torch
    cases = [("powerlaw 1M", power_law(1_000_000, 16, rng)), ("uniform 1M", uniform(1_000_000, 16, rng))]
    for sparsity in (0.9, 0.99):
        S, W = pruned(1024, sparsity, rng)
        cases.append((f"prune{sparsity:.0%} 1024", S))
        Wm = mx.array(W)
        xw = mx.array(rng.standard_normal(1024).astype(np.float32))
        mx.eval(Wm, xw)
        row(f"  dense {sparsity:.0%} 1024", lambda Wm=Wm, xw=xw: Wm @ xw)
    for name, A in cases:
        As = sp.csr_array(A)
        x = mx.array(rng.standard_normal(A.shape[1]).astype(np.float32))
        mx.eval(x, As @ x)
        At = torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)).cuda(),
                                     torch.from_numpy(A.indices.astype(np.int64)).cuda(),
                                     torch.from_numpy(A.data).cuda(), size=A.shape)
        xt = torch.from_numpy(np.array(x)).cuda()
        row(name, lambda As=As, x=x: As @ x, lambda At=At, xt=xt: At @ xt)
    big = mx.random.normal((40_000_000,))
    mx.eval(big)
    row("big * 2 (160 MB)", lambda: big * 2)
    handback()


def _cudart():
    with open("/proc/self/maps") as f:
        for line in f:
            if "libcudart.so" in line:
                return ctypes.CDLL(line.split()[-1])
    return None


def handback():
    rt = _cudart()
    print("libcudart:", rt)
    for n in (1_000_000, 16_000_000, 64_000_000):
        y = mx.random.normal((n,)) * 2
        mx.eval(y)
        t0 = time.perf_counter()
        h = np.array(y)
        t_np = time.perf_counter() - t0
        if rt is None:
            print(f"n={n}: np.array {t_np*1e3:.2f} ms")
            continue
        best = []
        for _ in range(3):
            y = mx.random.normal((n,)) * 2
            mx.eval(y)
            mx.synchronize()
            t0 = time.perf_counter()
            view = np.frombuffer(memoryview(y), dtype=np.float32)   # no touch yet
            out = np.empty(n, np.float32)
            err = rt.cudaMemcpy(ctypes.c_void_p(out.ctypes.data), ctypes.c_void_p(view.ctypes.data),
                                ctypes.c_size_t(out.nbytes), 4)
            best.append(time.perf_counter() - t0)
            same = np.array_equal(out, np.array(y))
        print(f"n={n}: np.array {t_np*1e3:.2f} ms, cudaMemcpy {min(best)*1e3:.2f} ms "
              f"(err {err}, same {same})", flush=True)


if __name__ == "__main__":
    main()
