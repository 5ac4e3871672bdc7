"""Generators the worker tests run in a child process (importable by module path)."""

from __future__ import annotations

import os
import time

from migwizard.core.codec import DecodeError


def count(args: dict):
    for i in range(args["n"]):
        yield (i, os.getpid())


def fail_typed(args: dict):
    yield 1
    raise DecodeError("bad varint", offset=17, payment=b"\x01" * 32, key="payments-root-bucket/01")


def die(args: dict):
    yield 1
    os._exit(7)


def endless(args: dict):
    i = 0
    while True:
        i += 1
        yield i
        time.sleep(0.01)


def pidfile(args: dict):
    with open(args["path"], "w") as f:
        f.write(str(os.getpid()))
    while True:
        yield 0
        time.sleep(0.05)


# A wire codec (``workers.stream(..., wire=__name__)``): even items cross as marshal blobs
# tagged "w", odd ones pickled, so a test sees which way each went.
def to_wire(item):
    import marshal

    i, pid = item
    return marshal.dumps(("w", i, pid)) if i % 2 == 0 else None


def from_wire(blob: bytes):
    import marshal

    return marshal.loads(blob)
