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
