"""csgraph side by side: laplacian, connected_components and
breadth_first_order on a random graph of a few million edges.

    python -m benchmarks.csgraph                     # CPU: ours vs scipy
    python -m benchmarks.csgraph --gpu               # GPU: ours vs the peers there
    python -m benchmarks.csgraph --n 200000 --degree 4 --repeats 3 --png out.png

CPU rows: scipy.sparse.csgraph vs ours through the public function (which on
the CPU runs scipy's routine on zero-copy views for the traversals and the
MLX Laplacian), plus the MLX frontier traversals forced on the CPU stream.
"ours" is the best of repeated calls on one array (pattern functions such as
the Laplacian's index maps are kept per pattern, as in a training loop over
a fixed graph); "ours (first call)" is one call on a fresh array.
GPU rows (the default device set to the GPU): ours through the public
function (the frontier versions above csgraph._frontier.GPU_MIN_EDGES) against
scipy on the host in the same process and the GPU peers that import:
cupyx.scipy.sparse.csgraph.connected_components (needs pylibcugraph), the
same hooking / frontier algorithms written in CuPy and in PyTorch ops, and a
Laplacian composed of cupyx.scipy.sparse ops.  Every answer is checked
against scipy's.  ratio = best peer time / ours (above 1: ours faster).
"""
import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")      # pinned before numpy loads BLAS

import argparse      # noqa: E402
import time          # noqa: E402

import mlx.core as mx                   # noqa: E402
import numpy as np                      # noqa: E402
import scipy.sparse as ss               # noqa: E402
import scipy.sparse.csgraph as cg       # noqa: E402

import mlx_scipy_sparse as sp           # noqa: E402
from mlx_scipy_sparse.csgraph import _frontier   # noqa: E402


def random_graph(n, degree, seed=0):
    """A directed random graph, n * degree edges (duplicates summed), float32
    weights: a giant component and many small ones."""
    rng = np.random.default_rng(seed)
    m = n * degree
    S = ss.coo_array((rng.uniform(0.5, 1.5, m).astype(np.float32),
                      (rng.integers(0, n, m), rng.integers(0, n, m))), shape=(n, n)).tocsr()
    S.sum_duplicates()
    return S


def timed(fn, repeats, sync=None):
    """(best time, result) of ``repeats`` calls after a warm-up call."""
    r = fn()
    if sync:
        sync(r)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        r = fn()
        if sync:
            sync(r)
        best = min(best, time.perf_counter() - t)
    return best, r


def _once(fn, sync):
    t = time.perf_counter()
    r = fn()
    if sync:
        sync(r)
    return time.perf_counter() - t, r


def _eval_ours(r):
    for x in (r if isinstance(r, tuple) else (r,)):
        if sp.issparse(x):
            mx.eval(x.data)
        elif isinstance(x, mx.array):
            mx.eval(x)


def cases(S, start):
    """name -> (scipy call, our call on an array of ours, check(ours, scipy's))."""
    def same_lap(ours, ref):
        x = np.random.default_rng(0).standard_normal(S.shape[0]).astype(np.float32)
        return (np.allclose(np.asarray(ours[1]), ref[1], rtol=1e-4)
                and np.allclose(ours[0] @ x, ref[0] @ x, rtol=1e-3, atol=1e-3))

    def same(ours, ref):
        return all(np.array_equal(np.asarray(a), b) for a, b in
                   zip(ours if isinstance(ours, tuple) else (ours,),
                       ref if isinstance(ref, tuple) else (ref,)))
    return {
        "laplacian": (lambda: cg.laplacian(S, return_diag=True),
                      lambda A: sp.csgraph.laplacian(A, return_diag=True), same_lap),
        "laplacian normed": (lambda: cg.laplacian(S, normed=True, return_diag=True),
                             lambda A: sp.csgraph.laplacian(A, normed=True, return_diag=True),
                             same_lap),
        "connected_components": (lambda: cg.connected_components(S, directed=False),
                                 lambda A: sp.csgraph.connected_components(A, directed=False),
                                 same),
        "breadth_first_order": (lambda: cg.breadth_first_order(S, start, directed=False),
                                lambda A: sp.csgraph.breadth_first_order(A, start, directed=False),
                                same),
    }


def laplacian_grad(A, repeats):
    """laplacian under mx.value_and_grad (no peer has a gradient)."""
    x = mx.ones((A.shape[0],), dtype=mx.float32)
    ind, ptr = mx.array(np.asarray(A.indices)), mx.array(np.asarray(A.indptr))

    def loss(w):
        return mx.sum(sp.csgraph.laplacian(sp.csr_array((w, ind, ptr), shape=A.shape),
                                           normed=True) @ x)
    vg = mx.value_and_grad(loss)
    w = mx.array(np.asarray(A.data))
    return timed(lambda: vg(w), repeats, sync=lambda r: mx.eval(r))[0]


def cold(S, our_fn):
    """Ours on a fresh array (no pattern function kept yet): a first call."""
    A = sp.csr_array(S)
    t = time.perf_counter()
    _eval_ours(our_fn(A))
    return time.perf_counter() - t


def paired(ref_fn, our_fn, repeats):
    """Best times of scipy's call and ours, taken in turns (this machine is
    shared: load that comes and goes hits both alike)."""
    t_ref = t_ours = float("inf")
    ref, ours = ref_fn(), our_fn()
    _eval_ours(ours)
    for _ in range(repeats):
        t_ref = min(t_ref, _once(ref_fn, None)[0])
        t_ours = min(t_ours, _once(our_fn, _eval_ours)[0])
    return t_ref, ref, t_ours, ours


def run_cpu(S, A, start, repeats):
    rows = []
    for name, (ref_fn, our_fn, check) in cases(S, start).items():
        t_ref, ref, t_ours, ours = paired(ref_fn, lambda: our_fn(A), repeats)
        row = {"op": name, "ours": t_ours, "ours (first call)": cold(S, our_fn), "scipy": t_ref,
               "ok": check(ours, ref)}
        if name == "connected_components":
            with mx.stream(mx.cpu):
                row["ours (MLX ops)"], r = timed(lambda: _frontier.weak_components(A), repeats)
            row["ok"] &= check(r, ref)
        if name == "breadth_first_order":
            with mx.stream(mx.cpu):
                row["ours (MLX ops)"], r = timed(
                    lambda: _frontier.breadth_first_order(A, start, False), repeats)
            row["ok"] &= check(r, ref)
        rows.append(row)
    rows.append({"op": "laplacian normed + grad", "ours": laplacian_grad(A, repeats),
                 "ok": True})
    return rows


def run_gpu(S, A, start, repeats):
    if not mx.is_available(mx.gpu):
        raise SystemExit("--gpu: MLX sees no GPU here")
    mx.set_default_device(mx.gpu)
    assert _frontier.gpu_worthwhile(A), "graph below GPU_MIN_EDGES: the CPU route would run"
    rows = []
    available = gpu_peers(S)
    for name, (ref_fn, our_fn, check) in cases(S, start).items():
        t_ref, ref = timed(ref_fn, 1)
        t_ours, ours = timed(lambda: our_fn(A), repeats, _eval_ours)
        row = {"op": name, "ours": t_ours, "ours (first call)": cold(S, our_fn), "scipy": t_ref,
               "ok": check(ours, ref)}
        for peer, fn in available.get(name, {}).items():
            try:
                row[peer], r = timed(lambda: fn(start), repeats, _sync)
                row["ok"] &= _check(name, r, ref)
            except Exception as e:          # a peer that fails is reported, not fatal
                row[peer] = f"{type(e).__name__}"
        rows.append(row)
    rows.append({"op": "laplacian normed + grad", "ours": laplacian_grad(A, repeats),
                 "ok": True})
    return rows


# -- GPU peers (each import guarded: a missing package drops its columns) -----------
def gpu_peers(S):
    """name -> {peer: fn(start)} for the peers that import on this machine."""
    out = {}
    try:
        import cupy as cp
        import cupyx
        import cupyx.scipy.sparse as cs
        C = cs.csr_matrix(S)
        src = cp.asarray(np.repeat(np.arange(S.shape[0], dtype=np.int32), np.diff(S.indptr)))
        dst = cp.asarray(S.indices.astype(np.int32))
        out.setdefault("connected_components", {})["cupy (same algorithm)"] = \
            lambda _: _hooking(cp, src, dst, S.shape[0], lambda p, i, v: cupyx.scatter_min(p, i, v))
        out.setdefault("laplacian", {})["cupyx.sparse ops"] = \
            lambda _: _cupy_laplacian(cs, C, False)
        out.setdefault("laplacian normed", {})["cupyx.sparse ops"] = \
            lambda _: _cupy_laplacian(cs, C, True)
        try:
            from cupyx.scipy.sparse.csgraph import connected_components as cupy_cc
            cupy_cc(C[:2, :2], directed=False)        # needs pylibcugraph
            out["connected_components"]["cupyx.csgraph"] = \
                lambda _: cupy_cc(C, directed=False)
        except Exception as e:
            print(f"cupyx.scipy.sparse.csgraph.connected_components unavailable: {e!r}")
    except ImportError as e:
        print(f"no CuPy: {e}")
    try:
        import torch
        dev = torch.device("cuda")
        src = torch.as_tensor(np.repeat(np.arange(S.shape[0]), np.diff(S.indptr)), device=dev)
        dst = torch.as_tensor(S.indices.astype(np.int64), device=dev)
        ptr_u, ind_u = _undirected_csr(S)
        ptr_t = torch.as_tensor(ptr_u, device=dev)
        ind_t = torch.as_tensor(ind_u, device=dev)

        def scatter_min(p, i, v):
            p.scatter_reduce_(0, i, v, reduce="amin")
        out.setdefault("connected_components", {})["torch (same algorithm)"] = \
            lambda _: _hooking(torch, src, dst, S.shape[0], scatter_min)
        out.setdefault("breadth_first_order", {})["torch (same algorithm)"] = \
            lambda start: _torch_bfs(torch, ptr_t, ind_t, S.shape[0], start)
    except (ImportError, RuntimeError, AssertionError) as e:
        print(f"no PyTorch CUDA: {e}")
    return out


def _hooking(xp, src, dst, n, scatter_min):
    """Weak components by hooking and pointer jumping (as ours), in xp."""
    p = xp.arange(n, dtype=src.dtype) if xp.__name__ == "cupy" else \
        xp.arange(n, device=src.device)
    while True:
        ps, pd = p[src], p[dst]
        low = xp.minimum(ps, pd)
        q = p.clone() if hasattr(p, "clone") else p.copy()
        scatter_min(q, ps, low)
        scatter_min(q, pd, low)
        q = q[q]
        q = q[q]
        if bool((q == p).all()):
            return q
        p = q


def _undirected_csr(S):
    """Each row of S followed by the same row of S.T (scipy's undirected order)."""
    T = S.T.tocsr()
    n = S.shape[0]
    d1, d2 = np.diff(S.indptr), np.diff(T.indptr)
    ptr = S.indptr.astype(np.int64) + T.indptr
    out = np.empty(S.nnz + T.nnz, dtype=np.int64)
    r1, r2 = np.repeat(np.arange(n), d1), np.repeat(np.arange(n), d2)
    out[ptr[r1] + np.arange(S.nnz) - S.indptr[r1]] = S.indices
    out[ptr[r2] + d1[r2] + np.arange(T.nnz) - T.indptr[r2]] = T.indices
    return ptr, out


def _torch_bfs(torch, ptr, ind, n, start):
    """Level-synchronous BFS in scipy's order (as ours), in torch ops."""
    dev = ptr.device
    visited = torch.zeros(n + 1, dtype=torch.bool, device=dev)
    visited[start] = True
    pred = torch.full((n + 1,), -9999, dtype=torch.int64, device=dev)
    frontier = torch.tensor([start], device=dev)
    parts = [frontier]
    big = torch.iinfo(torch.int64).max
    while True:
        first = ptr[frontier]
        deg = ptr[frontier + 1] - first
        seg = torch.repeat_interleave(torch.arange(frontier.numel(), device=dev), deg)
        if seg.numel() == 0:
            break
        slot = torch.arange(seg.numel(), device=dev)
        target = ind[first[seg] + slot - (torch.cumsum(deg, 0) - deg)[seg]]
        fresh = ~visited[target]
        best = torch.full((n + 1,), big, device=dev)
        best.scatter_reduce_(0, torch.where(fresh, target, n), slot, reduce="amin")
        win = fresh & (best[target] == slot)
        if not bool(win.any()):
            break
        frontier = target[win]
        pred[frontier] = parts[-1][seg[win]]
        visited[frontier] = True
        parts.append(frontier)
    return torch.cat(parts), pred[:n]


def _cupy_laplacian(cs, C, normed):
    deg = C.sum(axis=0).ravel() - C.diagonal()
    if not normed:
        return cs.diags(deg) - C, deg
    import cupy as cp
    w = cp.where(deg == 0, 1, cp.sqrt(deg))
    inv = cs.diags(1 / w)
    return cs.diags(1 - (deg == 0)) - inv @ C @ inv, w


def _sync(r):
    try:
        import cupy
        cupy.cuda.Device().synchronize()
    except ImportError:
        pass
    try:
        import torch
        torch.cuda.synchronize()
    except ImportError:
        pass


def _by_first_node(labels):
    """Component labels renumbered in the order of each component's first
    node (scipy's numbering), so partitions compare whatever the labels."""
    _, first, inverse = np.unique(np.asarray(labels), return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inverse]


def _check(name, r, ref):
    """A peer's answer against scipy's (labels up to renumbering)."""
    host = [x.get() if hasattr(x, "get") else x.cpu().numpy() if hasattr(x, "cpu") else x
            for x in (r if isinstance(r, tuple) else (r,))]
    if name == "connected_components":
        return np.array_equal(_by_first_node(host[-1]), _by_first_node(ref[1]))
    if name == "breadth_first_order":
        return np.array_equal(host[0], ref[0]) and np.array_equal(host[1], ref[1])
    return np.allclose(host[-1], ref[1], rtol=1e-4)


def show(rows, title):
    cols = sorted({k for r in rows for k in r} - {"op", "ours", "ok"})
    print(f"\n{title}")
    head = f"{'op':<26}{'ours':>12}" + "".join(f"{c:>18}" for c in cols) + f"{'ratio':>9}  ok"
    print(head)
    for r in rows:
        times = [r[c] for c in cols if isinstance(r.get(c), float) and not c.startswith("ours")]
        ratio = f"{min(times) / r['ours']:8.2f}x" if times else f"{'-':>9}"
        cells = "".join(f"{_fmt(r.get(c)):>18}" for c in cols)
        print(f"{r['op']:<26}{_fmt(r['ours']):>12}{cells}{ratio}  {'yes' if r['ok'] else 'NO'}")


def _fmt(t):
    if t is None:
        return "-"
    return t if isinstance(t, str) else f"{t * 1e3:.1f} ms"


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    names = [r["op"] for r in rows]
    cols = ["ours"] + sorted({k for r in rows for k in r} - {"op", "ours", "ok"})
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(cols)
    for i, c in enumerate(cols):
        vals = [r[c] * 1e3 if isinstance(r.get(c), float) else 0 for r in rows]
        ax.bar(np.arange(len(rows)) + i * width, vals, width, label=c)
    ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2, names, rotation=15)
    ax.set_ylabel("ms (best of runs)")
    ax.set_yscale("log")
    ax.legend()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    print(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--degree", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--png")
    a = ap.parse_args()
    S = random_graph(a.n, a.degree)
    A = sp.csr_array(S)
    start = int(np.argmax(np.diff(S.indptr)))       # a node of the giant component
    print(f"graph: {a.n} nodes, {S.nnz} edges (float32), BFS from node {start}, "
          f"best of {a.repeats}; device {'GPU' if a.gpu else 'CPU'}, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    rows = run_gpu(S, A, start, a.repeats) if a.gpu else run_cpu(S, A, start, a.repeats)
    show(rows, "GPU: ours on the GPU, peers on the GPU, scipy on the host" if a.gpu
         else "CPU: ours vs scipy (ratio = scipy / ours)")
    if a.png:
        plot(rows, a.png)


if __name__ == "__main__":
    main()
