"""glibc malloc settings for a long-running scenestream process, applied where the process starts.

Why: every model agent allocates and frees large, differently sized buffers from its own threads (decoded frames,
image tensors of varying batch sizes, onnxruntime's OCR buffers, which RapidOCR allocates without an arena, audio
regions of varying length). glibc gives each new thread an arena of its own (up to 8 per core) and, once a large
block has been freed, raises its mmap threshold so that later blocks of that size come from those arenas' heaps
instead of mmap. The heaps then fragment: freed memory stays in the process, and RSS creeps up with the number of
distinct sizes seen, that is with the video's length. Fewer arenas and a fixed mmap threshold (large blocks are
mapped and unmapped, so freeing them returns the memory) stop that creep for a small CPU cost.

The environment wins: a MALLOC_ARENA_MAX / MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ (or GLIBC_TUNABLES)
already set is left as the user set it. `SCENESTREAM_MALLOC=default` turns this off.

mallopt must run before the process has made its ninth arena (glibc fixes the arena limit then), hence at import
of the command's entry point, before any agent starts threads.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENAS = 2
MMAP_THRESHOLD = 512 * 1024  # bytes: larger blocks are mmapped, so freeing them gives the memory back
TRIM_THRESHOLD = 4 * 1024 * 1024  # bytes of free heap top kept before it is given back

_ENV = {M_ARENA_MAX: "MALLOC_ARENA_MAX", M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_",
        M_TRIM_THRESHOLD: "MALLOC_TRIM_THRESHOLD_"}
_TUNABLE = {M_ARENA_MAX: "glibc.malloc.arena_max", M_MMAP_THRESHOLD: "glibc.malloc.mmap_threshold",
            M_TRIM_THRESHOLD: "glibc.malloc.trim_threshold"}

applied: dict[str, int] = {}  # what `limit_malloc` set in this process (name -> value): for tests and `--version`


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc only: musl has mallopt but none of these parameters
        return libc
    except (OSError, AttributeError):
        return None


def limit_malloc(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD,
                 trim_threshold: int = TRIM_THRESHOLD) -> dict[str, int]:
    """Apply the settings the environment does not already give; returns those applied (empty off glibc, or
    with SCENESTREAM_MALLOC=default)."""
    if os.environ.get("SCENESTREAM_MALLOC", "").strip().lower() == "default":
        return {}
    libc = _libc()
    if libc is None:
        return {}
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    for param, value in ((M_ARENA_MAX, arenas), (M_MMAP_THRESHOLD, mmap_threshold),
                         (M_TRIM_THRESHOLD, trim_threshold)):
        if _ENV[param] in os.environ or _TUNABLE[param] in tunables:
            continue
        if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1:
            applied[_ENV[param]] = value
    return dict(applied)


def arena_count() -> int | None:
    """How many malloc arenas this process has (from malloc_info's XML), or None off glibc."""
    libc = _libc()
    if libc is None:
        return None
    buf, size = ctypes.c_char_p(), ctypes.c_size_t()
    libc.open_memstream.restype = ctypes.c_void_p
    libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    stream = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
    if not stream:
        return None
    try:
        libc.malloc_info(0, stream)
    finally:
        libc.fclose(stream)
    text = ctypes.string_at(buf, size.value).decode()
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(ctypes.cast(buf, ctypes.c_void_p))
    return text.count("<heap nr=")
