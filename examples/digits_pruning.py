"""Magnitude pruning of an MLP on scikit-learn's handwritten digits with
mlx_scipy_sparse.nn.SparseLinear: train dense, prune every layer to 90%
sparsity, fine-tune the surviving weights, compare accuracy and CPU speed.

The data ships inside scikit-learn (`load_digits`, 1797 8x8 images): nothing
is downloaded.

Run: python examples/digits_pruning.py   (needs: pip install scikit-learn)
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from mlx_scipy_sparse.nn import SparseLinear


class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.relu(layer(x))
        return self.layers[-1](x)


def pruned(model, sparsity):
    """The same MLP with every nn.Linear replaced by a pruned SparseLinear."""
    new = MLP([1])
    new.layers = [SparseLinear.from_dense(layer, sparsity) for layer in model.layers]
    return new


def load():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)              # pixels are 0..16
    Xtr, Xte, ytr, yte = train_test_split(X, y.astype(np.int32), test_size=0.25,
                                          stratify=y, random_state=0)
    return mx.array(Xtr), mx.array(ytr), mx.array(Xte), mx.array(yte)


def train(model, X, y, epochs, lr, seed, batch=64):
    opt = optim.Adam(learning_rate=lr)
    loss_and_grad = nn.value_and_grad(
        model, lambda m, xb, yb: nn.losses.cross_entropy(m(xb), yb, reduction="mean"))
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(X.shape[0]), X.shape[0] // batch):
            i = mx.array(idx)
            loss, grads = loss_and_grad(model, X[i], y[i])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
    return loss.item()


def accuracy(model, X, y):
    return mx.mean(mx.argmax(model(X), axis=1) == y).item()


def bench_ms(fn, warmup=2, budget_s=1.0, min_iters=5):
    """Median ms per call over at least ``min_iters`` calls or ``budget_s``
    seconds (the median: this box is shared, and outliers come from others)."""
    for _ in range(warmup):
        mx.eval(fn())
    times, t_end = [], time.perf_counter() + budget_s
    while len(times) < min_iters or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        mx.eval(fn())
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def speed_table(shapes, sparsity, batch, verbose):
    """One layer, dense nn.Linear vs its pruned SparseLinear, both MLX on the
    CPU; numpy's BLAS on the same dense weights as an outside reference."""
    rows = []
    for n_in, n_out in shapes:
        dense = nn.Linear(n_in, n_out)
        sparse = SparseLinear.from_dense(dense, sparsity)
        x = mx.random.normal((batch, n_in))
        mx.eval(dense.parameters(), sparse.parameters(), x)
        Wn, bn, xn = (np.array(a) for a in (dense.weight, dense.bias, x))
        t_dense = bench_ms(lambda: dense(x))
        t_sparse = bench_ms(lambda: sparse(x))
        t_np = bench_ms(lambda: xn @ Wn.T + bn)
        rows.append({"shape": (n_in, n_out), "dense_ms": t_dense, "sparse_ms": t_sparse,
                     "numpy_ms": t_np, "speedup": t_dense / t_sparse})
        if verbose:
            print(f"  {n_in:>5}x{n_out:<5} dense MLX {t_dense:8.3f} ms   sparse {t_sparse:7.3f} ms"
                  f"   dense/sparse {t_dense / t_sparse:6.2f}x   (numpy BLAS dense {t_np:7.3f} ms)")
    return rows


def main(hidden=256, sparsity=0.9, epochs=30, finetune_epochs=15, seed=0, verbose=True,
         bench_shapes=((1024, 1024), (2048, 2048))):
    np.random.seed(seed)
    mx.random.seed(seed)
    mx.set_default_device(mx.cpu)                  # the comparison asked for is on the CPU
    Xtr, ytr, Xte, yte = load()
    dense = MLP([64, hidden, hidden, 10])
    t0 = time.perf_counter()
    train(dense, Xtr, ytr, epochs, 1e-3, seed)
    acc_dense = accuracy(dense, Xte, yte)
    sparse = pruned(dense, sparsity)
    acc_pruned = accuracy(sparse, Xte, yte)         # right after pruning, before fine-tuning
    train(sparse, Xtr, ytr, finetune_epochs, 1e-3, seed + 1)
    acc_sparse = accuracy(sparse, Xte, yte)
    nnz = sum(l.nnz for l in sparse.layers)
    total = sum(l.weight.size for l in dense.layers)
    if verbose:
        print(f"digits: {Xtr.shape[0]} train / {Xte.shape[0]} test, MLP 64-{hidden}-{hidden}-10, "
              f"trained in {time.perf_counter() - t0:.1f} s")
        print(f"dense accuracy              {acc_dense:.4f}")
        print(f"pruned to {sparsity:.0%} ({nnz}/{total} weights kept): {acc_pruned:.4f} "
              f"before fine-tuning, {acc_sparse:.4f} after")

    # inference on a batch of 256 images
    batch = 256
    Xb = Xtr[:batch]
    Xb_np, numpy_dense = np.array(Xb), _numpy_mlp(dense)
    t_dense = bench_ms(lambda: dense(Xb))
    t_sparse = bench_ms(lambda: sparse(Xb))
    t_numpy = bench_ms(lambda: numpy_dense(Xb_np))
    if verbose:
        print(f"\ninference, batch {batch}, MLX CPU: dense {t_dense:.3f} ms, sparse {t_sparse:.3f} ms, "
              f"dense/sparse {t_dense / t_sparse:.2f}x "
              f"({'sparse' if t_sparse < t_dense else 'dense'} is faster); "
              f"numpy BLAS dense {t_numpy:.3f} ms")
        print(f"single layers at {sparsity:.0%} sparsity, batch {batch}:")
    table = speed_table(bench_shapes, sparsity, batch, verbose)
    return {"dense_accuracy": acc_dense, "pruned_accuracy_before_finetune": acc_pruned,
            "sparse_accuracy": acc_sparse, "dense_ms": t_dense, "sparse_ms": t_sparse,
            "speedup": t_dense / t_sparse, "numpy_dense_ms": t_numpy, "layers": table}


def _numpy_mlp(model):
    """The dense MLP in numpy (an outside reference for the timings)."""
    Ws = [(np.array(l.weight).T.copy(), np.array(l.bias)) for l in model.layers]

    def forward(x):
        for W, b in Ws[:-1]:
            x = np.maximum(x @ W + b, 0)
        return x @ Ws[-1][0] + Ws[-1][1]
    return forward


if __name__ == "__main__":
    res = main()
    if res["sparse_accuracy"] < res["dense_accuracy"] - 0.02:
        raise SystemExit("digits pruning: fine-tuned sparse model more than 2 points below dense")
