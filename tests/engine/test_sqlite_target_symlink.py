"""A symlinked SQLite target (attack review, finding 2): refused with a usage error (64),
never followed - a dangling link must not make SQLite create the database at the
link's target (which a rollback would later remove through the link)."""

from __future__ import annotations

import os
import stat

import pytest

from migwizard.core.sql.connect import open_database
from migwizard.core.sql.sqlitefile import TargetSymlinkError

from .test_cli_headless import run


@pytest.fixture
def kv(generated):
    return generated("mixed", 6)


def test_dangling_symlink_target_is_refused_and_nothing_created(kv, tmp_path):
    link, victim = tmp_path / "dangling.sqlite", tmp_path / "newvictim.db"
    link.symlink_to(victim)
    p = run("--yes", "--kv", kv, "--sql", f"sqlite:///{link}")
    assert p.returncode == 64, p.stderr
    assert "symlink" in p.stderr and "Traceback" not in p.stderr
    assert not victim.exists() and link.is_symlink()


def test_symlink_to_an_existing_file_is_refused(kv, tmp_path):
    real = tmp_path / "real.db"
    real.write_bytes(b"")
    link = tmp_path / "link.db"
    link.symlink_to(real)
    for cmd in (("--yes",), ("preflight",), ("rollback", "--yes")):
        p = run(*cmd, "--kv", kv, "--sql", f"sqlite:///{link}")
        assert p.returncode == 64, (cmd, p.stdout, p.stderr)
    assert real.read_bytes() == b""


@pytest.mark.parametrize("suffix", ["-wal", "-journal"])
def test_symlinked_companion_file_is_refused(tmp_path, suffix):
    db = tmp_path / "t.db"
    (tmp_path / f"t.db{suffix}").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(TargetSymlinkError):
        open_database(f"sqlite:///{db}")
    assert not db.exists() and not (tmp_path / "elsewhere").exists()


def test_a_new_target_file_is_created_private(tmp_path):
    db = tmp_path / "new.db"
    os.umask(old := os.umask(0o022))
    handle = open_database(f"sqlite:///{db}")
    try:
        handle.execute_sql("CREATE TABLE t (x)")
    finally:
        handle.close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600 and not db.is_symlink()
