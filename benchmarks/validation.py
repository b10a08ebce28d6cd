"""What input validation costs, side by side, from one run.

    python -m benchmarks.validation [--rows 1000000] [--per-row 16]

Building a CSR array from MLX (data, indices, indptr) checks the structure once
(indptr start/end/monotone, every index in range: one pass over the indices);
products never check again.  The table sets that check beside scipy's own full
check (`check_format(full_check=True)`) and beside one SpMV on an already-built array.
`canonical=True` declares the flags (no later sortedness scan); the bounds
check still runs.
"""
import argparse
import statistics
import time

import numpy as np
import scipy.sparse as ss

import mlx.core as mx

import mlx_scipy_sparse as sp


def _ms(fn, reps=7):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--per-row", type=int, default=16)
    args = ap.parse_args(argv)
    n, k = args.rows, args.per_row
    rng = np.random.default_rng(0)
    indptr = np.arange(0, n * k + 1, k, dtype=np.int32)
    indices = rng.integers(0, n, n * k, dtype=np.int32)
    indices = np.sort(indices.reshape(n, k), axis=1).ravel()
    data = rng.standard_normal(n * k).astype(np.float32)
    d, i, p = mx.array(data), mx.array(indices), mx.array(indptr)
    mx.eval(d, i, p)
    x = mx.array(rng.standard_normal(n).astype(np.float32))
    S = ss.csr_array((data, indices, indptr), shape=(n, n))
    A = sp.csr_array((d, i, p), shape=(n, n))

    rows = [
        ("ours: build from MLX arrays (full check)",
         _ms(lambda: sp.csr_array((d, i, p), shape=(n, n)))),
        ("ours: build, canonical=True declared",
         _ms(lambda: sp.csr_array((d, i, p), shape=(n, n), canonical=True))),
        ("scipy: build + check_format(full_check=True)",
         _ms(lambda: ss.csr_array((data, indices, indptr), shape=(n, n)).check_format(True))),
        ("ours: A @ x on a built array (no check)", _ms(lambda: mx.eval(A @ x))),
        ("scipy: S @ x", _ms(lambda: S @ np.asarray(x))),
    ]
    base = rows[3][1]
    print(f"{n} rows x {k} entries ({n * k} nnz), float32, MLX {mx.__version__}, "
          f"{mx.default_device()}")
    print(f"{'step':<48}{'ms':>10}{'x one A@x':>12}")
    for name, t in rows:
        print(f"{name:<48}{t:>10.2f}{t / base:>11.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
