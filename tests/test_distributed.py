"""mlx_scipy_sparse.distributed: row-partitioned CSR arrays over mx.distributed.

In this process (a group of one): constructors, products, reductions,
gradients, the solvers, and that nothing is exchanged.  Across processes:
2 (and 3) ranks over the ring backend on 127.0.0.1, started by MLX's own
`mlx.launch` (the quick run) or by the package's launcher (the others: see
distributed/_launch.py for why),
each running tests/distributed_ranks/*.py, which compare every rank's slice
with the single-process answer and write their verdicts as JSON; the tests
here read them.  A launch has a hard timeout and its process group is
killed when it runs out (a collective that one rank never joins hangs).
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as ss
import scipy.sparse.linalg as ssl
import mlx.core as mx

import mlx_scipy_sparse as sp
import mlx_scipy_sparse.distributed as D
from mlx_scipy_sparse import linalg as L
from mlx_scipy_sparse.distributed._launch import mlx_launch, run_local

RANKS = Path(__file__).parent / "distributed_ranks"
sys.path.insert(0, str(RANKS))
from _problems import poisson2d, random_general, random_spd  # noqa: E402


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.complex128), np.asarray(b, dtype=np.complex128)
    return np.abs(a - b).max(initial=0) / max(np.abs(b).max(initial=0), 1e-300)


# ------------------------------------------------------------ a group of one
@pytest.fixture(scope="module")
def mats():
    return poisson2d(8, 9), random_general(60)


@pytest.mark.parametrize("how", ["global", "local", "scatter"])
def test_single_process_is_the_local_product(mats, how):
    A = mats[1]
    dA = {"global": lambda: D.from_global(sp.csr_array(A)),
          "local": lambda: D.from_local_rows(A),
          "scatter": lambda: D.scatter(A)}[how]()
    assert dA.group.size() == 1 and dA.plan.mode == "none" and dA.plan.n_ghost == 0
    assert dA.local_shape == dA.shape == A.shape and dA.nnz == A.nnz
    x = np.random.default_rng(0).standard_normal(A.shape[0])
    y = dA @ x
    assert isinstance(y, np.ndarray) and y.dtype == np.float64
    assert _rel(y, A @ x) < 1e-15
    xm = mx.array(x.astype(np.float32))
    assert np.array_equal(np.array(dA @ xm), np.array(dA.local @ xm))     # same bits
    assert abs(dA.gather_global() - A).max() == 0


def test_group_of_one_never_communicates(mats, monkeypatch):
    A = mats[0]

    def refuse(*a, **k):
        raise AssertionError("a collective ran in a group of one")
    dA = D.from_global(sp.csr_array(A))
    for name in ("all_gather", "all_sum", "send", "recv", "recv_like"):
        monkeypatch.setattr(mx.distributed, name, refuse)
    D.from_local_rows(A)                                     # planning: nothing either
    x = mx.array(np.ones(A.shape[0]), dtype=mx.float64)
    y = dA @ x
    v = D.like_rows(dA, y)
    assert _rel(np.array(y), A @ np.ones(A.shape[0])) < 1e-15
    assert _rel(np.array(dA.vdot(y, y)), np.dot(A @ np.ones(72), A @ np.ones(72))) < 1e-14
    assert _rel(np.array(v.norm()), np.linalg.norm(A @ np.ones(72))) < 1e-14
    assert _rel(np.array(dA.T @ x), A.T @ np.ones(72)) < 1e-15


def test_types_follow_the_operand(mats):
    A = mats[1]
    dA = D.from_global(sp.csr_array(A.astype(np.float32)))
    x = np.linspace(-1, 1, 60)
    assert (dA @ x).dtype == np.float64                     # numpy's promotion, numpy out
    assert (dA @ x.astype(np.float32)).dtype == np.float32
    assert isinstance(dA @ mx.array(x.astype(np.float32)), mx.array)
    v = D.vector_from_global(mx.array(x.astype(np.float32)))
    out = dA @ v
    assert isinstance(out, D.DistributedVector) and out.shape == (60,)
    X = np.random.default_rng(1).standard_normal((60, 4))
    assert _rel(dA @ X, A.astype(np.float32).astype(np.float64) @ X) < 1e-6


def test_transposed_and_complex_products(mats):
    A = mats[1]
    Z = (A + 1j * ss.random(60, 60, density=0.05, random_state=2)).tocsr()
    dZ = D.from_global(sp.csr_array(Z.astype(np.complex64)))
    Zc = Z.astype(np.complex64).astype(np.complex128)
    rng = np.random.default_rng(3)
    z = rng.standard_normal(60) + 1j * rng.standard_normal(60)
    zm = mx.array(z.astype(np.complex64))
    zc = z.astype(np.complex64).astype(np.complex128)
    assert _rel(np.array(dZ @ zm), Zc @ zc) < 1e-5
    assert _rel(np.array(dZ.T @ zm), Zc.T @ zc) < 1e-5
    assert _rel(np.array(dZ.H @ zm), Zc.conj().T @ zc) < 1e-5
    assert _rel(np.array(dZ.rmatvec(zm)), Zc.conj().T @ zc) < 1e-5
    y = dZ @ z                                              # complex128 stays complex128
    assert y.dtype == np.complex128 and _rel(y, Zc @ z) < 1e-15


def test_bad_input_raises_before_any_kernel(mats):
    A = mats[0]
    dA = D.from_global(sp.csr_array(A))
    with pytest.raises(ValueError, match="dimension mismatch"):
        dA @ mx.ones((5,))
    with pytest.raises(ValueError, match="partition"):
        D.from_global(sp.csr_array(A), rows=[0, 10])       # does not cover 72 rows
    with pytest.raises(ValueError, match="start at 0"):
        D.RowPartition([1, 72], 0)
    with pytest.raises(ValueError, match="exchange must be"):
        D.from_global(sp.csr_array(A), exchange="carrier pigeon")
    with pytest.raises(ValueError, match="values of shape"):
        dA.with_values(mx.ones((3,)))


def test_partition_owner_skips_empty_blocks():
    p = D.RowPartition([0, 3, 3, 3, 7], 1)
    assert p.n_local == 0 and p.n == 7 and p.size == 4
    assert p.owner(np.array([0, 2, 3, 6])).tolist() == [0, 0, 3, 3]


def test_vdots_is_many_vdots(mats):
    dA = D.from_global(sp.csr_array(mats[0]))
    rng = np.random.default_rng(6)
    V, y = rng.standard_normal((5, 72)), rng.standard_normal(72)
    got = dA.vdots(mx.array(V, dtype=mx.float64), mx.array(y, dtype=mx.float64))
    assert got.shape == (5,) and _rel(np.array(got), V @ y) < 1e-14
    assert _rel(dA.vdots(V, y), V @ y) < 1e-15 and dA.distributed
    assert not dA.reduces_across_ranks


def test_vdot_accumulates_float32_accurately():
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, 1 << 20).astype(np.float32)
    dA = D.from_global(sp.csr_array(ss.eye(1 << 20, dtype=np.float32, format="csr")))
    exact = np.dot(x.astype(np.float64), x.astype(np.float64))
    got = dA.vdot(mx.array(x), mx.array(x))
    assert got.dtype == mx.float32 and _rel(np.array(got), exact) < 1e-6
    s = D.like_rows(dA, mx.array(x)).sum()
    assert _rel(np.array(s), x.astype(np.float64).sum()) < 1e-6


def test_gradients_against_finite_differences(mats):
    A = mats[1].copy()
    A.sort_indices()
    dA = D.from_global(sp.csr_array(A))
    rng = np.random.default_rng(5)
    x0, w = rng.standard_normal(60), rng.uniform(0.5, 1.5, 60)
    wm = mx.array(w, dtype=mx.float64)

    def loss(d, x):
        y = dA.with_values(d) @ x
        return dA.vdot(wm, y * y)
    d0 = dA.data
    gd, gx = mx.grad(loss, argnums=(0, 1))(d0, mx.array(x0, dtype=mx.float64))
    h = 1e-6
    for k in (0, 17, 59):
        e = np.zeros(60)
        e[k] = h
        fd = (float(loss(d0, mx.array(x0 + e, dtype=mx.float64)))
              - float(loss(d0, mx.array(x0 - e, dtype=mx.float64)))) / (2 * h)
        assert abs(fd - float(gx[k])) < 1e-6 * max(1, abs(fd))
    dn = np.array(d0)
    for k in (0, A.nnz // 2, A.nnz - 1):
        e = np.zeros(A.nnz)
        e[k] = h
        fd = (float(loss(mx.array(dn + e, dtype=mx.float64), mx.array(x0, dtype=mx.float64)))
              - float(loss(mx.array(dn - e, dtype=mx.float64), mx.array(x0, dtype=mx.float64)))) / (2 * h)
        assert abs(fd - float(gd[k])) < 1e-6 * max(1, abs(fd))


def test_compiled_product(mats):
    dA = D.from_global(sp.csr_array(mats[0]))
    f = mx.compile(lambda v: dA @ v)
    x = mx.array(np.arange(72.0), dtype=mx.float64)
    assert _rel(np.array(f(x)), mats[0] @ np.arange(72.0)) < 1e-15


def test_linalg_solvers_take_it(mats):
    A = random_spd(80)
    dA = D.from_global(sp.csr_array(A))
    assert L.aslinearoperator(dA) is dA
    b = A @ np.ones(80)
    x, info = L.cg(dA, mx.array(b, dtype=mx.float64), rtol=1e-10, maxiter=800)
    assert info == 0 and _rel(np.array(x), np.ones(80)) < 1e-8
    x, info = L.gmres(dA, b, rtol=1e-10, maxiter=800)
    assert info == 0 and isinstance(x, np.ndarray) and _rel(x, np.ones(80)) < 1e-8
    w = L.eigsh(dA, k=3, which="LA", return_eigenvectors=False)
    assert _rel(np.sort(np.asarray(w)), np.sort(ssl.eigsh(A, k=3, which="LA")[0])) < 1e-8


# ------------------------------------------------------------ several ranks
def launch(script, n, out, *args, timeout=420, launcher="ours"):
    """Run script on n ranks (ring, loopback), killing every rank at the
    timeout.  Returns {rank: {check: [passed, detail]}} and the log."""
    rank_cmd = [sys.executable, str(RANKS / script), str(out), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cwd = str(RANKS.parent.parent)
    if launcher == "ours":
        _, log = run_local(n, rank_cmd, timeout=timeout, env=env, cwd=cwd)
    else:
        proc = subprocess.Popen(mlx_launch(n) + ["--"] + rank_cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log, _ = proc.communicate()
            log = log + f"\n[timed out after {timeout} s]".encode()
        log = log.decode(errors="replace")
    got = {}
    for r in range(n):
        f = Path(out) / f"rank{r}.json"
        got[r] = json.loads(f.read_text()) if f.exists() else {}
    return got, log[-4000:]


def _verdict(got, log, prefix, n, expected):
    """The checks named prefix ran on every rank, as many as expected, and
    passed.  When fewer ran, the run stopped early: the message shows the
    check that stopped it (a rank whose check raises exits, see the rank
    scripts)."""
    failed = {f"rank {r}: {k}": v[1][-800:] for r in range(n) for k, v in got[r].items()
              if not v[0]}
    mine = {r: sorted(k for k in got[r] if k.startswith(prefix)) for r in range(n)}
    bad = {f"rank {r}: {k}": got[r][k][1][-800:] for r in range(n) for k in mine[r]
           if not got[r][k][0]}
    assert not bad, "\n".join(f"{k}: {v}" for k, v in bad.items())
    counts = [len(mine[r]) for r in range(n)]
    assert counts == [expected] * n, (
        f"{counts} checks named {prefix!r} ran, {expected} expected on each rank; failed "
        f"elsewhere: {failed}\n{log}")


def _finished(got, log, n):
    failed = {f"rank {r}: {k}": v[1][-800:] for r in range(n) for k, v in got[r].items()
              if not v[0]}
    assert all("_meta" in got[r] for r in range(n)), f"failed: {failed}\n{log}"
    assert all(set(got[r]) == set(got[0]) for r in range(n)), "ranks ran different checks"


@pytest.fixture(scope="module")
def quick2(tmp_path_factory):
    return launch("check_ops.py", 2, tmp_path_factory.mktemp("quick2"), "quick", timeout=120,
                  launcher="mlx.launch")


@pytest.fixture(scope="module")
def full2(tmp_path_factory):
    return launch("check_ops.py", 2, tmp_path_factory.mktemp("full2"))


@pytest.fixture(scope="module")
def full3(tmp_path_factory):
    return launch("check_ops.py", 3, tmp_path_factory.mktemp("full3"))


@pytest.fixture(scope="module")
def solvers2(tmp_path_factory):
    return launch("check_solvers.py", 2, tmp_path_factory.mktemp("solvers2"))


@pytest.fixture(scope="module")
def solvers3(tmp_path_factory):
    return launch("check_solvers.py", 3, tmp_path_factory.mktemp("solvers3"))


# (prefix, checks per layout case); the quick run has 2 cases, the full runs
# 6 (2 ranks) and 4 (3 ranks); then the checks made once a run
_PER_CASE = [("layout", 1), ("gather_global", 1), ("product numpy", 1), ("product mlx", 2),
             ("product matmat", 1), ("product transposed", 1), ("product vector", 1),
             ("product mx.compile", 1), ("vdot", 4), ("norm", 1), ("sum", 1),
             ("vector arithmetic", 1), ("contract cg", 2), ("contract lanczos", 1),
             ("grad values", 1), ("grad x ", 4)]


def _ops(cases, routes):
    return [(p, k * cases) for p, k in _PER_CASE] + [("exchange route", routes), ("complex", 5)]


def test_two_ranks_quick_finished(quick2):
    _finished(*quick2, 2)


@pytest.mark.parametrize("prefix,expected", _ops(2, 5))
def test_two_ranks_quick(quick2, prefix, expected):
    _verdict(*quick2, prefix, 2, expected)


@pytest.mark.slow
def test_two_ranks_every_layout_finished(full2):
    _finished(*full2, 2)


@pytest.mark.slow
@pytest.mark.parametrize("prefix,expected", _ops(6, 5))
def test_two_ranks_every_layout(full2, prefix, expected):
    """Stencil and random pattern; even, uneven and an empty rank; each of
    the three constructors; neighbour and all_gather routes."""
    _verdict(*full2, prefix, 2, expected)


@pytest.mark.slow
def test_three_ranks_finished(full3):
    _finished(*full3, 3)


@pytest.mark.slow
@pytest.mark.parametrize("prefix,expected", _ops(4, 7))
def test_three_ranks(full3, prefix, expected):
    """A middle rank (neighbour messages both ways) and an empty middle rank
    (halo owners two ranks apart: all_gather)."""
    _verdict(*full3, prefix, 3, expected)


# linalg's solvers: per pattern (2) x layout (3 on 2 ranks, 2 on 3 ranks);
# eigsh on every layout (linalg reads the array's "distributed" marker)
_SOLVERS = ["linalg.cg ", "linalg.minres", "linalg.gmres", "linalg.bicgstab",
            "one-process answer, linalg.cg", "numpy b, linalg.cg"]


@pytest.mark.slow
@pytest.mark.parametrize("prefix,expected", [(p, 6) for p in _SOLVERS] + [("linalg.eigsh", 6)])
def test_linalg_solvers_two_ranks(solvers2, prefix, expected):
    """mlx_scipy_sparse.linalg's own solvers, unchanged, on the distributed array."""
    _verdict(*solvers2, prefix, 2, expected)


@pytest.mark.slow
@pytest.mark.parametrize("prefix,expected", [(p, 4) for p in _SOLVERS] + [("linalg.eigsh", 4)])
def test_linalg_solvers_three_ranks(solvers3, prefix, expected):
    _verdict(*solvers3, prefix, 3, expected)


def test_package_launcher_runs_ranks_and_stops_the_rest_on_failure(tmp_path):
    """python -m mlx_scipy_sparse.distributed.launch: every rank joins one
    ring group; a rank that fails stops the others (which would wait in a
    collective forever) well before the timeout, and the launcher exits
    non-zero."""
    ok = tmp_path / "ok.py"
    ok.write_text("import mlx.core as mx\ng = mx.distributed.init(backend='ring', strict=True)\n"
                  "print('sum', mx.distributed.all_sum(mx.ones(1)).item(), 'size', g.size())\n")
    r = subprocess.run([sys.executable, "-m", "mlx_scipy_sparse.distributed.launch", "-n", "2",
                        "--timeout", "60", "--", sys.executable, str(ok)],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0 and r.stdout.count("sum 2.0 size 2") == 2, r.stdout + r.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("import os, sys, mlx.core as mx\n"
                   "g = mx.distributed.init(backend='ring', strict=True)\n"
                   "if g.rank() == 1: sys.exit(7)\n"
                   "mx.eval(mx.distributed.all_sum(mx.ones(1)))\n")
    import time
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "mlx_scipy_sparse.distributed.launch", "-n", "2",
                        "--timeout", "60", "--", sys.executable, str(bad)],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode != 0 and "rank 1 (exit 7)" in r.stdout, r.stdout
    assert time.monotonic() - t < 30
