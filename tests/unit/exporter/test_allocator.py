"""glibc's allocator as the exporter sets it: two arenas however many threads allocate."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from exporter import allocator

# In a fresh interpreter: set the allocator as told, let eight threads allocate through libc at
# once (each new thread asks glibc for an arena), then count the arenas malloc_info(3) reports.
PROBE = textwrap.dedent(
    """
    import ctypes, ctypes.util, os, sys, tempfile, threading
    from exporter import allocator
    print(allocator.tune(sys.argv[1]).applied)
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.fopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    barrier = threading.Barrier(8)
    def allocate():
        barrier.wait()
        blocks = [libc.malloc(256) for _ in range(1000)]
        barrier.wait()
        for block in blocks:
            libc.free(block)
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "info.xml")
        stream = libc.fopen(path.encode(), b"w")
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        print(open(path).read().count("<heap nr="))
    """
)


def arenas(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    applied, count = out.split()
    return applied, int(count)


@pytest.mark.parametrize(("mode", "applied", "most"), [("tuned", "True", allocator.ARENAS), ("default", "False", None)])
def test_eight_allocating_threads_share_two_arenas_only_when_tuned(mode: str, applied: str, most: int | None) -> None:
    told, count = arenas(mode)
    assert told == applied
    if most is None:
        assert count > allocator.ARENAS  # glibc's default: an arena per thread, up to eight per core
    else:
        assert count <= most


def test_default_leaves_the_allocator_alone_and_says_so() -> None:
    assert allocator.tune("default") == allocator.Tuning(False, "EXPORTER_ALLOCATOR=default")


def test_a_c_library_that_cannot_be_loaded_is_skipped_with_a_reason() -> None:
    tuning = allocator.tune("tuned", library="libnotthere.so.0")
    assert not tuning.applied
    assert "libnotthere.so.0" in tuning.reason
