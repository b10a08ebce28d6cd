"""The seed notebook (shared/seed/mlx-sparse-notebook.txt) with only its import
line changed, followed by checks of its results against dense computation.

Run: python examples/seed_notebook.py   (exits non-zero if a check fails)
"""
# ---------------------------------------------------------------- notebook --
import mlx.core as mx
import numpy as np
import scipy.sparse
import mlx_scipy_sparse as ms
import time

ms.use_gpu()
rng = np.random.default_rng(42)

# Sparse linear layer
in_features = 512
out_features = 512
density = 0.01

# Fixed sparsity pattern (non-zero positions)
sp_pattern = scipy.sparse.random(out_features, in_features, density=density,
                                 format="csr", dtype=np.float32, random_state=0)

# Learnable values at those positions
init_values = mx.array(rng.standard_normal(sp_pattern.nnz).astype(np.float32))


def make_weight(values):
    """Reconstruct CSRArray with learnable values but fixed structure."""
    return ms.csr_array(
        (values,
         mx.array(sp_pattern.indices.astype(np.int32)),
         mx.array(sp_pattern.indptr.astype(np.int32))),
        shape=(out_features, in_features),
        sorted_indices=True, canonical=True,
    )


print(f"Sparse linear layer: in={in_features}, out={out_features}, "
      f"nnz={sp_pattern.nnz} (density={density*100:.1f}%)")

# Forward pass: W x + b for a batch of inputs
batch_size = 32
X = mx.array(rng.standard_normal((batch_size, in_features)).astype(np.float32))
b = mx.zeros((out_features,), dtype=mx.float32)


def forward(values, X):
    W = make_weight(values)
    # X is (batch, in) -> need (in, batch) for SpMM, then transpose back
    out = W @ X.T  # (out, batch)
    return out.T + b  # (batch, out)


Y = forward(init_values, X)
mx.eval(Y)
print(f"\nForward pass output shape: {Y.shape}")


# Gradient w.r.t. both input X and weight values
def loss(values, X):
    return mx.sum(forward(values, X) ** 2)


grad_fn = mx.grad(loss, argnums=(0, 1))
grad_vals, grad_X = grad_fn(init_values, X)
mx.eval(grad_vals, grad_X)
print(f"\nGradient w.r.t. input shape: {grad_X.shape}")
print(f"Gradient w.r.t. values shape: {grad_vals.shape}")


# Magnitude pruning and speed
def bench_fn(fn, warmup=5, iters=50):
    for _ in range(warmup): mx.eval(fn())
    t0 = time.perf_counter()
    for _ in range(iters): mx.eval(fn())
    return (time.perf_counter() - t0) / iters * 1000


n = 1024
W_dense_np = rng.standard_normal((n, n)).astype(np.float32)
X_bench = mx.array(rng.standard_normal((n,)).astype(np.float32))
W_mx = mx.array(W_dense_np)
mx.eval(W_mx)
print(f"Pruning a {n}x{n} weight matrix")
print(f"\n{'sparsity':<11} {'nnz':<10} {'density':<10} {'sparse_ms':<12} {'dense_ms':<11} {'speedup'}")
for sparsity in [0.5, 0.75, 0.90, 0.95, 0.99, 0.999]:
    threshold = np.percentile(np.abs(W_dense_np), sparsity * 100)
    pruned_np = np.where(np.abs(W_dense_np) >= threshold, W_dense_np, 0.0)
    W_sparse = ms.fromdense(mx.array(pruned_np))
    t_sp = bench_fn(lambda: W_sparse @ X_bench)
    t_dn = bench_fn(lambda: W_mx @ X_bench)
    winner = "(sparse wins)" if t_sp < t_dn else "(dense wins) "
    density_pct = W_sparse.nnz / (n * n) * 100
    print(f"{sparsity*100:.1f}% {W_sparse.nnz:<10} {density_pct:.3f}% "
          f"{t_sp:.3f} ms {t_dn:.3f} ms {t_dn/t_sp:.1f}x {winner}")

# Graph convolution (GCN) step
n_nodes = 512
n_in = 64
n_out = 32

# Random graph adjacency
sp_adj = scipy.sparse.random(n_nodes, n_nodes, density=0.02, format="csr",
                             dtype=np.float32, random_state=99)
sp_adj = (sp_adj + sp_adj.T > 0).astype(np.float32)  # symmetrize and binarize
# Add self-loops: Ã = A + I
sp_Atilde = sp_adj + scipy.sparse.eye(n_nodes, dtype=np.float32)
# Normalized: D̃^{-1/2} Ã D̃^{-1/2}
deg = np.array(sp_Atilde.sum(axis=1)).ravel()
inv_sqrt = np.power(deg, -0.5, where=deg > 0, out=np.zeros_like(deg))
sp_norm = scipy.sparse.diags(inv_sqrt) @ sp_Atilde @ scipy.sparse.diags(inv_sqrt)
A_norm = ms.csr_array(
    (mx.array(sp_norm.data.astype(np.float32)),
     mx.array(sp_norm.indices.astype(np.int32)),
     mx.array(sp_norm.indptr.astype(np.int32))),
    shape=sp_norm.shape, sorted_indices=True, canonical=True,
)
# Learnable weight matrix W: (n_in, n_out)
W = mx.array(rng.standard_normal((n_in, n_out)).astype(np.float32) * 0.1)
# Node features H: (n_nodes, n_in)
H = mx.array(rng.standard_normal((n_nodes, n_in)).astype(np.float32))


def gcn_step(H, W):
    # Sparse part: normalize neighbor aggregation
    AH = A_norm @ H  # (n_nodes, n_in)
    # Dense part: linear transform
    out = AH @ W  # (n_nodes, n_out)
    return mx.maximum(out, 0)  # ReLU


print(f"GCN step: {n_nodes} nodes, {n_in} input features -> {n_out} output features")
H_out = gcn_step(H, W)
mx.eval(H_out)
print(f"\nH_out shape: {H_out.shape}")


# Gradients
def gcn_loss(H, W):
    return mx.sum(gcn_step(H, W) ** 2)


grad_fn = mx.grad(gcn_loss, argnums=(0, 1))
grad_H, grad_W = grad_fn(H, W)
mx.eval(grad_H, grad_W)
print(f"grad_W shape: {grad_W.shape}")
print(f"grad_H shape: {grad_H.shape}")

# Multi-layer GCN training loop
# Two-layer GCN: 64 -> 32 -> 16
W1 = mx.array(rng.standard_normal((n_in, 32)).astype(np.float32) * 0.1)
W2 = mx.array(rng.standard_normal((32, 16)).astype(np.float32) * 0.1)
# Target embeddings (random, for demonstration)
target = mx.array(rng.standard_normal((n_nodes, 16)).astype(np.float32))
lr = 0.01


def two_layer_gcn(W1, W2):
    H1 = mx.maximum(A_norm @ H @ W1, 0)  # layer 1 + ReLU
    H2 = A_norm @ H1 @ W2  # layer 2 (no activation)
    return H2


def gcn_loss_2(W1, W2):
    return mx.mean((two_layer_gcn(W1, W2) - target) ** 2)


print(f"2-layer GCN training (512 nodes, {n_in}->32->16 features)")
print()
loss_grad = mx.value_and_grad(gcn_loss_2, argnums=(0, 1))
losses = []
for step in range(51):
    loss, (gW1, gW2) = loss_grad(W1, W2)
    mx.eval(loss, gW1, gW2)
    W1 = W1 - lr * gW1
    W2 = W2 - lr * gW2
    losses.append(float(loss))
    if step % 10 == 0:
        print(f"step {step:3d} loss={float(loss):.1f}")

# ------------------------------------------------ checks against dense math --
# MLX's GPU matmuls run in TF32 by default (about 1e-3 relative), which touches the
# dense layers of the GCN; the sparse products themselves are checked at 1e-4.
DENSE_TOL = 5e-3 if mx.default_device() == mx.gpu else 1e-4


def close(a, b, tol=1e-4):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) <= tol * max(1.0, np.max(np.abs(b)))


Wd = sp_pattern.copy()
Wd.data = np.array(init_values)
Wd = Wd.toarray().astype(np.float64)
Xn, Yn = np.array(X, dtype=np.float64), Wd @ np.array(X, dtype=np.float64).T
rows, cols = sp_pattern.nonzero()
G = 2 * Yn                                    # d loss / d (W X^T)
checks = {
    "forward W @ X.T": close(Y, Yn.T),
    "grad wrt values": close(grad_vals, np.einsum("ij,ij->i", G[rows], Xn[:, cols].T)),
    "grad wrt X": close(grad_X, (Wd.T @ G).T),
    "pruned product (99.9%)": close(W_sparse @ X_bench, pruned_np @ np.array(X_bench)),
    "GCN forward": close(H_out, np.maximum(sp_norm.toarray() @ np.array(H) @ np.array(W), 0),
                         DENSE_TOL),
    "GCN loss falls": losses[-1] < losses[0],
}
# The 2-layer gradients against the same loss written with a dense adjacency.
A_dense = mx.array(sp_norm.toarray().astype(np.float32))
dense_loss = lambda W1, W2: mx.mean(
    (A_dense @ mx.maximum(A_dense @ H @ W1, 0) @ W2 - target) ** 2)
dW1, dW2 = mx.grad(dense_loss, argnums=(0, 1))(W1, W2)
sW1, sW2 = mx.grad(gcn_loss_2, argnums=(0, 1))(W1, W2)
checks["GCN 2-layer gradients"] = close(sW1, dW1, DENSE_TOL) and close(sW2, dW2, DENSE_TOL)
print(f"GCN loss {losses[0]:.6f} -> {losses[-1]:.6f}")
for name, ok in checks.items():
    print(f"check {name:<24} {'ok' if ok else 'FAILED'}")
if not all(checks.values()):
    raise SystemExit("seed notebook: a check against dense computation failed")
print("seed notebook: all checks passed")
