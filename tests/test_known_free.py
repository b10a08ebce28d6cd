"""The free-values note (_arrays.note_free): a values object found free
skips the tracer probe later, so every way a tracer can enter that object
afterwards must drop the note.  Each test notes the values first (an op on
the free array), then brings a tracer in and checks the gradient against
the dense one (a silent zero would pass unnoticed otherwise)."""
import numpy as np
import scipy.sparse as ss
import mlx.core as mx

import mlx_scipy_sparse as sp
from mlx_scipy_sparse import _arrays

S = ss.random(6, 5, density=0.5, format="csr", random_state=3, dtype=np.float32)


def _noted(A):
    A.max()                                  # an op that probes, then notes, the values
    assert _arrays._known_free(A._data)
    return A


def test_write_through_public_data_brings_a_tracer_in():
    A = sp.csr_array(S)
    A.data                                    # the public object is the values object now
    _noted(A)

    def f(v):
        A.data[...] = v                       # the caller's write through .data
        return A.sum()
    g = mx.grad(f)(mx.array(S.data * 2))
    np.testing.assert_allclose(np.array(g), np.ones(S.nnz), rtol=1e-6)


def test_write_through_public_data_iadd():
    A = sp.csr_array(S)
    box = [A.data]
    _noted(A)

    def f(v):
        box[0][:] = 0
        box[0] += v                           # an in-place operator of the public object
        return (A.power(2)).sum()
    v = mx.array(S.data)
    g = mx.grad(f)(v)
    np.testing.assert_allclose(np.array(g), 2 * S.data, rtol=1e-5)


def test_setitem_of_stored_entries_with_a_traced_value():
    A = sp.csr_array(S)
    _noted(A)
    i, j = 0, int(S.indices[S.indptr[0]])

    def f(t):
        B = A.copy()
        _noted(B)
        B[i, j] = t[0]                        # written into B's own values object
        return B.power(2).sum()
    g = mx.grad(f)(mx.array([3.0]))
    np.testing.assert_allclose(np.array(g), [6.0], rtol=1e-6)


def test_scaling_in_place_keeps_gradients_of_traced_values():
    def f(v):
        A = sp.csr_array((v, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        A *= 3.0
        return A.max() + A.sum()
    v = mx.array(S.data)
    g = np.array(mx.grad(f)(v))
    want = np.full(S.nnz, 3.0)
    want[int(np.argmax(S.data))] += 3.0
    np.testing.assert_allclose(g, want, rtol=1e-6)


def test_a_callers_array_is_never_noted():
    v = mx.array(S.data)
    A = sp.csr_array((v, mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
    _noted(A)
    assert not _arrays._known_free(v)         # the caller may rebind v to a tracer later
    assert A._data is not v
