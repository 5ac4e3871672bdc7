"""The state directory (attack review, finding 5): ours alone. An existing directory of
ours is tightened to 0700; one owned by someone else, or a symlink at the default
location, is refused (64) before any work; an explicit symlink is followed and checked."""

from __future__ import annotations

import os
import stat

import pytest

from .test_cli_headless import run


@pytest.fixture
def kv(generated):
    return generated("mixed", 4)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_existing_loose_state_dir_is_tightened(kv, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    p = run("--yes", "--kv", kv, "--sql", f"sqlite:///{tmp_path / 't.db'}", env={"MIGWIZ_STATE_DIR": str(state)})
    assert p.returncode == 0, p.stderr
    assert _mode(state) == 0o700 and _mode(state / "reports") == 0o700
    assert any((state / "reports").iterdir())


def test_symlink_at_the_default_location_is_refused(kv, tmp_path):
    xdg, real = tmp_path / "xdg", tmp_path / "real"
    xdg.mkdir()
    real.mkdir(mode=0o700)
    (xdg / "migwizard").symlink_to(real)
    db = tmp_path / "t.db"
    p = run("--yes", "--kv", kv, "--sql", f"sqlite:///{db}", env={"MIGWIZ_STATE_DIR": "", "XDG_STATE_HOME": str(xdg)})
    assert p.returncode == 64, p.stderr
    assert "symlink" in p.stderr and "Traceback" not in p.stderr
    assert not db.exists() and not any(real.iterdir())


def test_explicit_symlinked_state_dir_is_the_users_choice(kv, tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o750)
    link = tmp_path / "link"
    link.symlink_to(real)
    p = run("--state-dir", link, "--yes", "--kv", kv, "--sql", f"sqlite:///{tmp_path / 't.db'}",
            env={"MIGWIZ_STATE_DIR": ""})
    assert p.returncode == 0, p.stderr
    assert _mode(real) == 0o700 and (real / "migwizard.log").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory to another user")
def test_state_dir_owned_by_someone_else_is_refused(kv, tmp_path):
    other = tmp_path / "shared"
    other.mkdir()
    os.chmod(other, 0o777)
    os.chown(other, 65534, 65534)
    db = tmp_path / "t.db"
    p = run("--yes", "--kv", kv, "--sql", f"sqlite:///{db}", env={"MIGWIZ_STATE_DIR": str(other)})
    assert p.returncode == 64, p.stderr
    assert "belongs to uid 65534" in p.stderr
    assert not db.exists() and not any(other.iterdir()) and _mode(other) == 0o777
