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
    "(A < B).count_nonzero()": lambda A, B: (A < B).count_nonzero(),
    "(A < B).count_nonzero(axis=0)": lambda A, B: (A < B).count_nonzero(axis=0),
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


@pytest.mark.parametrize("op", ["nonzero", "eliminate_zeros"])
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


INTEGER_ANSWERS = [("argmax", {}), ("argmin", {}), ("argmax", {"axis": 0}),
                   ("argmin", {"axis": 1}), ("argmax", {"axis": -1}), ("count_nonzero", {}),
                   ("count_nonzero", {"axis": 0}), ("count_nonzero", {"axis": 1})]


@pytest.mark.parametrize("signs", ["mixed", "negative", "full"])
@pytest.mark.parametrize("flavour", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_integer_answers_inside_compile(fmt, flavour, signs):
    """argmax / argmin (scipy's implicit-zero rules) and count_nonzero of
    traced values: fixed-shape integer answers, computed in MLX inside
    mx.compile, equal to scipy's (a COO array, whose canonical flag is
    scipy's alone, still refuses clearly)."""
    R = ss.random_array((7, 6), density=1.0 if signs == "full" else 0.4, format="csr",
                        dtype=np.float64, rng=5)
    R.data -= 0.5
    if signs == "negative":
        R.data = -np.abs(R.data)
    R.data[::5] = 0.0                   # stored zeros
    Sx = getattr(ss, f"{fmt}_{flavour}")(R)
    with mx.stream(mx.cpu):
        A0 = getattr(sp, f"{fmt}_{flavour}")(Sx)
        for name, kw in INTEGER_ANSWERS:
            got = mx.compile(lambda v: getattr(A0._with_values(v), name)(**kw))(A0.data)
            want = np.asarray(getattr(Sx, name)(**kw))
            assert isinstance(got, mx.array), (name, kw)
            np.testing.assert_array_equal(np.array(got), want, err_msg=f"{name} {kw}")
            assert np.array(got).shape == want.shape
        C = sp.coo_array(ss.coo_array(R))
        with pytest.raises(NotImplementedError, match="inside mx.compile"):
            mx.compile(lambda v: C._with_values(v).argmax())(C.data)
