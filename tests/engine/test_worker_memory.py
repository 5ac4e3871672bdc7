"""The second process's heap stays flat (issue 11): it holds no item once it is queued,
and its big buffers (pickled chunks) go back to the kernel when freed."""

from __future__ import annotations

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
