"""Opt-in: let the C allocator keep large freed blocks for reuse.

MLX's CPU backend on Linux allocates every array with malloc and returns it on
free; glibc serves blocks over its mmap threshold (at most 32 MB) with fresh
mmaps, so each large product output pays a page fault per 4 KB page on first
touch: a 51 MB output cost 36-46 ms to create here against about 5 ms once
freed blocks are reused (README, Performance).  Changing the process's
allocator is the caller's decision, so nothing here runs unless asked.
"""
import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_host_memory(max_block=1 << 30):
    """Serve blocks up to ``max_block`` bytes from the heap and keep freed heap
    memory for reuse (glibc's ``mallopt``), so repeated large CPU products stop
    paying page faults for their outputs.  The process keeps that memory
    instead of returning it to the OS.  Returns True where applied (Linux with
    glibc), False elsewhere."""
    max_block = int(max_block)
    if not 0 < max_block < 2 ** 31:
        raise ValueError("max_block must be between 1 byte and 2 GiB")
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
