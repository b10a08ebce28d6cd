"""diags / diags_array of MLX diagonals with traced values: the values are
gathered from the diagonals (scipy lays out numbered stand-ins), so the
compiled answer is scipy's, the gradient with respect to the diagonals
matches central differences, and a DIA request answers CSR (our DIA keeps
its values on the host)."""
import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp

X0 = np.random.default_rng(0).standard_normal(6)

CASES = {
    "two diagonals, csr": lambda m, x: m.diags_array([x, x[1:]], offsets=[0, 1], format="csr"),
    "diags([x], [0]) (dia asked)": lambda m, x: m.diags([x], [0]),
    "one array": lambda m, x: m.diags(x),
    "offset -2 of 8 x 6": lambda m, x: m.diags_array(x, offsets=-2, shape=(8, 6)),
    "scaled lower, coo": lambda m, x: m.diags([x, x[:5] * 2], [0, -1], format="coo"),
    "length-1 diagonal broadcast": lambda m, x: m.diags_array([x[:1], x], offsets=[1, 0],
                                                              shape=(6, 6), format="csc"),
}


@pytest.mark.parametrize("name", CASES)
def test_compiled_and_differentiated(name):
    c = CASES[name]
    want = c(ss, X0)
    w = np.random.default_rng(1).standard_normal(want.shape)
    x = mx.array(X0, dtype=mx.float64)
    with mx.stream(mx.cpu):
        got = mx.compile(lambda v: c(sp, v).toarray())(x)
        np.testing.assert_allclose(np.array(got), want.toarray(), rtol=0, atol=0)
        traced_format = []

        def loss(v):
            r = c(sp, v)
            traced_format.append(r.format)
            return mx.sum(r.toarray() * mx.array(w))
        g = np.array(mx.grad(loss)(x))
    assert traced_format[0] == ("csr" if want.format == "dia" else want.format)
    for d in np.random.default_rng(2).standard_normal((3, X0.size)):
        eps = 1e-6
        fd = (np.sum(c(ss, X0 + eps * d).toarray() * w)
              - np.sum(c(ss, X0 - eps * d).toarray() * w)) / (2 * eps)
        assert abs(fd - g @ d) < 1e-7 * max(1.0, abs(fd))


def test_a_zero_element_stays_stored_under_a_trace():
    x = mx.array([1.0, 0.0, 2.0], dtype=mx.float64)
    with mx.stream(mx.cpu):
        nnz = []
        mx.grad(lambda v: (lambda r: (nnz.append(r.nnz), mx.sum(r.toarray()))[1])(
            sp.diags_array(v, format="csr")))(x)
    assert nnz == [3] and ss.diags_array(np.array(x), format="csr").nnz == 2
