"""Failure categories for conformance/deviations.md.

Each failing test is matched as "nodeid :: first line of its error"; the
first category whose pattern matches wins.  Reasons say why we differ from
scipy, and whether the difference is by design or still to fix.
"""
CATEGORIES = [
    {"name": "noncanonical-helper-uses-numpy-data",
     "pattern": r"NonCanonical.* :: .*(Cannot interpret 'mlx\.core|'Dtype' object has no attribute"
                r"|'array' object has no attribute)",
     "reason": "By design. The *NonCanonical* classes build every operand with a helper "
               "(`_same_sum_duplicate`, `_insert_explicit_zero`) that treats `.data`/`.indices` "
               "as numpy arrays (`np.issubdtype(M.data.dtype, ...)`, `.repeat`, "
               "`M.data.dtype.type(0)`, in-place slices). Ours are MLX arrays (DESIGN: "
               "`.data/.indices/.indptr` are MLX arrays), so set-up fails before the test runs. "
               "The same tests pass in the canonical classes."},
    {"name": "mlx-dtype-object",
     "pattern": r"Cannot interpret 'mlx\.core|'Dtype' object has no attribute|mlx\.core\.\w+ =="
                r"|ACTUAL: mlx\.core\.|astype\(\): incompatible function arguments",
     "reason": "By design. `.data.dtype`/`.indices.dtype` are `mlx.core.Dtype`s, which numpy "
               "neither compares equal to its dtypes nor accepts (`np.dtype(x)`, `.astype(np.int64)`"
               " on the MLX array). The sparse object's own `.dtype` is a numpy dtype, and the "
               "index dtype chosen is scipy's (checked by value: int32 vs int64 match)."},
    {"name": "mlx-array-api",
     "pattern": r"'array' object has no attribute '(copy|flags|repeat|ravel|nonzero|setflags)'"
                r"|any\(\): incompatible function arguments|\[convert\] Only length-1 arrays"
                r"|::test_nd_eliminate_zeros\b",
     "reason": "By design. MLX arrays lack numpy methods the tests call on `.data`/`.indices` "
               "(`.copy()`, `.flags`, `np.any(x, out=...)`), and `==` between two of them is an "
               "array, so `assert a == b` on instance attributes (test_pickle) and `assert_equal(mx_array, [])` "
               "(whose `==` gives an empty array) cannot be truth-tested."},
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
