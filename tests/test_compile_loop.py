"""A training-style loop over fixed patterns inside mx.compile: A + B,
A.multiply(v), A.sum(axis=1), A.tocsc() @ x.  MLX traces the Python body once
and replays the graph; the body running once over many steps shows that no
step does host work of ours (no pattern function, no host read of values:
either would need the Python code to run, and reading a traced value raises)."""
import mlx.core as mx
import numpy as np
import scipy.sparse as ss

import mlx_scipy_sparse as sp


def test_compiled_loop_runs_the_body_once_and_matches_scipy():
    rng = np.random.default_rng(0)
    SA = ss.random_array((300, 200), density=0.05, format="csr", dtype=np.float32, rng=rng)
    SB = ss.random_array((300, 200), density=0.05, format="csr", dtype=np.float32, rng=rng)
    A0, B0 = sp.csr_array(SA), sp.csr_array(SB)
    v = mx.array(rng.standard_normal(200).astype(np.float32))
    x = mx.array(rng.standard_normal(200).astype(np.float32))
    traced = []

    @mx.compile
    def step(a, b):
        traced.append(1)
        A = sp.csr_array((a, A0.indices, A0.indptr), shape=A0.shape)
        B = sp.csr_array((b, B0.indices, B0.indptr), shape=B0.shape)
        C = A + B
        D = A.multiply(v[None, :])
        y = C.tocsc() @ x + C.sum(axis=1) + D.sum(axis=1)
        return y, a * 0.999, b * 1.001

    a, b = A0.data, B0.data
    for _ in range(10):
        y, a, b = step(a, b)
    mx.eval(y)
    assert len(traced) == 1
    sa, sb = SA.data * 0.999 ** 9, SB.data * 1.001 ** 9
    C = ss.csr_array((sa, SA.indices, SA.indptr), shape=SA.shape) + \
        ss.csr_array((sb, SB.indices, SB.indptr), shape=SB.shape)
    D = ss.csr_array((sa, SA.indices, SA.indptr), shape=SA.shape).multiply(np.array(v)[None, :])
    ref = C.tocsc() @ np.array(x) + C.sum(axis=1) + np.asarray(D.sum(axis=1)).ravel()
    np.testing.assert_allclose(np.array(y), ref, rtol=2e-4, atol=2e-4)
