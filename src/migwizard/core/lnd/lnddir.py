"""``--lnddir DIR [--network NET]``: find the node's KV source and native target.

lnd keeps its databases in ``<lnddir>/data/graph/<network>/`` (``chanDBPath``;
``datadir=`` in lnd.conf moves ``<lnddir>/data``): ``channel.db`` (bolt),
``channel.sqlite`` (KV-over-SQL, table ``channeldb_kv``) and ``lnd.sqlite``
(native SQL). With ``db.backend=postgres`` both the KV tables and the native
tables live in the one database of ``db.postgres.dsn``.

``lnd.conf`` is read the way lnd's go-flags INI parser reads it: ``[section]``
headers, ``key=value`` lines, whole-line ``;``/``#`` comments (no inline
comments), a double-quoted value is unquoted, a repeated key's last value
wins, booleans as Go's ``strconv.ParseBool``. Options may be written with
their namespace (``db.backend`` under ``[db]``, as lnd's sample-lnd.conf does)
or bare under their group's section (``backend`` under ``[db]``).

The DSN carries a password: :class:`LndPaths` keeps it for connecting but
only ever shows :attr:`LndPaths.kv_display`/:attr:`target_display`.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..sql.connect import TargetURL, TargetURLError
from .errors import LndConfError, LndDirError

CONF_NAME = "lnd.conf"
NETWORKS = ("mainnet", "testnet", "testnet4", "signet", "regtest", "simnet")
BOLT, SQLITE, POSTGRES, ETCD = "bolt", "sqlite", "postgres", "etcd"
CHANNEL_DB, CHANNEL_SQLITE, LND_SQLITE = "channel.db", "channel.sqlite", "lnd.sqlite"

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_conf(text: str, *, name: str = CONF_NAME) -> dict[str, str]:
    """lnd.conf as ``{"db.backend": "sqlite", "datadir": ..., ...}``.

    Keys are lower-cased and namespaced by their section when written bare
    under a group section; ``[Application Options]`` keys stay bare.
    """
    out: dict[str, str] = {}
    section = "application options"
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise LndConfError(f"{name}:{lineno}: malformed section header {line!r}")
            section = line[1:-1].strip().lower()
            continue
        if "=" not in line:
            raise LndConfError(f"{name}:{lineno}: malformed key=value ({line.split()[0]!r})")
        key, value = (part.strip() for part in line.split("=", 1))
        key = key.lower()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = ast.literal_eval(value)
            except (SyntaxError, ValueError):
                raise LndConfError(f"{name}:{lineno}: bad quoted value for {key}") from None
        if section not in ("application options", "") and "." not in key:
            key = f"{section}.{key}"
        out[key] = value  # a repeated key: the last one wins
    return out


def parse_bool(conf: dict[str, str], key: str, default: bool = False, *, name: str = CONF_NAME) -> bool:
    if key not in conf:
        return default
    value = conf[key]
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise LndConfError(f"{name}: {key}={value!r} is not a boolean (true/false)")


@dataclass(frozen=True)
class LndPaths:
    """What ``--lnddir`` resolved to. ``kv_source``/``target_url`` may hold a
    password (PostgreSQL DSN): never print them, print the ``*_display`` forms."""

    lnddir: Path
    network: str
    graph_dir: Path
    conf_path: Path | None
    backend: str  # bolt | sqlite | postgres
    use_native_sql: bool
    kv_source: str | None = field(repr=False)  # channel.sqlite / channel.db path, or the DSN
    target_url: str | None = field(repr=False)  # sqlite:////abs/lnd.sqlite, or the DSN
    kv_display: str | None = None
    target_display: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def one_database(self) -> bool:
        """KV and native tables in one database (PostgreSQL): one transaction
        can commit the payments and advance the sequencer together."""
        return self.backend == POSTGRES


def _network_from_conf(conf: dict[str, str]) -> str | None:
    for net in NETWORKS:
        if parse_bool(conf, f"bitcoin.{net}"):
            return net
    return None


def resolve_lnddir(lnddir: str | os.PathLike[str], network: str | None = None) -> LndPaths:
    """Find the node's source and target under ``lnddir`` (see module doc).

    Raises :class:`LndDirError` for a missing directory or network and for a
    backend lnd cannot run its payments migration on.
    """
    # Absolute once, here: a relative lnddir must not be joined onto itself again below
    # (the default datadir is built from it), and callers need not work around that.
    root = Path(lnddir).expanduser().absolute()
    if not root.is_dir():
        raise LndDirError(f"{root}: no such lnd directory")
    conf_path = root / CONF_NAME
    conf: dict[str, str] = {}
    notes: list[str] = []
    if conf_path.is_file():
        try:
            text = conf_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LndConfError(f"{conf_path}: cannot read: {exc}") from None
        conf = parse_conf(text, name=str(conf_path))
    else:
        conf_path = None
        notes.append(f"no {CONF_NAME} in {root}: backend inferred from the files present")
    if network is not None and network not in NETWORKS:
        raise LndDirError(f"unknown network {network!r}; one of: {', '.join(NETWORKS)}")
    net = network or _network_from_conf(conf) or "mainnet"
    datadir = Path(conf["datadir"]).expanduser() if conf.get("datadir") else root / "data"
    if not datadir.is_absolute():
        datadir = root / datadir
    graph_dir = datadir / "graph" / net
    conf_backend = conf.get("db.backend", "").lower()
    # With db.backend=postgres (or etcd) the databases are not files: the graph dir is irrelevant.
    if conf_backend not in (POSTGRES, ETCD) and not graph_dir.is_dir():
        present = sorted(p.name for p in (datadir / "graph").iterdir() if p.is_dir()) if (datadir / "graph").is_dir() else []
        hint = f"; networks present: {', '.join(present)} (use --network)" if present else ""
        raise LndDirError(f"{graph_dir}: no {net} data in this lnd directory{hint}")

    backend = conf_backend
    if not backend:
        if conf_path is None and (graph_dir / CHANNEL_SQLITE).is_file():
            backend = SQLITE
        else:
            backend = BOLT  # lnd's default
    use_native = parse_bool(conf, "db.use-native-sql", name=str(conf_path or CONF_NAME))
    if conf_path is None and (graph_dir / LND_SQLITE).is_file():
        use_native = True

    if backend == ETCD:
        raise LndDirError(
            "db.backend=etcd: lnd cannot run native SQL (or its payments migration) on etcd, "
            "and migwizard cannot read an etcd store; there is no native payments database to fill"
        )
    if backend == BOLT:
        if use_native:
            raise LndDirError(
                "db.backend=bolt with db.use-native-sql=true: lnd itself refuses this "
                "combination (\"cannot use native SQL with bolt backend\"); convert the node with "
                "lndinit migrate-db to sqlite or postgres first"
            )
        chan = graph_dir / CHANNEL_DB
        if not chan.is_file():
            raise LndDirError(f"{chan}: missing (db.backend=bolt)")
        notes.append(
            "db.backend=bolt: lnd has no native payments database here; the payments can "
            "only go to a standalone copy (or convert with lndinit migrate-db, then use native SQL)"
        )
        return LndPaths(root, net, graph_dir, conf_path, BOLT, False, str(chan), None,
                        str(chan), None, tuple(notes))
    if backend == SQLITE:
        kv = graph_dir / CHANNEL_SQLITE
        if not kv.is_file():
            raise LndDirError(f"{kv}: missing (db.backend=sqlite keeps lnd's KV store there)")
        target = graph_dir / LND_SQLITE
        if not use_native:
            notes.append("db.use-native-sql is off: lnd does not read native payments yet")
        if not target.is_file():
            notes.append(f"{target} does not exist yet: lnd creates it on its first start with native SQL")
        url = f"sqlite:///{target.resolve()}"
        return LndPaths(root, net, graph_dir, conf_path, SQLITE, use_native, str(kv), url,
                        str(kv), url, tuple(notes))
    if backend == POSTGRES:
        dsn = conf.get("db.postgres.dsn", "")
        if not dsn:
            raise LndDirError(f"db.backend=postgres but db.postgres.dsn is not set in {conf_path}")
        try:
            parsed = TargetURL.parse(dsn)
        except TargetURLError:
            raise LndDirError(
                "db.postgres.dsn is not a postgres:// URL (key=value DSNs are not supported "
                "here); pass --kv and --sql with a postgresql:// URL instead"
            ) from None
        if not use_native:
            notes.append("db.use-native-sql is off: lnd does not read native payments yet")
        shown = parsed.redacted()
        return LndPaths(root, net, graph_dir, conf_path, POSTGRES, use_native, dsn, dsn,
                        shown, shown, tuple(notes))
    raise LndDirError(
        f"db.backend={backend!r} is unknown; lnd accepts bolt, etcd, postgres or sqlite"
    )


__all__ = [
    "BOLT",
    "CONF_NAME",
    "ETCD",
    "LndPaths",
    "NETWORKS",
    "POSTGRES",
    "SQLITE",
    "parse_bool",
    "parse_conf",
    "resolve_lnddir",
]
