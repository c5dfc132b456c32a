"""Keep the week's freed array memory in the process for the next week, instead of handing it
back to the operating system and faulting it in afresh.

Each week allocates and frees the same few hundred temporaries (channels x shoppers, sellers x
channels). glibc's malloc serves blocks above its mmap threshold with fresh pages (``mmap``) and
returns the free top of its heap beyond the trim threshold (``brk``), so by default a run at the
default scale faulted in about 180,000 pages (700 MB) and spent about 0.5 s in the kernel: a
seventh of its weeks. Raising both thresholds once keeps that memory for reuse: about 0.5 s
less a default run, 6 s less a run of 1M shoppers (55 s to 49 s) at the same peak memory.
Up to ``TRIM_THRESHOLD_BYTES`` freed after a run stays with the process for the next one.

Only glibc (Linux) is tuned; elsewhere this does nothing. ``SIM_KEEP_FREED_MEMORY=0`` leaves
malloc as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks below this come from the heap: a week's largest temporary at a million shoppers is a
# channels x block array of a few MB; the populations' own arrays at tens of millions of shoppers
# are larger and still get their own pages. 32 MiB is glibc's largest allowed on every 64-bit build.
MMAP_THRESHOLD_BYTES = 32 << 20
# Free memory at the top of the heap is kept up to this much before it is returned: a week's
# temporaries at the default scale are about a MB each. At 1M shoppers (blocks of 2 MB
# temporaries on two threads) 256 MB raised the run's peak from 398 to 416 MB (memory held by one
# thread's heap while another's grew), 32 MB to 400-401 MB, 16 MB to 397 MB, 8 MB to 397-399 MB;
# over 40 weeks there 32 MB faulted in 120,000 pages, 16 MB 335,000, 8 MB 470,000 (untuned
# 2,000,000 a whole run). The default run faults in about 300 pages with any of them.
TRIM_THRESHOLD_BYTES = 16 << 20

_tuned: bool | None = None


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as the module says, once per process (forked workers inherit it).
    Returns whether it is tuned."""
    global _tuned
    if _tuned is None:
        libc = _glibc()
        _tuned = (
            os.environ.get("SIM_KEEP_FREED_MEMORY", "1") != "0"
            and libc is not None
            and bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
            and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
        )
    return _tuned


def release_freed_memory() -> bool:
    """Hand the free memory of every malloc arena back to the operating system now
    (``malloc_trim``), whatever the thresholds keep. Before a fork this matters twice: the pages
    leave this process, and the child does not inherit them (a page both map and this process
    later rewrites would stay in the child as a private copy). Returns whether memory was
    released (glibc only)."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc, with ``mallopt`` and ``malloc_trim`` typed; else None."""
    name = ctypes.util.find_library("c")
    if not name or "libc" not in name:
        return None
    try:
        libc = ctypes.CDLL(name)
        # musl and other C libraries lack these; gnu_get_libc_version names glibc.
        libc.gnu_get_libc_version  # noqa: B018  (an AttributeError off glibc)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc
