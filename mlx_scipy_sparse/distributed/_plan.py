"""The exchange plan of a pattern: which entries of x each rank needs from
which rank, worked out once (one collective of the ghost column lists) and
kept by the array for every later product."""
import numpy as np
import mlx.core as mx

from . import _comm


# "auto" sends point-to-point only when all_gather would move this many
# entries or more.  Measured with MLX 0.32.4's ring on one host (float64,
# ranks started without mlx.launch, whose busy thread had inflated the first
# measurements): a 2-D Poisson halo of 707 entries a side at 8 ranks takes
# 0.54-0.66 ms by neighbour messages, 0.36-0.48 ms by all_gather (which
# sends 10x the data); an all_sum of one value 0.07 ms at 2 ranks, 0.8 ms
# at 8.  Large halos favour the neighbour route: all_gather moves size * width
# entries to every rank, neighbour messages only the halo, so the crossover
# moves down as ranks are added.
NEIGHBOUR_FROM = 1 << 17


class ExchangePlan:
    """For this rank: the ghost (halo) entries it imports, in ascending
    global order, and how they travel.

    mode "none": no rank imports anything (one rank, or block diagonal).
    mode "neighbour": every import comes from rank r - 1 or r + 1, the
      backend has send/recv, and the halo is large (NEIGHBOUR_FROM) or
      this route was asked for: ``sends`` [(rank, local indices)] and ``recvs``
      [(rank, count)], recvs in ascending rank so their concatenation is
      the ghost order.
    The all_gather route is always planned too (mx.compile cannot order
    point-to-point messages, see _exchange): every rank exports
    ``export`` (the union of what others need from it, local indices),
    padded to ``width`` rows, and picks its ghosts at ``ghost_pos`` in the
    gathered (size * width) rows.
    """

    def __init__(self, group, cols, ghosts, exchange="auto"):
        self.group = group
        self.rank, self.size = group.rank(), group.size()
        self.cols = cols                     # column RowPartition (x's layout)
        self.ghosts = ghosts                 # global indices, sorted, unique
        needed = _comm.allgather_host(group, ghosts.astype(np.int64))
        self.n_imports = sum(len(n) for n in needed)
        owners = [cols.owner(n) for n in needed]
        offsets = cols.offsets
        # all_gather route: every owner's export list, known to every rank
        exports = []
        for o in range(self.size):
            mine = [n[w == o] for n, w in zip(needed, owners)]
            exports.append(np.unique(np.concatenate(mine)) - offsets[o] if mine
                           else np.zeros(0, np.int64))
        self.export = exports[self.rank]
        self.width = max(1, max(len(e) for e in exports))
        mine_owner = owners[self.rank]
        pos = np.empty(len(ghosts), dtype=np.int64)
        for o in np.unique(mine_owner):
            sel = mine_owner == o
            pos[sel] = o * self.width + np.searchsorted(exports[o], ghosts[sel] - offsets[o])
        self.ghost_pos = pos
        # point-to-point route between line neighbours
        near = all(np.all(np.abs(w - s) == 1) for s, w in enumerate(owners))
        if exchange not in ("auto", "neighbour", "all_gather"):
            raise ValueError(f"exchange must be 'auto', 'neighbour' or 'all_gather', "
                             f"not {exchange!r}")
        if exchange == "neighbour" and not (near and _comm.has_send_recv()):
            raise ValueError("exchange='neighbour' needs a pattern that imports only from "
                             "ranks r - 1 and r + 1 and a backend with send/recv")
        if self.n_imports == 0:
            self.mode = "none"
        elif exchange == "neighbour" or (exchange == "auto" and near and _comm.has_send_recv()
                                         and self.size * self.width >= NEIGHBOUR_FROM):
            self.mode = "neighbour"
        else:
            self.mode = "all_gather"
        self.sends, self.recvs = [], []
        for nb in (self.rank - 1, self.rank + 1):
            if 0 <= nb < self.size:
                out = needed[nb][owners[nb] == self.rank] - offsets[self.rank]
                n_in = int(np.sum(mine_owner == nb))
                if len(out):
                    self.sends.append((nb, out))
                if n_in:
                    self.recvs.append((nb, n_in))
        self._mx = {}

    @property
    def n_ghost(self):
        return len(self.ghosts)

    def index(self, name, arr):
        """The MLX copy of an index array, made once."""
        got = self._mx.get(name)
        if got is None:
            got = self._mx[name] = mx.array(arr.astype(np.int32 if arr.size == 0 or arr.max(
                initial=0) < 2**31 else np.int64))
        return got

    def traffic(self):
        """Entries this rank sends and receives in one product, by mode."""
        if self.mode == "neighbour":
            return sum(len(i) for _, i in self.sends), sum(c for _, c in self.recvs)
        if self.mode == "all_gather":
            return self.width, self.width * (self.size - 1)
        return 0, 0
