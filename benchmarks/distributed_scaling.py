"""Scaling of mlx_scipy_sparse.distributed on one host: SpMV and CG on a 2-D
(or 3-D) Poisson matrix over 1, 2, 4, 8 ranks of the ring backend on the CPU.

    python benchmarks/distributed_scaling.py                    # the 16-core run
    python benchmarks/distributed_scaling.py --ranks 1,2 --weak-rows 40000 \\
        --strong-rows 80000 --cores 1                             # a small check

Weak scaling keeps the rows per rank fixed (default 2M: at 500k a CG
iteration is 6 ms, and the ring collectives at 8 ranks cost 0.7-0.8 ms
each, two a CG iteration), strong scaling splits one problem (default 4M
rows, a 2000 x 2000 grid).  Each rank
builds only its own rows (no global matrix anywhere), pins itself to
``--threads`` cores of its own and limits BLAS and our CPU kernel to as many
threads.  Every rank reports, per product, the time of the whole product,
of the exchange alone and of the local compute alone; CG (linalg.cg, --dtype,
a fixed number of iterations) is timed per iteration.  The driver starts P
ring ranks on 127.0.0.1 for each P with the package's launcher (P = 1
runs without one: a group of one), collects each rank's numbers and prints the
tables: per-rank exchange beside compute, then weak efficiency t(1)/t(P) and
strong efficiency t(1)/(P t(P)), with scipy's single-process SpMV and CG
(its compiled csr_matvec, its cg) on the same problem as the reference.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlx_scipy_sparse.distributed._launch import run_local


def _pin(rank, threads, cores):
    """This rank's cores and thread counts, before numpy / MLX start threads.
    A rank gets ``cores`` cores and computes on ``threads`` threads: a spare
    core leaves room for MLX's stream threads and the ring backend's socket
    threads (which poll while a message is pending)."""
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(threads)
    n = os.cpu_count() or 1
    if hasattr(os, "sched_setaffinity") and n >= cores:
        first = (rank * cores) % n
        os.sched_setaffinity(0, {(first + i) % n for i in range(cores)})


def poisson_rows(shape, lo, hi):
    """Rows lo:hi of the 5-point (2-D) or 7-point (3-D) Laplacian on a grid
    of ``shape`` (x fastest), global column numbers, as scipy CSR."""
    import numpy as np
    import scipy.sparse as ss
    dims = len(shape)
    n = int(np.prod(shape))
    idx = np.arange(lo, hi, dtype=np.int64)
    coords, rest = [], idx
    for s in shape:
        coords.append(rest % s)
        rest = rest // s
    rows, cols, vals = [idx - lo], [idx], [np.full(hi - lo, 2.0 * dims)]
    stride = 1
    for d, s in enumerate(shape):
        for step in (-1, 1):
            ok = (coords[d] + step >= 0) & (coords[d] + step < s)
            rows.append(idx[ok] - lo)
            cols.append(idx[ok] + step * stride)
            vals.append(np.full(int(ok.sum()), -1.0))
        stride *= s
    A = ss.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                     shape=(hi - lo, n))
    A.sort_indices()
    return A


def grid(rows, ranks, dims, weak):
    """The grid: strong keeps ``rows`` in all; weak has ``rows`` per rank."""
    total = rows * ranks if weak else rows
    if dims == 2:
        nx = int(round((rows if weak else total) ** 0.5))
        return (nx, max(1, total // nx))
    nx = int(round((rows if weak else total) ** (1 / 3)))
    return (nx, nx, max(1, total // (nx * nx)))


# ---------------------------------------------------------------- one rank
def worker(a):
    rank = int(os.environ.get("MLX_RANK", "0"))
    _pin(rank, a.threads, a.cores)
    import numpy as np
    import mlx.core as mx
    import mlx_scipy_sparse.distributed as D
    from mlx_scipy_sparse import linalg as L
    from mlx_scipy_sparse._kernels import _cpu
    _cpu._THREADS = a.threads       # the CPU kernel's pool (no public knob yet: see report)
    mx.set_default_device(mx.cpu)   # the CPU stream, also on a machine with a GPU
    if "MLX_HOSTFILE" in os.environ:    # launched over ring (a CUDA build would try NCCL first)
        mx.distributed.init(backend="ring", strict=True)

    g = D.world()
    size = g.size()
    shape = grid(a.rows, size, a.dims, a.mode == "weak")
    n = int(np.prod(shape))
    lo, hi = n * rank // size, n * (rank + 1) // size
    t0 = time.perf_counter()
    A = D.from_local_rows(poisson_rows(shape, lo, hi).astype(a.dtype), exchange=a.exchange)
    build = time.perf_counter() - t0
    dt = getattr(mx, a.dtype)
    x = mx.array(np.random.default_rng(rank).uniform(-1, 1, hi - lo), dtype=dt)
    mx.eval(x)
    p = A._p

    def timed(fn, reps):
        for _ in range(2):
            mx.eval(fn())
        out = []
        for _ in range(reps):
            t = time.perf_counter()
            mx.eval(fn())
            out.append(time.perf_counter() - t)
        return float(np.median(out))

    def barrier():
        if size > 1:
            mx.eval(mx.distributed.all_sum(mx.zeros(1), stream=D.comm_stream()))
    barrier()
    spmv = timed(lambda: A @ x, a.spmv_iters)
    barrier()
    exchange = timed(lambda: p.gather(x), a.spmv_iters) if p.plan.mode != "none" else 0.0
    ghosts = p.gather(x) if p.plan.mode != "none" else mx.zeros((0,), dtype=dt)
    mx.eval(ghosts)
    barrier()
    compute = timed(lambda: A.local_product(x, ghosts), a.spmv_iters)
    barrier()
    b = A @ mx.ones((hi - lo,), dtype=dt)
    mx.eval(b)
    t = time.perf_counter()
    _, info = L.cg(A, b, rtol=1e-30, maxiter=a.cg_iters)
    cg = (time.perf_counter() - t) / a.cg_iters
    sent, got = p.plan.traffic()
    mine = dict(rank=rank, size=size, rows=hi - lo, n=n, shape=shape, mode=p.plan.mode,
                build_s=build, spmv_ms=spmv * 1e3, exchange_ms=exchange * 1e3,
                compute_ms=compute * 1e3, cg_ms=cg * 1e3, cg_info=int(info),
                sent=int(sent), received=int(got))
    with open(os.path.join(a.out, f"rank{rank}.json"), "w") as f:
        json.dump(mine, f)


def scipy_reference(a, shape):
    """scipy on the whole problem in one process with --threads threads."""
    import numpy as np
    import scipy.sparse.linalg as ssl
    A = poisson_rows(shape, 0, int(np.prod(shape))).astype(a.dtype)
    x = np.random.default_rng(0).uniform(-1, 1, A.shape[0]).astype(a.dtype)
    ts = []
    for _ in range(a.spmv_iters + 2):
        t = time.perf_counter()
        A @ x
        ts.append(time.perf_counter() - t)
    b = A @ np.ones(A.shape[0], dtype=a.dtype)
    t = time.perf_counter()
    ssl.cg(A, b, rtol=1e-30, maxiter=a.cg_iters)
    cg = (time.perf_counter() - t) / a.cg_iters
    return float(np.median(ts[2:])) * 1e3, cg * 1e3


# ---------------------------------------------------------------- the driver
def run_case(a, mode, ranks):
    out = tempfile.mkdtemp(prefix=f"dscale_{mode}{ranks}_")
    me = [sys.executable, os.path.abspath(__file__), "--worker", "--mode", mode, "--rows",
          str(a.weak_rows if mode == "weak" else a.strong_rows), "--dims", str(a.dims),
          "--threads", str(a.threads), "--cores", str(a.cores), "--exchange", a.exchange,
          "--dtype", a.dtype, "--spmv-iters", str(a.spmv_iters),
          "--cg-iters", str(a.cg_iters), "--out", out]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads),
               MKL_NUM_THREADS=str(a.threads))
    env.pop("MLX_RANK", None)
    if ranks == 1:
        r = subprocess.run(me, env=env, capture_output=True, text=True, timeout=a.timeout,
                           start_new_session=True)
        log = r.stdout[-2000:] + r.stderr[-4000:]
    else:                   # not mlx.launch: its output threads spin on a core (see _launch)
        _, log = run_local(ranks, me, timeout=a.timeout, env=env)
    got = []
    for k in range(ranks):
        f = Path(out) / f"rank{k}.json"
        if not f.exists():
            raise RuntimeError(f"{mode} {ranks} ranks: rank {k} wrote nothing\n{log[-6000:]}")
        got.append(json.loads(f.read_text()))
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", default="1,2,4,8")
    ap.add_argument("--weak-rows", type=int, default=2_000_000, help="rows per rank (weak)")
    ap.add_argument("--strong-rows", type=int, default=4_000_000, help="rows in all (strong)")
    ap.add_argument("--dims", type=int, default=2, choices=(2, 3))
    ap.add_argument("--threads", type=int, default=1, help="compute threads per rank")
    ap.add_argument("--cores", type=int, default=2, help="cores each rank is pinned to")
    ap.add_argument("--exchange", default="auto", choices=("auto", "neighbour", "all_gather"))
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--modes", default="weak,strong", help="weak, strong or both")
    ap.add_argument("--spmv-iters", type=int, default=20)
    ap.add_argument("--cg-iters", type=int, default=50)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--json", help="write every rank's numbers here")
    # worker side
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a)
    _pin(0, a.threads, a.cores)
    ranks = [int(r) for r in a.ranks.split(",")]
    print(f"# distributed_scaling: {a.dims}-D Poisson, ring backend on 127.0.0.1, "
          f"{a.threads} compute thread(s) on {a.cores} pinned core(s) per rank, "
          f"{os.cpu_count()} cores; exchange={a.exchange}; {a.dtype}; SpMV median of "
          f"{a.spmv_iters}, CG {a.cg_iters} iterations (linalg.cg)")
    table = {}
    for mode in a.modes.split(","):
        for P in ranks:
            table[(mode, P)] = run_case(a, mode, P)
    ref = {}
    for mode in a.modes.split(","):
        rows = a.weak_rows if mode == "weak" else a.strong_rows
        ref[mode] = scipy_reference(a, grid(rows, 1, a.dims, mode == "weak"))
    print("\n## per rank: the product, the exchange alone, the local compute alone (ms)")
    print(f"{'case':>12} {'rank':>4} {'rows':>9} {'route':>10} {'spmv':>8} {'exchange':>9} "
          f"{'compute':>8} {'sent':>6} {'recv':>6} {'cg/iter':>8}")
    for (mode, P), rs in table.items():
        for r in rs:
            print(f"{mode + ' P=' + str(P):>12} {r['rank']:>4} {r['rows']:>9} {r['mode']:>10} "
                  f"{r['spmv_ms']:8.3f} {r['exchange_ms']:9.3f} {r['compute_ms']:8.3f} "
                  f"{r['sent']:>6} {r['received']:>6} {r['cg_ms']:8.3f}")
    for mode in a.modes.split(","):
        rows = a.weak_rows if mode == "weak" else a.strong_rows
        sp_ref, cg_ref = ref[mode]
        print(f"\n## {mode} scaling ({rows} rows {'per rank' if mode == 'weak' else 'in all'}; "
              f"scipy, one process, {rows} rows: SpMV {sp_ref:.3f} ms, CG {cg_ref:.3f} ms/iter)")
        # comp eff: the local product alone, timed apart from any exchange: what
        # the ranks sharing one host's memory and clock do to each other
        print(f"{'ranks':>5} {'rows':>10} {'SpMV ms':>8} {'exch ms':>8} {'comp ms':>8} "
              f"{'SpMV eff':>8} {'comp eff':>8} {'CG ms/it':>9} {'CG eff':>7} "
              f"{'vs scipy SpMV':>13} {'vs scipy CG':>11}")
        base = table.get((mode, ranks[0]))
        for P in ranks:
            rs = table[(mode, P)]
            spmv = max(r["spmv_ms"] for r in rs)
            cg = max(r["cg_ms"] for r in rs)
            b_spmv = max(r["spmv_ms"] for r in base)
            b_cg = max(r["cg_ms"] for r in base)
            b_comp = max(r["compute_ms"] for r in base)
            comp = max(r["compute_ms"] for r in rs)
            scale = 1 if mode == "weak" else P / ranks[0]
            # weak: scipy on one rank's share; strong: scipy on the whole problem
            print(f"{P:>5} {rs[0]['n']:>10} {spmv:8.3f} {max(r['exchange_ms'] for r in rs):8.3f} "
                  f"{comp:8.3f} {b_spmv / (scale * spmv):8.0%} {b_comp / (scale * comp):8.0%} "
                  f"{cg:9.3f} {b_cg / (scale * cg):7.0%} {sp_ref / spmv:12.2f}x "
                  f"{cg_ref / cg:10.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({f"{m} {P}": rs for (m, P), rs in table.items()} | {"scipy": ref}, f)


if __name__ == "__main__":
    main()
