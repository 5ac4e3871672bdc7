"""Crafted ``channel.db`` files (issue 9 item 7): every attack ends in a typed
:class:`CorruptError` naming the page, after a walk that visits each page at
most once — never a loop, an exponential walk, a RecursionError or a memory blow-up.

Each file is a real fixture with a few bytes patched in a temp copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from migwizard.core.kv import BboltReader, CorruptError, walk
from migwizard.core.kv.bbolt_format import FLAG_BRANCH, FLAG_LEAF, MAX_TREE_DEPTH
from migwizard.core.kv.importer import import_bbolt
from tests.support.bbolt_pages import PageFile

from .conftest import SYNTHETIC, copy_fixture

pytestmark = pytest.mark.fixtures

ALICE = "lnd-regtest-alice-channel.db"
ROOT_BUCKET = b"payments-root-bucket"


def _walk_error(db: Path) -> CorruptError:
    with BboltReader(db) as r, r.read() as root:
        with pytest.raises(CorruptError) as ei:
            for _ in walk(root):
                pass
    return ei.value


def _assert_names_page(err: CorruptError, page: int, db: Path) -> None:
    assert err.page == page, str(err)
    assert f"page {page}" in str(err) and str(db) in str(err)


@pytest.fixture
def synthetic(tmp_path) -> PageFile:
    return PageFile(copy_fixture(SYNTHETIC, tmp_path))


def test_clean_walk_claims_each_page_once(synthetic):
    """The ownership map of a clean walk: disjoint trees, nothing refused."""
    pf = synthetic
    assert pf.owner[pf.root] == ()
    assert len(pf.owner) <= pf.hwm - 2
    # overflow pages belong to the tree of the page that starts the range
    pg = next(p for p in sorted(pf.owner) if pf.header(p)[3])
    assert all(pf.owner[p] == pf.owner[pg] for p in range(pg, pg + pf.header(pg)[3] + 1))


def test_sub_bucket_root_pointing_at_its_own_page(tmp_path):
    """alice's ``invoices`` bucket rooted at the leaf page that holds its own entry."""
    pf = PageFile(copy_fixture(ALICE, tmp_path))
    ref = next(r for r in pf.sub_buckets() if r.key == b"invoices")
    pf.set_u64(ref.root_offset, ref.page)
    pf.save()
    err = _walk_error(pf.path)
    _assert_names_page(err, ref.page, pf.path)
    assert "also belongs to bucket" in str(err)


def test_sub_bucket_root_pointing_at_an_ancestor_root(synthetic):
    """A payment bucket whose root is the root page of ``payments-root-bucket`` itself."""
    pf = synthetic
    top = next(r for r in pf.sub_buckets() if r.key == ROOT_BUCKET)
    child = next(r for r in pf.sub_buckets() if pf.owner.get(r.page, ())[:1] == (ROOT_BUCKET,))
    pf.set_u64(child.root_offset, top.root)
    pf.save()
    _assert_names_page(_walk_error(pf.path), top.root, pf.path)


def test_two_sub_buckets_sharing_a_root(synthetic):
    pf = synthetic
    refs = [r for r in pf.sub_buckets() if pf.owner.get(r.page, ())[:1] == (ROOT_BUCKET,)]
    a, b = refs[0], refs[1]
    pf.set_u64(b.root_offset, a.root)
    pf.save()
    _assert_names_page(_walk_error(pf.path), a.root, pf.path)


def test_branch_pages_forming_a_dag(synthetic):
    """Five branch pages, each with two elements pointing at the next: 2^5 paths to one leaf."""
    pf = synthetic
    top = next(r for r in pf.sub_buckets() if r.key == ROOT_BUCKET)
    assert pf.header(top.root)[1] == FLAG_BRANCH
    kids = pf.branch_children(top.root)
    chain = [top.root, *kids[1:5]]
    leaf = kids[0]
    assert pf.header(leaf)[1] == FLAG_LEAF
    for pg, nxt in zip(chain, chain[1:] + [leaf]):
        pf.write_branch(pg, [(b"\x00", nxt), (b"\xff", nxt)])
    pf.save()
    err = _walk_error(pf.path)
    # depth first: the leaf is reached once, then refused on the second path into it
    _assert_names_page(err, leaf, pf.path)
    assert f"branch element 1 of page {chain[-1]} points at page {leaf}, already reached" in str(err)


def test_branch_page_cycle_on_lookup(synthetic):
    """A branch page pointing at itself: lookups stop at the depth bound, with the page named."""
    pf = synthetic
    top = next(r for r in pf.sub_buckets() if r.key == ROOT_BUCKET)
    pf.write_branch(top.root, [(b"\x00", top.root)])
    pf.save()
    with BboltReader(pf.path) as r, r.read() as root:
        b = root.bucket(ROOT_BUCKET)
        with pytest.raises(CorruptError, match="deeper than") as ei:
            b.get(b"\x01")
        with pytest.raises(CorruptError, match="already reached") as ei2:
            list(b.entries())
    assert ei2.value.page == top.root


def test_deep_chain_of_branch_pages(synthetic):
    """MAX_TREE_DEPTH + 16 distinct branch pages in a chain: a depth error, not recursion."""
    pf = synthetic
    top = next(r for r in pf.sub_buckets() if r.key == ROOT_BUCKET)
    pages = [p for p in pf.pages_owned_under(ROOT_BUCKET) if p != top.root]
    n = MAX_TREE_DEPTH + 16
    chain = [top.root, *pages[:n]]
    assert len(chain) == n + 1
    for pg, nxt in zip(chain, chain[1:]):
        pf.write_branch(pg, [(b"\x00", nxt)])
    pf.save()
    err = _walk_error(pf.path)
    assert "deeper than" in str(err) and err.page in chain


def test_overflow_past_end_of_file(synthetic):
    pf = synthetic
    pg = next(p for p in sorted(pf.owner) if pf.header(p)[3])
    pf.set_header(pg, overflow=1_000_000)
    pf.save()
    err = _walk_error(pf.path)
    _assert_names_page(err, pg, pf.path)
    assert "overflow" in str(err)


def test_overflow_into_pages_of_another_tree(synthetic):
    """An overflow range inside the file that swallows pages of a later bucket."""
    pf = synthetic
    owned = sorted(pf.owner)
    pg = next(p for p in owned if pf.header(p)[3] and p + pf.header(p)[3] + 3 < pf.hwm)
    _pid, _f, _c, ov = pf.header(pg)
    # extend the range over the next page another bucket owns
    victim = next(p for p in owned if p > pg + ov and pf.owner[p] != pf.owner[pg])
    pf.set_header(pg, overflow=victim - pg)
    pf.save()
    err = _walk_error(pf.path)
    assert err.page in (pg, victim), str(err)


def test_element_count_beyond_the_page(tmp_path):
    pf = PageFile(copy_fixture(ALICE, tmp_path))
    ref = next(r for r in pf.sub_buckets() if r.key == b"invoices")
    pf.set_header(ref.page, count=0xFFFF)
    pf.save()
    err = _walk_error(pf.path)
    _assert_names_page(err, ref.page, pf.path)
    assert "element count 65535" in str(err)


def test_import_of_self_pointing_file_is_a_typed_refusal(tmp_path):
    """The 11 GB case: import-bbolt on a self-referencing sub-bucket ends at once, typed."""
    pf = PageFile(copy_fixture(SYNTHETIC, tmp_path))
    top = next(r for r in pf.sub_buckets() if r.key == ROOT_BUCKET)
    pf.set_u64(top.root_offset, top.page)
    pf.save()
    with pytest.raises(CorruptError) as ei:
        import_bbolt(pf.path, tmp_path / "kv", all_buckets=True)
    assert ei.value.page == top.page
    proc = subprocess.run(
        [sys.executable, "-m", "migwizard.cli", "import-bbolt", str(pf.path), "--kv", str(tmp_path / "kv2")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"page {top.page}" in proc.stderr
