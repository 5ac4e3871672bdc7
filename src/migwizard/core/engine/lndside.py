"""lnd's side of a migration: which database the target is, whose KV the source is,
who holds the node's files, and lnd's real switch sequencer.

Why one module: preflight, migrate, commit, reconcile and ``status()`` must give
the same answer to "is this lnd's database", "is lnd stopped" and "may this
source go into it" (issues 8 and 13), so each question is answered here once.

The engine runs on an LMDB working copy; the copy's ``import-source`` metadata
says what the node's KV really is (bbolt ``channel.db``, ``channel.sqlite`` or
a PostgreSQL ``channeldb_kv``). Only a KV-over-SQL source can reach lnd's real
``next-payment-id-key`` sequence: on PostgreSQL in the same database as the
target it is advanced inside the commit transaction; a ``channel.sqlite`` is a
second file, advanced right after the commit and reconciled on every start.
migwizard writes nothing else into lnd's KV.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..codec.keys import HTLC_ATTEMPT_INFO_PREFIX, PAYMENT_HTLCS_BUCKET
from ..codec.walk import PaymentEntry, walk_payment_index
from ..kv.importer import META_IMPORT_SOURCE
from ..kv.markers import NodeMarkers, describe_markers, markers_of_store
from ..lnd import identity as lnd_identity
from ..lnd import sequencer
from ..lnd.holders import companion_paths, file_holders, node_files, pg_sessions
from ..lnd.target import LndTarget, TargetCase, classify_state, classify_target
from ..sql.connect import TargetURL
from ..sql.schema import LndSchemaState
from .context import Context
from .results import Check, CheckStatus, EngineError, ExitCode

KVSQL_KINDS = ("kvsql-sqlite", "kvsql-postgres")
_ZERO_ATTEMPT_KEY = HTLC_ATTEMPT_INFO_PREFIX + b"\0" * 8


@dataclass(frozen=True)
class SourceOrigin:
    """What the LMDB working copy was made from (``lmdb``: it is the source itself)."""

    kind: str  # lmdb | bbolt | kvsql-sqlite | kvsql-postgres
    path: str | None  # file path, or the PostgreSQL URL without its password
    table: str = sequencer.DEFAULT_KV_TABLE


def source_origin(ctx: Context) -> SourceOrigin:
    if getattr(ctx, "_origin", None) is None:
        origin = SourceOrigin("lmdb", str(ctx.kv_path))
        try:
            with ctx.open_kv() as store:
                raw = store.meta_get(META_IMPORT_SOURCE)
            if raw:
                doc = json.loads(raw)
                origin = SourceOrigin(str(doc.get("kind") or "bbolt"), doc.get("path"),
                                      doc.get("table") or sequencer.DEFAULT_KV_TABLE)
        except (EngineError, ValueError):
            pass
        ctx._origin = origin
    return ctx._origin


def _pg_url(ctx: Context, origin: SourceOrigin) -> TargetURL:
    """The source's PostgreSQL URL with the user's password (``--kv`` as given), else
    without one (libpq then reads PGPASSWORD / ~/.pgpass); the recorded one is masked."""
    given = ctx.kv_source
    if given and given.startswith(("postgres://", "postgresql://")):
        return TargetURL.parse(given)
    url = TargetURL.parse(origin.path or "")
    if url.password == "***":
        from dataclasses import replace

        url = replace(url, password=None)
    return url


def _same_pg(a: TargetURL, b: TargetURL) -> bool:
    def key(u: TargetURL):
        return ((u.host or "localhost").lower(), u.port or 5432, u.database)
    return key(a) == key(b)


def target_case(ctx: Context) -> LndTarget:
    """THE rule for "is lnd's database" (preflight, commit and ``status()`` ask here)."""
    if ctx.target_absent():
        return classify_state(LndSchemaState())
    return classify_target(ctx.db())


def records_version_14(ctx: Context) -> bool:
    return target_case(ctx).case.records_version_14


def beside_target(ctx: Context) -> bool:
    """The source is lnd's own KV of this target: ``channel.sqlite`` in the directory of
    ``lnd.sqlite``, or ``channeldb_kv`` in the same PostgreSQL database."""
    o = source_origin(ctx)
    if o.kind == "kvsql-sqlite" and ctx.url.is_sqlite and o.path:
        return Path(o.path).resolve().parent == ctx.url.sqlite_path.expanduser().resolve().parent
    if o.kind == "kvsql-postgres" and ctx.url.is_postgres:
        try:
            return _same_pg(_pg_url(ctx, o), ctx.url)
        except Exception:  # noqa: BLE001 - an unreadable record is "not the same"
            return False
    return False


def sequencer_route(ctx: Context) -> str | None:
    """Where lnd's real sequencer is advanced: ``in-commit`` (same PostgreSQL database),
    ``after-commit`` (a channel.sqlite or another PostgreSQL database), None (unreachable)."""
    o = source_origin(ctx)
    if o.kind == "kvsql-postgres":
        return "in-commit" if beside_target(ctx) else "after-commit"
    if o.kind == "kvsql-sqlite":
        return "after-commit"
    return None


def where_sequencer(ctx: Context) -> str:
    o = source_origin(ctx)
    return f"{o.table} in {o.path}"


# -- holders: lnd must be stopped ------------------------------------------------
def _node_paths(ctx: Context, *, lnd_db: bool) -> tuple[list[Path], list[Path]]:
    """(files whose holder refuses, files whose holder is only worth a warning).

    lnd's live files refuse: a ``channel.sqlite`` source, and when the target is lnd's
    own database, that file and every node file beside it. A bbolt ``channel.db`` source was
    copied and verified already and is never lnd's live store next to a native
    database (lnd refuses bolt with native SQL): a reader of it only gets a warning.
    """
    o = source_origin(ctx)
    refuse: list[Path] = []
    warn: list[Path] = []
    if o.kind == "kvsql-sqlite" and o.path:
        refuse += companion_paths([o.path])
    elif o.kind == "bbolt" and o.path:
        warn += companion_paths([o.path])
    if ctx.url.is_sqlite and lnd_db:  # a standalone file is not lnd's: readers of it may stay
        target = ctx.url.sqlite_path.expanduser()
        refuse += companion_paths([target]) + node_files(target.parent)
    refuse = list(dict.fromkeys(p.resolve() for p in refuse))
    warn = [p for p in dict.fromkeys(p.resolve() for p in warn) if p not in refuse]
    return refuse, warn


def holders_problem(ctx: Context) -> tuple[str | None, bool]:
    """(what holds the node's files or database, in words; whether that refuses)."""
    lnd_db = target_case(ctx).case is not TargetCase.STANDALONE
    refuse, warn = _node_paths(ctx, lnd_db=lnd_db)
    held = file_holders(refuse)
    if held:
        return held.describe(), True
    if ctx.url.is_postgres and not ctx.target_absent():
        try:
            sessions = pg_sessions(ctx.db())
        except Exception:  # noqa: BLE001 - no pg_stat_activity rights: not a refusal
            sessions = []
        if sessions:
            text = (f"{len(sessions)} other session(s) on the database {ctx.url.database}: "
                    + "; ".join(s.describe() for s in sessions))
            return text, lnd_db or sequencer_route(ctx) == "in-commit"
    held = file_holders(warn)
    if held:
        return held.describe() + " (the verified copy is used; the original is only read)", False
    return None, False


def guard_writes(ctx: Context, *, step: str) -> None:
    """Right before writing: lnd (or anything) must not hold the node's files, and the
    target must be one migwizard may fill."""
    text, refuse = holders_problem(ctx)
    if text and refuse:
        raise EngineError(f"lnd must be stopped before the {step}: {text}", exit_code=ExitCode.PREFLIGHT_REFUSED,
                          hint="stop lnd (lncli stop) and any other client of the node's database, then run again")
    if step == "migration":
        t = target_case(ctx)
        if t.case is TargetCase.ALREADY_MIGRATED:
            from . import backfill

            if backfill.may_write(ctx):  # refuses in words when the backfill case holds without consent
                return
        if not t.case.may_migrate:
            raise EngineError(t.message, exit_code=ExitCode.PREFLIGHT_REFUSED,
                              hint="see `migwizard preflight` for the target's state")


# -- preflight ------------------------------------------------------------------
def target_check(ctx: Context, run) -> Check:
    t = target_case(ctx)
    details = {"case": t.case.value, "version": t.tracker_version, "schema": t.schema_version}
    ours = run is not None and run.state == "committed" and run.stats.get("lnd_tracker")
    if t.case is TargetCase.READY:
        return Check("sql.lnd_tracker", "lnd migration tracker", CheckStatus.PASS, t.message, details=details)
    if t.case is TargetCase.STANDALONE:
        from .checks_sql import STANDALONE_HINT

        return Check("sql.lnd_tracker", "lnd migration tracker", CheckStatus.WARN, t.message, STANDALONE_HINT,
                     details=details)
    if ours and t.case is TargetCase.ALREADY_MIGRATED:
        return Check("sql.lnd_tracker", "lnd migration tracker", CheckStatus.INFO,
                     f"migration_tracker at {t.tracker_version}: version 14 recorded by migwizard run "
                     f"{run.run_id[:8]}", details=details)
    return Check("sql.lnd_tracker", "lnd migration tracker", CheckStatus.FAIL, t.message,
                 "nothing was written; see the message for what to do", details=details)


def _live_store(ctx: Context) -> str:
    if ctx.url.is_sqlite:
        return f"the channel.sqlite beside lnd.sqlite ({ctx.url.sqlite_path.expanduser().parent / 'channel.sqlite'})"
    return f"lnd's KV tables in the PostgreSQL database {ctx.url.redacted()}"


def node_markers(ctx: Context) -> NodeMarkers:
    with ctx.open_kv() as store, store.read() as root:
        return markers_of_store(store, root)


def lndinit_date(m: NodeMarkers) -> str:
    return (m.lndinit_tombstone_at or "")[:10] or "an unknown date"


def lnd_checks(ctx: Context, run, *, allow_foreign: bool) -> list[Check]:
    """Preflight's lines for lnd's side (the target's case is :func:`target_check`)."""
    out: list[Check] = []
    text, refuse = holders_problem(ctx)
    if text:
        out.append(Check("lnd.holders", "lnd stopped", CheckStatus.FAIL if refuse else CheckStatus.WARN, text,
                         "stop lnd (lncli stop) and every other client of these files / this database"))
    else:
        out.append(Check("lnd.holders", "lnd stopped", CheckStatus.PASS,
                         "no process holds the node's database files" +
                         (" and no other session is on the target database" if ctx.url.is_postgres else "")))
    t = target_case(ctx)
    lnd_db = t.case is not TargetCase.STANDALONE
    o = source_origin(ctx)
    m = node_markers(ctx)
    words = describe_markers(m, source_kind=o.kind)
    if words:
        out.append(Check("kv.node_markers", "Node markers", CheckStatus.INFO, "; ".join(words),
                         details=m.to_json()))
    if m.lndinit_tombstone:
        date = lndinit_date(m)
        if lnd_db:
            out.append(Check(
                "lnd.stale_source", "Live copy", CheckStatus.FAIL,
                f"this source was converted by lndinit migrate-db on {date} and is stale: the node's payments "
                f"since then are in its SQL backend; migrating it into lnd's own database would drop them for good",
                f"use {_live_store(ctx)} as --kv instead", {"lndinit_date": date}))
        else:
            out.append(Check(
                "lnd.stale_source", "Live copy", CheckStatus.WARN,
                f"this source was converted by lndinit migrate-db on {date}: the copy's history ends on {date}",
                "fine for an audit; the node's later payments are in its SQL backend", {"lndinit_date": date}))
    if t.case.records_version_14:
        out += _identity_checks(ctx, allow_foreign)
        out.append(_sequencer_check(ctx, run))
    return out


def _kv_identity(ctx: Context) -> lnd_identity.KVIdentity:
    """From the node's own KV when it can be opened (the LMDB copy holds only payments)."""
    o = source_origin(ctx)
    try:
        if o.kind == "bbolt" and o.path and Path(o.path).is_file():
            from ..kv.open import open_kv

            with open_kv(o.path) as store, store.read() as root:
                return lnd_identity.kv_identity(root)
        if o.kind in KVSQL_KINDS and o.path:
            from ..kv.kvsql import KvSqlReader

            src = o.path if o.kind == "kvsql-sqlite" else _pg_url(ctx, o)._render(_pg_url(ctx, o).password)
            with KvSqlReader(src, table=o.table) as reader, reader.read() as root:
                return lnd_identity.kv_identity(root)
    except Exception:  # noqa: BLE001 - unreadable original: fall back to the copy
        pass
    with ctx.open_kv() as store, store.read() as root:
        return lnd_identity.kv_identity(root)


def identity_verdict(ctx: Context) -> lnd_identity.IdentityComparison | None:
    """None when the source is the KV beside the target (nothing to compare)."""
    if beside_target(ctx):
        return None
    return lnd_identity.compare(_kv_identity(ctx), lnd_identity.sql_identity(ctx.db()))


def _identity_checks(ctx: Context, allow_foreign: bool) -> list[Check]:
    cmp = identity_verdict(ctx)
    if cmp is None:
        return [Check("lnd.identity", "Node identity", CheckStatus.PASS,
                      "the source is lnd's own KV store of this database")]
    details = {"verdict": cmp.verdict.value, "reasons": cmp.reasons}
    if cmp.verdict is lnd_identity.Verdict.MISMATCH:
        if allow_foreign:
            return [Check("lnd.identity", "Node identity", CheckStatus.WARN,
                          "overridden (--allow-foreign-source): " + "; ".join(cmp.reasons),
                          "the override is recorded in the run and the report", details)]
        return [Check("lnd.identity", "Node identity", CheckStatus.FAIL,
                      "the source is not this node's KV store: " + "; ".join(cmp.reasons),
                      "point --kv at the node's own KV (channel.sqlite beside lnd.sqlite, or the same PostgreSQL "
                      "database); --allow-foreign-source overrides", details)]
    return [Check("lnd.identity", "Node identity", CheckStatus.INFO, cmp.describe(), details=details)]


def needs_remap(ctx: Context) -> bool:
    """Whether any HTLC attempt carries legacy ID 0 (remapped from the switch sequencer)."""
    with ctx.open_kv() as store, store.read() as root:
        for entry in walk_payment_index(root):
            if isinstance(entry, PaymentEntry):
                hb = entry.bucket.bucket(PAYMENT_HTLCS_BUCKET)
                if hb is not None and hb.get(_ZERO_ATTEMPT_KEY) is not None:
                    return True
    return False


def _sequencer_check(ctx: Context, run) -> Check:
    route = sequencer_route(ctx)
    o = source_origin(ctx)
    if route is None:
        if needs_remap(ctx):
            return Check("lnd.sequencer", "lnd's switch sequencer", CheckStatus.FAIL,
                         f"legacy attempt ID 0 must be remapped to new IDs, and lnd's sequencer (next-payment-id-key) "
                         f"must then be advanced past them; the source is a {o.kind} store, so lnd's real KV "
                         "(channel.sqlite or PostgreSQL) cannot be reached: lnd's next HTLC would collide",
                         "use the node's own KV-over-SQL store (channel.sqlite or the PostgreSQL database) as --kv")
        return Check("lnd.sequencer", "lnd's switch sequencer", CheckStatus.PASS,
                     "no legacy attempt ID 0: lnd's sequencer needs no advance")
    from .lndseq import read_sequencer

    try:
        cur = read_sequencer(ctx).sequence
    except Exception as e:  # noqa: BLE001
        return Check("lnd.sequencer", "lnd's switch sequencer", CheckStatus.FAIL,
                     f"cannot read lnd's sequencer in {where_sequencer(ctx)}: {e}", "check the source")
    how = "in the commit transaction" if route == "in-commit" else "right after the commit (reconciled on every start)"
    return Check("lnd.sequencer", "lnd's switch sequencer", CheckStatus.PASS,
                 f"next-payment-id-key in {where_sequencer(ctx)} is at {cur}; it is raised above every migrated "
                 f"attempt ID {how}, never lowered", details={"sequence": cur, "route": route})


def run_facts(ctx: Context, *, allow_foreign: bool) -> dict:
    """What the run record keeps about lnd's side (shown in the report JSON)."""
    facts: dict = {"target_case": target_case(ctx).case.value, "source_kind": source_origin(ctx).kind}
    m = node_markers(ctx)
    if m.lndinit_tombstone:
        facts["history_ends"] = lndinit_date(m)
    if allow_foreign and (target_case(ctx).case.records_version_14 or ctx.backfill):
        cmp = identity_verdict(ctx)
        if cmp is not None and cmp.verdict is lnd_identity.Verdict.MISMATCH:
            facts["foreign_source_override"] = {"reasons": cmp.reasons}
    return facts
