"""The ML examples end to end, with their accuracy targets.  They need the
`examples` extra (networkx, scikit-learn); CI installs it, so the import
guards below only keep a bare checkout's test run working."""
import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_karate_gcn_reaches_90_percent():
    pytest.importorskip("networkx")
    res = _load("karate_gcn").main(verbose=False)
    assert res["n_test"] == 34 - len(res["train"]) and len(res["train"]) <= 8
    assert res["test_accuracy"] >= 0.9, res


@pytest.mark.slow
def test_digits_pruning_keeps_accuracy():
    pytest.importorskip("sklearn")
    import mlx.core as mx
    prev = mx.default_device()
    try:
        res = _load("digits_pruning").main(verbose=False, bench_shapes=((512, 512),))
    finally:
        mx.set_default_device(prev)     # the example pins the CPU
    assert res["dense_accuracy"] >= 0.95, res
    assert res["sparse_accuracy"] >= res["dense_accuracy"] - 0.02, res
    # timings are reported, not asserted (shared CI machines), but must be real
    assert res["dense_ms"] > 0 and res["sparse_ms"] > 0 and len(res["layers"]) == 1


def test_seed_notebook_runs_and_matches_dense():
    # the README's demo command, as a user runs it: its own checks against
    # dense computation decide the exit status
    import subprocess
    import sys
    r = subprocess.run([sys.executable, str(EXAMPLES / "seed_notebook.py")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "seed notebook: all checks passed" in r.stdout
    assert r.stdout.count(" ok\n") >= 7 and "FAILED" not in r.stdout
