"""CPU backend: scipy's compiled sparsetools on numpy views, split over threads.

Every function takes and returns numpy arrays.  The sparsetools routines
release the GIL, so row chunks run truly in parallel: the calling thread and
persistent daemon workers take chunks from one counter (``_share``).
"""
import itertools
import os
import threading
from queue import SimpleQueue

import numpy as np
from scipy.sparse import _sparsetools as st

_THREADS = max(1, min(8, os.cpu_count() or 1))
_PARALLEL_NNZ = 1 << 16          # below this a thread hop costs more than it saves
_CHUNK_WORK = 1 << 15            # least entries x columns in a shared chunk
_CHUNKS_PER_THREAD = 4
COPY_OUT_BELOW = 1 << 19         # MLX outputs of fewer elements: computed here, then copied
_I32MAX = np.iinfo(np.int32).max
_workers = None
_start_lock = threading.Lock()


def _work(jobs):
    while True:
        job, done = jobs.get()
        try:
            job()
            done.put(None)
        except BaseException as e:      # handed to the caller, who re-raises it
            done.put(e)


def _queue():
    """Job queue of _THREADS - 1 daemon workers (the caller is the last one).
    A raw queue hop costs ~20 us here against ~60 us for a ThreadPoolExecutor
    submit + result: a tenth of a small SpMV."""
    global _workers
    with _start_lock:
        if _workers is None:
            q = SimpleQueue()
            for i in range(_THREADS - 1):
                threading.Thread(target=_work, args=(q,), daemon=True,
                                 name=f"mlx_sparse_{i}").start()
            _workers = q
    return _workers


def _forget_workers():              # a forked child has none of the threads
    global _workers, _start_lock
    _workers, _start_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def _native(dtype):
    """dtype sparsetools can compute in (it has no half precision)."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def _blocks(indptr, parts):
    """Row boundaries (a list) that give each part about the same number of
    nonzeros.  Targets take indptr's dtype: a search in another type would
    convert all of indptr (0.2 ms a call on 200k rows)."""
    n = len(indptr) - 1
    if parts == 1 or n <= 0:
        return [0, max(n, 0)]               # no rows: one empty block, so Y exists
    nnz = int(indptr[-1])
    targets = np.array([nnz * i // parts for i in range(1, parts)], dtype=indptr.dtype)
    return sorted({0, n, *np.searchsorted(indptr, targets).tolist()})


def _run(jobs):
    """Run the jobs, the first on the calling thread (one thread hop fewer),
    and wait for all of them; the first error raised is re-raised here."""
    done = SimpleQueue()
    for j in jobs[1:]:
        _queue().put((j, done))
    err = None
    try:
        jobs[0]()
    finally:
        for _ in jobs[1:]:
            e = done.get()
            err = err or e
    if err is not None:
        raise err


def _share(n_chunks, run_chunk, static=False):
    """run_chunk(c, t) for every chunk c, on up to _THREADS threads pulling
    chunk numbers from one counter; t is the thread's slot (for private
    outputs).  A worker wakes 40-110 us after the caller starts here: with
    static halves the caller then sat idle waiting for it, while with shared
    chunks a late worker simply takes fewer of them.  ``static``: thread t
    takes chunks t, t + T, ... in order, so what each slot adds up, and in
    which order, is the same every call (results reproducible to the bit)."""
    if n_chunks == 1:                      # a small product: no thread hop at all
        run_chunk(0, 0)
        return
    take = itertools.count().__next__      # atomic under the GIL (not on free-threaded builds)
    n_threads = min(_THREADS, n_chunks)

    def loop(t):
        if static:
            for c in range(t, n_chunks, n_threads):
                run_chunk(c, t)
            return
        c = take()
        while c < n_chunks:
            run_chunk(c, t)
            c = take()
    _run([lambda t=t: loop(t) for t in range(n_threads)])


def spmv_into(data, indices, indptr, n_cols, x, out, bounds, after=None):
    """out = A @ x (CSR numpy arrays in a native dtype, x a vector), out
    zeroed and written chunk by chunk on the threads; ``after(r0, r1)``
    runs on the same thread right after each chunk, while its rows are in
    cache.  Returns [after(r0, r1) ...] in chunk order."""
    res = [None] * (len(bounds) - 1)

    def job(c, _t):
        r0, r1 = bounds[c], bounds[c + 1]
        out[r0:r1] = 0
        st.csr_matvec(r1 - r0, n_cols, indptr[r0:r1 + 1], indices, data, x, out[r0:r1])
        if after is not None:
            res[c] = after(r0, r1)
    _share(len(bounds) - 1, job)
    return res


def ones_product(data, indices, indptr, n_minor, dtype, across):
    """A compressed array (major lines, e.g. rows of CSR) times ones in
    ``dtype``, by the routine scipy's product with ones runs: ``across``
    the lines (one sum per minor index, csc_matvec of the transpose) or
    along them (one sum per line, csr_matvec); entries added in storage
    order, in the promoted dtype of the two."""
    if indices.dtype != indptr.dtype:
        indices, indptr = indices.astype(np.int64), indptr.astype(np.int64)
    n_major = len(indptr) - 1
    n_out, n_in = (n_minor, n_major) if across else (n_major, n_minor)
    out = np.zeros(n_out, dtype=np.promote_types(data.dtype, dtype))
    run = st.csc_matvec if across else st.csr_matvec
    run(n_out, n_in, indptr, indices, data, np.ones(n_in, dtype=dtype), out)
    return out


def line_diagonal(k, n_major, n_minor, indptr, indices, data):
    """Diagonal k of a compressed array (k counted along the minor axis) in
    the values' dtype, by scipy's csr_diagonal: repeated entries added."""
    if k <= -n_major or k >= n_minor:
        return np.empty(0, dtype=data.dtype)
    if indices.dtype != indptr.dtype:
        indices, indptr = indices.astype(np.int64), indptr.astype(np.int64)
    y = np.empty(min(n_major + min(k, 0), n_minor - max(k, 0)), dtype=data.dtype)
    st.csr_diagonal(k, n_major, n_minor, indptr, indices, data, y)
    return y


def sort_lines_into(data, indices, indptr):
    """Sort each line's indices (and values with them) in place, by the
    routine scipy's sort_indices runs (so its order among repeated indices)."""
    st.csr_sort_indices(len(indptr) - 1, indptr, indices, data)


def drop_zeros_into(data, indices, indptr, n_lines, n_other):
    """Drop the zeros of a compressed pattern in place (entries kept in
    order); returns the new number of entries."""
    st.csr_eliminate_zeros(n_lines, n_other, indptr, indices, data)
    return int(indptr[-1])


def elementwise_pair(op, n_major, n_minor, a, b, bool_result):
    """scipy's compiled elementwise op of two compressed arrays of one format
    (its `_binopt`: "csr" + op + "csr", e.g. csr_plus_csr, over the major
    lines: rows of CSR, columns of CSC), ``a`` and ``b`` as
    (data, indices, indptr) numpy views of one data dtype: (data, indices,
    indptr) of the result as new numpy arrays trimmed to its entries; the
    index dtype int32 unless an operand's is int64 or the entries could pass
    int32, as scipy's."""
    (ad, ai, ap), (bd, bi, bp) = a, b
    bound = len(ai) + len(bi)
    idx = np.int64 if np.int64 in (ai.dtype, ap.dtype, bi.dtype, bp.dtype) \
        or bound > np.iinfo(np.int32).max else np.int32
    ptr = np.empty(len(ap), dtype=idx)
    ind = np.empty(bound, dtype=idx)
    data = np.empty(bound, dtype=np.bool_ if bool_result else ad.dtype)
    getattr(st, "csr" + op + "csr")(n_major, n_minor, ap.astype(idx, copy=False),
                                    ai.astype(idx, copy=False), ad, bp.astype(idx, copy=False),
                                    bi.astype(idx, copy=False), bd, ptr, ind, data)
    n = int(ptr[-1])
    return data[:n], ind[:n], ptr


def union_slots(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
    """(slot_a, slot_b, indices, indptr) of the union of two canonical
    compressed patterns, by scipy's compiled merge (csr_plus_csr) of
    stand-ins: A's entries 1, B's 2, so a union entry holds 1, 2 or 3 by who
    met there, and since the merge keeps each operand's order, A's k-th entry
    is the k-th union entry holding 1 or 3 (one pass, where sorting keys
    took 10x longer)."""
    idx = np.result_type(a_ind.dtype, b_ind.dtype, a_ptr.dtype, b_ptr.dtype)
    ap, aj, bp, bj = (np.asarray(x, dtype=idx) for x in (a_ptr, a_ind, b_ptr, b_ind))
    na, nb = len(aj), len(bj)
    cp = np.empty(n_major + 1, dtype=idx)
    cj = np.empty(na + nb, dtype=idx)
    cx = np.empty(na + nb, dtype=np.int8)
    st.csr_plus_csr(n_major, n_minor, ap, aj, np.ones(na, np.int8), bp, bj,
                    np.full(nb, 2, np.int8), cp, cj, cx)
    n = int(cp[-1])
    v = cx[:n]
    return np.flatnonzero(v != 2), np.flatnonzero(v >= 2), cj[:n].copy(), cp


def intersection_slots(a_ind, a_ptr, b_ind, b_ptr, n_major, n_minor):
    """(pick_a, pick_b, indices, indptr) of the entries two canonical
    compressed patterns share, by scipy's compiled elementwise product of
    stand-ins: one operand's entries numbered 1..n, the other's 1, so each
    shared entry's product is its number in the first (two passes)."""
    idx = np.result_type(a_ind.dtype, b_ind.dtype, a_ptr.dtype, b_ptr.dtype)
    ap, aj, bp, bj = (np.asarray(x, dtype=idx) for x in (a_ptr, a_ind, b_ptr, b_ind))
    na, nb = len(aj), len(bj)
    cp = np.empty(n_major + 1, dtype=idx)
    cj = np.empty(na + nb, dtype=idx)       # the routine's own bound (min for canonical input)
    cx = np.empty(na + nb, dtype=np.float64)
    picks = []
    for xa, xb in ((np.arange(1, na + 1, dtype=np.float64), np.ones(nb)),
                   (np.ones(na), np.arange(1, nb + 1, dtype=np.float64))):
        st.csr_elmul_csr(n_major, n_minor, ap, aj, xa, bp, bj, xb, cp, cj, cx)
        picks.append(cx[:int(cp[-1])].astype(np.int64) - 1)
    n = int(cp[-1])
    return picks[0], picks[1], cj[:n].copy(), cp


def sample_values(data, indices, indptr, n_major, n_minor, major, minor):
    """The stored values at the places (major[k], minor[k]) of a compressed
    pattern, duplicates summed, zero where none (scipy's csr_sample_values),
    as a new numpy array; None for a dtype the routine lacks."""
    data = np.asarray(data)
    if data.dtype != _native(data.dtype):
        return None
    idx = np.result_type(indices.dtype, indptr.dtype)
    out = np.empty(major.size, dtype=data.dtype)
    st.csr_sample_values(n_major, n_minor, np.asarray(indptr, idx), np.asarray(indices, idx),
                         data, major.size, major.astype(idx), minor.astype(idx), out)
    return out


def pick_lines(data, indices, indptr, lines):
    """(data, indices, indptr) of the lines ``lines`` (in range, any order,
    repeats allowed) of a compressed pattern, each line's entries in their
    order (scipy's csr_row_index), as new numpy arrays in the pattern's
    index dtype; None for a dtype the routine lacks or mixed index dtypes."""
    data = np.asarray(data)
    if data.dtype != _native(data.dtype) or indices.dtype != indptr.dtype:
        return None
    idx = indptr.dtype
    lines = lines.astype(idx, copy=False)
    ptr = np.empty(lines.size + 1, dtype=idx)
    ptr[0] = 0
    np.cumsum(indptr[lines + 1] - indptr[lines], out=ptr[1:])
    n = int(ptr[-1])
    out_ind, out_data = np.empty(n, dtype=idx), np.empty(n, dtype=data.dtype)
    st.csr_row_index(lines.size, lines, indptr, indices, data, out_ind, out_data)
    return out_data, out_ind, ptr


def rows_shared(bounds, fn):
    """[fn(r0, r1) for each chunk of ``bounds``] on the threads, in chunk order
    (fn should spend its time in numpy calls, which release the GIL)."""
    res = [None] * (len(bounds) - 1)

    def job(c, _t):
        res[c] = fn(bounds[c], bounds[c + 1])
    _share(len(bounds) - 1, job)
    return res


def chunks(indptr, k=1):
    """Row bounds of the chunks a product of this pattern with k columns is
    shared out in (one chunk when it is too small to split)."""
    work = int(indptr[-1]) * max(1, k) if len(indptr) else 0
    parts = 1
    if _THREADS > 1 and work >= _PARALLEL_NNZ:
        parts = max(_THREADS, min(_THREADS * _CHUNKS_PER_THREAD, work // _CHUNK_WORK))
    return _blocks(indptr, parts)


def narrowed(indices, indptr, n_cols):
    """int32 copies of int64 index arrays whose values and sizes fit (column
    indices below n_cols, row pointers at most nnz, row counts that
    sparsetools then takes as int32): a kept product then streams 4 bytes
    less per entry (SpMV 15% faster here).  Otherwise the arrays as they
    are (sparsetools wants both in one dtype)."""
    if indices.dtype == indptr.dtype == np.int64 \
            and max(indices.size, n_cols, indptr.size) <= _I32MAX:
        return indices.astype(np.int32), indptr.astype(np.int32)
    return indices, indptr


def native_dtype(dtype):
    return _native(dtype)


def spmm(data, indices, indptr, n_rows, n_cols, X, transpose=False, out_dtype=None, out=None,
         bounds=None):
    """Y = A @ X, or A.T @ X when ``transpose``, for A in CSR arrays.

    X is 1-D (SpMV) or 2-D row-major (SpMM).  Returns a new array of
    ``out_dtype`` (numpy's promotion of the operands by default), or fills
    ``out`` (zeroed, C-contiguous, of a dtype sparsetools computes in).
    ``bounds``: chunks(indptr, k), where the caller keeps them.
    """
    out_dtype = np.dtype(out_dtype or np.result_type(data.dtype, X.dtype))
    work = _native(out_dtype)
    A = data.astype(work, copy=False)
    X = np.ascontiguousarray(X, dtype=work)
    vec = X.ndim == 1
    k = 1 if vec else X.shape[1]
    m_out = n_cols if transpose else n_rows
    b = chunks(indptr, k) if bounds is None else bounds
    if not transpose:
        # A fresh Y is zeroed chunk by chunk by the thread that adds into it:
        # in parallel, and while the chunk is still in cache.
        Y = np.empty((m_out,) if vec else (m_out, k), dtype=work) if out is None else out
        Yf = Y if vec else Y.reshape(-1)
        Xf = X if vec else X.reshape(-1)

        def job(c, _t):
            r0, r1 = b[c], b[c + 1]
            if out is None:
                Y[r0:r1] = 0
            if vec:
                st.csr_matvec(r1 - r0, n_cols, indptr[r0:r1 + 1], indices, A, X, Y[r0:r1])
            else:
                st.csr_matvecs(r1 - r0, n_cols, k, indptr[r0:r1 + 1], indices, A,
                               Xf, Yf[r0 * k:r1 * k])
        _share(len(b) - 1, job)
    else:
        # A.T @ X scatters into Y: each thread adds into a private Y, summed after.
        shape = (m_out,) if vec else (m_out, k)
        Ys = [None] * min(_THREADS, len(b) - 1)

        def job(c, t):
            r0, r1 = b[c], b[c + 1]
            if Ys[t] is None:
                Ys[t] = out if t == 0 and out is not None else np.zeros(shape, dtype=work)
            if vec:
                st.csc_matvec(n_cols, r1 - r0, indptr[r0:r1 + 1], indices, A, X[r0:r1], Ys[t])
            else:
                st.csc_matvecs(n_cols, r1 - r0, k, indptr[r0:r1 + 1], indices, A,
                               X[r0:r1].ravel(), Ys[t].ravel())
        # static chunks: each slot sums the same chunks in the same order
        _share(len(b) - 1, job, static=True)
        Ys = [Yp for Yp in Ys if Yp is not None]
        Y = Ys[0]
        if out is not None and Y is not out:    # thread 0 took no chunk
            out += Y
            Y = out
        for Yp in Ys[1:]:
            Y += Yp
    return Y.astype(out_dtype, copy=False)


def rows_of(indptr, nnz):
    """Row index of every stored entry (the COO rows of a CSR pattern)."""
    counts = np.diff(indptr)
    return np.repeat(np.arange(len(counts), dtype=indptr.dtype), counts)[:nnz]


def sddmm(indices, indptr, G, X, transpose=False, out_dtype=None):
    """out[k] = <G[row_k], X[col_k]> (or with row and col swapped when
    ``transpose``): the dense-dense product sampled at the CSR pattern."""
    rows = rows_of(indptr, indices.size)
    left, right = (rows, indices) if not transpose else (indices, rows)
    out_dtype = np.dtype(out_dtype or np.result_type(G.dtype, X.dtype))
    G = np.asarray(G, dtype=_native(out_dtype))
    X = np.asarray(X, dtype=_native(out_dtype))
    if G.ndim == 1:
        return (G[left] * X[right]).astype(out_dtype, copy=False)
    out = np.empty(indices.size, dtype=_native(out_dtype))
    step = max(1, (1 << 22) // max(1, G.shape[1]))   # bound the temporary
    for s in range(0, indices.size, step):
        sl = slice(s, s + step)
        np.einsum("ij,ij->i", G[left[sl]], X[right[sl]], out=out[sl])
    return out.astype(out_dtype, copy=False)


def coo_to_csr(row, col, data, n_rows, n_cols):
    """Stable counting sort of COO triplets by row (duplicates kept)."""
    idx = np.result_type(row.dtype, col.dtype, np.int32)
    indptr = np.empty(n_rows + 1, dtype=idx)
    indices = np.empty(data.size, dtype=idx)
    out = np.empty(data.size, dtype=_native(data.dtype))
    st.coo_tocsr(n_rows, n_cols, data.size, row.astype(idx, copy=False),
                 col.astype(idx, copy=False), data.astype(out.dtype, copy=False),
                 indptr, indices, out)
    return out.astype(data.dtype, copy=False), indices, indptr


def csr_transpose(data, indices, indptr, n_rows, n_cols):
    """CSR arrays of A.T (equivalently CSR -> CSC of A); indices come out sorted."""
    idx = indices.dtype
    ptr_t = np.empty(n_cols + 1, dtype=idx)
    ind_t = np.empty(data.size, dtype=idx)
    dat_t = np.empty(data.size, dtype=_native(data.dtype))
    st.csr_tocsc(n_rows, n_cols, indptr, indices, data.astype(dat_t.dtype, copy=False),
                 ptr_t, ind_t, dat_t)
    return dat_t.astype(data.dtype, copy=False), ind_t, ptr_t


def spgemm(ad, ai, ap, bd, bi, bp, n_rows, n_cols, out_dtype):
    """CSR arrays of A @ B by scipy's csr_matmat, so the result is scipy's
    exactly: computed zeros dropped, each row in scipy's (unsorted) order,
    int32 indices unless an input's are wider or nnz needs int64.  Row blocks
    run on the thread pool when A is large (the routine releases the GIL)."""
    out_dtype = np.dtype(out_dtype)
    work = _native(out_dtype)
    ad = ad.astype(work, copy=False)
    bd = bd.astype(work, copy=False)
    wide = any(not np.can_cast(a.dtype, np.int32) for a in (ai, ap, bi, bp))
    idx = np.dtype(np.int64 if wide else np.int32)
    ap, ai, bp, bi = (a.astype(idx, copy=False) for a in (ap, ai, bp, bi))
    parts = _THREADS if ai.size >= _PARALLEL_NNZ else 1
    b = _blocks(ap, parts)
    bounds = [int(st.csr_matmat_maxnnz(r1 - r0, n_cols, ap[r0:r1 + 1], ai, bp, bi))
              for r0, r1 in zip(b[:-1], b[1:])]
    if sum(bounds) == 0:   # scipy's empty result: index dtype from the shape alone
        idx = np.int64 if max(n_rows, n_cols) > _I32MAX else np.int32
        return (np.zeros(0, out_dtype), np.zeros(0, idx), np.zeros(n_rows + 1, idx))
    if sum(bounds) > _I32MAX:
        idx = np.dtype(np.int64)
        ap, ai, bp, bi = (a.astype(idx, copy=False) for a in (ap, ai, bp, bi))
    outs = [(np.empty(r1 - r0 + 1, idx), np.empty(n, idx), np.empty(n, work))
            for r0, r1, n in zip(b[:-1], b[1:], bounds)]

    def job(r0, r1, o):
        st.csr_matmat(r1 - r0, n_cols, ap[r0:r1 + 1], ai, ad, bp, bi, bd, *o)
    _run([lambda r0=r0, r1=r1, o=o: job(r0, r1, o) for r0, r1, o in zip(b[:-1], b[1:], outs)])
    if len(outs) == 1:
        p, i, d = outs[0]
        n = int(p[-1])
        return d[:n].astype(out_dtype, copy=False), i[:n], p
    indptr = np.zeros(n_rows + 1, idx)
    for r0, r1, (p, _, _) in zip(b[:-1], b[1:], outs):
        indptr[r0 + 1:r1 + 1] = p[1:] + indptr[r0]
    indices = np.concatenate([i[:int(p[-1])] for p, i, _ in outs])
    data = np.concatenate([d[:int(p[-1])] for p, _, d in outs]).astype(out_dtype, copy=False)
    return data, indices, indptr
