"""The distributed dense vector (or matrix of a few columns): each rank holds
the slice of rows its partition gives it, as an mx.array (or numpy array)."""
import numpy as np
import mlx.core as mx

from . import _comm, _dtypes, _reduce


class DistributedVector:
    """``local``: this rank's rows ``rows.start:rows.stop`` of a vector of
    ``shape[0]`` entries.  Arithmetic is elementwise on the local slices;
    ``vdot``, ``norm``, ``sum`` reduce over every rank."""

    def __init__(self, local, rows, group):
        if local.shape[0] != rows.n_local:
            raise ValueError(f"this rank holds {rows.n_local} rows, got {local.shape[0]}")
        self.local, self.rows, self.group = local, rows, group

    @property
    def shape(self):
        return (self.rows.n,) + tuple(self.local.shape[1:])

    @property
    def local_shape(self):
        return tuple(self.local.shape)

    @property
    def dtype(self):
        return self.local.dtype

    def _other(self, other):
        if isinstance(other, DistributedVector):
            if other.rows != self.rows:
                raise ValueError("vectors partitioned differently")
            return other.local
        return other

    def _new(self, local):
        return DistributedVector(local, self.rows, self.group)

    def __add__(self, o):
        return self._new(self.local + self._other(o))

    def __radd__(self, o):
        return self._new(self._other(o) + self.local)

    def __sub__(self, o):
        return self._new(self.local - self._other(o))

    def __rsub__(self, o):
        return self._new(self._other(o) - self.local)

    def __mul__(self, o):
        return self._new(self.local * self._other(o))

    def __rmul__(self, o):
        return self._new(self._other(o) * self.local)

    def __truediv__(self, o):
        return self._new(self.local / self._other(o))

    def __neg__(self):
        return self._new(-self.local)

    def vdot(self, other):
        """sum(conj(self) * other) over all ranks."""
        return _reduce.vdot(self.local, self._other(other), self.group)

    def dot(self, other):
        """sum(self * other) over all ranks (no conjugate, as numpy's dot)."""
        x = self.local
        x = mx.conj(x) if isinstance(x, mx.array) and mx.issubdtype(
            x.dtype, mx.complexfloating) else (np.conj(x) if not isinstance(x, mx.array) else x)
        return _reduce.vdot(x, self._other(other), self.group)

    def norm(self):
        return _reduce.norm(self.local, self.group)

    def sum(self):
        return _reduce.total(self.local, self.group)

    def gather_global(self):
        """The whole vector on every rank (an all_gather; an MLX result keeps
        MLX's all_gather gradient, right when every rank uses the whole
        vector the same way)."""
        g = self.group
        if g.size() == 1:
            return self.local
        counts = np.diff(self.rows.offsets)
        width = max(int(counts.max()), 1)
        is_np = not isinstance(self.local, mx.array)
        x = _dtypes.array(self.local) if is_np else self.local
        pad = mx.zeros((width - x.shape[0],) + tuple(x.shape[1:]), dtype=x.dtype)
        with mx.stream(_comm.comm_stream()):
            every = mx.distributed.all_gather(mx.concatenate([x, pad], axis=0), group=g,
                                              stream=_comm.comm_stream())
        keep = np.concatenate([np.arange(s * width, s * width + c) for s, c in enumerate(counts)])
        out = mx.take(every, mx.array(keep.astype(np.int32)), axis=0)
        return np.array(out).astype(self.local.dtype) if is_np else out

    def __repr__(self):
        return (f"<DistributedVector of {self.shape[0]}: rows {self.rows.start}:"
                f"{self.rows.stop} on rank {self.group.rank()} of {self.group.size()}>")
