"""The everyday-op surface (issue 13): for each op of `benchmarks/surface_ops.py`,
whether it runs in MLX or hands off to scipy on the host, whether it works
inside mx.compile over a captured pattern, whether its gradient matches
central finite differences, whether its answer matches scipy's, and its time
against scipy's on the CPU (and on a GPU against cupyx.scipy.sparse).

    python -m benchmarks.surface                               # 2000 x 2000 at 1%
    python -m benchmarks.surface --n 1000000 --per-row 16 --repeats 2
    # GPU machine: ours on MLX's default device vs CuPy (split for a 10-minute limit)
    python -m benchmarks.surface --n 1000000 --per-row 16 --repeats 3 --gpu --no-cpu \
        --no-checks --range 0:55          # then --range 55:110, --range 110:

One process, one table; ratio = peer time / ours (above 1: ours faster).
Columns:
  MLX      yes: no scipy hand-off; pattern: a hand-off on the first call only
           (pattern work kept for later calls); host: every call; raises: scipy
           refuses the op too (same exception type, not counted)
  compile  mx.compile over a captured pattern, float64 12 x 12 (yes / the
           exception's name / differs: compiled and eager answers differ)
  grad     mx.grad of a loss of the result against central differences along
           8 random directions (float64, 12 x 12): ok / WRONG / numpy (a numpy
           result for traced values) / the exception's name / n/a (no gradient
           meaningful: bool or integer results, serialisation, complex64)
  =scipy   our answer against scipy's at the benchmark size (values, dtype, type)
The GPU columns (--gpu) time ours on MLX's default device against CuPy in the
same process, every op called once first (patterns already seen).
"""
import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")      # one BLAS thread a side, before numpy loads

import argparse             # noqa: E402
import time                 # noqa: E402
import warnings             # noqa: E402

import mlx.core as mx       # noqa: E402
import numpy as np          # noqa: E402
import scipy                # noqa: E402
import scipy.sparse as ss   # noqa: E402

import mlx_scipy_sparse as sp   # noqa: E402
from benchmarks.surface_ops import OPS, NotMLX, Operands, differentiable_form, sync  # noqa: E402

# -- operands ------------------------------------------------------------------


def random_pair(n, density, dtype, low=0.0, high=1.0, seed=0):
    """Two canonical CSR arrays (scipy's) with different patterns; A's values
    in [low, high), B's in [2 high, 4 high) (no ties between A and B, so
    maximum/minimum have a gradient everywhere)."""
    out = []
    for k, (lo, hi) in enumerate([(low, high), (2 * high, 4 * high)]):
        S = ss.random_array((n, n), density=density, format="csr", dtype=np.float64,
                            rng=seed + k)
        S.sum_duplicates()
        S.data = (lo + (hi - lo) * S.data).astype(dtype)
        out.append(S)
    return out


class Grad:
    """The small float64 operands of the compile and gradient checks (values
    of A in [0.1, 0.45): inside every unary op's domain, away from rint's and
    sign's jumps)."""
    n = 12

    def __init__(self):
        self.SA, self.SB = random_pair(self.n, 0.3, np.float64, 0.1, 0.45, seed=1)
        with mx.stream(mx.cpu):
            self.A, self.B = sp.csr_array(self.SA), sp.csr_array(self.SB)

    def operands(self, v=None, x=None):
        A = self.A if v is None else sp.csr_array((v, self.A.indices, self.A.indptr),
                                                  shape=self.A.shape)
        return Operands(A, self.B, self.SA, self.SB, "ours", x=x)


def call(op, o, cupy=False):
    """The op on operands ``o``; an in-place op on a fresh copy of its target."""
    fn = op.cupy if cupy and op.cupy else op.fn
    first = getattr(o, op.inplace).copy() if op.inplace else o.A
    return fn(first, o.B, o)


def prepared(op, o, cupy=False, wait=sync):
    """(setup, run): setup (untimed) makes the in-place copy; run calls the op."""
    fn = op.cupy if cupy and op.cupy else op.fn
    if not op.inplace:
        def run(first):
            r = fn(first, o.B, o)
            # an op that answers its (already evaluated) operand computed nothing
            # to wait for: on either side the answer is the object passed in
            return r if r is first else wait(r)
        return (lambda: o.A), run

    def setup():
        c = getattr(o, op.inplace).copy()
        wait(c)
        return c
    return setup, (lambda first: wait(fn(first, o.B, o)))


def timed(op, o, repeats, cupy=False, wait=sync):
    """Best of ``repeats`` after one warm-up call (patterns seen), in seconds;
    an op that took under 2 ms gets more repeats (about 50 ms of calls, at
    most 100): on a shared 2-core box one stray pause in five calls decided
    a sub-millisecond ratio."""
    setup, run = prepared(op, o, cupy, wait)
    first = setup()
    t = time.perf_counter()
    run(first)
    took = time.perf_counter() - t
    if took < 2e-3:
        repeats = max(repeats, min(100, int(0.05 / max(took, 1e-5))))
    best = float("inf")
    for _ in range(repeats):
        first = setup()
        t = time.perf_counter()
        run(first)
        best = min(best, time.perf_counter() - t)
    return best


# -- the columns ------------------------------------------------------------------


def _classes_with_to_sp():
    seen = set()
    for name in ("csr_array", "csc_array", "coo_array", "dia_array", "bsr_array", "lil_array",
                 "dok_array", "csr_matrix", "csc_matrix", "coo_matrix", "dia_matrix"):
        for c in getattr(sp, name).__mro__:
            if "_to_sp" in vars(c):
                seen.add(c)
    return list(seen)


def runs_in_mlx(op, o, o_scipy):
    """'yes' / 'pattern' / 'host' by counting hand-offs to scipy (a scipy
    object made of our arrays) on a first and a second call; 'raises' when
    scipy refuses the op as well."""
    classes = _classes_with_to_sp()
    real = {c: vars(c)["_to_sp"] for c in classes}
    calls = []

    def counting(fn):
        def to_sp(self, *a, **k):
            calls[-1] += 1
            return fn(self, *a, **k)
        return to_sp
    for c in classes:
        c._to_sp = counting(real[c])
    try:
        for _ in range(2):
            calls.append(0)
            try:
                sync(call(op, o))
            except Exception as e:      # the cell says what happened
                try:
                    call(op, o_scipy)
                except Exception as e2:
                    return "raises" if type(e2) is type(e) else "raises:" + type(e).__name__
                return "raises:" + type(e).__name__
    finally:
        for c in classes:
            c._to_sp = real[c]
    return "yes" if calls == [0, 0] else "pattern" if calls[1] == 0 else "host"


def _outputs(r, dense):
    """The arrays of a result to compare: our float sparse results densified
    by a product with the identity (patterns may differ under a trace: the
    entries that cancel stay stored there), other results' MLX arrays as they
    are; numpy results only when not ``dense`` (inside mx.compile a result
    must be MLX)."""
    if isinstance(r, tuple):
        return [a for v in r for a in _outputs(v, dense)]
    if isinstance(r, mx.array):
        return [r]
    if sp.issparse(r) and not isinstance(r, (ss.sparray, ss.spmatrix)):
        if r.dtype.kind == "f":         # (1-D results too: their stored zeros may differ)
            return [differentiable_form(r)]
        if r.dtype.kind == "b" and r.ndim == 2:
            # a comparison's pattern depends on the values, which a trace cannot
            # read: compiled, it keeps its False entries stored; compared dense
            d = r.toarray()
            return [d if isinstance(d, mx.array) else mx.array(np.asarray(d))]
        return [v for v in vars(r).values() if isinstance(v, mx.array)]
    if dense:
        raise NotMLX(type(r).__name__)
    return [mx.array(np.asarray(r))]


def compiles(op, G):
    """'yes' when the op runs inside mx.compile with A's values traced and
    its pattern captured, and gives the eager answer."""
    with mx.stream(mx.cpu):
        try:
            got = mx.compile(lambda v: _outputs(call(op, G.operands(v)), True))(G.A.data)
            mx.eval(got)
        except NotMLX:                  # a Python result (a flag): nothing to compile
            return "n/a"
        except Exception as e:          # reported in the table
            return type(e).__name__
        want = _outputs(call(op, G.operands(G.A.data)), False)
        if len(got) != len(want):
            return "differs"
        for g, w in zip(got, want):
            g, w = np.array(g), np.array(w)
            if g.shape != w.shape or not np.allclose(g, w, equal_nan=True):
                return "differs"
    return "yes"


def _loss_weights(shape):
    return np.random.default_rng(3).uniform(-1, 1, shape)


def _finite_places(op, G, v0, x0):
    """Where the op's answer at (v0, x0) is finite, as an MLX bool array, or
    None where it is finite everywhere (or cannot be had): a loss leaves the
    inf and NaN places out (sparse / sparse is NaN wherever neither stores)."""
    try:
        with mx.stream(mx.cpu):
            d0 = np.array(differentiable_form(call(op, G.operands(v0, x0)), traced=False))
    except Exception:           # (the gradient check reports what goes wrong)
        return None
    ok = np.isfinite(d0)
    return None if ok.all() else mx.array(ok)


def gradient_check(op, G, directions=8, eps=1e-3, rtol=2e-3):
    """(status, detail): mx.grad of L = sum(W * d) + sum(d * d) / 2 over the
    op's result d, against central differences along random directions of
    (A's values, x) in float64."""
    if op.grad is None:
        return "n/a", ""

    def loss(v, x, traced=True):
        d = differentiable_form(call(op, G.operands(v, x)), traced)
        if d.dtype != mx.float64:
            raise TypeError(f"result is {d.dtype}, not float64")
        if finite is not None:      # (no derivative where the answer is inf or NaN)
            d = mx.where(finite, d, mx.zeros((), dtype=d.dtype))
        W = mx.array(_loss_weights(d.shape), dtype=mx.float64)
        return mx.sum(W * d) + 0.5 * mx.sum(d * d)
    v0 = G.A.data
    x0 = mx.array(G.operands().xn, dtype=mx.float64)
    finite = _finite_places(op, G, v0, x0)
    with mx.stream(mx.cpu):
        try:
            gv, gx = mx.grad(loss, argnums=(0, 1))(v0, x0)
            gv, gx = np.array(gv), np.array(gx)
        except NotMLX as e:
            return "numpy", str(e)
        except Exception as e:          # reported in the table
            return type(e).__name__, str(e)[:200]
        if "A" not in op.grad:
            gv = np.zeros_like(gv)      # nothing asked of v (diags of x)
        if "x" not in op.grad:
            gx = np.zeros_like(gx)
        rng = np.random.default_rng(5)
        nv, nx = np.array(v0), np.array(x0)
        an, fd = [], []
        for _ in range(directions):
            dv = rng.standard_normal(nv.shape) * ("A" in op.grad)
            dx = rng.standard_normal(nx.shape) * ("x" in op.grad)
            up, dn = (loss(mx.array(nv + s * eps * dv, dtype=mx.float64),
                           mx.array(nx + s * eps * dx, dtype=mx.float64), traced=False)
                      for s in (1, -1))
            fd.append((up.item() - dn.item()) / (2 * eps))
            an.append(float(gv @ dv + gx @ dx))
    an, fd = np.array(an), np.array(fd)
    scale = max(1.0, np.abs(fd).max())
    if np.allclose(an, fd, rtol=rtol, atol=1e-5 * scale):
        return "ok", ""
    return "WRONG", f"directional derivatives: mx.grad {np.round(an, 5).tolist()}, " \
                    f"central differences {np.round(fd, 5).tolist()}"


def _host_form(r):
    if isinstance(r, tuple):
        return tuple(_host_form(v) for v in r)
    if isinstance(r, mx.array):
        return np.array(r)
    if sp.issparse(r) and not isinstance(r, (ss.sparray, ss.spmatrix)):
        return r.to_scipy()
    if hasattr(r, "get") and type(r).__module__.startswith("cupy"):
        return r.get()
    return r


def matches_scipy(ours, theirs):
    a, b = _host_form(ours), _host_form(theirs)
    if isinstance(b, tuple):
        if not isinstance(a, tuple) or len(a) != len(b):
            return "type"
        marks = [matches_scipy(x, y) for x, y in zip(a, b)]
        return next((m for m in marks if m != "ok"), "ok")
    if ss.issparse(b) != ss.issparse(a):
        return "type"
    if ss.issparse(b):
        a, b = a.tocsr(), b.tocsr()
        if a.shape != b.shape or a.dtype != b.dtype:
            return "shape" if a.shape != b.shape else "dtype"
        diff = (a != b) if a.dtype == np.bool_ else abs(a - b)
        tol = 1e-5 * max(1.0, abs(b).max() if b.nnz and b.dtype != np.bool_ else 1.0)
        return "ok" if diff.nnz == 0 or (diff.dtype != np.bool_ and diff.max() <= tol) \
            else "differs"
    if b is None:
        return "ok" if a is None else "type"
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return "shape"
    if a.dtype != b.dtype:
        return "dtype"
    if a.dtype.kind in "fc":
        return "ok" if np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True) else "differs"
    return "ok" if np.array_equal(a, b) else "differs"


# -- the GPU peer ----------------------------------------------------------------


class Peer:
    """cupyx.scipy.sparse with its stream synchronised, or (``standin``) scipy's
    spmatrix with numpy, to try the GPU column's plumbing on a CPU machine."""

    def __init__(self, standin=False):
        if standin:
            self.name, self.lib, self.xp = "scipy (stand-in)", _MatrixNamespace(), np
            self.wait_device = lambda: None
            return
        import cupy
        import cupyx.scipy.sparse as cs
        self.name, self.lib, self.xp = f"CuPy {cupy.__version__}", cs, cupy
        self.wait_device = cupy.cuda.get_current_stream().synchronize

    def to_device(self, S):
        return self.lib.csr_matrix(S)

    def wait(self, r):
        self.wait_device()
        return r


class _MatrixNamespace:
    """scipy.sparse as a CuPy-like namespace (spmatrix classes) for the dry run."""

    def __getattr__(self, name):
        return getattr(ss, name)


# -- the run -----------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--density", type=float, default=0.01)
    p.add_argument("--per-row", type=int, default=None, help="entries a row instead of density")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--ops", default=None, help="only the ops whose name contains this")
    p.add_argument("--gpu", action="store_true",
                   help="add ours on MLX's default device against cupyx.scipy.sparse")
    p.add_argument("--gpu-standin", action="store_true",
                   help="the GPU columns with scipy standing in for CuPy (dry run)")
    p.add_argument("--no-cpu", action="store_true", help="skip the CPU timing columns")
    p.add_argument("--no-checks", action="store_true",
                   help="skip the MLX probe and the compile/grad/=scipy columns")
    p.add_argument("--range", default=None, metavar="A:B",
                   help="only ops A to B-1 of the list (split a long run in parts)")
    p.add_argument("--png", default=None, help="write the ratios as a bar chart")
    p.add_argument("--reuse-host-memory", action="store_true",
                   help="call sp.reuse_host_memory() first (the opt-in allocator setting: "
                        "freed memory kept, so large results stop paying page faults)")
    a = p.parse_args(argv)
    warnings.simplefilter("ignore")      # scipy's efficiency warnings, ours the same
    if a.reuse_host_memory:
        print("sp.reuse_host_memory():", sp.reuse_host_memory())
    dens = a.per_row / a.n if a.per_row else a.density
    ops = [op for op in OPS if a.ops is None or a.ops in op.name]
    if a.range:
        lo, hi = (int(v) if v else None for v in a.range.split(":"))
        ops = ops[lo:hi]
    gpu = a.gpu or a.gpu_standin
    peer = Peer(standin=a.gpu_standin) if gpu else None
    device = mx.default_device()
    mx.set_default_device(mx.cpu)       # the CPU columns run on the CPU
    SA, SB = random_pair(a.n, dens, np.float32)
    A, B = sp.csr_array(SA), sp.csr_array(SB)
    o_ours = Operands(A, B, SA, SB, "ours")
    o_sc = Operands(SA, SB, SA, SB, "scipy")
    G = Grad()
    print(f"{a.n} x {a.n}, {SA.nnz} entries, float32, MLX {mx.__version__}, scipy "
          f"{scipy.__version__}; k = {o_ours.k} (dense slices), "
          f"m = {o_ours.m} (kron slices), rows r0:r1 = {o_ours.r0}:{o_ours.r1}")
    head = f"{'op':36s} {'MLX':>7s} {'compile':>14s} {'grad':>14s} {'=scipy':>7s}"
    if not a.no_cpu:
        head += f" {'ours ms':>9s} {'scipy ms':>9s} {'ratio':>6s}"
    if gpu:
        head += f" {'gpu ms':>9s} {'peer ms':>9s} {'ratio':>6s}"
    print(head)
    rows = []
    for op in ops:
        row = {"name": op.name}
        if a.no_checks:
            row["mlx"], row["compile"], row["grad"], row["same"] = "-", "-", ("-", ""), "-"
        else:
            row["mlx"] = runs_in_mlx(op, o_ours, o_sc)
            row["compile"] = compiles(op, G)
            row["grad"] = gradient_check(op, G)
            row["same"] = _compare(op, o_ours, o_sc)
        line = f"{op.name:36s} {row['mlx']:>7s} {row['compile'][:14]:>14s} " \
               f"{row['grad'][0][:14]:>14s} {row['same']:>7s}"
        if not a.no_cpu:
            row["cpu"] = _pair(lambda: timed(op, o_ours, a.repeats),
                               lambda: timed(op, o_sc, a.repeats))
            line += _cells(row["cpu"])
        rows.append(row)
        if gpu:
            row["gpu"] = None
            line += "   (below)"
        print(line, flush=True)
    if gpu:
        _gpu_columns(ops, rows, SA, SB, peer, device, a.repeats)
    _summary(rows, a, gpu)
    if a.png:
        _plot(rows, a.png, gpu)


def _compare(op, o_ours, o_sc):
    """matches_scipy, or 'raises' where both raise the same exception type."""
    got = []
    for o in (o_ours, o_sc):
        try:
            got.append(call(op, o))
        except Exception as e:          # compared below
            got.append(e)
    a, b = got
    if isinstance(a, Exception) or isinstance(b, Exception):
        return "raises" if type(a) is type(b) else \
            "!" + type(a if isinstance(a, Exception) else b).__name__[:6]
    return matches_scipy(a, b)


def _pair(ours, theirs):
    """(ours s or exception name, theirs s or name)."""
    out = []
    for f in (ours, theirs):
        try:
            out.append(f())
        except Exception as e:              # reported in the table
            out.append(type(e).__name__)
    return tuple(out)


def _cells(pair):
    a, b = pair
    fa = f"{a * 1e3:9.3f}" if isinstance(a, float) else f"{a[:9]:>9s}"
    fb = f"{b * 1e3:9.3f}" if isinstance(b, float) else f"{b[:9]:>9s}"
    r = f"{b / a:6.2f}" if isinstance(a, float) and isinstance(b, float) else f"{'-':>6s}"
    return f" {fa} {fb} {r}"


def _gpu_columns(ops, rows, SA, SB, peer, device, repeats):
    """Ours on MLX's default device (float32) against the peer, one process."""
    mx.set_default_device(device)
    A, B = sp.csr_array(SA), sp.csr_array(SB)
    o = Operands(A, B, SA, SB, "ours")
    c = Operands(peer.to_device(SA), peer.to_device(SB), SA, SB, "cupy", peer=peer)
    print(f"\nGPU: ours on {device} against {peer.name}, best of {repeats} after a warm-up "
          f"call\n{'op':36s} {'gpu ms':>9s} {'peer ms':>9s} {'ratio':>6s}")
    for op, row in zip(ops, rows):
        if op.cupy is False:
            row["gpu"] = ("-", "not in CuPy")
        else:
            row["gpu"] = _pair(lambda: timed(op, o, repeats),
                               lambda: timed(op, c, repeats, cupy=True, wait=peer.wait))
        print(f"{op.name:36s}{_cells(row['gpu'])}", flush=True)
    mx.set_default_device(mx.cpu)


def _ratios(rows, key):
    return {r["name"]: r[key][1] / r[key][0] for r in rows
            if r.get(key) and all(isinstance(t, float) for t in r[key])}


def _summary(rows, a, gpu):
    if not a.no_checks:
        _summary_checks(rows)
    print()
    _summary_times(rows, a, gpu)


def _summary_checks(rows):
    counted = [r for r in rows if r["mlx"] != "raises"]
    mlx = [r["name"] for r in counted if r["mlx"] in ("yes", "pattern")]
    print(f"\n{len(mlx)} of {len(counted)} ops ({100 * len(mlx) / max(1, len(counted)):.0f}%) "
          f"run in MLX (yes or pattern; {sum(r['mlx'] == 'pattern' for r in counted)} of them "
          f"hand the pattern to scipy on the first call only); {len(rows) - len(counted)} "
          f"refused by scipy as well")
    print("host:", ", ".join(r["name"] for r in counted if r["mlx"] not in ("yes", "pattern"))
          or "none")
    rows = counted                  # ops scipy refuses too: their refusal is right
    bad = [(r["name"], r["grad"][0]) for r in rows if r["grad"][0] not in ("ok", "n/a")]
    print(f"gradient not ok: {len(bad)} of {sum(r['grad'][0] != 'n/a' for r in rows)}: "
          + (", ".join(f"{n} [{s}]" for n, s in bad) or "none"))
    for r in rows:
        if r["grad"][0] == "WRONG":
            print(f"  WRONG {r['name']}: {r['grad'][1]}")
    notc = [(r["name"], r["compile"]) for r in rows if r["compile"] not in ("yes", "n/a")]
    print(f"not under mx.compile: {len(notc)} of {sum(r['compile'] != 'n/a' for r in rows)}: "
          + (", ".join(f"{n} [{s}]" for n, s in notc) or "none"))
    diff = [(r["name"], r["same"]) for r in rows if r["same"] not in ("ok", "raises")]
    print("answer differs from scipy's: " + (", ".join(f"{n} [{s}]" for n, s in diff)
                                           or "none"))


def _summary_times(rows, a, gpu):
    for key, label in (("cpu", "CPU vs scipy"), ("gpu", "GPU vs peer")):
        if key == "gpu" and not gpu or key == "cpu" and a.no_cpu:
            continue
        rat = _ratios(rows, key)
        if not rat:
            continue
        v = np.array(list(rat.values()))
        worst = sorted(rat.items(), key=lambda t: t[1])[:5]
        print(f"{label}: {len(v)} ops timed, ratio median {np.median(v):.2f}, min {v.min():.2f}; "
              f"below 0.5x: {int((v < 0.5).sum())}, below 1/3x: {int((v < 1 / 3).sum())}; "
              f"slowest: " + ", ".join(f"{n} {x:.2f}" for n, x in worst))
        if key == "cpu":
            fast = min((r for r in rows if r["name"] in rat), key=lambda r: r[key][0])
            print(f"per-call floor: fastest op ours {fast[key][0] * 1e6:.1f} us "
                  f"({fast['name']}), scipy {fast[key][1] * 1e6:.1f} us")


def _plot(rows, path, gpu):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--png: matplotlib is not installed; no chart")
        return
    keys = [k for k in ("cpu", "gpu") if (k != "gpu" or gpu)]
    fig, axes = plt.subplots(len(keys), 1, figsize=(14, 4 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        rat = _ratios(rows, key)
        ax.bar(range(len(rat)), list(rat.values()))
        ax.set_yscale("log")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(range(len(rat)), list(rat), rotation=90, fontsize=6)
        ax.set_ylabel(f"{key.upper()}: peer time / ours")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
