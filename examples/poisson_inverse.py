"""Recover a spatially varying conductivity from observations, by gradient
descent through the sparse solver.

Forward model: -div(kappa grad u) = f on an n x n grid (zero Dirichlet
boundary), kappa = pexp(theta) per node (pexp: exp's 4th-order Taylor
polynomial, positive for every real theta; MLX's float64 ``mx.exp`` on the
CPU is only float32-accurate, rel. err. 1e-7, which would swamp the
finite-difference check), the 5-point stencil assembled as our
sparse matrix whose values are MLX functions of theta.  Four sources f_s;
u_s observed on every other node.  Loss: misfit + a smoothness penalty on
theta.  ``mx.value_and_grad`` differentiates through ``cg`` by the adjoint
solve (mlx_scipy_sparse/linalg/_implicit.py): each step costs one forward and
one adjoint solve per source, whatever the number of CG iterations.

Run: python examples/poisson_inverse.py [--n 24] [--steps 120] [--out examples/poisson_inverse.png]
Checks its gradient against central finite differences, prints the loss and
the error in kappa, and writes a PNG (true / first guess / recovered kappa;
written with zlib when matplotlib is absent).
"""
import argparse
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import mlx.core as mx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mlx_scipy_sparse as sp                      # noqa: E402
from mlx_scipy_sparse.linalg._isolve import cg     # noqa: E402

F64 = mx.float64


def pexp(t):
    """1 + t + t^2/2 + t^3/6 + t^4/24: exp's Taylor polynomial, > 0 everywhere."""
    return 1 + t * (1 + t * (0.5 + t * (1 / 6 + t / 24)))


class Problem:
    """Grid, pattern and observation operator (all fixed; only kappa varies)."""

    def __init__(self, n, rtol=1e-10):
        self.n, self.rtol = n, rtol
        idx = np.arange(n * n).reshape(n, n)
        # interior edges between horizontally / vertically adjacent nodes
        self.ea = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
        self.eb = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
        # boundary: each boundary-touching side adds a Dirichlet link to the node itself
        deg = np.zeros(n * n)
        np.add.at(deg, self.ea, 1)
        np.add.at(deg, self.eb, 1)
        self.bnd = 4 - deg                                # missing neighbours (outside the grid)
        N = n * n
        self.rows = np.concatenate([self.ea, self.eb, self.ea, self.eb, np.arange(N)])
        self.cols = np.concatenate([self.ea, self.eb, self.eb, self.ea, np.arange(N)])
        self.shape = (N, N)
        self.obs = idx[::2, ::2].ravel()                  # observed nodes
        h = 1.0 / (n + 1)
        xs = (np.arange(n) + 1) * h
        X, Y = np.meshgrid(xs, xs, indexing="ij")
        centres = [(0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)]
        self.sources = [mx.array(np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / 0.02).ravel() * 10, dtype=F64)
                        for cx, cy in centres]
        pairs = ((idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :]))
        self.dx, self.dy = ((mx.array(a.ravel()), mx.array(b.ravel())) for a, b in pairs)
        self.ea_mx, self.eb_mx = mx.array(self.ea), mx.array(self.eb)

    def matrix(self, theta):
        """Our CSR matrix of -div(kappa grad .), values differentiable in theta."""
        k = pexp(theta)
        ke = 0.5 * (k[self.ea_mx] + k[self.eb_mx])              # edge conductivity
        diag_bnd = k * mx.array(self.bnd, dtype=F64)
        data = mx.concatenate([ke, ke, -ke, -ke, diag_bnd])
        return sp.coo_array((data, (self.rows, self.cols)), shape=self.shape).tocsr()

    def solve_all(self, theta):
        A = self.matrix(theta)
        return [cg(A, f, rtol=self.rtol)[0] for f in self.sources]


def loss_fn(prob, data, alpha):
    obs = mx.array(prob.obs)

    def loss(theta):
        misfit = sum(mx.sum((u[obs] - d) ** 2) for u, d in zip(prob.solve_all(theta), data))
        smooth = sum(mx.sum((theta[a] - theta[b]) ** 2) for a, b in (prob.dx, prob.dy))
        return misfit + alpha * smooth
    return loss


def true_theta(n):
    xs = (np.arange(n) + 1) / (n + 1)
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    return (0.8 * np.exp(-((X - 0.35) ** 2 + (Y - 0.6) ** 2) / 0.03)
            - 0.5 * np.exp(-((X - 0.7) ** 2 + (Y - 0.3) ** 2) / 0.02)).ravel()


def check_gradient(prob, loss, theta, k=4, h=1e-4, seed=0):
    """Worst relative error of the adjoint gradient against central finite
    differences (solves made tight so the differences see no solver noise)."""
    rtol, prob.rtol = prob.rtol, 1e-14
    g = mx.grad(loss)(theta)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for i in rng.choice(theta.shape[0], k, replace=False):
        e = np.zeros(theta.shape[0])
        e[i] = h
        fd = (loss(theta + mx.array(e, dtype=F64)).item() - loss(theta - mx.array(e, dtype=F64)).item()) / (2 * h)
        worst = max(worst, abs(fd - g[int(i)].item()) / max(abs(fd), 1e-8))
    prob.rtol = rtol
    return worst


def descend(loss, theta, steps, lr=0.05, log=print):
    """Adam on theta (written out: two moment vectors, bias-corrected)."""
    vg = mx.value_and_grad(loss)
    m = mx.zeros_like(theta)
    v = mx.zeros_like(theta)
    history = []
    for t in range(1, steps + 1):
        val, g = vg(theta)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta = theta - lr * (m / (1 - 0.9 ** t)) / (mx.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        mx.eval(theta)
        history.append(val.item())
        if t % 25 == 0 or t == 1:
            log(f"  step {t:4d}  loss {history[-1]:.4e}")
    return theta, history


# ---------------------------------------------------------------- PNG
def _colour(v):
    """A blue-white-red map of values in [0, 1]."""
    v = np.clip(v, 0, 1)[..., None]
    blue, white, red = np.array([40, 70, 180]), np.array([250, 250, 250]), np.array([190, 40, 40])
    return np.where(v < 0.5, blue + (white - blue) * (v / 0.5), white + (red - white) * ((v - 0.5) / 0.5))


def write_png(path, panels, scale=8, gap=6):
    """Side-by-side heat maps of equal-size 2-D arrays on one colour scale."""
    lo, hi = min(p.min() for p in panels), max(p.max() for p in panels)
    tiles = [np.kron(_colour((p - lo) / (hi - lo + 1e-12)), np.ones((scale, scale, 1))) for p in panels]
    h = tiles[0].shape[0]
    sep = np.full((h, gap, 3), 255.0)
    img = np.concatenate(sum(([t, sep] for t in tiles), [])[:-1], axis=1).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in img)

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xffffffff)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", img.shape[1], img.shape[0], 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    Path(path).write_bytes(png)


def save_plot(path, n, panels, titles, history):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        write_png(path, [p.reshape(n, n) for p in panels])
        return
    fig, ax = plt.subplots(1, len(panels) + 1, figsize=(4 * (len(panels) + 1), 3.6))
    lo, hi = min(p.min() for p in panels), max(p.max() for p in panels)
    for a, p, t in zip(ax, panels, titles):
        im = a.imshow(p.reshape(n, n), vmin=lo, vmax=hi, cmap="RdBu_r")
        a.set_title(t)
    fig.colorbar(im, ax=ax[:-1])
    ax[-1].semilogy(history)
    ax[-1].set_title("loss")
    fig.savefig(path, dpi=100)


def run(n=24, steps=120, alpha=1e-3, out=None, log=print):
    t0 = time.perf_counter()
    prob = Problem(n)
    th_true = mx.array(true_theta(n), dtype=F64)
    obs = mx.array(prob.obs)
    data = [u[obs] for u in prob.solve_all(th_true)]
    mx.eval(data)
    loss = loss_fn(prob, data, alpha)
    theta0 = mx.zeros((n * n,), dtype=F64)
    fd_err = check_gradient(prob, loss, theta0)
    log(f"gradient vs central finite differences: worst relative error {fd_err:.2e}")
    theta, history = descend(loss, theta0, steps, log=log)
    k_true, k0, k_fit = (np.array(pexp(t)) for t in (th_true, theta0, theta))
    err0 = np.linalg.norm(k0 - k_true) / np.linalg.norm(k_true)
    err = np.linalg.norm(k_fit - k_true) / np.linalg.norm(k_true)
    log(f"loss {history[0]:.3e} -> {history[-1]:.3e}; relative error in kappa {err0:.3f} -> {err:.3f}; "
        f"{time.perf_counter() - t0:.1f} s")
    if out:
        save_plot(out, n, [k_true, k0, k_fit], ["true kappa", "first guess", "recovered"], history)
        log(f"wrote {out}")
    return dict(fd_err=fd_err, history=history, err0=err0, err=err)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--alpha", type=float, default=1e-3)
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".png")))
    a = ap.parse_args()
    with mx.stream(mx.cpu):
        run(a.n, a.steps, a.alpha, a.out)
