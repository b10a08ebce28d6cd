"""The `scipy.sparse` seen by the rewritten tests (copied next to them).

Public names come from mlx_scipy_sparse; names it lacks fall back to
scipy.sparse and are logged, so the report can list what we do not provide.
Private names (`_sputils`, `_base`, ...) are always scipy's own.
"""
import atexit
import os

import scipy.sparse as _scipy_sparse

_REFERENCE = os.environ.get("CONFORMANCE_REFERENCE") == "1"
if not _REFERENCE:
    import mlx_scipy_sparse as _ours
_fallbacks = set()


def __getattr__(name):
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
