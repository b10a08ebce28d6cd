"""mlx_scipy_sparse.nn: layers against dense formulas, training, transforms,
serialisation, and the pattern staying fixed."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
import scipy.sparse as ss
from mlx.utils import tree_flatten, tree_map

import mlx_scipy_sparse as ms
from mlx_scipy_sparse.nn import GCNConv, SparseLinear, normalize_adjacency


def _pattern(m=12, n=9, density=0.3, seed=0):
    return ss.random_array((m, n), density=density, format="csr", dtype=np.float32, rng=seed)


def _dense_W(layer):
    return np.asarray(layer.weight().toarray(), dtype=np.float64)


def _close(a, b, tol=1e-5):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


# ---------------------------------------------------------------- SparseLinear --
@pytest.mark.parametrize("kind", ["scipy", "csr", "csc", "coo", "pair"])
def test_sparse_linear_forward_matches_dense(kind):
    P = _pattern()
    pattern = {"scipy": P, "csr": ms.csr_array(P), "csc": ms.csc_array(P.tocsc()),
               "coo": ms.coo_array(P.tocoo()), "pair": (P.indices, P.indptr)}[kind]
    layer = SparseLinear(pattern, shape=P.shape if kind == "pair" else None)
    layer.bias = mx.arange(12, dtype=mx.float32) / 10
    assert layer.nnz == P.nnz and layer.shape == (12, 9)
    # the pattern is P's, whatever form it came in
    np.testing.assert_array_equal(_dense_W(layer) != 0, P.toarray() != 0)
    x = mx.random.normal((3, 5, 9))                        # extra leading dims
    y = layer(x)
    assert y.shape == (3, 5, 12)
    _close(y, np.array(x) @ _dense_W(layer).T + np.array(layer.bias))


def test_sparse_linear_init_scale_follows_row_fan_in():
    P = _pattern(200, 300, 0.05)
    layer = SparseLinear(P)
    bound = np.repeat(1 / np.sqrt(np.maximum(np.diff(P.indptr), 1)), np.diff(P.indptr))
    d = np.array(layer.data)
    assert np.all(np.abs(d) <= bound) and np.abs(d).max() > 0.5 * bound.max()


def test_sparse_linear_gradients_match_dense_formulas():
    P = _pattern()
    layer = SparseLinear(P)
    layer.bias = mx.random.normal((12,))
    x = mx.random.normal((7, 9))
    R = mx.random.normal((7, 12))                         # dL/dy = R for L = sum(y * R)

    loss, grads = nn.value_and_grad(layer, lambda m, x: mx.sum(m(x) * R))(layer, x)
    gx = mx.grad(lambda x: mx.sum(layer(x) * R))(x)
    W, Rn, xn = _dense_W(layer), np.array(R, np.float64), np.array(x, np.float64)
    rows, cols = np.repeat(np.arange(12), np.diff(P.indptr)), P.indices
    assert set(grads) == {"data", "bias"}                 # the pattern gets no gradient
    _close(grads["data"], (Rn.T @ xn)[rows, cols])
    _close(grads["bias"], Rn.sum(0))
    _close(gx, Rn @ W)
    _close(loss, np.sum((xn @ W.T + np.array(layer.bias)) * Rn))


def test_sparse_linear_finite_differences_float64():
    P = _pattern(8, 6, 0.4, seed=3)
    rng = np.random.default_rng(1)
    with mx.stream(mx.cpu):                               # float64 runs on the CPU only
        layer = SparseLinear(P, values=rng.standard_normal(P.nnz), dtype=mx.float64)
        f64 = lambda a: mx.array(a, dtype=mx.float64)     # mx.array would make float32
        x = f64(rng.standard_normal((4, 6)))
        # a polynomial loss: MLX's float64 sin/exp/pow on the CPU are float32-accurate
        def f(d):
            y = SparseLinear(P, values=d, dtype=mx.float64)(x)
            return mx.sum(y * y * y)
        assert layer.data.dtype == mx.float64 and layer.bias.dtype == mx.float64
        g = np.array(mx.grad(f)(layer.data))
        d0, eps = np.array(layer.data), 1e-6
        for k in rng.choice(P.nnz, 5, replace=False):
            e = np.zeros_like(d0)
            e[k] = eps
            fd = (f(f64(d0 + e)).item() - f(f64(d0 - e)).item()) / (2 * eps)
            assert abs(fd - g[k]) < 1e-7 * max(1.0, abs(fd))


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_values_follow_storage_order_of_unsorted_duplicated_patterns(fmt):
    # entries (0,2) twice, (1,0), (0,1), in that storage order
    row, col = np.array([0, 1, 0, 0]), np.array([2, 0, 1, 2])
    v = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    if fmt == "coo":
        P = ms.coo_array((v, (row, col)), shape=(2, 3))
    elif fmt == "csr":     # unsorted row 0: columns 2, 1, 2
        P = ms.csr_array((v[[0, 2, 3, 1]], col[[0, 2, 3, 1]], np.array([0, 3, 4])), shape=(2, 3))
        v = v[[0, 2, 3, 1]]
    else:                  # csc: column 0: row 1; column 1: row 0; column 2: rows 0, 0
        P = ms.csc_array((v[[1, 2, 0, 3]], row[[1, 2, 0, 3]], np.array([0, 1, 2, 4])),
                         shape=(2, 3))
        v = v[[1, 2, 0, 3]]
    expect = np.array([[0, 3, 5], [2, 0, 0]], np.float32)
    for layer in (SparseLinear(P, values=mx.array(v)), SparseLinear(P, values="pattern")):
        np.testing.assert_array_equal(layer.weight().toarray(), expect)
        assert layer.nnz == 3 and layer.weight().has_canonical_format
    # gradients reach every stored entry, duplicates included
    g = mx.grad(lambda d: mx.sum(SparseLinear(P, values=d, bias=False)(mx.ones((1, 3)))))(
        mx.array(v))
    np.testing.assert_array_equal(np.array(g), np.ones(4))


def test_sparse_linear_refuses_silent_downcast_and_bad_patterns():
    P = _pattern()
    with pytest.raises(TypeError, match="precision"):
        SparseLinear(P, values=np.ones(P.nnz, np.float64))   # float64 into float32
    with pytest.raises(ValueError, match="entries"):
        SparseLinear(P, values=np.ones(P.nnz + 1, np.float32))
    with pytest.raises(ValueError):
        SparseLinear((np.array([0, 9]), np.array([0, 1, 2])), shape=(2, 9))  # column 9 of 9
    with pytest.raises(ValueError, match="shape"):
        SparseLinear((P.indices, P.indptr))


def test_from_dense_keeps_largest_magnitudes():
    lin = nn.Linear(20, 30)
    layer = SparseLinear.from_dense(lin, sparsity=0.9)
    W = np.array(lin.weight)
    assert layer.nnz == 60 and layer.indices.dtype == mx.int32
    Wp = layer.weight().toarray()
    kept = Wp != 0
    assert np.abs(W[kept]).min() >= np.abs(W[~kept]).max()   # magnitude order
    np.testing.assert_array_equal(Wp[kept], W[kept])          # values kept exactly
    np.testing.assert_array_equal(np.array(layer.bias), np.array(lin.bias))
    full = SparseLinear.from_dense(lin, sparsity=0.0)
    x = mx.random.normal((5, 20))
    _close(full(x), lin(x))
    with pytest.raises(ValueError):
        SparseLinear.from_dense(lin, sparsity=1.0)


# ----------------------------------------------------------------- GCN layers --
def _graph(n=15, seed=2):
    A = ss.random_array((n, n), density=0.2, format="csr", rng=seed)
    A = ((A + A.T) > 0).astype(np.float32)
    A.setdiag(0)
    A.eliminate_zeros()
    return A


def _dense_norm(A, self_loops=True):
    At = A.toarray().astype(np.float64) + (np.eye(A.shape[0]) if self_loops else 0)
    d = At.sum(1)
    s = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    return s[:, None] * At * s[None, :]


@pytest.mark.parametrize("fmt", ["scipy", "csr", "csc", "coo"])
def test_normalize_adjacency_matches_dense_formula(fmt):
    A = _graph()
    keep = np.ones(A.shape[0])
    keep[3] = 0                                     # node 3 isolated
    A = ss.csr_array(ss.diags_array(keep) @ A @ ss.diags_array(keep))
    A.eliminate_zeros()
    arg = A if fmt == "scipy" else getattr(ms, fmt + "_array")(A.asformat(fmt))
    N = normalize_adjacency(arg)
    assert isinstance(N, ms.csr_array) and N.dtype == np.float32 and N.has_canonical_format
    _close(N.toarray(), _dense_norm(A), tol=1e-6)
    assert N.toarray()[3, 3] == 1.0                 # self loop alone: degree 1
    N0 = normalize_adjacency(arg, add_self_loops=False, dtype=np.float64)
    assert N0.dtype == np.float64
    _close(N0.toarray(), _dense_norm(A, self_loops=False), tol=1e-12)
    assert not N0.toarray()[3].any()                # zero degree stays zero
    with pytest.raises(ValueError, match="square"):
        normalize_adjacency(ss.random_array((3, 4), density=0.5))


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("n_in,n_out", [(6, 4), (4, 6)])   # both product orders
def test_gcnconv_forward_and_gradients_match_dense(fmt, n_in, n_out):
    An = normalize_adjacency(_graph()).to_scipy()
    A = getattr(ms, fmt + "_array")(An.asformat(fmt))
    Ad = mx.array(An.toarray())
    conv = GCNConv(n_in, n_out)
    conv.bias = mx.random.normal((n_out,))
    x = mx.random.normal((15, n_in))
    R = mx.random.normal((15, n_out))

    def dense(params, x):
        return Ad @ (x @ params["weight"].T) + params["bias"]

    _close(conv(x, A), dense(conv.parameters(), x))
    _, g = nn.value_and_grad(conv, lambda m, x: mx.sum(m(x, A) * R))(conv, x)
    gd = mx.grad(lambda p: mx.sum(dense(p, x) * R))(conv.parameters())
    _close(g["weight"], gd["weight"])
    _close(g["bias"], gd["bias"])
    gx = mx.grad(lambda x: mx.sum(conv(x, A) * R))(x)
    _close(gx, mx.grad(lambda x: mx.sum(dense(conv.parameters(), x) * R))(x))


def test_gcnconv_needs_our_sparse_adjacency():
    for A in (mx.eye(4), ss.eye_array(4, format="csr")):
        with pytest.raises(TypeError, match="sparse"):
            GCNConv(3, 2)(mx.ones((4, 3)), A)


# ------------------------------------------------- training and transforms --
class _Net(nn.Module):
    def __init__(self, P):
        super().__init__()
        self.sparse = SparseLinear(P)
        self.conv = GCNConv(P.shape[0], 3)

    def __call__(self, x, A):
        return self.conv(nn.relu(self.sparse(x)), A)


def _problem(seed=0):
    mx.random.seed(seed)
    P = _pattern(16, 10, 0.3, seed)
    A = normalize_adjacency(_graph(20, seed))
    x = mx.random.normal((20, 10))
    y = mx.random.normal((20, 3))
    return P, A, x, y


def _loss(m, x, A, y):
    return mx.mean((m(x, A) - y) ** 2)


def test_training_reduces_loss_and_never_touches_the_pattern():
    P, A, x, y = _problem()
    net = _Net(P)
    net.unfreeze()                                 # even unfrozen, the pattern stays out
    assert "indices" not in tree_flatten(net.trainable_parameters(), destination={}) \
        and {"sparse.indices", "sparse.indptr"} <= set(tree_flatten(net.parameters(),
                                                                     destination={}))
    assert set(tree_flatten(net.trainable_parameters(), destination={})) == {
        "sparse.data", "sparse.bias", "conv.weight", "conv.bias"}
    ind0, ptr0, d0 = (np.array(a) for a in (net.sparse.indices, net.sparse.indptr, net.sparse.data))
    opt = optim.Adam(learning_rate=0.02)
    lg = nn.value_and_grad(net, _loss)
    losses = []
    for _ in range(150):
        loss, g = lg(net, x, A, y)
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state)
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert net.sparse.indices.dtype == mx.int32 and net.sparse.indptr.dtype == mx.int32
    np.testing.assert_array_equal(np.array(net.sparse.indices), ind0)
    np.testing.assert_array_equal(np.array(net.sparse.indptr), ptr0)
    assert not np.allclose(np.array(net.sparse.data), d0)


def test_compiled_train_step_matches_eager():
    P, A, x, y = _problem(1)
    nets = [_Net(P), _Net(P)]
    nets[1].update(tree_map(lambda a: mx.array(a), nets[0].parameters()))
    opts = [optim.SGD(learning_rate=0.05, momentum=0.9) for _ in nets]

    def make_step(net, opt):
        lg = nn.value_and_grad(net, _loss)

        def step(x, y):
            loss, g = lg(net, x, A, y)
            opt.update(net, g)
            return loss
        return step

    eager = make_step(nets[0], opts[0])
    state = [nets[1].state, opts[1].state]
    compiled = mx.compile(make_step(nets[1], opts[1]), inputs=state, outputs=state)
    for _ in range(4):
        le, lc = eager(x, y), compiled(x, y)
        mx.eval(nets[0].parameters(), nets[1].parameters(), opts[0].state, opts[1].state)
        _close(lc, le)
    for (k, a), (_, b) in zip(tree_flatten(nets[0].parameters()),
                              tree_flatten(nets[1].parameters())):
        _close(b, a, tol=1e-4)
    np.testing.assert_array_equal(np.array(nets[1].sparse.indices), np.array(nets[0].sparse.indices))


@pytest.mark.parametrize("ext", ["safetensors", "npz"])
def test_save_load_weights_round_trip(tmp_path, ext):
    P, A, x, _ = _problem(2)
    net = _Net(P)
    path = str(tmp_path / f"w.{ext}")
    net.save_weights(path)
    # same nnz, other pattern and values: loading restores both
    Q = ss.csr_array((np.ones(P.nnz, np.float32), (P.indices + 1) % 10, P.indptr),
                     shape=P.shape)
    other = _Net(Q)
    assert not np.array_equal(np.array(other.sparse.indices), np.array(net.sparse.indices))
    other.load_weights(path)
    for (k, a), (_, b) in zip(tree_flatten(net.parameters()), tree_flatten(other.parameters())):
        assert a.dtype == b.dtype, k
        np.testing.assert_array_equal(np.array(a), np.array(b))
    np.testing.assert_array_equal(np.array(other(x, A)), np.array(net(x, A)))
    with pytest.raises(ValueError):
        _Net(_pattern(16, 10, 0.5, 7)).load_weights(path)    # other nnz: shapes differ


def test_sparse_linear_cpu_and_gpu_agree():
    if not ms.gpu_available():
        pytest.skip("no GPU visible to MLX on this machine: the cross-device check "
                    "runs where mx.gpu is available")
    P, A, x, y = _problem(3)
    net = _Net(P)
    lg = nn.value_and_grad(net, _loss)
    results = {}
    prev = mx.default_device()
    try:
        for dev in (mx.cpu, mx.gpu):
            mx.set_default_device(dev)
            loss, g = lg(net, x, A, y)
            out = net(x, A)
            mx.eval(loss, g, out)
            results[dev] = (out, loss, tree_flatten(g))
    finally:
        mx.set_default_device(prev)
    (oc, lc, gc), (og, lg_, gg) = results[mx.cpu], results[mx.gpu]
    assert oc.shape == og.shape and oc.dtype == og.dtype
    _close(og, oc, tol=1e-4)
    _close(lg_, lc, tol=1e-4)
    for (k, a), (_, b) in zip(gc, gg):
        assert a.shape == b.shape, k
        _close(b, a, tol=1e-4)
