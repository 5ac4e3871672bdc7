"""Passwords in target URLs never reach error messages, logs, reports or the tombstone details."""

from __future__ import annotations

import pytest

from migwizard.core.engine.api import Engine

from tests.engine.kvbuild import (
    build_store,
    make_attempt,
    make_payment,
    seed_hash,
)


# ---------------------------------------------------------------------------
# A password given as a URL query parameter (libpq's ?password=) is redacted like
# one in the userinfo: every "redacted" target string (error messages, logs, the
# report, the tombstone details in the KV store) derives from the same redaction.
# ---------------------------------------------------------------------------


def test_password_in_url_query_is_redacted(tmp_path):
    from migwizard.core.engine import EngineError

    secret = "s3cr3t-pw-Zq9"
    h = seed_hash(3)
    kv = build_store(tmp_path / "kv", [make_payment(1, h, 1000, htlcs=[make_attempt(1, hash=h, settled=h)])])
    url = f"postgresql://someone@127.0.0.1:1/nodb?password={secret}&sslmode=disable"
    with Engine(kv, url) as eng:
        with pytest.raises(EngineError) as ei:
            eng.migrate()
    assert secret not in str(ei.value)
