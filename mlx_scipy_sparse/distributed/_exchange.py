"""The halo exchange of one product, and its reverse (the transposed
product's, and the gradient's).

gather(plan, x) -> the ghost entries of x this rank's rows need.
scatter(plan, g) -> for ghost values g, the sum each owner receives into its
    own entries (what A.T needs, and the exact adjoint of gather).
Both are differentiable, each the other's VJP.  MLX's own all_gather VJP
only slices the cotangent (right when what follows the gather is the same on
every rank); here every rank uses its ghosts differently, so the gradient of
an entry must add the cotangents of every rank that imported it.

Routes: point-to-point between line neighbours (ring/MPI; banded and stencil
patterns), or all_gather of each rank's exported entries (any pattern, any
backend).  A send on the ring backend blocks until the peer reads (measured:
two ranks sending 32 MB to each other first deadlock), so neighbour messages
go in a fixed order on one FIFO stream: pairs (r, r + 1) with r even first,
then r odd; in a pair the lower rank sends first, the higher receives first.
"""
import mlx.core as mx

from . import _comm


def _rows(x, idx):
    return mx.take(x, idx, axis=0)


def _zeros(n, like):
    return mx.zeros((n,) + tuple(like.shape[1:]), dtype=like.dtype)


def _ordering(x):
    """How messages can be put in order here: mx.async_eval (queue each one
    now, the normal case), mx.eval (inside a VJP, where MLX refuses
    async_eval), or None while mx.compile / mx.vmap trace x, where nothing
    can be evaluated: then every rank takes the all_gather route (all ranks
    trace alike, so they agree).  Both a fresh lazy array and x are probed:
    MLX skips its check for arrays already evaluated, and under mx.compile
    accepts arrays that do not depend on the traced inputs."""
    for run in (mx.async_eval, mx.eval):
        try:
            run(mx.zeros((1,), dtype=mx.int32, stream=_comm.comm_stream()) + 1)
            run(x)
            return run
        except (ValueError, RuntimeError):
            continue
    return None


def _pairwise(plan, outgoing, incoming, run):
    """Run the neighbour messages in the deadlock-free order.  outgoing:
    {rank: array to send}; incoming: {rank: (count, like)}; returns
    {rank: received array}."""
    g, s = plan.group, _comm.comm_stream()
    got = {}
    for phase in (0, 1):
        for nb in (plan.rank - 1, plan.rank + 1):
            if min(nb, plan.rank) % 2 != phase or (nb not in outgoing and nb not in incoming):
                continue
            steps = ("send", "recv") if plan.rank < nb else ("recv", "send")
            for step in steps:
                if step == "send" and nb in outgoing:
                    op = mx.distributed.send(outgoing[nb], nb, group=g, stream=s)
                elif step == "recv" and nb in incoming:
                    n, like = incoming[nb]
                    op = got[nb] = mx.distributed.recv(
                        (n,) + tuple(like.shape[1:]), like.dtype, nb, group=g, stream=s)
                else:
                    continue
                run(op)                     # queued now: the stream keeps this order
    return got


def _gather_raw(plan, x):
    if plan.mode == "none":
        return _zeros(0, x)
    s = _comm.comm_stream()
    run = _ordering(x) if plan.mode == "neighbour" else None
    if run is not None:
        with mx.stream(s):
            out = {nb: _rows(x, plan.index(("send", nb), idx)) for nb, idx in plan.sends}
        got = _pairwise(plan, out, {nb: (n, x) for nb, n in plan.recvs}, run)
        parts = [got[nb] for nb, _ in plan.recvs]
        return parts[0] if len(parts) == 1 else (mx.concatenate(parts, axis=0) if parts
                                                 else _zeros(0, x))
    with mx.stream(s):
        exp = _rows(x, plan.index("export", plan.export))
        if exp.shape[0] < plan.width:
            exp = mx.concatenate([exp, _zeros(plan.width - exp.shape[0], x)], axis=0)
        every = mx.distributed.all_gather(exp, group=plan.group, stream=s)
        return _rows(every, plan.index("ghost_pos", plan.ghost_pos))


def _scatter_raw(plan, g, n_local):
    if plan.mode == "none":
        return _zeros(n_local, g)
    s = _comm.comm_stream()
    run = _ordering(g) if plan.mode == "neighbour" else None
    if run is not None:
        out, start = {}, 0
        with mx.stream(s):
            for nb, n in plan.recvs:             # my ghosts from nb go back to nb
                out[nb] = g[start:start + n]
                start += n
        got = _pairwise(plan, out, {nb: (len(idx), g) for nb, idx in plan.sends}, run)
        y = _zeros(n_local, g)
        for nb, idx in plan.sends:
            y = y.at[plan.index(("send", nb), idx)].add(got[nb])
        return y
    with mx.stream(s):
        buf = _zeros(plan.size * plan.width, g).at[plan.index("ghost_pos", plan.ghost_pos)].add(g)
        buf = mx.distributed.all_sum(buf, group=plan.group, stream=s)
        if len(plan.export) == 0:            # nothing of mine was imported (the
            return mx.depends(_zeros(n_local, g), buf)  # all_sum still runs: all ranks join)
        mine = buf[plan.rank * plan.width: plan.rank * plan.width + len(plan.export)]
        return _zeros(n_local, g).at[plan.index("export", plan.export)].add(mine)


def functions(plan, n_local):
    """(gather, scatter) for this plan: differentiable, each the other's
    adjoint, made once per plan."""
    @mx.custom_function
    def gather(x):
        return _gather_raw(plan, x)

    @mx.custom_function
    def scatter(g):
        return _scatter_raw(plan, g, n_local)

    @gather.vjp
    def gather_vjp(primals, cotangent, output):
        return (scatter(cotangent),)

    @scatter.vjp
    def scatter_vjp(primals, cotangent, output):
        return (gather(cotangent),)

    return gather, scatter
