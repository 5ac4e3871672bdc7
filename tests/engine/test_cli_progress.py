"""The CLI's progress lines: at most one per interval, on stderr, never on stdout."""

from __future__ import annotations

from migwizard import cli


def test_throttled_progress_writes_at_most_once_per_interval(monkeypatch, capsys):
    clock = iter([100.0, 100.5, 101.9, 102.0, 102.1, 104.5])
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(clock))
    progress = cli._throttled(cli._import_line)  # created at t=100
    for n in (10, 20, 30, 40, 50):  # t = 100.5, 101.9, 102.0, 102.1, 104.5
        progress(n)
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "import: 30 entries copied\nimport: 50 entries copied\n"
