"""The second process's heap stays flat (issue 11): it holds no item once it is queued,
its big buffers (pickled chunks) go back to the kernel when freed, and it never has more
than ``BIG_IN_FLIGHT`` big items waiting for a parent slower than itself."""

from __future__ import annotations

import time

import pytest

from migwizard.core.engine import workers

T = "tests.engine.lean_targets"


def test_the_child_holds_no_item_once_queued():
    # Before: the loop variable and the queue's buffer kept up to lookahead + 1 chunks
    # (~16 MiB of tuples each) alive in the child.
    with workers.stream(f"{T}:released", {"n": 12}, workers=2, lookahead=3) as s:
        assert s.in_child
        assert [x.n for x in s] == list(range(12))


def test_the_childs_big_buffers_are_mapped_not_heap():
    with workers.stream(f"{T}:big_buffer_mapped", {}, workers=2) as s:
        (mapped,) = list(s)
    if mapped is None:
        pytest.skip("no glibc mallinfo2 here")
    assert mapped >= 8 << 20


def _made_while_parent_waits(tmp_path, size: int) -> tuple[int, int]:
    """Items the child had built when the parent, having taken one, waited 2 s; and the
    number of items the parent got in all."""
    log = tmp_path / f"made-{size}"
    with workers.stream(f"{T}:counted", {"n": 12, "size": size, "log": str(log)}, workers=2, lookahead=6,
                        big_lookahead=2) as s:
        assert s.in_child
        it = iter(s)
        first = next(it)
        time.sleep(2.0)  # the slow parent: the child runs as far ahead as it may
        made = len(log.read_text().splitlines())
        got = 1 + sum(1 for _ in it)
    assert first[0] == 0
    return made, got


def test_a_slow_parent_leaves_at_most_big_lookahead_chunks_in_the_child(tmp_path):
    # Before: the queue's six slots all held chunks (~5.6 MB each) once the parent was the
    # slower side, as at 1M payments on SQLite: 34 MB more heap in the child than at 100k.
    made, got = _made_while_parent_waits(tmp_path, 2 << 20)
    assert got == 12
    assert made <= 1 + 2 + 1  # the one taken, two in flight, one built and waiting for a slot


def test_small_items_still_use_the_whole_lookahead(tmp_path):
    made, got = _made_while_parent_waits(tmp_path, 100)
    assert got == 12
    assert made >= 1 + 6  # progress ticks are not held back by the chunks' bound
