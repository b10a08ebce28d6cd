"""The everyday-op surface (issue 13): for each op, whether it runs in MLX or
hands off to scipy on the host, whether it works inside mx.compile over a
captured pattern, whether its gradient matches central finite differences,
and its time against scipy's on the CPU.

    python -m benchmarks.surface                 # 2000 x 2000 at 1%
    python -m benchmarks.surface --n 1000000 --per-row 16 --repeats 3

One process, one table; ratio = scipy time / ours (above 1: ours faster).
"""
import argparse
import time

import mlx.core as mx
import numpy as np
import scipy.sparse as ss

import mlx_scipy_sparse as sp
from mlx_scipy_sparse._formats import _compressed, _coo

# name -> (op on ours or scipy's; the same callable serves both)
OPS = {
    "A + B": lambda A, B: A + B, "A - B": lambda A, B: A - B,
    "A.multiply(B)": lambda A, B: A.multiply(B), "A.maximum(B)": lambda A, B: A.maximum(B),
    "A * 2": lambda A, B: A * 2.0, "A / 2": lambda A, B: A / 2.0, "-A": lambda A, B: -A,
    "abs(A)": lambda A, B: abs(A), "A ** 2": lambda A, B: A ** 2,
    "A.sqrt()": lambda A, B: abs(A).sqrt(), "A.expm1()": lambda A, B: A.expm1(),
    "A.tocsc()": lambda A, B: A.tocsc(), "A.tocoo()": lambda A, B: A.tocoo(),
    "A.T.tocsr()": lambda A, B: A.T.tocsr(), "A.astype(f64)": lambda A, B: A.astype(np.float64),
    "A.sum(axis=1)": lambda A, B: A.sum(axis=1), "A.sum()": lambda A, B: A.sum(),
    "A.mean(axis=0)": lambda A, B: A.mean(axis=0), "A.diagonal()": lambda A, B: A.diagonal(),
    "A[10:50]": lambda A, B: A[10:50], "A[[1, 5, 9]]": lambda A, B: A[[1, 5, 9]],
    "A[:, 3:9]": lambda A, B: A[:, 3:9], "tril(A)": lambda A, B: sp.tril(A) if not
    isinstance(A, ss.sparray) else ss.tril(A),
    "hstack": lambda A, B: (ss if isinstance(A, ss.sparray) else sp).hstack([A, B]),
    "kron(A[:8,:8], B[:8,:8])": lambda A, B: (ss if isinstance(A, ss.sparray) else sp).kron(
        A[:8, :8], B[:8, :8], format="csr"),
    "A.toarray()": lambda A, B: A.toarray(),
    "A.sort_indices()": lambda A, B: A.sort_indices(),
    "A.eliminate_zeros()": lambda A, B: A.eliminate_zeros(),
}


def _timed(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        r = fn()
        if isinstance(r, mx.array):
            mx.eval(r)
        elif sp.issparse(r) and isinstance(getattr(r, "_data", None), mx.array):
            mx.eval(r._data)
        best = min(best, time.perf_counter() - t)
    return best


def _runs_in_mlx(op, A, B):
    """No hand-off to scipy (a scipy object made of our arrays) during a call
    outside any transformation."""
    calls = {"n": 0}
    classes = [_compressed._compressed_base, _coo._coo_base]
    real = [c._to_sp for c in classes]

    def counting(fn):
        def to_sp(self, copy=False):
            calls["n"] += 1
            return fn(self, copy)
        return to_sp
    for c, fn in zip(classes, real):
        c._to_sp = counting(fn)
    try:
        op(A, B)
    finally:
        for c, fn in zip(classes, real):
            c._to_sp = fn
    return calls["n"] == 0


def _dense(r):
    """An MLX float64 view of a result (outside a transformation, reductions
    and densifications are scipy's numpy results: taken as they are)."""
    if isinstance(r, mx.array):
        return r.astype(mx.float64) if r.dtype != mx.float64 else r
    if sp.issparse(r):
        return r @ mx.eye(r.shape[-1], dtype=mx.float64, stream=mx.cpu) if r.ndim == 2 else None
    if r is None:
        return None
    return mx.array(np.asarray(r, dtype=np.float64), dtype=mx.float64)


def _rebuild(A, v):
    return type(A)((v, A.indices, A.indptr), shape=A.shape)


def _grad_check(op):
    """'ok' when mx.grad matches central differences (float64, small), the
    error's type where it raises, 'WRONG' where it disagrees."""
    S = ss.random_array((12, 12), density=0.3, format="csr", dtype=np.float64, rng=1)
    S.data += 0.5
    # B's values differ from A's everywhere (maximum has no gradient at ties)
    A = sp.csr_array(S)
    B = sp.csr_array(ss.random_array((12, 12), density=0.3, format="csr", dtype=np.float64,
                                     rng=2) * 3)

    def loss(v):
        d = _dense(op(_rebuild(A, v), B))
        if d is None:
            raise TypeError("no MLX result")     # in-place calls: nothing to differentiate
        return mx.sum(d * d)
    with mx.stream(mx.cpu):
        try:
            g = np.array(mx.grad(loss)(A.data))
        except Exception as e:          # reported in the table
            return type(e).__name__
        v0, eps = np.array(A.data), 1e-6
        fd = np.array([(loss(mx.array(v0 + eps * e, dtype=mx.float64)).item()
                        - loss(mx.array(v0 - eps * e, dtype=mx.float64)).item()) / (2 * eps)
                       for e in np.eye(v0.size)])
    return "ok" if np.allclose(g, fd, rtol=1e-4, atol=1e-6) else "WRONG"


def _compiles(op, A, B):
    @mx.compile
    def step(v):
        d = op(_rebuild(A, v), B)
        return d._data if sp.issparse(d) else d
    try:
        r = step(A.data)
        mx.eval(r)
        return "yes"
    except Exception as e:              # reported in the table
        return type(e).__name__


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--density", type=float, default=0.01)
    p.add_argument("--per-row", type=int, default=None, help="entries a row instead of density")
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args(argv)
    dens = a.per_row / a.n if a.per_row else a.density
    SA = ss.random_array((a.n, a.n), density=dens, format="csr", dtype=np.float32, rng=0)
    SB = ss.random_array((a.n, a.n), density=dens, format="csr", dtype=np.float32, rng=1)
    SA.sum_duplicates()
    SB.sum_duplicates()
    A, B = sp.csr_array(SA), sp.csr_array(SB)
    print(f"{a.n} x {a.n}, {SA.nnz} entries, float32, MLX {mx.__version__}, "
          f"device {mx.default_device()}")
    print(f"{'op':28s} {'MLX':>4s} {'compile':>18s} {'grad':>20s} {'ours ms':>9s} "
          f"{'scipy ms':>9s} {'ratio':>6s}")
    ratios, in_mlx = [], 0
    for name, op in OPS.items():
        mlx_side = _runs_in_mlx(op, A, B)
        in_mlx += mlx_side
        ours = _timed(lambda: op(A, B), a.repeats)
        theirs = _timed(lambda: op(SA, SB), a.repeats)
        ratios.append(theirs / ours)
        print(f"{name:28s} {'yes' if mlx_side else 'host':>4s} {_compiles(op, A, B):>18s} "
              f"{_grad_check(op):>20s} {ours * 1e3:9.3f} {theirs * 1e3:9.3f} "
              f"{theirs / ours:6.2f}")
    print(f"\n{in_mlx} of {len(OPS)} ops run in MLX outside a transformation; "
          f"ratio median {np.median(ratios):.2f}, min {min(ratios):.2f}")


if __name__ == "__main__":
    main()
