"""Keep freed memory for the next training step (glibc only).

Every step allocates and frees the same multi-MB arrays (patch matrices, activations,
gradients). glibc's ``malloc`` hands free memory at the top of its heap back to the kernel
once more than ~128 KB is free there, so the next step takes a page fault for every 4 KB
page it touches again: measured here, 280-490 faults and 0.4-0.7 ms of kernel time per
training step of the seeds' CNNs, 6-18 % of the step.

:func:`keep_heap_top` sets glibc's ``M_TOP_PAD`` and ``M_MMAP_THRESHOLD`` to :data:`TOP_PAD`
bytes: arrays under 32 MiB come from the heap, and up to 32 MiB of free memory stays mapped at
its top, reused without faults. (Setting ``M_TOP_PAD`` alone would freeze glibc's adaptive mmap
threshold at 128 KiB, and then every multi-MB array would be mapped afresh.) Only pages that
were already in use are kept, so the peak memory does not grow; arrays of 32 MiB and more
(datasets) are still returned to the kernel when freed. A user who sets glibc's own variables
(``MALLOC_TOP_PAD_``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or
``GLIBC_TUNABLES``) decides instead, and ``NPCONV_KEEP_HEAP=0`` keeps glibc's defaults; on
other C libraries nothing happens.
"""

from __future__ import annotations

import os
import sys

#: Bytes of free memory glibc keeps at the top of its heap, and the size from which arrays are
#: mapped on their own (glibc's own upper bound for its adaptive threshold). The seeds' CNNs'
#: per-step temporaries are a few MB; this removed every page fault of their steps.
TOP_PAD = 32 << 20
_M_TOP_PAD, _M_MMAP_THRESHOLD = -2, -3  # glibc's malloc.h
_USER_SETTINGS = ("MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                  "GLIBC_TUNABLES")
_done = False


def keep_heap_top() -> bool:
    """Set glibc's ``M_MMAP_THRESHOLD`` and ``M_TOP_PAD`` once per process; True if they
    were set here."""
    global _done
    if _done:
        return False
    _done = True
    if (not sys.platform.startswith("linux") or os.environ.get("NPCONV_KEEP_HEAP") == "0"
            or any(k in os.environ for k in _USER_SETTINGS)):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, TOP_PAD)) and bool(mallopt(_M_TOP_PAD, TOP_PAD))
