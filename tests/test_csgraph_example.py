"""examples/spectral_clustering.py runs, agrees with the karate club's
factions, and its gradient through csgraph.laplacian has the closed form."""
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("networkx")      # the examples extra; absent, the example cannot run

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "spectral_clustering.py"


def test_spectral_clustering_example(tmp_path):
    spec = importlib.util.spec_from_file_location("spectral_clustering", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(png=str(tmp_path / "karate.png"), verbose=False)
    assert res["accuracy"] >= 0.9
    assert abs(res["fiedler"] - 0.1322723) < 1e-6       # scipy's eigsh on scipy's Laplacian
    assert res["grad_error"] < 1e-12
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert res["png"] is None
    else:
        assert (tmp_path / "karate.png").stat().st_size > 1000
