"""Start ranks on this host over ring, without mlx.launch's busy output threads:

    python -m mlx_scipy_sparse.distributed.launch -n 4 [--timeout S] -- python script.py

Each rank's output is printed after all have stopped, headed by its rank;
the exit status is the first non-zero rank's.  For several hosts use
``mlx.launch --hosts ...`` (see the README)."""
import argparse
import sys

from ._launch import run_local


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m mlx_scipy_sparse.distributed.launch",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, required=True, help="number of ranks")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before every rank is killed")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- the rank's command")
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if a.n < 1 or not cmd:
        ap.error("give -n N and, after --, the command each rank runs")
    codes, log = run_local(a.n, cmd, timeout=a.timeout)
    print(log)
    return next((c for c in codes if c), 0)


if __name__ == "__main__":
    sys.exit(main())
