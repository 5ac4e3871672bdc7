"""Deterministic mutants for the fuzz harness.

Same seed, same mutant: a failure found by ``make stress`` is reproduced by
its seed alone (``mutate_bbolt(data, info, seed)`` / ``mutate_value(value, seed)``).

bbolt mutants are page-level and aimed at pages a clean walk reaches (the seed
corpus is the real files in ../shared/fixtures): header fields, element
fields, sub-bucket roots, child pointers, byte flips and whole-page copies —
the shapes of the attacks in issue 9 (self-pointing roots, DAGs, overflow
past EOF) and their random neighbours.
"""

from __future__ import annotations

import functools
import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from migwizard.core.kv.bbolt_format import (
    BRANCH_ELEM,
    BUCKET_HDR,
    FLAG_BRANCH,
    FLAG_LEAF,
    LEAF_BUCKET,
    LEAF_ELEM,
    PAGE_HEADER,
)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
BBOLT_SEEDS = (
    "lnd-regtest-alice-channel.db",
    "lnd-regtest-carol-channel.db",
    "lnd-regtest-dave-channel.db",
    "lndinit-tombstoned-dave-channel.db",
    "synthetic-bbolt-4k-freelist-overflow.db",
    "lndinit-testdata-channel-v35.db",
)

U64_EDGES = (0, 1, 2, 3, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 1 << 40)
U32_EDGES = (0, 1, 15, 16, 17, 4080, 4096, 16384, 0x7FFFFFFF, 0xFFFFFFFF)
U16_EDGES = (0, 1, 2, 255, 256, 0x7FFF, 0xFFFF)


@dataclass(frozen=True)
class CorpusFile:
    """A seed file with the facts mutants aim at."""

    name: str
    data: bytes
    page_size: int
    hwm: int
    pages: tuple[int, ...]  # reachable pages (clean walk)


@functools.lru_cache(maxsize=None)
def corpus(name: str) -> CorpusFile:
    from tests.support.bbolt_pages import PageFile

    pf = PageFile(FIXTURES / name)
    return CorpusFile(name, bytes(pf.data), pf.page_size, pf.hwm, tuple(sorted(pf.owner)))


def available_seeds() -> list[str]:
    return [n for n in BBOLT_SEEDS if (FIXTURES / n).exists()]


def _page_ref(rng: random.Random, cf: CorpusFile, pg: int) -> int:
    """A page id worth pointing at: itself, a neighbour, another reachable page, an edge."""
    return rng.choice(
        [pg, pg - 1, pg + 1, rng.choice(cf.pages), rng.choice(cf.pages), cf.hwm - 1, cf.hwm, rng.choice(U64_EDGES)]
    ) & 0xFFFFFFFFFFFFFFFF


def _one(rng: random.Random, cf: CorpusFile, buf: bytearray) -> str:
    ps = cf.page_size
    pg = rng.choice(cf.pages)
    off = pg * ps
    _pid, flags, count, _ov = PAGE_HEADER.unpack_from(buf, off)
    kind = rng.choice(
        ["flags", "count", "overflow", "id", "elem", "elem", "child", "child", "subroot", "subroot", "flip", "copy"]
    )
    if kind == "flags":
        v = rng.choice([FLAG_BRANCH, FLAG_LEAF, 0x04, 0x10, 0, rng.randrange(1 << 16)])
        buf[off + 8 : off + 10] = v.to_bytes(2, "little")
    elif kind == "count":
        v = rng.choice([*U16_EDGES, count + 1, max(count - 1, 0), count * 2])
        buf[off + 10 : off + 12] = (v & 0xFFFF).to_bytes(2, "little")
    elif kind == "overflow":
        v = rng.choice([*U32_EDGES, cf.hwm - pg, cf.hwm - pg - 1, rng.randrange(1, 64)])
        buf[off + 12 : off + 16] = (v & 0xFFFFFFFF).to_bytes(4, "little")
    elif kind == "id":
        buf[off : off + 8] = _page_ref(rng, cf, pg).to_bytes(8, "little")
    elif kind in ("elem", "child", "subroot") and count and flags in (FLAG_BRANCH, FLAG_LEAF):
        i = rng.randrange(min(count, (ps - 16) // 16))
        e = off + 16 + 16 * i
        if flags == FLAG_BRANCH and kind in ("child", "subroot"):
            BRANCH_ELEM.pack_into(buf, e, *BRANCH_ELEM.unpack_from(buf, e)[:2], _page_ref(rng, cf, pg))
        elif flags == FLAG_LEAF and kind == "subroot":
            eflags, pos, ksize, vsize = LEAF_ELEM.unpack_from(buf, e)
            vs = e + pos + ksize
            if eflags & LEAF_BUCKET and vs + 16 <= len(buf):
                _root, seq = BUCKET_HDR.unpack_from(buf, vs)
                BUCKET_HDR.pack_into(buf, vs, _page_ref(rng, cf, pg), seq)
            else:
                buf[e : e + 4] = (eflags ^ LEAF_BUCKET).to_bytes(4, "little")
        else:
            field = rng.randrange(4)
            edges = U32_EDGES if field < 2 or flags == FLAG_LEAF else U64_EDGES
            v = rng.choice([*edges, rng.randrange(1 << 32)])
            at = e + 4 * field
            if flags == FLAG_BRANCH and field >= 2:
                BRANCH_ELEM.pack_into(buf, e, *BRANCH_ELEM.unpack_from(buf, e)[:2], v & ((1 << 64) - 1))
            else:
                buf[at : at + 4] = (v & 0xFFFFFFFF).to_bytes(4, "little")
    elif kind == "copy":
        other = rng.choice(cf.pages)
        keep_id = rng.random() < 0.5
        buf[off : off + ps] = buf[other * ps : other * ps + ps]
        if keep_id:
            buf[off : off + 8] = pg.to_bytes(8, "little")
    else:
        kind = "flip"
        for _ in range(rng.randint(1, 8)):
            at = off + rng.randrange(min(ps, 512) if rng.random() < 0.7 else ps)
            buf[at] ^= 1 << rng.randrange(8)
    return f"{kind}@{pg}"


def mutate_bbolt(cf: CorpusFile, seed: int) -> tuple[bytes, str]:
    """(mutant bytes, description) for ``seed``; 1-3 mutations of reachable pages."""
    rng = random.Random(seed)
    buf = bytearray(cf.data)
    steps = [_one(rng, cf, buf) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    return bytes(buf), "+".join(steps)


def mutate_value(value: bytes, seed: int) -> tuple[bytes, str]:
    """A damaged copy of one stored value: bit flips, truncation, extension, emptiness."""
    rng = random.Random(seed)
    kind = rng.choice(["flip", "flip", "flip", "truncate", "truncate", "extend", "empty", "bytes"])
    b = bytearray(value)
    if kind == "flip" and b:
        for _ in range(rng.choice((1, 1, 2, 4))):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate" and b:
        b = b[: rng.randrange(len(b))]
    elif kind == "extend":
        b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    elif kind == "bytes" and b:
        i = rng.randrange(len(b))
        b[i] = rng.choice((0x00, 0xFF, 0x80, 0x7F, 0xFD, 0xFE))
    else:
        kind = "empty"
        b = bytearray()
    return bytes(b), kind


class TimeBudgetExceeded(Exception):
    """A mutant ran past its time budget: an unbounded walk, not a slow machine."""


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise :class:`TimeBudgetExceeded` in this thread after ``seconds`` (a hang guard)."""

    def fire(_sig, _frame):
        raise TimeBudgetExceeded(f"exceeded {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def max_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
