"""Where the time of an op on a new pattern goes on a GPU: the device
pattern functions alone, then the whole op under cProfile (time sits at
the calls that read a value back).

    python -m benchmarks.fresh_pieces --n 1000000
"""
import argparse
import cProfile
import pstats
import time

import numpy as np
import mlx.core as mx

import mlx_scipy_sparse as sp
from mlx_scipy_sparse._kernels import _device_patterns as dp
from benchmarks.fresh_patterns import _pair, _wait


def _timed(label, fn, reps=3):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        mx.synchronize()
        ts.append(time.perf_counter() - t)
    print(f"{label:<40} {np.median(ts) * 1e3:9.2f} ms", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--first-touch", action="store_true")
    ap.add_argument("--scan", action="store_true")
    a = ap.parse_args()
    if a.first_touch:
        return first_touch()
    if a.scan:
        return scans()
    SA, SB = _pair(a.n, 16, 5)
    ai, ap_, bi, bp = (mx.array(v) for v in (SA.indices, SA.indptr, SB.indices, SB.indptr))
    mx.eval(ai, ap_, bi, bp)
    shape = SA.shape
    _timed("dp.union", lambda: mx.eval(*dp.union(ai, ap_, bi, bp, *shape)[:4]))
    _timed("dp.intersection", lambda: mx.eval(*dp.intersection(ai, ap_, bi, bp, *shape)))
    _timed("dp._longest", lambda: dp._longest(ap_, bp))
    _timed("dp.entry_lines", lambda: mx.eval(dp.entry_lines(ap_, ai.size)))
    line = dp.entry_lines(ap_, ai.size)
    mx.eval(line)
    _timed("dp._count_below (one side)", lambda: mx.eval(dp._count_below(bi, bp, line, ai, False, 64)))
    _timed("dp.transpose", lambda: mx.eval(*dp.transpose(ai, ap_, *shape)))
    for name, fn in (("A + B", lambda A, B: A + B), ("A.multiply(B)", lambda A, B: A.multiply(B))):
        for k in range(3):
            S1, S2 = _pair(a.n, 16, 100 + 10 * k)
            A, B = sp.csr_array(S1), sp.csr_array(S2)
            _wait(A), _wait(B)
            mx.synchronize()
            pr = cProfile.Profile()
            t = time.perf_counter()
            pr.enable()
            _wait(fn(A, B))
            mx.synchronize()
            pr.disable()
            print(f"{name}: {(time.perf_counter() - t) * 1e3:.1f} ms", flush=True)
        pstats.Stats(pr).sort_stats("cumtime").print_stats(22)




def first_touch():
    """What the first GPU read of an array made from numpy costs (managed
    memory migrating page by page) against a second read, and against an
    explicit prefetch (cudaMemPrefetchAsync through ctypes) first."""
    import ctypes

    class Loc(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("id", ctypes.c_int)]
    rt = None
    with open("/proc/self/maps") as f:
        for line in f:
            if "libcudart.so" in line:
                rt = ctypes.CDLL(line.split()[-1])
                break
    h = np.random.default_rng(0).integers(0, 1000, 16_000_000).astype(np.int32)
    for how in ("plain", "prefetch"):
        a = mx.array(h)
        mx.eval(a)
        t = time.perf_counter()
        if how == "prefetch" and rt is not None:
            view = np.frombuffer(memoryview(a), dtype=np.int32)
            err = rt.cudaMemPrefetchAsync(ctypes.c_void_p(view.ctypes.data), ctypes.c_size_t(a.nbytes),
                                          Loc(1, 0), ctypes.c_uint(0), ctypes.c_void_p(0))
            rt.cudaDeviceSynchronize()
            print(f"prefetch rc {err}: {(time.perf_counter() - t) * 1e3:.2f} ms", flush=True)
        t1 = time.perf_counter()
        mx.eval(mx.sum(a))
        t2 = time.perf_counter()
        mx.eval(mx.sum(a))
        t3 = time.perf_counter()
        print(f"{how}: first GPU read {(t2 - t1) * 1e3:.2f} ms, second {(t3 - t2) * 1e3:.2f} ms",
              flush=True)



def scans():
    """MLX's cumsum of 16M int32 against the library's running_sum (on a GPU
    a scan along rows of 1024 plus a scan of the rows' totals), and the
    pieces of entry_lines."""
    from mlx_scipy_sparse._kernels import running_sum
    x = mx.array(np.random.default_rng(0).integers(0, 3, 16_000_000).astype(np.int32))
    mx.eval(x)
    mx.eval(mx.sum(x))
    same = bool(mx.array_equal(mx.cumsum(x), running_sum(x)).item())
    _timed("mx.cumsum 16M int32", lambda: mx.eval(mx.cumsum(x)))
    _timed(f"running_sum 16M int32 (same {same})", lambda: mx.eval(running_sum(x)))
    _timed("mx.zeros 16M + scatter-add 1M", lambda: mx.eval(mx.zeros((16_000_001,), dtype=mx.int32).at[
        mx.arange(0, 16_000_000, 16)].add(mx.ones((1_000_000,), dtype=mx.int32))))
    _timed("x[1:] > x[:-1]", lambda: mx.eval(x[1:] > x[:-1]))
    _timed("take 16M of 16M", lambda: mx.eval(mx.take(x, x)))


if __name__ == "__main__":
    main()
