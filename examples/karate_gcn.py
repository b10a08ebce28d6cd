"""Semi-supervised node classification on Zachary's karate club with a
two-layer GCN (Kipf & Welling) built on mlx_scipy_sparse.nn.

The graph and its labels ship inside networkx (`karate_club_graph()`, the
'club' attribute each member joined after the split): nothing is downloaded.
A few members per club are labelled; accuracy is measured on the rest.

Run: python examples/karate_gcn.py      (needs: pip install networkx)
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import networkx as nx
import numpy as np

import mlx_scipy_sparse as ms
from mlx_scipy_sparse.nn import GCNConv, normalize_adjacency


class GCN(nn.Module):
    def __init__(self, n_in, n_hidden, n_classes, dropout=0.5):
        super().__init__()
        self.conv1 = GCNConv(n_in, n_hidden)
        self.conv2 = GCNConv(n_hidden, n_classes)
        self.drop = nn.Dropout(dropout)

    def __call__(self, x, A):
        h = self.drop(nn.relu(self.conv1(x, A)))
        return self.conv2(h, A)


def load_karate():
    G = nx.karate_club_graph()
    nodes = sorted(G.nodes())
    clubs = sorted({G.nodes[v]["club"] for v in nodes})        # ['Mr. Hi', 'Officer']
    y = np.array([clubs.index(G.nodes[v]["club"]) for v in nodes], dtype=np.int32)
    # unweighted adjacency: the edge 'weight' counts shared contexts, not ties
    A = ms.csr_array(nx.to_scipy_sparse_array(G, nodelist=nodes, weight=None,
                                              dtype=np.float32, format="csr"))
    return A, y, clubs


def main(per_class=3, epochs=200, seed=0, verbose=True):
    np.random.seed(seed)
    mx.random.seed(seed)
    A, y, clubs = load_karate()
    n = A.shape[0]
    A_hat = normalize_adjacency(A)                # D^-1/2 (A+I) D^-1/2, float32 csr
    x = mx.eye(n)                                 # no node features: one-hot identity
    rng = np.random.default_rng(seed)
    train = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                                    for c in range(len(clubs))]))
    test = np.setdiff1d(np.arange(n), train)
    y_mx, tr = mx.array(y), mx.array(train)

    model = GCN(n, 16, len(clubs))
    opt = optim.Adam(learning_rate=0.01)

    def loss_fn(m):
        logits = m(x, A_hat)
        ce = nn.losses.cross_entropy(logits[tr], y_mx[tr], reduction="mean")
        return ce + 5e-4 * sum(mx.sum(p ** 2) for _, p in _weights(m))

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        loss, grads = loss_and_grad(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if verbose and epoch % 50 == 0:
            print(f"epoch {epoch:3d}  loss {loss.item():.4f}")
    train_s = time.perf_counter() - t0

    model.eval()
    pred = np.array(mx.argmax(model(x, A_hat), axis=1))
    acc = float(np.mean(pred[test] == y[test]))
    if verbose:
        print(f"karate club: {n} members, {A.nnz // 2} ties, labelled {train.tolist()}")
        print(f"trained {epochs} epochs in {train_s:.2f} s; final loss {loss.item():.4f}")
        print(f"test accuracy on {test.size} held-out members: {acc:.3f}")
        wrong = test[pred[test] != y[test]]
        print(f"misclassified: {wrong.tolist()}")
    return {"test_accuracy": acc, "n_test": int(test.size), "train": train.tolist(),
            "final_loss": loss.item()}


def _weights(m):
    from mlx.utils import tree_flatten
    return [(k, v) for k, v in tree_flatten(m.trainable_parameters()) if k.endswith("weight")]


if __name__ == "__main__":
    res = main()
    # the labelled members are drawn at random: show the spread over draws too
    accs = [main(seed=s, verbose=False)["test_accuracy"] for s in range(10)]
    print(f"over 10 draws of the labelled members (seeds 0-9): mean {np.mean(accs):.3f}, "
          f"min {np.min(accs):.3f}, max {np.max(accs):.3f}")
    if res["test_accuracy"] < 0.9:
        raise SystemExit("karate GCN: test accuracy below 0.90")
