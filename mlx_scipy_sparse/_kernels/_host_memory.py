"""Host memory for large CPU outputs.

MLX's CPU backend keeps freed buffers in its own cache only up to its cache
limit (32 MB by default on CPU-only builds; its Metal and CUDA allocators keep
far more) and hands larger ones back to malloc, and glibc serves blocks over
its mmap threshold (at most 32 MB) with fresh mmaps in 4 KB pages, which it
does not advise for huge pages as numpy does: each large output pays a page
fault per 4 KB page on first touch (a fresh 64 MB MLX buffer 66-73 ms on the
2-core box, numpy's 20-22 ms; NOTES, session 9).

* `keep_freed_buffers` (run at import): on a CPU-only MLX build whose cache
  limit is still MLX's default, raise it (to 1 GiB or 1/16 of the memory,
  the smaller), so a loop's outputs reuse the last call's buffers as they do
  on MLX's GPU backends.  Only MLX's own setting, only when nobody changed
  it; `mx.set_cache_limit` after the import sets the limit (the emptying
  below goes on until `reuse_host_memory` hands the cache over).  MLX's CPU
  cache keeps what it first took and frees the rest once full (its GPU
  allocators drop their oldest buffers instead), so after a run of other
  shapes it would hold stale sizes and reuse nothing: `make_room` empties it
  when it passes 3/4 of that limit, and the ops call it on entry.
* `reuse_host_memory` (opt-in): also has glibc serve large blocks from the
  heap and keep freed heap memory (a process-wide malloc setting, so the
  caller's decision; it speeds up numpy's large allocations too).
"""
import ctypes
import ctypes.util
import os
import sys

import mlx.core as mx

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MLX_CPU_DEFAULT_CACHE = 32 << 20


def _cpu_only_build():
    cuda = getattr(mx, "cuda", None)
    return not mx.metal.is_available() and not (cuda is not None and cuda.is_available())


_kept_limit = None        # the limit keep_freed_buffers set, while it is ours


def make_room():
    """Empty MLX's CPU buffer cache once it is 3/4 full (0.16 us a call when not)."""
    if _kept_limit is not None and mx.get_cache_memory() > _kept_limit - (_kept_limit >> 2):
        mx.clear_cache()


def keep_freed_buffers():
    """Raise MLX's CPU buffer cache limit where it is MLX's CPU default;
    returns the limit now in force (None where nothing was changed)."""
    if not _cpu_only_build():
        return None
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 16 << 30
    limit = min(1 << 30, total // 16)
    previous = mx.set_cache_limit(limit)
    if previous != _MLX_CPU_DEFAULT_CACHE or previous > limit:
        mx.set_cache_limit(previous)      # someone chose it: theirs stands
        return None
    global _kept_limit
    _kept_limit = limit
    return limit


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
    global _kept_limit
    _kept_limit = None                  # the caller's setting from here on
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
