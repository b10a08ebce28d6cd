"""Thin helpers over mx.distributed: the group, a stream for communication,
and collectives on host (numpy) data used while planning.

Planning collectives run once per pattern; the per-product exchange lives in
_exchange.py.
"""
import os
import threading

import numpy as np
import mlx.core as mx

from . import _dtypes as _dt

_local = threading.local()


def world(group=None):
    """The group to use: the one given, or MLX's global group (a group of
    size one when no launcher started this process)."""
    return group if group is not None else mx.distributed.init()


def comm_stream():
    """A CPU stream of this thread's own for communication, so an exchange in
    flight does not hold up the local product on the default CPU stream
    (an MLX stream is a FIFO served by its own thread; since MLX 0.31.2 a
    stream belongs to the thread that made it, hence one per thread).
    Every collective of this package runs on it: a backend's connections
    must not be used by two streams at once, so a caller's own collectives
    should pass ``stream=comm_stream()`` too (or evaluate our results
    first)."""
    s = getattr(_local, "stream", None)
    if s is None:                        # NCCL runs on the GPU's streams
        s = _local.stream = mx.new_stream(mx.gpu if _nccl() else mx.cpu)
    return s


def _nccl():
    return "NCCL_HOST_IP" in os.environ


def has_send_recv():
    """Whether the running backend has point-to-point send/recv.  NCCL has
    none; ring (between ring neighbours) and MPI do.  MLX's Group does not
    name its backend, so this reads what the launcher set: mlx.launch's NCCL
    mode exports NCCL_HOST_IP, and MLX_DISTRIBUTED_EXCHANGE=all_gather turns
    point-to-point off by hand."""
    if os.environ.get("MLX_DISTRIBUTED_EXCHANGE", "") == "all_gather":
        return False
    return not _nccl()


def allgather_host(group, a):
    """all_gather of a 1-D numpy array whose length differs by rank: a list
    with every rank's array (padded to the longest, then cut back)."""
    a = np.ascontiguousarray(a)
    size = group.size()
    if size == 1:
        return [a]
    counts = np.array(mx.distributed.all_gather(
        mx.array([a.shape[0]], dtype=mx.int64), group=group, stream=comm_stream()))
    width = max(int(counts.max()), 1)           # never a zero-sized collective
    padded = np.zeros(width, dtype=a.dtype)
    padded[:a.shape[0]] = a
    out = np.array(mx.distributed.all_gather(_dt.array(padded), group=group,
                                             stream=comm_stream()))
    out = out.reshape(size, width)
    return [out[s, :int(counts[s])] for s in range(size)]


def broadcast_host(group, a, root, shape, dtype):
    """Broadcast numpy data of known shape and dtype from ``root``: an
    all_sum of its bytes (as uint32 words) against zeros from everyone else,
    exact for every dtype, on every backend (NCCL has no send/recv, ring's
    reach only neighbours)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    words = np.zeros((nbytes + 3) // 4 or 1, dtype=np.uint32)
    if group.rank() == root:
        words.view(np.uint8)[:nbytes] = np.ascontiguousarray(a, dtype=dtype).view(np.uint8).ravel()
    if group.size() > 1:
        words = np.array(mx.distributed.all_sum(mx.array(words), group=group,
                                                stream=comm_stream()))
    return words.view(np.uint8)[:nbytes].view(dtype).reshape(shape).copy()


def sum_host(group, a):
    """all_sum of small numpy data (counts, flags)."""
    if group.size() == 1:
        return np.asarray(a)
    return np.array(mx.distributed.all_sum(_dt.array(a), group=group,
                                           stream=comm_stream()))
