"""Side-by-side timings of sparse products, one run, one table.

    python -m benchmarks.run --suite gpu [--small] [--plot out.png] [--json out.json]
    python -m benchmarks.run --suite cpu [--small]

Cases: the seed notebook's pruning table (1024x1024, 50..99.9% sparsity),
uniform random (16 entries a row), a power-law graph, a 2-D Laplacian
stencil, a tall-skinny matrix.  Ops: SpMV, SpMM with 16/64/256 columns,
SDDMM (64 columns), one forward+backward step (values and X gradients,
64 columns), and on the CPU suite SpGEMM (A @ A.T, both sparse, where it
has at most 1e8 products).  Peers: scipy ``@`` (CPU), dense MLX (where it fits), and on a
GPU cuSPARSE through CuPy and torch.sparse CSR in the same process; the
ratio column is best-peer time / our time (>1: we are faster), where the
best peer is the faster GPU library (on the CPU suite: scipy).  GB/s counts
the fewest bytes an op must move (values, indices, indptr, the dense operand
once, the output once) and is set beside a device-to-device copy measured in
the same run.  Times are medians of per-call wall times, each call
synchronised (what a caller sees, launch and dispatch included); on the CPU
suite ours and scipy's products are timed alternately, call by call.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import scipy.sparse as ss

import mlx.core as mx

import mlx_scipy_sparse as sp

# ---------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------


BATCH = 1


def _median_time(fn, sync, reps, warmup=2, budget=2.0, batch=None):
    """Median ms per call; each sample runs ``batch`` calls and synchronises
    once (GPU suite: 10, so per-sync overheads of each framework weigh less)."""
    batch = BATCH if batch is None else batch
    for _ in range(warmup):
        sync(fn())
    ts = []
    t_start = time.perf_counter()
    for _ in range(reps):
        t0 = time.perf_counter()
        sync([fn() for _ in range(batch)])
        ts.append((time.perf_counter() - t0) / batch)
        if time.perf_counter() - t_start > budget and len(ts) >= 3:
            break
    return statistics.median(ts) * 1e3


def _paired_times(fa, sa, fb, sb, reps, budget=4.0):
    """Median ms per call of two functions timed alternately (a b, b a, ...),
    so that the drifting load of a shared machine falls on both alike (CPU
    suite: timed in separate phases, scipy's own time varied 2-6x between runs)."""
    sa(fa())
    sb(fb())
    ta, tb = [], []
    t_start = time.perf_counter()
    for i in range(reps):
        pair = ((fa, sa, ta), (fb, sb, tb))
        for f, s, acc in pair if i % 2 == 0 else pair[::-1]:
            t0 = time.perf_counter()
            s(f())
            acc.append(time.perf_counter() - t0)
        if time.perf_counter() - t_start > budget and i >= 4:
            break
    return statistics.median(ta) * 1e3, statistics.median(tb) * 1e3


def mx_sync(y):
    mx.eval(y)


def _sync_sparse(ys):
    mx.eval(*(y.data for y in (ys if isinstance(ys, list) else [ys])))


def no_sync(y):
    return y


# ---------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------


def pruned(n, sparsity, rng):
    W = rng.standard_normal((n, n)).astype(np.float32)
    thr = np.percentile(np.abs(W), sparsity * 100)
    W = np.where(np.abs(W) >= thr, W, 0.0).astype(np.float32)
    return ss.csr_array(W), W


def uniform(n, per_row, rng, m=None):
    m = m or n
    rows = np.repeat(np.arange(m), per_row)
    cols = rng.integers(0, n, size=m * per_row)
    A = ss.csr_array((rng.standard_normal(rows.size).astype(np.float32), (rows, cols)), shape=(m, n))
    A.sum_duplicates()
    return A


def power_law(n, mean, rng):
    lens = rng.zipf(1.8, size=n).astype(np.int64)
    lens = np.minimum(lens, n // 4)
    lens = np.maximum(1, (lens * (mean / lens.mean())).astype(np.int64))
    rows = np.repeat(np.arange(n), lens)
    cols = rng.integers(0, n, size=rows.size)
    A = ss.csr_array((rng.standard_normal(rows.size).astype(np.float32), (rows, cols)), shape=(n, n))
    A.sum_duplicates()
    return A


def laplace2d(g):
    I = ss.identity(g, dtype=np.float32, format="csr")
    T = ss.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(g, g), dtype=np.float32)
    return ss.csr_array(ss.kron(T, I) + ss.kron(I, T)).astype(np.float32)


def cases(suite, small, rng):
    big = suite == "gpu" and not small
    out = []
    for s in (0.5, 0.75, 0.9, 0.95, 0.99, 0.999):
        A, W = pruned(1024, s, rng)
        out.append((f"prune{s * 100:g}%", A, W))
    n = 1_000_000 if big else (200_000 if suite == "gpu" else 100_000)
    out.append((f"uniform{n // 1000}k", uniform(n, 16, rng), None))
    out.append((f"powerlaw{n // 1000}k", power_law(n, 16, rng), None))
    g = 1000 if big else 300
    out.append((f"laplace{g}x{g}", laplace2d(g), None))
    m = 2_000_000 if big else 200_000
    out.append((f"tall{m // 1000}kx1k", uniform(1024, 8, rng, m=m), None))
    return out


OPS = ("spmv", "spmm16", "spmm64", "spmm256", "sddmm64", "fwdbwd64")
CPU_OPS = OPS + ("spgemm",)


def op_width(op):
    return 1 if op in ("spmv", "spgemm") else int("".join(c for c in op if c.isdigit()))


def spgemm_products(A):
    """Products a_ik * b_kj that A @ A.T forms: the squared column counts."""
    return int((np.bincount(A.indices, minlength=A.shape[1]).astype(np.int64) ** 2).sum())


def min_bytes(A, op, k, isz=4):
    nnz, (m, n) = A.nnz, A.shape
    base = nnz * (isz + 4) + (m + 1) * 4
    if op.startswith("spm"):
        return base + (n * k + m * k) * isz
    if op.startswith("sddmm"):
        return base + (m * k + n * k) * isz + nnz * isz
    # forward + values grad + X grad: three passes
    return 3 * base + (3 * (n * k + m * k) + m * k) * isz + nnz * isz


# ---------------------------------------------------------------------------
# peers
# ---------------------------------------------------------------------------


class GpuPeers:
    def __init__(self, index_dtype=np.int64):
        self.index_dtype = index_dtype      # torch's CSR indices (its own default: int64)
        self.torch = self.cp = self.cpsp = None
        try:
            import torch
            if torch.cuda.is_available():
                self.torch = torch
        except Exception:
            pass
        try:
            import cupy
            import cupyx.scipy.sparse as cpsp
            cupy.cuda.runtime.getDeviceCount()
            self.cp, self.cpsp = cupy, cpsp
        except Exception:
            pass

    def copy_gbps(self):
        if self.torch is None:
            x = mx.random.normal((1 << 28,))
            mx.eval(x)
            t = _median_time(lambda: x + 0, mx_sync, 20)
            return 2 * x.nbytes / t / 1e6
        t = self.torch
        x = t.empty(1 << 28, device="cuda")
        y = t.empty_like(x)
        ms = _median_time(lambda: y.copy_(x), lambda _: t.cuda.synchronize(), 20)
        return 2 * x.numel() * 4 / ms / 1e6

    def prepare(self, A):
        P = {}
        if self.torch is not None:
            t = self.torch
            it = self.index_dtype
            P["torch"] = t.sparse_csr_tensor(t.from_numpy(A.indptr.astype(it)).cuda(),
                                             t.from_numpy(A.indices.astype(it)).cuda(),
                                             t.from_numpy(A.data).cuda(), size=A.shape)
        if self.cp is not None:
            P["cupy"] = self.cpsp.csr_matrix(A)
        return P

    def time(self, P, A, op, X_np, G_np, reps):
        res = {}
        k = op_width(op)
        if "torch" in P:
            t = self.torch
            At = P["torch"]
            Xt = t.from_numpy(X_np).cuda()
            sync = lambda _: t.cuda.synchronize()  # noqa: E731
            try:
                if op == "spmv":
                    res["torch"] = _median_time(lambda: At @ Xt, sync, reps)
                elif op.startswith("spmm"):
                    res["torch"] = _median_time(lambda: At @ Xt, sync, reps)
                elif op.startswith("sddmm"):
                    Gt = t.from_numpy(G_np).cuda()
                    XtT = Xt.T.contiguous()
                    res["torch"] = _median_time(
                        lambda: t.sparse.sampled_addmm(At, Gt, XtT, beta=0.0), sync, reps)
                elif op.startswith("fwdbwd"):
                    Gt = t.from_numpy(G_np).cuda()
                    vals = At.values().clone().requires_grad_(True)
                    Xg = Xt.clone().requires_grad_(True)
                    crow, col = At.crow_indices(), At.col_indices()

                    def step():
                        Av = t.sparse_csr_tensor(crow, col, vals, size=A.shape)
                        loss = ((Av @ Xg) * Gt).sum()
                        return t.autograd.grad(loss, (vals, Xg))
                    res["torch"] = _median_time(step, sync, reps)
            except Exception as e:  # a peer that cannot do an op is left out
                res["torch_err"] = f"{type(e).__name__}"
        if "cupy" in P and not op.startswith(("sddmm", "fwdbwd")):
            cp = self.cp
            Ac = P["cupy"]
            Xc = cp.asarray(X_np)
            sync = lambda _: cp.cuda.Device().synchronize()  # noqa: E731
            try:
                res["cupy"] = _median_time(lambda: Ac @ Xc, sync, reps)
            except Exception as e:
                res["cupy_err"] = f"{type(e).__name__}"
        return res


# ---------------------------------------------------------------------------
# ours
# ---------------------------------------------------------------------------


def ours_fns(A, op, X_np, G_np, on_gpu):
    As = sp.csr_array(A)
    k = op_width(op)
    X = mx.array(X_np)
    mx.eval(X, As.data, As.indices, As.indptr)
    if op == "spmv" or op.startswith("spmm"):
        return lambda: As @ X
    if op == "spgemm":
        AsT = As.T
        return lambda: As @ AsT
    from mlx_scipy_sparse._kernels import _gpu, _cpu
    G = mx.array(G_np)
    mx.eval(G)
    if op.startswith("sddmm"):
        if on_gpu:
            return lambda: _gpu.sddmm(As.indices, As.indptr, A.shape[0], G, X)
        return lambda: _cpu.sddmm(A.indices, A.indptr, G_np, X_np)
    # forward + backward of sum((A @ X) * G) w.r.t. values and X
    vals = As.data
    ind, ptr = As.indices, As.indptr
    from mlx_scipy_sparse import _kernels

    def loss(v, x):
        return mx.sum(_kernels.spmm(v, ind, ptr, A.shape, x) * G)
    g = mx.grad(loss, argnums=(0, 1))
    return lambda: g(vals, X)


def _variant_times(A, X_np, k, reps):
    from mlx_scipy_sparse._kernels import _gpu
    d, ind, ptr = mx.array(A.data), mx.array(A.indices), mx.array(A.indptr)
    X = mx.array(X_np)
    mx.eval(d, ind, ptr, X)
    vs = ([("csr_rowthread", None)] + [("csr_vector", g) for g in (2, 4, 8, 16, 32)]
          + [("csr_lb_vec", None)]
          + [("csr_adaptive", 1024, e) for e in (1, 2, 4, 8)]
          if k == 1 else [("csr_rowthread", None), ("csr_warp", None, 1), ("csr_warp", None, 2),
                ("csr_lb_mat", None)])
    out = {"chosen": ":".join(map(str, _gpu.choose(_gpu.row_stats(ptr), k, False, A.shape[1])))}
    for v in vs:
        out[":".join(map(str, v))] = round(_median_time(
            lambda: _gpu.spmm(d, ind, ptr, A.shape[0], A.shape[1], X, False, mx.float32, variant=v),
            mx_sync, reps), 4)
    print("    variants:", " ".join(f"{k2}={v2}" for k2, v2 in out.items()), flush=True)
    return out


def run(args):
    rng = np.random.default_rng(0)
    on_gpu = args.suite == "gpu"
    if on_gpu:
        if not mx.is_available(mx.gpu):
            print("no MLX GPU here; use --suite cpu")
            return 1
        mx.set_default_device(mx.gpu)
    else:
        mx.set_default_device(mx.cpu)
    global BATCH
    BATCH = args.batch if args.batch else (10 if on_gpu else 1)
    if args.reuse_host_memory:
        print("sp.reuse_host_memory():", sp.reuse_host_memory())
    idx = np.dtype(args.index_dtype) if args.index_dtype else None
    peers = GpuPeers(idx or np.int64) if on_gpu else None
    copy = peers.copy_gbps() if on_gpu else None
    reps = 10 if args.small else 30
    rows = []
    ops = args.ops.split(",") if args.ops else (OPS if on_gpu else CPU_OPS)
    wanted = [c for c in args.cases.split(",") if c]
    for name, A, W in cases(args.suite, args.small, rng):
        if wanted and not any(name.startswith(c) for c in wanted):
            continue
        A = ss.csr_array(A).astype(np.float32)
        A.sort_indices()
        if idx is not None:                 # the same index arrays for every library
            A.indices, A.indptr = A.indices.astype(idx), A.indptr.astype(idx)
        P = peers.prepare(A) if on_gpu else {}
        prune = name.startswith("prune")
        for op in ops:
            if prune and op not in ("spmv", "spmm64"):
                continue
            k = op_width(op)
            m, n = A.shape
            if not on_gpu and A.nnz * k > 3e8:
                continue
            if op == "spgemm" and (prune or on_gpu or spgemm_products(A) > 1e8):
                continue
            X_np = rng.standard_normal((n,) if k == 1 else (n, k)).astype(np.float32)
            G_np = rng.standard_normal((m, k)).astype(np.float32)
            r = {"case": name, "op": op, "shape": list(A.shape), "nnz": int(A.nnz)}
            fn = ours_fns(A, op, X_np, G_np, on_gpu)
            paired = not on_gpu and (op == "spmv" or op.startswith("spmm"))
            if paired:
                r["ours"], r["scipy"] = _paired_times(fn, mx_sync, lambda: A @ X_np, no_sync, reps)
            else:
                r["ours"] = _median_time(fn, _sync_sparse if op == "spgemm" else mx_sync,
                                         reps)
            if on_gpu:
                r.update(peers.time(P, A, op, X_np, G_np, reps))
                if op in args.variants.split(","):
                    r["variants"] = _variant_times(A, X_np, k, reps)
            if op == "spgemm":
                AT = A.T
                r["scipy"] = _median_time(lambda: A @ AT, no_sync, reps, warmup=1)
            elif op == "spmv" or op.startswith("spmm"):
                if not paired and A.nnz * k <= 2e8:
                    r["scipy"] = _median_time(lambda: A @ X_np, no_sync, 5 if on_gpu else reps,
                                              warmup=1, budget=1.0, batch=1)
                if W is not None:
                    Wm = mx.array(W)
                    Xm = mx.array(X_np)
                    mx.eval(Wm, Xm)
                    r["dense_mlx"] = _median_time(lambda: Wm @ Xm, mx_sync, reps)
            gpu_peers = [r[p] for p in ("torch", "cupy") if p in r]
            best = min(gpu_peers) if on_gpu and gpu_peers else r.get("scipy")
            r["best_peer"] = best
            r["ratio"] = best / r["ours"] if best else None
            r["gbps"] = None if op == "spgemm" else min_bytes(A, op, k) / r["ours"] / 1e6
            r["copy_frac"] = r["gbps"] / copy if copy else None
            rows.append(r)
            _print_row(r, on_gpu)
            if on_gpu:      # the 2 GB outputs of tall SpMM-256 ran the GPU out of memory
                del fn
                mx.clear_cache()
                if peers.torch is not None:
                    peers.torch.cuda.empty_cache()
    print(f"(times: median ms per call, {BATCH} calls per synchronisation)")
    _summary(rows, on_gpu, copy)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"suite": args.suite, "mlx": mx.__version__, "copy_gbps": copy,
                       "device": str(mx.default_device()), "rows": rows}, f, indent=1)
    if args.plot:
        _plot(rows, args.plot, on_gpu)
    return 0


def _fmt(v):
    return "-" if v is None else (f"{v:.3f}" if v < 100 else f"{v:.0f}")


_HDR = False


def _print_row(r, on_gpu):
    global _HDR
    if not _HDR:
        cols = ["case", "op", "nnz", "ours_ms"] + (["torch_ms", "cupy_ms"] if on_gpu else []) + \
            ["scipy_ms", "dense_ms", "ratio", "GB/s", "%copy"]
        print(("{:<17}{:<10}{:>10}" + "{:>10}" * (len(cols) - 3)).format(*cols))
        _HDR = True
    vals = [r["case"], r["op"], r["nnz"], _fmt(r["ours"])]
    if on_gpu:
        vals += [_fmt(r.get("torch")), _fmt(r.get("cupy"))]
    vals += [_fmt(r.get("scipy")), _fmt(r.get("dense_mlx")),
             "-" if r["ratio"] is None else f"{r['ratio']:.2f}x",
             "-" if r["gbps"] is None else f"{r['gbps']:.0f}",
             "-" if r["copy_frac"] is None else f"{100 * r['copy_frac']:.0f}%"]
    print(("{:<17}{:<10}{:>10}" + "{:>10}" * (len(vals) - 3)).format(*vals), flush=True)


def _summary(rows, on_gpu, copy):
    print()
    if copy:
        print(f"device-to-device copy: {copy:.0f} GB/s (read+write)")
    peer = "faster of torch.sparse / CuPy" if on_gpu else "scipy"
    for fam, pred in (("SpMV", lambda o: o == "spmv"), ("SpMM", lambda o: o.startswith("spmm")),
                      ("SDDMM", lambda o: o.startswith("sddmm")), ("fwd+bwd", lambda o: o.startswith("fwdbwd")),
                      ("SpGEMM", lambda o: o == "spgemm")):
        rs = [r["ratio"] for r in rows if pred(r["op"]) and r["ratio"]]
        if rs:
            print(f"{fam:<8} vs {peer}: median {statistics.median(rs):.2f}x  min {min(rs):.2f}x  "
                  f"max {max(rs):.2f}x  over {len(rs)} cases")


def _plot(rows, path, on_gpu):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        print("matplotlib not importable: no plot written")
        return
    rs = [r for r in rows if r["ratio"]]
    fig, ax = plt.subplots(figsize=(max(8, len(rs) * 0.35), 4.5))
    ax.bar(range(len(rs)), [r["ratio"] for r in rs],
           color=["C0" if r["ratio"] >= 1 else "C3" for r in rs])
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(len(rs)))
    ax.set_xticklabels([f"{r['case']} {r['op']}" for r in rs], rotation=90, fontsize=7)
    ax.set_ylabel("best peer time / ours")
    ax.set_yscale("log")
    ax.set_title(f"mlx_scipy_sparse vs {'torch.sparse/CuPy' if on_gpu else 'scipy'} (MLX {mx.__version__})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=("gpu", "cpu"), default="gpu" if mx.is_available(mx.gpu) else "cpu")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--ops", default="", help="comma list from " + ",".join(CPU_OPS))
    ap.add_argument("--plot", default="")
    ap.add_argument("--batch", type=int, default=0,
                    help="calls per synchronisation (default: 10 on GPU, 1 on CPU)")
    ap.add_argument("--variants", nargs="?", const="spmv,spmm16,spmm64,spmm256", default="",
                    help="GPU: also time every kernel variant of these ops (default: all products)")
    ap.add_argument("--cases", default="", help="comma list of case-name prefixes (default: all)")
    ap.add_argument("--json", default="")
    ap.add_argument("--index-dtype", choices=("int32", "int64"), default="",
                    help="index arrays of every library (default: as the cases build them, "
                         "int64 here except the pruning cases; torch int64)")
    ap.add_argument("--reuse-host-memory", action="store_true",
                    help="call sp.reuse_host_memory() first (opt-in allocator setting)")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
