"""Bool and integer values inside mx.compile: a comparison's answer (or an
integer cast) of traced values is itself a tracer.  It carries no gradient,
but scipy cannot read it either, so ops on it must take the MLX path (and
give the eager answer) or refuse with the library's clear error, never
reach scipy and fail in MLX's evaluation."""
import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as ss

import mlx_scipy_sparse as sp

S = ss.random_array((12, 10), density=0.3, format="csr", dtype=np.float64, rng=1)
T = ss.random_array((12, 10), density=0.3, format="csr", dtype=np.float64, rng=2)


def _operands():
    with mx.stream(mx.cpu):
        A0, B = sp.csr_array(S), sp.csr_array(T)
    return A0, B


def _traced(A0, v):
    return sp.csr_array((v, A0.indices, A0.indptr), shape=A0.shape)


RUNS = {
    "(A < B).toarray()": lambda A, B: (A < B).toarray(),
    "(A > 0.5).toarray()": lambda A, B: (A > 0.5).toarray(),
    "(A != B).T.toarray()": lambda A, B: (A != B).T.toarray(),
    "(A < B).tocsc().toarray()": lambda A, B: (A < B).tocsc().toarray(),
    "(A < B).sum()": lambda A, B: (A < B).sum(),
    "(A < B).astype(float64) @ x":
        lambda A, B: (A < B).astype(np.float64) @ mx.ones((A.shape[1],), dtype=mx.float64),
    "(8 A).astype(int32).toarray()": lambda A, B: (8 * A).astype(np.int32).toarray(),
}


@pytest.mark.parametrize("name", RUNS)
def test_compiled_answer_is_the_eager_one(name):
    A0, B = _operands()
    f = RUNS[name]
    with mx.stream(mx.cpu):
        eager = f(_traced(A0, A0.data), B)
        got = mx.compile(lambda v: f(_traced(A0, v), B))(A0.data)
        mx.eval(got)
    assert isinstance(got, mx.array)
    np.testing.assert_array_equal(np.array(got), np.asarray(eager))
    assert np.array(got).dtype == np.asarray(eager).dtype


@pytest.mark.parametrize("op", ["count_nonzero", "nonzero"])
def test_host_only_op_on_traced_bools_refuses_clearly(op):
    A0, B = _operands()
    with mx.stream(mx.cpu):
        with pytest.raises(NotImplementedError, match="inside mx.compile"):
            mx.compile(lambda v: getattr(_traced(A0, v) < B, op)())(A0.data)


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_reductions_of_traced_exact_values_keep_scipys_dtype(reduce, axis):
    A0, B = _operands()
    for f in (lambda A: A < B, lambda A: (8 * A).astype(np.int32),
              lambda A: (8 * A).astype(np.uint16)):
        with mx.stream(mx.cpu):
            want = getattr(f(_traced(A0, A0.data)), reduce)(axis=axis)
            got = mx.compile(lambda v: getattr(f(_traced(A0, v)), reduce)(axis=axis))(A0.data)
            mx.eval(got)
        np.testing.assert_allclose(np.array(got), np.asarray(want), rtol=1e-12)
        assert np.array(got).dtype == np.asarray(want).dtype
