"""laplacian: scipy's options, computed in MLX for MLX values.

Our CSR/CSC/COO arrays with MLX values and MLX dense arrays take the MLX
route (`_laplacian_mlx`): degree sums, normalisation and the diagonal are
MLX ops and value primitives, so the Laplacian (and the returned diagonal)
is differentiable with respect to the edge weights, compiles, and runs on
a GPU (float64 on the CPU stream).  numpy input runs scipy's own function
(numpy in, numpy out, bits and in-place behaviour as scipy's); scipy's
sparse input and our arrays that keep their values on the host (complex128,
DIA/BSR/LIL/DOK, unsigned and boolean values, for which scipy's casting
rules are its own) run scipy's function too, sparse results as ours.
"""
import inspect

import scipy.sparse.csgraph as _cg

from .. import _arrays
from . import _inputs, _laplacian_mlx

_FORMS = ("array", "function", "lo")


def laplacian(csgraph, normed=False, return_diag=False, use_out_degree=False, *, copy=True,
              form="array", dtype=None, symmetrized=False):
    """scipy.sparse.csgraph.laplacian for our arrays, scipy's, numpy and MLX.

    Results by input:

    * our CSR/CSC/COO array with MLX values: the Laplacian as our COO array
      (scipy's format and flavour; entries in scipy's order) whose values are
      MLX, differentiable with respect to ``csgraph.data``; the diagonal is
      numpy (as scipy's), or an MLX array when the values are traced by
      mx.grad / mx.compile.  ``form='function'`` / ``'lo'`` take numpy
      vectors (numpy results) or MLX ones (MLX results, differentiable).
      ``copy=False`` changes the input as scipy does (a COO input becomes
      the Laplacian, a CSR/CSC input gets its negated/normalised values).
    * an MLX dense array: MLX results (both), differentiable; ``copy`` has no
      effect (MLX arrays are not written in place).
    * numpy, scipy and host-held arrays of ours: scipy's own function.
    """
    if form not in _FORMS:
        raise ValueError(f"Invalid form: {form!r}")
    route = _laplacian_mlx.route(csgraph)
    if route is None or (dtype is not None and not _arrays.supported_dtype(dtype)):
        # an output dtype MLX cannot hold (complex128, longdouble): scipy's
        return _on_scipy(csgraph, normed, return_diag, use_out_degree, copy, form, dtype,
                         symmetrized)
    if csgraph.ndim != 2 or csgraph.shape[0] != csgraph.shape[1]:
        raise ValueError("csgraph must be a square matrix or array")
    lap, d = route(csgraph, normed=normed, out_degree=use_out_degree, copy=copy, form=form,
                   dtype=dtype, symmetrized=symmetrized)
    return (lap, d) if return_diag else lap


def _on_scipy(csgraph, normed, return_diag, use_out_degree, copy, form, dtype, symmetrized):
    kw = dict(normed=normed, return_diag=return_diag, use_out_degree=use_out_degree,
              copy=copy, form=form, dtype=dtype, symmetrized=symmetrized)
    if not (_inputs.is_ours(csgraph) or _arrays.is_mx(csgraph)):
        return _inputs.bring_back(_cg.laplacian(csgraph, **kw))
    _inputs.refuse_traced("laplacian", _inputs.state_of(csgraph))
    # scipy may write into what it is given when copy=False: a copy, whose
    # changes the input then takes (as scipy's own input would have them)
    in_place = not copy and _inputs.is_ours(csgraph)
    S = _inputs.lend(csgraph, copy=in_place)
    r = _cg.laplacian(S, **kw)
    if in_place and csgraph.format in ("csr", "csc", "coo"):
        _inputs.adopt(csgraph, S)
    return _inputs.bring_back(r)


laplacian.__signature__ = inspect.signature(_cg.laplacian)
