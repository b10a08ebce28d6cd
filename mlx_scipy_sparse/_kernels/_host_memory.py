"""Opt-in: keep large freed host blocks for reuse.

MLX's CPU backend keeps freed buffers in its own cache only up to its cache
limit (32 MB on this Linux box) and returns larger ones to malloc, and glibc
serves blocks over its mmap threshold (at most 32 MB) with fresh mmaps: each
large product output pays a page fault per 4 KB page on first touch.  A 51 MB
output cost 38 ms to create here, 5.4 ms with MLX's cache limit raised, about 5
ms with glibc keeping freed blocks (README, Performance).  Both are
process-wide settings and the caller's decision, so nothing here runs unless
asked.
"""
import ctypes
import ctypes.util
import sys

import mlx.core as mx

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_host_memory(max_block=1 << 30):
    """Let MLX's buffer cache hold at least ``max_block`` bytes
    (``mx.set_cache_limit``, never lowered), and on Linux serve blocks up to
    ``max_block`` from the heap and keep freed heap memory (glibc's
    ``mallopt``), so repeated large CPU products stop paying page faults for
    their outputs.  The process keeps that memory instead of returning it to
    the OS.  Returns True where the allocator setting applied (Linux with
    glibc), False elsewhere (the cache limit is raised either way)."""
    max_block = int(max_block)
    if not 0 < max_block < 2 ** 31:
        raise ValueError("max_block must be between 1 byte and 2 GiB")
    previous = mx.set_cache_limit(max_block)
    if previous > max_block:
        mx.set_cache_limit(previous)
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):      # musl and others: no mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, max_block)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1))
