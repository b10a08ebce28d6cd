"""The `scipy.sparse` seen by the rewritten tests (copied next to them).

Public names come from mlx_scipy_sparse; names it lacks fall back to
scipy.sparse and are logged, so the report can list what we do not provide.
Private names (`_sputils`, `_base`, ...) are always scipy's own.  The
subpackages `linalg` and `csgraph` are swapped the same way
(`_swap_linalg.py`, `_swap_csgraph.py`: ours first, scipy's for the rest).
"""
import atexit
import importlib
import os

import scipy.sparse as _scipy_sparse

_REFERENCE = os.environ.get("CONFORMANCE_REFERENCE") == "1"
if not _REFERENCE:
    import mlx_scipy_sparse as _ours
_fallbacks = set()
SUBPACKAGES = ("linalg", "csgraph")


# scipy's private modules that have a counterpart in our package: the tests
# use them as a namespace of public functions (`_construct as construct`)
_SHARED_MODULES = ("_construct",)


class _Namespace:
    def __init__(self, ours, theirs):
        self._ours, self._theirs = ours, theirs

    def __getattr__(self, name):
        try:
            return getattr(self._ours, name)
        except AttributeError:
            if not name.startswith("_"):
                _fallbacks.add(f"{self._theirs.__name__.rsplit('.', 1)[-1]}.{name}")
            return getattr(self._theirs, name)


def subpackage_getattr(sub):
    """Module `__getattr__` for the swapped `scipy.sparse.<sub>`."""
    theirs = importlib.import_module(f"scipy.sparse.{sub}")

    def lookup(name):
        if not _REFERENCE and not name.startswith("_"):
            try:
                ours = importlib.import_module(f"mlx_scipy_sparse.{sub}")
            except ImportError:
                ours = None
            if ours is not None and hasattr(ours, name):
                return getattr(ours, name)
            _fallbacks.add(f"{sub}.{name}")
        return getattr(theirs, name)
    return lookup


def __getattr__(name):
    if name in SUBPACKAGES:
        return importlib.import_module(f"{__name__.rsplit('.', 1)[0]}._swap_{name}")
    if not _REFERENCE and name in _SHARED_MODULES:
        return _Namespace(importlib.import_module("mlx_scipy_sparse." + name),
                          importlib.import_module("scipy.sparse." + name))
    if not _REFERENCE and not name.startswith("_"):
        try:
            return getattr(_ours, name)
        except AttributeError:
            _fallbacks.add(name)
    return getattr(_scipy_sparse, name)


@atexit.register
def _log():
    path = os.environ.get("CONFORMANCE_FALLBACKS")
    if path and _fallbacks:
        with open(path, "a") as f:
            f.write("".join(n + "\n" for n in sorted(_fallbacks)))
