"""What P busy cores of one host do to each other: the same single-threaded
kernel in P processes at once, each pinned to its own core, against one alone.

    python benchmarks/host_contention.py --procs 1,2,4,8 --stride 2

Kernels: scipy's csr_matvec on a 2-D Poisson matrix of 2M rows (the weak-scaling
rank's local product: streams 130 MB), the same on 20k rows (in cache: no
memory traffic, so a slowdown there is the clock), scipy's cg on the 2M-row
matrix (10 iterations a call: the product and the vector streams of CG, no
communication at all), a 40 MB numpy copy (memory alone) and an in-cache numpy
loop (arithmetic alone).  Prints each kernel's
median time per call at each P, its efficiency t(1)/t(P), and the cores' clock
(/proc/cpuinfo, sampled while the P processes run) where the host shows it.
The distributed weak-scaling table loses what these kernels lose: this says
whether that is the memory system or the clock.
"""
import argparse
import multiprocessing as mp
import os
import time

import numpy as np


def poisson(rows):
    import scipy.sparse as ss
    nx = int(round(rows ** 0.5))
    ny = max(1, rows // nx)
    e = np.ones(nx)
    T = ss.diags([-e[1:], 4 * e, -e[1:]], [-1, 0, 1])
    return (ss.kron(ss.eye(ny), T) + ss.diags([-np.ones(nx * (ny - 1))] * 2, [-nx, nx])).tocsr()


def kernel(name):
    from scipy.sparse import _sparsetools as st
    if name.startswith("spmv"):
        A = poisson(2_000_000 if name == "spmv_2M" else 20_000)
        x = np.random.default_rng(0).uniform(-1, 1, A.shape[1])
        y = np.zeros(A.shape[0])
        n = A.shape[0]
        return lambda: (y.fill(0), st.csr_matvec(n, n, A.indptr, A.indices, A.data, x, y))
    if name == "cg_2M":                 # scipy's cg, 10 iterations a call: product + vector streams
        import scipy.sparse.linalg as ssl
        A = poisson(2_000_000)
        b = A @ np.ones(A.shape[0])
        return lambda: ssl.cg(A, b, rtol=1e-30, maxiter=10)
    if name == "copy_40MB":
        a = np.ones(5_000_000)
        b = np.empty_like(a)
        return lambda: np.copyto(b, a)
    a = np.linspace(0, 1, 4096)         # 32 KB: stays in L1
    out = np.empty_like(a)
    return lambda: [np.sin(a, out=out) for _ in range(50)]


def worker(core, name, seconds, start, q):
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    fn = kernel(name)
    fn()
    start.wait()                        # every process built and warmed up
    ts, t_end = [], time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    q.put(float(np.median(ts)))


def clocks(cores):
    """MHz of the given cores from /proc/cpuinfo (empty where not shown)."""
    try:
        text = open("/proc/cpuinfo").read().split("\n\n")
    except OSError:
        return []
    out = []
    for block in text:
        f = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
        f = {k.strip(): v.strip() for k, v in f.items()}
        if "processor" in f and int(f["processor"]) in cores and "cpu MHz" in f:
            out.append(float(f["cpu MHz"]))
    return out


def run(name, P, stride, seconds):
    ctx = mp.get_context("spawn")
    start, q = ctx.Barrier(P + 1), ctx.Queue()
    n = os.cpu_count() or 1
    cores = [(k * stride) % n for k in range(P)]
    ps = [ctx.Process(target=worker, args=(c, name, seconds, start, q)) for c in cores]
    for p in ps:
        p.start()
    start.wait(timeout=300)
    time.sleep(seconds / 2)
    mhz = clocks(set(cores))
    times = [q.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join()
    return max(times), (min(mhz), max(mhz)) if mhz else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", default="1,2,4,8")
    ap.add_argument("--stride", type=int, default=2, help="core k*stride for process k")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--kernels", default="spmv_2M,cg_2M,spmv_20k,copy_40MB,sin_L1")
    a = ap.parse_args()
    procs = [int(p) for p in a.procs.split(",")]
    print(f"# host_contention: {os.cpu_count()} cores, process k on core {a.stride}k; "
          f"slowest process's median ms a call; eff = t(1)/t(P)")
    print(f"{'kernel':>10} {'P':>3} {'ms':>9} {'eff':>6} {'MHz (min-max)':>16}")
    for name in a.kernels.split(","):
        base = None
        for P in procs:
            t, mhz = run(name, P, a.stride, a.seconds)
            base = base or t
            m = f"{mhz[0]:.0f}-{mhz[1]:.0f}" if mhz else "-"
            print(f"{name:>10} {P:>3} {t * 1e3:9.3f} {base / t:6.0%} {m:>16}", flush=True)


if __name__ == "__main__":
    main()
