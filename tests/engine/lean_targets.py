"""Generators for tests/engine/test_worker_memory.py, run in a child process (importable by module path)."""

from __future__ import annotations

import ctypes
import gc
import weakref


class Item:
    """A stand-in for a chunk: weak-referenceable, so the generator can see whether the
    child still holds the previous one."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.payload = bytes(1000)


def released(args: dict):
    """Fails (AssertionError, raised in the parent) if an item is still alive in the child
    once the next one is asked for."""
    prev = None
    for i in range(args["n"]):
        item = Item(i)
        ref = weakref.ref(item)
        yield item
        del item
        gc.collect()
        if ref() is not None:
            raise AssertionError(f"item {i} is still held in the child after it was queued")
        prev = ref
    del prev


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def big_buffer_mapped(args: dict):
    """Bytes glibc serves by mmap for a second 8 MiB buffer after a first one was freed
    (glibc's dynamic threshold would serve it from the heap); None without mallinfo2."""
    try:
        libc = ctypes.CDLL(None)
        info = libc.mallinfo2
    except (OSError, AttributeError):
        yield None
        return
    info.restype = _MallInfo2
    size = 8 << 20
    first = bytearray(size)
    del first
    before = info().hblkhd
    second = bytearray(size)
    yield info().hblkhd - before
    del second


def counted(args: dict):
    """``args["n"]`` items of ``args["size"]`` bytes, each logged to ``args["log"]`` once built
    (before it is queued): the parent sees how far ahead the child has run."""
    for i in range(args["n"]):
        item = (i, bytes(args["size"]))
        with open(args["log"], "a") as f:
            f.write(f"{i}\n")
        yield item
