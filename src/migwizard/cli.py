"""`migwizard` command line: the wizard by default, headless with `--yes`, and tools.

Exit codes (``exits.ExitCode``, also in README):
  0 success · 1 validation mismatch · 2 preflight refused · 3 migration failed (rolled back)
  4 interrupted / not committed, resumable · 64 usage error
Every usage error exits 64 (the CLI framework's own code 2 would read as "preflight
refused" to a script): ``main`` runs click in non-standalone mode and maps them.
Output paths (``--report``, ``--log``) are checked before any work.
Textual is imported only when the wizard is opened.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import typer
from typer import Abort as _Abort
from typer.core import TyperGroup

try:  # typer >= 0.2x vendors its own click: the exceptions it raises are those
    from typer._click.exceptions import ClickException as _ClickException
    from typer._click.exceptions import UsageError as _UsageError
except ImportError:  # pragma: no cover - a typer built on the click package
    from click.exceptions import ClickException as _ClickException
    from click.exceptions import UsageError as _UsageError

from .core.files import UnsafePathError, check_output_path
from .core.logsink import LOGGER_NAME
from .core.statedir import ENV_VAR as STATE_DIR_ENV
from .core.statedir import StateDirError, state_dir
from .exits import ExitCode

# engine.api.DEFAULT_CHUNK_SIZE, not imported: the CLI starts without the engine.
_CHUNK_DEFAULT = 5000
_CHUNK_HELP = "At most this many payments per SQL transaction; a chunk also closes at ~50,000 rows."

LOG = logging.getLogger(LOGGER_NAME)
CONFIRM_WORD = "COMMIT"  # the one confirmation word, as in the wizard's commit screen


class _Group(TyperGroup):
    """Lets `migwizard CHANNEL_DB_OR_DIR` mean `migwizard --kv CHANNEL_DB_OR_DIR`."""

    def parse_args(self, ctx, args):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["--kv", args[0], *args[1:]]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_Group, add_completion=False, pretty_exceptions_enable=False, no_args_is_help=False, rich_markup_mode=None,
                  help="Move LND payment history from a KV store into LND's native SQL schema, safely.")


def default_log_path() -> Path:
    return state_dir() / "migwizard.log"


def _usage(message: str) -> typer.Exit:
    sys.stderr.write(f"migwizard: usage error: {message}\n")
    return typer.Exit(int(ExitCode.USAGE))


def _output_path(path: Path | None, option: str) -> Path | None:
    """Refuse a bad ``--report``/``--log`` path before any work (exit 64)."""
    if path is None:
        return None
    try:
        return check_output_path(path)
    except UnsafePathError as e:
        raise _usage(f"{option} {e}") from None


def _announce_state_dir() -> Path | None:
    """Say where our files go (issue: one announced place), on stderr."""
    try:
        path = state_dir()
    except OSError as e:
        sys.stderr.write(f"warning: cannot create the state directory: {e}\n")
        return None
    sys.stderr.write(f"migwizard: state directory {path} (log, reports, imports)\n")
    return path


def setup_logging(log_file: Path | None, sql: str | None = None) -> Path | None:
    """The one log sink: everything the engine and the front end log, scrubbed, once per line."""
    from .core.logsink import install_log_file

    _announce_state_dir()
    path = log_file or default_log_path()
    scrub = None
    if sql:
        try:
            from .core.sql.connect import TargetURL

            scrub = TargetURL.parse(sql).scrub
        except Exception:  # noqa: BLE001 - a bad URL is reported by the engine; the generic scrubber still runs
            scrub = None
    try:
        install_log_file(path, scrub=scrub, create_parent=log_file is None)
        return path
    except OSError as e:
        if log_file is not None:
            raise _usage(f"--log {e}") from None
        sys.stderr.write(f"warning: cannot write the log file {path}: {e}\n")
        return None


KV_OPT = typer.Option(None, "--kv", help="LMDB KV store directory, lnd's bbolt channel.db, its channel.sqlite, "
                                         "or a postgresql:// URL of lnd's KV-over-SQL database.")
KV_TABLE_OPT = typer.Option(None, "--kv-table", help="KV-over-SQL table (default channeldb_kv).")
BACKFILL_OPT = typer.Option(False, "--backfill", help="Fill lnd's live native store (migration_tracker >= 14, "
                            "after --db.skip-native-sql-migration) with the KV history, next to lnd's own payments.")
QUARANTINE_OPT = typer.Option(False, "--quarantine", help="Migrate everything else when some payments cannot be read "
                              "by any lnd release; they are listed and their bytes saved beside the report.")
SQL_OPT = typer.Option(None, "--sql", help="sqlite:///path.db or postgresql://user@host:port/db (password from "
                                           "PGPASSWORD or ~/.pgpass; never printed).")


def _need(value, name: str):
    if value is None:
        raise _usage(f"{name} is required")
    return value


def _throttled(line: Callable[..., str], every: float = 2.0) -> Callable[..., None]:
    """A progress callback writing ``line(*args)`` to stderr at most every ``every`` seconds:
    long copies show they are alive without flooding the terminal (stdout stays for reports)."""
    last = [time.monotonic()]

    def progress(*args) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            sys.stderr.write(line(*args) + "\n")

    return progress


def _import_line(n: int) -> str:
    return f"import: {n} entries copied"


def _prepared_kv(kv: str, kv_table: str | None) -> Path:
    """The LMDB store the engine runs on: ``--kv`` as is, or a verified (reused) copy of a
    bbolt / channel.sqlite / PostgreSQL source under the state directory."""
    from .core.kv.errors import KVError
    from .core.kv.markers import describe_markers
    from .core.kv.source import prepare_source

    try:
        ps = prepare_source(kv, kv_table=kv_table, on_progress=_throttled(_import_line))
    except KVError as e:
        sys.stderr.write(f"error: {e}\n")
        raise typer.Exit(int(ExitCode.PREFLIGHT_REFUSED))
    if ps.is_copy:
        how = "reused the verified copy" if ps.reused else "imported and verified a copy"
        sys.stderr.write(f"source: {ps.kind} {ps.origin}: {how} at {ps.lmdb_dir}"
                         + (f" ({ps.note})" if ps.note else "") + "\n")
        LOG.info("source %s %s -> %s (reused=%s)", ps.kind, ps.origin, ps.lmdb_dir, ps.reused)
    for line in describe_markers(ps.markers, source_kind=ps.kind):
        sys.stderr.write(f"marker: {line}\n")
    return ps.lmdb_dir


LNDDIR_OPT = typer.Option(None, "--lnddir", help="lnd's directory: --kv and --sql from <lnddir>/data/graph/<network>/ "
                                                  "and lnd.conf (db.backend, db.postgres.dsn).")
NETWORK_OPT = typer.Option(None, "--network", help="With --lnddir: mainnet (default, or from lnd.conf), testnet, "
                                                   "testnet4, signet, regtest, simnet.")
FOREIGN_OPT = typer.Option(False, "--allow-foreign-source", help="Migrate into lnd's own database although the "
                           "source's node identity does not match it (recorded in the run and the report).")


def _from_lnddir(kv: str | None, sql: str | None, lnddir: Path | None, network: str | None
                 ) -> tuple[str | None, str | None]:
    """``--lnddir`` fills ``--kv``/``--sql``; given together with either: usage error (64).
    The DSN's password is kept for connecting and never printed."""
    if lnddir is None:
        if network is not None:
            raise _usage("--network needs --lnddir")
        return kv, sql
    if kv is not None or sql is not None:
        raise _usage("--lnddir fills --kv and --sql itself; give either --lnddir or --kv/--sql")
    from .core.lnd.errors import LndError
    from .core.lnd.lnddir import resolve_lnddir

    try:
        paths = resolve_lnddir(lnddir, network)
    except LndError as e:
        raise _usage(f"--lnddir: {e}") from None
    for note in paths.notes:
        sys.stderr.write(f"lnddir: {note}\n")
    if paths.target_url is None:
        raise _usage(f"--lnddir: {paths.lnddir} runs db.backend={paths.backend}: lnd has no native payments "
                     "database there; give --kv and --sql for a standalone copy")
    sys.stderr.write(f"lnddir: source {paths.kv_display}, target {paths.target_display}\n")
    return paths.kv_source, paths.target_url


def _sources(kv: str | None, sql: str | None, kv_table: str | None, lnddir: Path | None,
             network: str | None) -> tuple[Path, str, str]:
    """(the LMDB store the engine runs on, the SQL URL, the user's original --kv)."""
    kv, sql = _from_lnddir(kv, sql, lnddir, network)
    kv, sql = _need(kv, "--kv (or --lnddir)"), _need(sql, "--sql (or --lnddir)")
    setup_logging(None if _LOG.get("log") is None else _LOG["log"], sql)
    return _prepared_kv(kv, kv_table), sql, kv


_LOG: dict = {}


def _log_of(ctx: typer.Context) -> Path | None:
    return (ctx.obj or {}).get("log")


@app.callback(invoke_without_command=True)
def main_cmd(
    ctx: typer.Context,
    kv: Optional[str] = KV_OPT,
    sql: Optional[str] = SQL_OPT,
    kv_table: Optional[str] = KV_TABLE_OPT,
    yes: bool = typer.Option(False, "--yes", "-y", help="Headless: preflight, migrate, validate, commit, no questions."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the JSON report here (mode 0600)."),
    chunk_size: int = typer.Option(_CHUNK_DEFAULT, "--chunk-size", min=1, help=_CHUNK_HELP),
    as_json: bool = typer.Option(False, "--json", help="Summary as JSON on stdout."),
    keep: bool = typer.Option(False, "--keep-on-failure", help="On failure keep committed chunks for resume "
                                                               "instead of rolling back."),
    log_file: Optional[Path] = typer.Option(None, "--log", help="Log file (default: migwizard.log in the state "
                                            "directory)."),
    import_dir: Optional[Path] = typer.Option(None, "--import-dir", help="Wizard: the directory for LMDB copies "
                                              "of non-LMDB sources (default: imports/ in the state directory)."),
    state: Optional[Path] = typer.Option(None, "--state-dir", help="Where migwizard keeps its log, reports and "
                                         "imported copies (default: $XDG_STATE_HOME/migwizard)."),
    lnddir: Optional[Path] = LNDDIR_OPT,
    network: Optional[str] = NETWORK_OPT,
    allow_foreign: bool = FOREIGN_OPT,
    backfill: bool = BACKFILL_OPT,
    quarantine: bool = QUARANTINE_OPT,
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Headless: migrate (and tombstone) a store with "
                                     "0 payments; without it that is refused (exit 2)."),
) -> None:
    if state is not None:
        os.environ[STATE_DIR_ENV] = str(state.expanduser().absolute())
    _output_path(log_file, "--log")
    ctx.obj = {"log": log_file}
    _LOG["log"] = log_file
    if ctx.invoked_subcommand is not None:
        return
    _output_path(report, "--report")
    if network is not None and lnddir is None:
        raise _usage("--network needs --lnddir")
    if yes:
        from .headless import run_pipeline

        lmdb_dir, sql, kv_source = _sources(kv, sql, kv_table, lnddir, network)
        code = run_pipeline(lmdb_dir, sql, chunk_size=chunk_size, report_path=report,
                            as_json=as_json, confirm=None, keep_on_failure=keep, kv_source=kv_source,
                            allow_foreign_source=allow_foreign, backfill=backfill, quarantine=quarantine,
                            allow_empty=allow_empty)
        raise typer.Exit(code)
    # The wizard resolves --lnddir itself (its first screen shows what it found, without passwords;
    # a --kv/--sql given too prefills the manual fields, the second choice there).
    from .core.report import reports_dir
    from .tui.app import run_wizard  # the TUI is only imported here

    # The wizard owns its log sink (it scrubs with the target it is pointed at, which can change).
    _announce_state_dir()
    # ``kv`` as typed: a postgresql:// KV URL must reach the wizard unmangled (Path() would eat a slash).
    code = run_wizard(kv, sql, chunk_size=chunk_size, import_dir=import_dir, kv_table=kv_table,
                      lnddir=None if lnddir is None else str(lnddir), network=network,
                      results_dir=report.parent if report is not None else reports_dir(),
                      report_path=report, log_path=log_file or default_log_path())
    raise typer.Exit(int(code or 0))


@app.command("migrate")
def migrate_cmd(
    ctx: typer.Context,
    kv: Optional[str] = KV_OPT,
    sql: Optional[str] = SQL_OPT,
    kv_table: Optional[str] = KV_TABLE_OPT,
    lnddir: Optional[Path] = LNDDIR_OPT,
    network: Optional[str] = NETWORK_OPT,
    allow_foreign: bool = FOREIGN_OPT,
    report: Optional[Path] = typer.Option(None, "--report"),
    chunk_size: int = typer.Option(_CHUNK_DEFAULT, "--chunk-size", min=1, help=_CHUNK_HELP),
    as_json: bool = typer.Option(False, "--json"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before the commit."),
    keep: bool = typer.Option(False, "--keep-on-failure"),
    backfill: bool = BACKFILL_OPT,
    quarantine: bool = QUARANTINE_OPT,
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Migrate (and tombstone) a store with 0 payments."),
) -> None:
    """Preflight, migrate, validate; asks before the commit and tombstone."""
    from .headless import run_pipeline

    _output_path(report, "--report")
    lmdb_dir, sql, kv_source = _sources(kv, sql, kv_table, lnddir, network)

    def confirm(rep) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            sys.stderr.write("not a terminal: refusing to commit without --yes\n")
            return False
        left = (f" {len(rep.quarantined):,} payments no lnd release can read are LEFT BEHIND (quarantined)."
                if rep.quarantined else "")
        sys.stderr.write(f"Validation passed for {rep.payments_checked:,} payments.{left} "
                         f"Commit and tombstone the KV store? Type {CONFIRM_WORD} to proceed: ")
        sys.stderr.flush()
        return sys.stdin.readline().strip() == CONFIRM_WORD

    raise typer.Exit(run_pipeline(lmdb_dir, sql, chunk_size=chunk_size, report_path=report, as_json=as_json,
                                  confirm=confirm, keep_on_failure=keep, kv_source=kv_source,
                                  allow_foreign_source=allow_foreign, backfill=backfill, quarantine=quarantine,
                                  allow_empty=allow_empty))


@app.command("preflight")
def preflight_cmd(ctx: typer.Context, kv: Optional[str] = KV_OPT, sql: Optional[str] = SQL_OPT,
                  kv_table: Optional[str] = KV_TABLE_OPT, lnddir: Optional[Path] = LNDDIR_OPT,
                  network: Optional[str] = NETWORK_OPT, allow_foreign: bool = FOREIGN_OPT,
                  as_json: bool = typer.Option(False, "--json"), backfill: bool = BACKFILL_OPT,
                  quarantine: bool = QUARANTINE_OPT) -> None:
    """Run every preflight check; exit 2 when one fails."""
    from .core.engine import Engine, EngineError
    from .headless import print_preflight

    lmdb_dir, sql, kv_source = _sources(kv, sql, kv_table, lnddir, network)
    try:
        with Engine(lmdb_dir, sql, kv_source=kv_source, allow_foreign_source=allow_foreign, backfill=backfill,
                    quarantine=quarantine) as engine:
            rep = engine.preflight()
    except EngineError as e:
        sys.stderr.write(f"error: {e}\n")
        raise typer.Exit(int(e.exit_code))
    if as_json:
        json.dump(rep.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_preflight(rep, sys.stdout)
    raise typer.Exit(0 if rep.ok else int(ExitCode.PREFLIGHT_REFUSED))


@app.command("verify")
def verify_cmd(ctx: typer.Context, kv: Optional[str] = KV_OPT, sql: Optional[str] = SQL_OPT,
               kv_table: Optional[str] = KV_TABLE_OPT, lnddir: Optional[Path] = LNDDIR_OPT,
               network: Optional[str] = NETWORK_OPT,
               report: Optional[Path] = typer.Option(None, "--report"), as_json: bool = typer.Option(False, "--json")
               ) -> None:
    """Re-validate a committed migration, field by field."""
    from .core.engine import Engine, EngineError
    from .core.report import render_summary, write_report
    from .headless import StderrProgress

    _output_path(report, "--report")
    lmdb_dir, sql, kv_source = _sources(kv, sql, kv_table, lnddir, network)
    try:
        with Engine(lmdb_dir, sql, on_event=StderrProgress(), kv_source=kv_source) as engine:
            rep = engine.verify()
            if report:
                write_report(report, rep, engine)
    except EngineError as e:
        sys.stderr.write(f"error: {e}\n" + (f"hint: {e.hint}\n" if e.hint else ""))
        raise typer.Exit(int(e.exit_code))
    except UnsafePathError as e:
        raise _usage(f"--report {e}") from None
    if as_json:
        json.dump({"ok": rep.ok, "payments": rep.payments_checked, "differences": len(rep.differences),
                   "error": rep.error}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_summary(rep))
    raise typer.Exit(0 if rep.ok else int(ExitCode.VALIDATION_MISMATCH))


@app.command("rollback")
def rollback_cmd(ctx: typer.Context, kv: Optional[str] = KV_OPT, sql: Optional[str] = SQL_OPT,
                 kv_table: Optional[str] = KV_TABLE_OPT, lnddir: Optional[Path] = LNDDIR_OPT,
                 network: Optional[str] = NETWORK_OPT, yes: bool = typer.Option(False, "--yes", "-y")) -> None:
    """Remove everything an uncommitted run wrote; the KV store is not touched."""
    from .core.engine import Engine, EngineError

    lmdb_dir, sql, kv_source = _sources(kv, sql, kv_table, lnddir, network)
    if not yes:
        if not sys.stdin.isatty():
            sys.stderr.write("not a terminal: pass --yes to roll back\n")
            raise typer.Exit(int(ExitCode.USAGE))
        sys.stderr.write("Roll back the unfinished migration run in the target? Type 'rollback': ")
        sys.stderr.flush()
        if sys.stdin.readline().strip() != "rollback":
            raise typer.Exit(int(ExitCode.USAGE))
    try:
        with Engine(lmdb_dir, sql, kv_source=kv_source) as engine:
            res = engine.rollback()
    except EngineError as e:
        sys.stderr.write(f"error: {e}\n" + (f"hint: {e.hint}\n" if e.hint else ""))
        raise typer.Exit(int(e.exit_code))
    sys.stdout.write(res.message + "\n")


@app.command("import-bbolt")
def import_cmd(channel_db: Path = typer.Argument(..., exists=True, dir_okay=False),
               kv: Path = typer.Option(..., "--kv", help="New LMDB store directory (must be empty)."),
               all_buckets: bool = typer.Option(False, "--all", help="Copy every bucket, not only the payments ones.")
               ) -> None:
    """Copy the payment buckets of an LND channel.db (read-only) into a new LMDB store and verify."""
    from .core.kv.errors import KVError
    from .core.kv.importer import format_import_summary, import_bbolt

    try:
        res = import_bbolt(channel_db, kv, all_buckets=all_buckets, progress=_throttled(_import_line))
    except KVError as e:
        sys.stderr.write(f"error: {e}\n")
        raise typer.Exit(int(ExitCode.PREFLIGHT_REFUSED))
    sys.stdout.write(format_import_summary(res) + "\n")


@app.command("generate")
def generate_cmd(kv: Path = typer.Option(..., "--kv"), payments: int = typer.Option(..., "--payments", min=0),
                 seed: int = typer.Option(1, "--seed"),
                 profile: str = typer.Option("mixed", "--profile", help="mixed | edge | legacy-zero-ids | reject-<case>")) -> None:
    """Write deterministic synthetic LND payments into a new LMDB store."""
    from .core.generate import PROFILES, generate_store

    if profile not in PROFILES:
        raise _usage(f"--profile must be one of {', '.join(sorted(PROFILES))}")
    try:
        res = generate_store(kv, payments=payments, seed=seed, profile=profile,
                             progress=_throttled(lambda done, total: f"generate: {done}/{total}"))
    except Exception as e:  # noqa: BLE001 - report any refusal plainly
        sys.stderr.write(f"error: {e}\n")
        raise typer.Exit(int(ExitCode.USAGE))
    sys.stdout.write(res.summarize() + "\n")


@app.command("inspect")
def inspect_cmd(source: Optional[str] = typer.Argument(None), kv: Optional[str] = typer.Option(None, "--kv"),
                kv_table: Optional[str] = KV_TABLE_OPT,
                payment: Optional[str] = typer.Option(None, "--payment", help="Hash prefix of one payment to show."),
                show_secrets: bool = typer.Option(False, "--show-secrets", help="Show session keys and preimages."),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Counts by status, attempts, hops, duplicates; or one payment as a tree."""
    from .inspect_cmd import run_inspect

    path = kv or source
    if path is None:
        raise _usage("give --kv DIR or a CHANNEL_DB path")
    raise typer.Exit(run_inspect(path, payment=payment, show_secrets=show_secrets, as_json=as_json,
                                 kv_table=kv_table))


@app.command("rehearse")
def rehearse_cmd(kv: Optional[str] = typer.Option(None, "--kv", help="LMDB dir, channel.db, channel.sqlite or URL."),
                 kv_table: Optional[str] = KV_TABLE_OPT, as_json: bool = typer.Option(False, "--json")) -> None:
    """What each lnd release's own payments migration would do with this store (nothing written)."""
    from .rehearse_cmd import run_rehearse

    raise typer.Exit(run_rehearse(_need(kv, "--kv"), as_json=as_json, kv_table=kv_table))


@app.command("report")
def report_cmd(file: Path = typer.Argument(...)) -> None:
    """Open a saved JSON report in the wizard's report and drill-down screens."""
    from .tui.app import run_report_viewer

    raise typer.Exit(int(run_report_viewer(file) or 0))


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every usage error (ours or click's) exits 64 with one line on stderr."""
    try:
        rv = app(args=argv, prog_name="migwizard", standalone_mode=False)
    except _UsageError as e:  # unknown option, missing value, bad value (BadParameter), ...
        sys.stderr.write(f"migwizard: usage error: {e.format_message()} (see migwizard --help)\n")
        sys.exit(int(ExitCode.USAGE))
    except _ClickException as e:  # e.g. a file argument that cannot be opened
        sys.stderr.write(f"migwizard: {e.format_message()}\n")
        sys.exit(int(ExitCode.USAGE))
    except StateDirError as e:  # a state directory someone else owns, or a planted symlink
        sys.stderr.write(f"migwizard: usage error: state directory: {e}\n")
        sys.exit(int(ExitCode.USAGE))
    except _Abort:  # Ctrl-C or EOF at a prompt
        sys.stderr.write("\nmigwizard: interrupted\n")
        sys.exit(int(ExitCode.INTERRUPTED_RESUMABLE))
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
