"""A second `--yes` after a KV-over-SQL migration into lnd's own SQLite database (attack
review, finding 3): migwizard's own advance of lnd's switch sequencer in channel.sqlite
must not make the source look changed - no re-import, no new copy, no second tombstone.
And a copy whose sequencer is below lnd's live one is never reused for a NEW run."""

from __future__ import annotations

import json

from migwizard.core.kv import LmdbStore
from migwizard.core.kv.source import prepare_source
from migwizard.core.lnd import sequencer

from .test_lnd_target import cli, make_node


def _copies(state):
    return sorted(p.name for p in (state / "imports").iterdir())


def test_second_yes_on_channel_sqlite_is_already_complete(generated, tmp_path):
    kv = generated("edge", 60)  # legacy attempt-ID-0 remaps: the commit advances lnd's sequencer
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        node = make_node(tmp_path, f"sqlite:///{tmp_path / 'lnd.sqlite'}", root)
        before = root.bucket(sequencer.NEXT_PAYMENT_ID_KEY).sequence()
    state = tmp_path / "state"
    p = cli("--yes", "--kv", node.kv, "--sql", node.target, "--json", state=state)
    assert p.returncode == 0, p.stderr + p.stdout
    assert json.loads(p.stdout)["outcome"] == "committed"
    assert node.sequencer() > before  # our own advance changed channel.sqlite
    copies = _copies(state)
    assert len(copies) == 1
    p = cli("--yes", "--kv", node.kv, "--sql", node.target, state=state)
    assert p.returncode == 0, p.stderr + p.stdout
    assert "already complete" in (p.stdout + p.stderr).lower()
    assert "imported again" not in p.stderr and "reused" in p.stderr, p.stderr
    assert "tombstone has now been written" not in p.stdout + p.stderr
    assert _copies(state) == copies  # no .committed-… copy, no new import


def test_a_copy_behind_lnds_live_sequencer_is_not_reused_for_a_new_run(generated, tmp_path):
    kv = generated("mixed", 20)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        node = make_node(tmp_path, f"sqlite:///{tmp_path / 'lnd.sqlite'}", root)
    base = tmp_path / "imports"
    base.mkdir(mode=0o700)
    first = prepare_source(node.kv, imports_base=base)
    assert not first.reused
    again = prepare_source(node.kv, imports_base=base)
    assert again.reused and again.lmdb_dir == first.lmdb_dir
    sequencer.advance_sqlite_file(node.kv_sqlite, node.sequencer() + 1000)  # lnd moved on, no payment changed
    third = prepare_source(node.kv, imports_base=base)
    assert not third.reused and "switch sequencer moved" in third.note
    with LmdbStore.open(third.lmdb_dir, readonly=True) as s, s.read() as root:
        assert root.bucket(sequencer.NEXT_PAYMENT_ID_KEY).sequence() == node.sequencer()
