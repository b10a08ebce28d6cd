"""Ops on arrays whose pattern is new at every call (no kept pattern work):
ours against scipy on the CPU and, with --gpu, against cupyx.scipy.sparse.

    python -m benchmarks.fresh_patterns --n 200000 --per-row 16
    python -m benchmarks.fresh_patterns --n 1000000 --per-row 16 --gpu    # the H200

The surface benchmark times ops on patterns already seen; code that builds a
new matrix every step (a changing graph, a new mesh) pays the pattern work
every call.  Each op runs once on each of --pairs fresh pairs of random CSR
arrays (evaluated, synchronized); the table prints the median per call and
the ratio (peer time / ours).  Under the device rule (a GPU, or
MSS_KEEP_IN_MLX=1) the pattern work runs on the host with scipy's compiled
routines and the values move in MLX; on the CPU by default scipy does the op.
"""
import argparse
import time

import numpy as np
import scipy.sparse as ss
import mlx.core as mx

import mlx_scipy_sparse as sp


def _pair(n, per_row, seed):
    d = per_row / n
    return [ss.csr_array(ss.random_array((n, n), density=d, format="csr", dtype=np.float32,
                                         rng=seed + k)) for k in (0, 1000)]


OPS = {
    "A + B": lambda A, B, ix, x: A + B,
    "A.multiply(B)": lambda A, B, ix, x: A.multiply(B),
    "A.tocsc()": lambda A, B, ix, x: A.tocsc(),
    "A[rows]": lambda A, B, ix, x: A[ix],
    "A.T @ x (first product)": lambda A, B, ix, x: A.T @ x,
}


def _wait(r, xp=None):
    if isinstance(r, mx.array):
        mx.eval(r)
    elif hasattr(r, "_data"):
        mx.eval(*[v for v in vars(r).values() if isinstance(v, mx.array)])
    if xp is not None:
        xp.cuda.Device().synchronize()
    return r


def _median(fn, items, wait):
    ts = []
    for it in items:
        t = time.perf_counter()
        wait(fn(*it))
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--per-row", type=int, default=16)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--gpu", action="store_true", help="ours on the GPU against CuPy")
    ap.add_argument("--touch", action="store_true",
                    help="touch our operands' arrays on the GPU before timing (arrays made "
                         "from numpy sit in managed memory on the host until a kernel reads "
                         "them; CuPy's operands are copied to the device before timing too)")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    pairs = [_pair(a.n, a.per_row, 10 * k) for k in range(a.pairs + 1)]   # the first warms up
    rows = np.sort(rng.choice(a.n, size=a.n // 10, replace=False))
    x = np.ones(a.n, dtype=np.float32)
    peers = {"scipy": (lambda S: S, np.asarray, lambda r: r)}     # (make, index/vector, wait)
    if a.gpu:
        import cupy as cp
        import cupyx.scipy.sparse as cs
        peers = {"CuPy": (lambda S: cs.csr_matrix(S), cp.asarray,
                          lambda r: _wait(r, cp))}
    name, (make, ix_of, wait_peer) = next(iter(peers.items()))
    ours_items = [(sp.csr_array(A), sp.csr_array(B), rows, mx.array(x)) for A, B in pairs]
    peer_items = [(make(A), make(B), ix_of(rows), ix_of(x)) for A, B in pairs]
    if a.touch:
        mx.eval(*[mx.sum(v) for A, B, _, _ in ours_items for M in (A, B)
                  for v in (M._data, M._indices, M._indptr)])
    print(f"# fresh_patterns: {a.n} x {a.n}, {a.per_row} a row, float32, a new pair each call "
          f"(median of {a.pairs}); ours on {mx.default_device()}, "
          f"keep_in_mlx={sp._kernels.keep_in_mlx()}; peer {name}")
    print(f"{'op':28s} {'ours ms':>10s} {name + ' ms':>10s} {'ratio':>7s}")
    for op, fn in OPS.items():
        _wait(fn(*ours_items[0]))
        wait_peer(fn(*peer_items[0]))
        to = _median(fn, ours_items[1:], _wait)
        tp = _median(fn, peer_items[1:], wait_peer)
        print(f"{op:28s} {to * 1e3:10.3f} {tp * 1e3:10.3f} {tp / to:6.2f}x", flush=True)


if __name__ == "__main__":
    main()
