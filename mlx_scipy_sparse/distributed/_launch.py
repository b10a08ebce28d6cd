"""Starting ranks on this host over ring (the tests, the scaling benchmark,
``python -m mlx_scipy_sparse.distributed.launch``).

The ranks are started here directly, not through ``mlx.launch``: MLX
0.32.4's launcher forwards each rank's output from a thread that selects on
the rank's stdin pipe, which is always writable, so the select never waits
and the launcher keeps about one core busy (seen with top: 100% CPU over
its threads for a whole run).  On a host where every core has a rank, that
core is taken from one rank, and every collective then waits for it.
A rank needs only what the launcher would give it: ``MLX_RANK`` and
``MLX_HOSTFILE``, a JSON file with one ["ip:port"] list per rank.
"""
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time


def free_port_base(n):
    """A base port with n free ones after it (rank r listens on base + r)."""
    for _ in range(50):
        base = random.randrange(20000, 60000 - n)
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


def run_local(n, command, *, timeout, env=None, cwd=None):
    """Run ``command`` (an argument list) as ranks 0..n-1 of a ring group on
    127.0.0.1 and wait for all of them.  When a rank fails, the others are
    stopped (their peers would wait for it forever); at ``timeout`` seconds
    every rank is killed.  Returns (exit codes, the ranks' output joined,
    each block headed by its rank)."""
    env = dict(os.environ if env is None else env)
    tmp = tempfile.mkdtemp(prefix="mss_ranks_")
    hostfile = os.path.join(tmp, "hosts.json")
    base = free_port_base(n)
    with open(hostfile, "w") as f:
        json.dump([[f"127.0.0.1:{base + r}"] for r in range(n)], f)
    procs, logs = [], []
    for r in range(n):
        log = open(os.path.join(tmp, f"rank{r}.log"), "wb")
        logs.append(log)
        procs.append(subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True,
            env=dict(env, MLX_RANK=str(r), MLX_HOSTFILE=hostfile, MLX_WORLD_SIZE=str(n))))
    deadline = time.monotonic() + timeout
    codes = [None] * n
    try:
        while None in codes:
            codes = [p.poll() for p in procs]
            if any(c not in (None, 0) for c in codes) or time.monotonic() > deadline:
                break
            time.sleep(0.05)                 # a sleeping wait: the ranks keep every core
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
        codes = [p.wait() for p in procs]
        for log in logs:
            log.close()
    out = []
    for r in range(n):
        with open(os.path.join(tmp, f"rank{r}.log"), "rb") as f:
            out.append(f"--- rank {r} (exit {codes[r]})\n" + f.read().decode(errors="replace"))
    if time.monotonic() > deadline:
        out.append(f"[timed out after {timeout} s]")
    return codes, "\n".join(out)


def mlx_launch(n):
    """The argument list of MLX's own launcher for ``n`` ring ranks on
    127.0.0.1 (append ``"--"`` and the rank's command): its `mlx.launch`
    script where installed, else its module (MLX on PYTHONPATH only, as on
    the GPU machine's carry, has no console script)."""
    import sys
    from pathlib import Path
    script = Path(sys.executable).parent / "mlx.launch"
    head = [str(script)] if script.exists() else [
        sys.executable, "-c",
        "import sys; from mlx._distributed_utils.launch import main; sys.exit(main())"]
    return head + ["--backend", "ring", "--hosts", "127.0.0.1", "-n", str(n),
                   "--starting-port", str(free_port_base(n))]
