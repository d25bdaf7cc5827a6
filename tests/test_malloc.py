"""npconv._malloc: freed arrays are reused across steps instead of page-faulted back in."""

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's mallopt is what npconv._malloc tunes")

# Six 3 MB arrays allocated and freed 20 times: with glibc's defaults each round page-faults
# all of them back in (~4,600 faults a round); kept at the heap top, none.
FAULTS = """
import resource, sys
import numpy as np
import npconv.layers  # sets the allocator up
def rounds(n):
    for _ in range(n):
        arrays = [np.ones(3 << 18, dtype=np.float32) for _ in range(6)]
        del arrays
rounds(3)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(20)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def _run(code, **env):
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "NPCONV_KEEP_HEAP")}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env},
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_importing_the_layers_keeps_freed_memory_for_reuse():
    assert float(_run(FAULTS)[0]) < 50


def test_npconv_keep_heap_0_leaves_glibc_defaults():
    assert float(_run(FAULTS, NPCONV_KEEP_HEAP="0")[0]) > 1000


def test_set_once_and_never_over_the_users_own_settings():
    code = ("from npconv import _malloc\n"
            "print(_malloc.keep_heap_top(), _malloc.keep_heap_top())")
    assert _run(code) == ["True", "False"]
    assert _run(code, MALLOC_TOP_PAD_="131072") == ["False", "False"]
    assert _run(code, GLIBC_TUNABLES="glibc.malloc.top_pad=0") == ["False", "False"]
