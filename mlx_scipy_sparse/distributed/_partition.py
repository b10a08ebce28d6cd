"""Row partitions: which contiguous block of rows (or vector entries) each
rank holds.  Blocks may be uneven and may be empty."""
import numpy as np

from . import _comm


class RowPartition:
    """Rank s holds rows ``offsets[s]:offsets[s+1]``; every rank keeps the
    whole (small) offsets array, so owners are found without asking."""

    def __init__(self, offsets, rank):
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or offsets.shape[0] < 2 or offsets[0] != 0 \
                or np.any(np.diff(offsets) < 0):
            raise ValueError("offsets must start at 0 and never decrease, one more than ranks")
        if not 0 <= rank < offsets.shape[0] - 1:
            raise ValueError(f"rank {rank} outside a partition of {offsets.shape[0] - 1} ranks")
        self.offsets = offsets
        self.rank = rank

    @property
    def size(self):
        return self.offsets.shape[0] - 1

    @property
    def n(self):                         # global length
        return int(self.offsets[-1])

    @property
    def start(self):
        return int(self.offsets[self.rank])

    @property
    def stop(self):
        return int(self.offsets[self.rank + 1])

    @property
    def n_local(self):
        return self.stop - self.start

    def owner(self, idx):
        """Rank owning each global index (empty blocks own nothing: the
        right-sided search skips repeated offsets)."""
        return np.searchsorted(self.offsets, idx, side="right") - 1

    def __eq__(self, other):
        return isinstance(other, RowPartition) and np.array_equal(self.offsets, other.offsets)

    def __repr__(self):
        return f"RowPartition(offsets={self.offsets.tolist()}, rank={self.rank})"


def even(n, group):
    """Blocks of n // size or n // size + 1 rows, the larger ones first."""
    size = group.size()
    counts = np.full(size, n // size, dtype=np.int64)
    counts[:n % size] += 1
    return RowPartition(np.concatenate([[0], np.cumsum(counts)]), group.rank())


def from_counts(counts, group):
    """A partition from every rank's row count (a list known to all)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape != (group.size(),) or np.any(counts < 0):
        raise ValueError(f"need {group.size()} non-negative row counts, got {counts.tolist()}")
    return RowPartition(np.concatenate([[0], np.cumsum(counts)]), group.rank())


def from_local_count(n_local, group):
    """A partition from each rank's own row count (a collective call)."""
    counts = np.concatenate(_comm.allgather_host(group, np.array([n_local], dtype=np.int64)))
    return from_counts(counts, group)


def as_partition(p, n, group):
    """None (even blocks), a RowPartition, per-rank counts or offsets."""
    if p is None:
        return even(n, group)
    if isinstance(p, RowPartition):
        part = p
    else:                                # P counts or P + 1 offsets
        p = np.asarray(p, dtype=np.int64)
        if p.ndim != 1 or p.shape[0] not in (group.size(), group.size() + 1):
            raise ValueError(f"a partition over {group.size()} ranks takes {group.size()} "
                             f"row counts or {group.size() + 1} offsets, got {p.tolist()}")
        part = from_counts(p, group) if p.shape[0] == group.size() \
            else RowPartition(p, group.rank())
    if part.size != group.size() or part.n != n:
        raise ValueError(f"partition {part.offsets.tolist()} does not split {n} rows "
                         f"over {group.size()} ranks")
    return part
