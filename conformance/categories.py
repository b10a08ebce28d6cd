"""Failure categories for conformance/deviations.md.

Each failing test is matched as "nodeid :: first line of its error"; the
first category whose pattern matches wins.  Reasons say why we differ from
scipy, and whether the difference is by design or still to fix.
"""
CATEGORIES = [
    {"name": "mlx-dtype-object",
     "pattern": r"Cannot interpret 'mlx\.core|'Dtype' object has no attribute|mlx\.core\.\w+ =="
                r"|ACTUAL: mlx\.core\.|astype\(\): incompatible function arguments",
     "reason": "By design. `.data.dtype`/`.indices.dtype` are `mlx.core.Dtype`s. numpy can "
               "read them (`mlx_scipy_sparse._numpy_interop` gives `mx.Dtype` numpy's `.dtype` and "
               "`.type`), but their `==` is MLX's, so `mx.int32 == np.int32` is False and "
               "`assert_equal(A.indices.dtype, np.int32)` fails. The sparse object's own `.dtype` "
               "is a numpy dtype, and the index dtype chosen is scipy's (checked by value: int32 vs "
               "int64 match); `.astype(np.int64)` on our arrays works."},
    {"name": "mlx-array-api",
     "pattern": r"'(array|PublicArray)' object has no attribute '(copy|flags|repeat|ravel|nonzero|setflags)'"
                r"|any\(\): incompatible function arguments|\[convert\] Only length-1 arrays"
                r"|::test_nd_eliminate_zeros\b",
     "reason": "By design. `.data`/`.indices`/... are MLX arrays (an `mx.array` subclass that adds "
               "the numpy methods scipy code calls: `copy`, `astype(numpy dtype)`, `repeat`, "
               "`nonzero`, `any/all(out=None)`, comparisons and indexing that keep the subclass), "
               "and MLX arrays lack other numpy API the tests use: `.flags` (`flags.writeable = "
               "False`), and a multi-element `==` cannot be truth-tested: `assert a == b` on "
               "instance attributes (test_pickle: the instance holds plain MLX arrays) and "
               "`assert_equal(mx_array, [])` / `assert_equal` of two MLX arrays (numpy's "
               "assert_equal treats non-ndarrays as scalars)."},
    {"name": "no-memory-sharing-with-numpy",
     "pattern": r"::(test_constructor1_base|test_copy|test_reshape_copy)\b",
     "reason": "By design. `sparse_may_share_memory` looks for numpy arrays in the instance "
               "`__dict__`; ours holds MLX arrays (or, for DIA/BSR/DOK/LIL, a scipy object), so "
               "`copy=False` sharing is invisible to it. Values are still shared where scipy shares."},
    {"name": "scipy-linalg-needs-scipy-classes",
     "pattern": r"::test_(solve|expm|inv)\b",
     "reason": "Known limit. `scipy.sparse.linalg` (splu, expm, inv) checks `isinstance` against "
               "scipy's own classes, which ours do not subclass (their methods would read MLX "
               "arrays as numpy). Convert with `.to_scipy()` first."},
    {"name": "pickle-host-formats",
     "pattern": r"::test_pickle\b.*truth value",
     "reason": "By design. DIA/BSR/DOK/LIL are held as a scipy object in `__dict__`; the test "
               "compares instance attributes with `==`, which for a sparse object is elementwise."},
    {"name": "scipy-private-methods",
     "pattern": r"AttributeError: _\w+$",
     "reason": "Not provided. The test calls a private scipy method (`_getnnz`) that our "
               "DIA/BSR/DOK/LIL wrappers do not forward (only public names are)."},
]

# Differences from scipy.sparse that scipy's own tests do not reach (found in
# review, issue 12), each pinned by tests/test_scipy_differences.py (a strict
# xfail where we differ).  Listed in deviations.md under "Differences scipy's
# tests do not reach".
KNOWN_DIFFERENCES = [
    {"name": "scipy-method-with-our-operand",
     "reason": "Cannot fix here. A scipy *method* given one of ours returns or raises what "
               "scipy does for an operand it does not recognise: `ss_A.multiply(sp_B)` returns "
               "`NotImplemented`, `ss_A.maximum(sp_B)`/`minimum` raise NotImplementedError, "
               "`ss_coo.dot(sp_B)` raises TypeError. scipy tests `isinstance` against its own "
               "classes, which ours do not subclass, and a method call (unlike an operator) "
               "has no reflected fallback for us to take over; making `np.asarray(sp_B)` "
               "densify (so scipy would treat it as dense) would change numpy interop "
               "everywhere. The operators work (`ss_A * sp_B`, `ss_A - sp_B`, `ss_A @ sp_B`, "
               "`ss_A.dot(sp_B)` for CSR/CSC): they run scipy's forward operator on a view of "
               "ours and return ours in the format and flavour scipy gives. Workarounds: "
               "`sp_B.multiply(ss_A)`, `sp.csr_array(ss_A).multiply(sp_B)`, or "
               "`ss_A.multiply(sp_B.to_scipy())`."},
    {"name": "comparison-format-with-scipy-left",
     "reason": "Cannot fix here. `ss_A < sp_B` (and `==`, `!=`, `<=`, `>`, `>=`) has scipy's "
               "values but the format and flavour of `sp_B`: scipy's comparison gives way, and "
               "Python calls our reflected comparison (`sp_B > ss_A`), which cannot tell that "
               "it was the right operand (for `+ - * / @` Python calls `__radd__` etc., which "
               "can)."},
    {"name": "compressed-major-axis-2-31",
     "reason": "MLX limit. A CSR array with 2**31 - 1 or more rows (CSC: columns) cannot be "
               "built, even empty (`sp.csr_array((2**31, 3))` raises OverflowError): its "
               "indptr has one entry per row plus one and MLX array dimensions are 32-bit. "
               "The other axis may be as long as scipy allows, and COO (no indptr) takes "
               "either. The failure is in `_formats/_compressed.py` (`_adopt`'s "
               "`_arrays.to_mx(S.indptr)`); holding such an indptr would need a host copy that "
               "the kernels do not take."},
    {"name": "caller-writes-after-construction",
     "reason": "By design (MLX's value semantics). Built from MLX arrays with `copy=False`, an "
               "array shares their buffers, but a later in-place write by the caller "
               "(`d[0] = 99`, `i += 1`) is not seen by it, where scipy's `copy=False` array sees "
               "writes to the numpy arrays it was given: MLX's in-place writes rebind the "
               "written Python object to a new buffer and never write into a buffer another "
               "array object holds. Writes through the array's own attributes "
               "(`A.indices[0] = 1`, `A.data[0] = 5`, `A.indptr += 1`) are seen, as in scipy, "
               "and the structure is checked again before the next kernel. A write through a "
               "numpy view of a public index array (`np.asarray(A.indices)[0] = 1`) is seen by "
               "nobody: the public index arrays are copies of the ones the kernels read, so "
               "such a write can never make a kernel read out of bounds."},
    {"name": "float16-values",
     "reason": "By design. scipy.sparse refuses float16 values (ValueError 'does not support "
               "dtype float16'); MLX holds them and our GPU kernels compute with them, so ours "
               "keep them: `astype(np.float16)` and MLX float16 input work. scipy is lent a "
               "float32 copy (exact). What only moves values (toarray, todense, tocsr/tocsc/"
               "tocoo, indexing, reshape, transpose, diagonal, max/min, stacking, tril/triu, "
               "pickle) and elementwise unary functions (abs, sqrt, round, ...) give float16, "
               "as numpy; sums, means, sparse @ sparse and binary operations between sparse "
               "arrays give float32, as scipy computes float16 dense operands; `* scalar` and "
               "`@ dense` follow numpy (float16 @ float16 dense is float16). `to_scipy()` "
               "gives float32 (scipy has no float16); numpy float16 *input* to a constructor "
               "is refused as scipy refuses it. bool/int8/uint8 values @ a float16 dense "
               "operand give float32, as scipy's sparsetools (numpy would say float16)."},
]


# scipy.sparse.linalg's and scipy.sparse.csgraph's test files (`--suite linalg|csgraph`)
LINALG_CATEGORIES = [
    {"name": "harness-missing-fixture",
     "pattern": r"num_parallel_threads|test_funm_multiply_krylov\.py::.*_sparse\["
                r"|::test_parallel_threads\b",
     "reason": "Harness. The test asks for scipy's pytest fixture `num_parallel_threads` "
               "(from scipy's own conftest/plugin, which the copied files do not load); it "
               "errors at setup, before any code of ours runs (scipy's own reference run "
               "errors on the same tests)."},
    {"name": "per-test-timeout-under-load",
     "pattern": r"ran past \d+ s",
     "reason": "Harness. Dense numpy/scipy work in the test itself (onenormest tables, propack "
               "examples) ran past the 60 s per-test limit on the loaded 2-core machine."},
    {"name": "scipy-private-helper-on-our-class",
     "pattern": r"test_propack\.py::test_svdp|TestGstrsErrors|test_linearoperator_deallocation"
                r"|test_padecases_dtype_sparse_float|test_scaled_expm_multiply"
                r"|test_interface\.py::(TestAsLinearOperator|test_sparse_matmat_exception)",
     "reason": "Known limit. The test calls one of scipy's private helpers (`_svdp`, "
               "`_superlu.gstrs`, `arpack.SpLuInv`, `_expm`, `_expm_multiply_simple`, the private "
               "`interface` module) directly on our arrays; private modules stay scipy's in the "
               "swap, and they check `isinstance` against scipy's classes or read `.data` as a "
               "numpy array. The public functions pass these cases."},
    {"name": "superlu-wrapper-refcount",
     "pattern": r"test_lu_refcount",
     "reason": "By design. Our SuperLU wraps scipy's (MLX in and out, gradients); its perm_r/"
               "perm_c hold a reference to scipy's object, not to the wrapper, so the "
               "wrapper's refcount the test watches does not change."},
]
CSGRAPH_CATEGORIES = [
    {"name": "mlx-dtype-object",
     "pattern": r"::test_int64_indices",
     "reason": "By design (as in the sparse suite). The test asserts `g.indices.dtype == "
               "np.int64` before any csgraph call; our `.indices.dtype` is `mx.int64`, whose "
               "`==` is MLX's. The routines themselves pass on int64 indices."},
    {"name": "mlx-array-api",
     "pattern": r"::test_buffer\b",
     "reason": "By design (as in the sparse suite). The test sets `G.data.flags['WRITEABLE'] = "
               "False` before any csgraph call; an MLX `.data` has no numpy `.flags`. (Our "
               "routines never write into the graph: scipy is lent read-only views.)"},
    {"name": "scipy-private-helper-on-our-class",
     "pattern": r"::test_add_reverse_edges",
     "reason": "Known limit. The test calls scipy's private `_flow._add_reverse_edges` (private "
               "modules stay scipy's in the swap) on our csr_array; scipy's compiled helper "
               "rebuilds its argument with `type(a)(...)` in scipy's own constructor signature. "
               "Our `maximum_flow` itself passes every flow test."},
]
BY_SUITE = {"sparse": CATEGORIES, "linalg": LINALG_CATEGORIES, "csgraph": CSGRAPH_CATEGORIES}
