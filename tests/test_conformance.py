"""scipy's own sparse, sparse.linalg and sparse.csgraph tests under the import
swap must not regress below conformance/baseline.json (10-20 minutes on two
cores: marked slow, CI runs it)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_conformance_does_not_regress():
    r = subprocess.run([sys.executable, "-m", "conformance", "--check"], cwd=ROOT,
                       capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
