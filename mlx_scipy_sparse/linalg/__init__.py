"""scipy.sparse.linalg for mlx_scipy_sparse: the whole public namespace.

A name resolves, on first use, to the first of our modules that defines it
(the iterative solvers and operators, the direct solvers, the eigensolvers,
the matrix functions), so a name appears as soon as one of them defines it.
Everything else is scipy's own function run on the host through
`_hostcall.hosted` (our arrays and MLX arrays in, ours / MLX back, refused
under mx.grad), and scipy's classes, warnings and exceptions as they are.
"""
import importlib

import scipy.sparse.linalg as _scipy_linalg

from . import _hostcall

__all__ = list(_scipy_linalg.__all__)

# ours, in order of precedence; a module that does not exist yet is skipped
_MODULES = ("_interface", "_isolve", "_implicit", "_precond", "_direct", "_eigen",
            "_matfuncs")
# scipy's deprecated submodule aliases and its test runner: scipy's objects
_SCIPY_AS_IS = frozenset({"dsolve", "eigen", "interface", "isolve", "matfuncs", "test"})


def _ours(name):
    for mod in _MODULES:
        try:
            m = importlib.import_module(f"{__name__}.{mod}")
        except ImportError as e:
            if e.name != f"{__name__}.{mod}":   # a real error inside one of ours
                raise
            continue
        public = getattr(m, "__all__", None)
        if (public is None or name in public) and hasattr(m, name):
            return getattr(m, name)
    return None


def _resolve(name):
    obj = _ours(name)
    if obj is not None:
        return obj
    obj = getattr(_scipy_linalg, name)
    if name in _SCIPY_AS_IS or isinstance(obj, type) or not callable(obj):
        return obj          # classes, warnings, exceptions, modules: scipy's
    return _hostcall.hosted(obj)


def __getattr__(name):
    if name.startswith("__") or name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    obj = _resolve(name)
    globals()[name] = obj       # resolved once per process
    return obj


def __dir__():
    return sorted(set(globals()) | set(__all__))
