"""Issue 9 item 6: passwords are masked by the structure of the URL or conninfo,
wherever they sit, and no error's first line shows the raw URL."""

from __future__ import annotations

import pytest

from migwizard.core.sql.connect import (
    TargetConnectError,
    TargetURL,
    TargetURLError,
    open_database,
    redact_url,
    scrub_text,
)

PW = "Sekr1t-pw"


def test_password_equal_to_user_and_database_masks_only_the_password_field():
    url = f"postgresql://{PW}:{PW}@db.example:5432/{PW}"
    shown = redact_url(url)
    # the user and database may show; the password field never does
    assert shown == f"postgresql://{PW}:***@db.example:5432/{PW}"
    assert str(TargetURL.parse(url)) == shown


def test_password_inside_options_is_masked():
    url = "postgresql://u@h/db?options=-c%20password%3DoptSecret%20-c%20search_path%3Dlnd"
    shown = redact_url(url)
    assert "optSecret" not in shown
    assert "search_path%3Dlnd" in shown and "password%3D***" in shown
    assert TargetURL.parse(url).connect_kwargs()["options"] == "-c password=optSecret -c search_path=lnd"


@pytest.mark.parametrize("key", ["password", "PASSWORD", "sslpassword", "passfile_password"])
def test_query_password_parameters_are_masked(key):
    url = f"postgresql://u@h/db?sslmode=require&{key}=qSecret"
    shown = redact_url(url)
    assert "qSecret" not in shown and f"{key}=***" in shown and "sslmode=require" in shown


@pytest.mark.parametrize(
    "url, leaked",
    [
        ("postgresql://u:se/cret99@h/db", "cret99"),  # '/' in an unencoded password
        ("postgresql://u:12345/x9z@h/db", "x9z"),  # would parse as port 12345, database "x9z@h/db"
        ("postgresql://u:pa#ss77@h/db", "ss77"),
        ("postgresql://u:pa?ss77@h/db", "ss77"),
    ],
)
def test_unencoded_password_characters_refused_without_echo(url, leaked):
    with pytest.raises(TargetURLError) as ei:
        TargetURL.parse(url)
    assert leaked not in str(ei.value) and "percent-encode" in str(ei.value)
    assert leaked not in redact_url(url)


def test_conninfo_string_is_not_echoed():
    conninfo = f"host=h dbname=lnd password='a {PW}' user=u"
    with pytest.raises(TargetURLError) as ei:
        TargetURL.parse(conninfo)
    assert PW not in str(ei.value)
    assert PW not in redact_url(conninfo) and "password=***" in redact_url(conninfo)


@pytest.mark.parametrize(
    "text",
    [
        f"missing \"=\" after \"x\" in connection info string \"host=h password={PW} dbname=d\"",
        f"conninfo host=h password='{PW} with space' port=1",
        f"conninfo host=h password=esc\\'{PW} port=1",
        f"could not connect: postgresql://u:{PW}@h:1/db: refused",
        f"options -c password={PW}",
    ],
)
def test_driver_text_scrubbed_by_structure_without_knowing_the_secret(text):
    assert PW not in scrub_text(text)


def test_known_secret_scrubbed_in_encoded_forms():
    pw = "p w/@'x"
    url = TargetURL(dialect="postgres", host="h", user="u", password=pw, database="d")
    for form in (pw, "p%20w%2F%40%27x", "p+w%2F%40%27x", "p w/@\\'x"):
        assert "***" in url.scrub(f"echo {form} end") and form not in url.scrub(f"echo {form} end")


def test_connection_error_first_line_shows_no_secret():
    url = f"postgresql://{PW}:{PW}@127.0.0.1:1/db?connect_timeout=1&options=-c%20password%3D{PW}"
    with pytest.raises(TargetConnectError) as ei:
        open_database(url)
    first = str(ei.value).splitlines()[0]
    assert first.startswith("cannot open postgresql://")
    assert PW not in str(ei.value) and url not in str(ei.value)


def test_wizard_display_helper_delegates():
    from migwizard.tui.app import redact_url as tui_redact

    url = f"postgresql://u:{PW}@h/db?options=-c%20password%3D{PW}"
    assert tui_redact(url) == redact_url(url) and PW not in tui_redact(url)


def test_report_uses_the_same_display_helper():
    from migwizard.core.report import _redact

    for url in (f"postgresql://u:{PW}@h/db?options=-c%20password%3D{PW}", f"postgresql://u:se/{PW}@h/db"):
        assert _redact(url) == redact_url(url) and PW not in _redact(url)


@pytest.mark.parametrize(
    "command, url",
    [("--yes", f"host=h password={PW} dbname=d"), ("migrate", f"postgresql://u:se/{PW}@h/db"),
     ("preflight", f"postgresql://u:se/{PW}@h/db")],
)
def test_bad_sql_url_is_a_usage_error_without_the_password(tmp_path, command, url):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from migwizard.core.generate import generate_store

    kv = tmp_path / "kv"
    generate_store(kv, payments=2, seed=1, profile="mixed")
    p = subprocess.run(
        [sys.executable, "-m", "migwizard.cli", command, "--kv", str(kv), "--sql", url],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
             "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    assert p.returncode == 64, p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    assert PW not in p.stdout + p.stderr
