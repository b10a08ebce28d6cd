"""Starting ranks on this host (the tests and the scaling benchmark): the
command of MLX's launcher over ring on 127.0.0.1, with free ports."""
import random
import socket
import sys
from pathlib import Path


def local_launch(n):
    """The argument list that starts ``n`` ring ranks on 127.0.0.1; append
    ``"--"`` and the rank's command.  MLX's `mlx.launch` script where it is
    installed, else its module (MLX on PYTHONPATH only, as on the GPU
    machine's carry, has no console script)."""
    script = Path(sys.executable).parent / "mlx.launch"
    head = [str(script)] if script.exists() else [
        sys.executable, "-c",
        "import sys; from mlx._distributed_utils.launch import main; sys.exit(main())"]
    return head + ["--backend", "ring", "--hosts", "127.0.0.1", "-n", str(n),
                   "--starting-port", str(free_port_base(n))]


def free_port_base(n):
    """A base port with n free ones after it (ring takes base + rank)."""
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
