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
    assert _arrays.known_free(A._data)
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
    assert not _arrays.known_free(v)         # the caller may rebind v to a tracer later
    assert A._data is not v


# -- the owned buffer: an in-place scale writes a buffer the array made itself ----------
# float64: host values on any machine (MLX keeps float64 off GPUs), so the copy owns its buffer
S64 = S.astype(np.float64)


def _owned_copy():
    B = sp.csr_array(S64).copy()
    assert "_owned" in B.__dict__                 # a copy of free CPU values owns its buffer
    return B


def test_scale_in_place_after_a_lazy_product_leaves_the_product_alone():
    B = _owned_copy()
    x = mx.array(np.arange(S64.shape[1], dtype=np.float64), dtype=mx.float64)
    y = B @ x                                     # lazy: reads B's buffer when evaluated
    B *= 2.0
    np.testing.assert_allclose(np.array(y), S64 @ np.arange(S64.shape[1]), rtol=1e-6)
    np.testing.assert_allclose(B.toarray(), 2 * S64.toarray(), rtol=1e-6)


def test_scale_in_place_after_lazy_value_ops_leaves_them_alone():
    B = _owned_copy()
    C = B.multiply(B)
    D = B.power(2)
    with mx.stream(mx.cpu):                       # float64: the CPU stream on any machine
        d = mx.array(3.0, dtype=mx.float64) * B._data     # an MLX op on the values, lazy
    B *= 2.0
    B /= 4.0
    want = S64.toarray()
    np.testing.assert_allclose(C.toarray(), want * want, rtol=1e-6)
    np.testing.assert_allclose(D.toarray(), want ** 2, rtol=1e-6)
    np.testing.assert_allclose(np.array(d), 3 * S64.data, rtol=1e-6)
    np.testing.assert_allclose(B.toarray(), want / 2, rtol=1e-6)


def test_scale_in_place_reaches_views_and_handles_taken_before_as_scipys():
    B, Bs = _owned_copy(), S64.copy()
    h, hs = B.data, Bs.data
    T, Ts = B.T, Bs.T
    B *= 2.0
    Bs *= 2.0
    np.testing.assert_allclose(np.array(h), hs, rtol=1e-6)
    np.testing.assert_allclose(T.toarray(), Ts.toarray(), rtol=1e-6)
    np.testing.assert_allclose(B.toarray(), Bs.toarray(), rtol=1e-6)


def test_repeated_scales_in_place_match_scipy_bits():
    B, Bs = _owned_copy(), S64.copy()
    for s in (2.0, 3, 0.1, 7.5):
        B *= s
        Bs *= s
        B /= 3
        Bs /= 3
    np.testing.assert_array_equal(np.asarray(B.data), Bs.data)


def test_pickle_and_copies_of_an_owning_array_do_not_share_its_buffer():
    import copy
    import pickle
    B = _owned_copy()
    P = pickle.loads(pickle.dumps(B))
    C = copy.copy(B)
    E = sp.csr_array(B)                           # copy=False: shares values, as scipy's
    B *= 2.0
    np.testing.assert_allclose(P.toarray(), S64.toarray(), rtol=1e-6)
    np.testing.assert_allclose(C.toarray(), S64.toarray(), rtol=1e-6)
    Es = ss.csr_array(S64.copy())
    Es2 = ss.csr_array(Es)
    Es *= 2.0
    np.testing.assert_allclose(E.toarray(), Es2.toarray(), rtol=1e-6)


def test_arrays_built_from_scipy_own_their_values_until_read():
    before = S64.toarray()
    A, As = sp.csr_array(S64), S64.copy()
    assert "_owned" in A.__dict__                  # a copy made at construction
    C = sp.coo_array(S64.tocoo())
    assert "_owned" in C.__dict__
    A *= 3.0
    As *= 3.0
    C *= 3.0
    np.testing.assert_array_equal(np.asarray(A.data), As.data)
    np.testing.assert_array_equal(C.toarray(), As.toarray())
    x = mx.array(np.ones(S64.shape[1]), dtype=mx.float64)
    y = A @ x                                      # a reader: the next scale copies
    assert "_owned" not in A.__dict__
    A *= 2.0
    np.testing.assert_allclose(np.array(y), As @ np.ones(S64.shape[1]), rtol=1e-12)
    np.testing.assert_allclose(A.toarray(), 2 * As.toarray(), rtol=1e-12)
    np.testing.assert_array_equal(S64.toarray(), before)     # the scipy source: never written


def test_values_from_a_reversed_numpy_view_are_copied_contiguously():
    """A reversed size-1 numpy view keeps a negative stride through
    ascontiguousarray, which MLX refuses: the copy a format makes of host
    values (scipy's results wrapped back; scipy's slicing tests hit this)
    takes a C-ordered copy first."""
    from mlx_scipy_sparse._formats import _values
    view = np.arange(5.0)[::-1][:1]
    assert view.strides[0] < 0
    made, w = _values.copy_owned(view)
    np.testing.assert_array_equal(np.array(made), [4.0])
    assert w is not None and not np.may_share_memory(w, view)
    S = ss.coo_array((view, (np.array([0]), np.array([2]))), shape=(1, 3))
    np.testing.assert_array_equal(sp.coo_array(S).toarray(), [[0.0, 0.0, 4.0]])


def test_constructor_from_ours_notes_then_sees_a_tracer_written_in():
    """csr_array(A) probes A's values and notes them; a tracer written into
    A's public values afterwards must reach an array built from A later."""
    A = sp.csr_array(S)
    A.data
    sp.csr_array(A)                           # probes and notes A's values object
    assert _arrays.known_free(A._data)

    def f(v):
        A.data[...] = v
        return sp.csc_matrix(A).power(2).sum() + sp.csr_array(A).sum()
    v = mx.array(S.data)
    g = mx.grad(f)(v)
    np.testing.assert_allclose(np.array(g), 2 * S.data + 1, rtol=1e-5)


def test_reading_shape_dtype_and_size_keeps_the_buffer_owned():
    """dtype / nnz / size read only what the values are, so the buffer stays
    the object's own (an in-place scale after them writes it in place),
    while an op that may keep the values (a lazy product) still drops it."""
    B = _owned_copy()
    assert (B.nnz, B.dtype, B.size, B.shape) == (S64.nnz, S64.dtype, S64.nnz, S64.shape)
    assert "_owned" in B.__dict__
    B *= 2.0
    np.testing.assert_array_equal(np.asarray(B.data), 2.0 * S64.data)
    C = _owned_copy()
    x = mx.array(np.ones(S64.shape[1]), dtype=mx.float64)
    y = C @ x
    assert "_owned" not in C.__dict__
    C *= 3.0
    np.testing.assert_allclose(np.array(y), S64 @ np.ones(S64.shape[1]), rtol=1e-12)
