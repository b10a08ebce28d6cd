"""max / min along an axis with traced values: scipy's form (a 1-D COO
array, or a 1 x n / n x 1 COO matrix) with every result stored, values in
MLX: the compiled answer densifies to scipy's, the gradient matches central
differences (float64), and a 1-D result reshapes inside mx.compile."""
import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp


def _operand(fmt, flavour):
    S = ss.random_array((9, 7), density=0.4, format="csr", dtype=np.float64, rng=4)
    S.data -= 0.5                       # both signs: implicit zeros win some lines
    S = S.tolil()
    S[8, :] = 1.5 + 0.1 * np.arange(S.shape[1])   # one full row (no implicit zero; no tie)
    S = getattr(ss, f"{fmt}_{flavour}")(S)
    S.sum_duplicates()
    return S


def _fn(S, name, axis):
    cls = getattr(sp, f"{S.format}_{'array' if isinstance(S, ss.sparray) else 'matrix'}")
    with mx.stream(mx.cpu):
        A0 = cls(S)

    def f(v):
        return getattr(cls((v, A0.indices, A0.indptr), shape=A0.shape), name)(axis=axis)
    return A0, f


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_compiled_and_differentiated(fmt, flavour, name, axis):
    S = _operand(fmt, flavour)
    A0, f = _fn(S, name, axis)
    want = getattr(S, name)(axis=axis)
    w = np.random.default_rng(1).standard_normal(want.shape)
    with mx.stream(mx.cpu):
        got = mx.compile(lambda v: f(v).toarray())(A0.data)
        r = f(A0.data)
        assert type(r).__name__ == type(want).__name__ and r.shape == want.shape
        np.testing.assert_array_equal(np.array(got), want.toarray())

        def loss(v):
            return mx.sum(f(v).toarray() * mx.array(w, dtype=mx.float64))
        g = np.array(mx.grad(loss)(A0.data))
        v0 = np.array(A0.data)
        for d in np.random.default_rng(2).standard_normal((4, v0.size)):
            eps = 1e-6
            # concrete values: scipy's answer (numpy)
            hi, lo = (float(np.sum(np.asarray(f(mx.array(v, dtype=mx.float64)).toarray()) * w))
                      for v in (v0 + eps * d, v0 - eps * d))
            assert abs((hi - lo) / (2 * eps) - g @ d) < 1e-6


def test_one_row_reshaped_inside_compile():
    S = _operand("csr", "array")
    with mx.stream(mx.cpu):
        A0 = sp.csr_array(S)
        got = mx.compile(lambda v: sp.csr_array((v, A0.indices, A0.indptr), shape=A0.shape)[3]
                         .reshape((1, S.shape[1])).toarray())(A0.data)
    np.testing.assert_array_equal(np.array(got), S[3].reshape((1, S.shape[1])).toarray())


@pytest.mark.parametrize("flavour", ["array", "matrix"])
def test_float16_values_compile(flavour):
    """float16 values (which scipy cannot hold) keep their dtype in the
    compiled answer; the eager one is scipy's answer for the float32 copy."""
    S = _operand("csr", flavour)
    cls = getattr(sp, f"csr_{flavour}")
    with mx.stream(mx.cpu):
        A0 = cls(S).astype(np.float16)
        for name in ("max", "min"):
            got = mx.compile(lambda v: getattr(A0._with_values(v), name)(axis=0).toarray())(A0.data)
            assert got.dtype == mx.float16
            want = getattr(S.astype(np.float32), name)(axis=0).toarray().astype(np.float16)
            np.testing.assert_array_equal(np.array(got), want)
