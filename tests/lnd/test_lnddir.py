"""--lnddir: lnd.conf as lncfg reads it, files found, backends refused precisely."""

from __future__ import annotations

import sqlite3

import pytest

from migwizard.core.lnd.errors import LndConfError, LndDirError
from migwizard.core.lnd.lnddir import parse_conf, resolve_lnddir


def _node(tmp_path, conf: str | None, network="mainnet", files=("channel.sqlite", "lnd.sqlite")):
    graph = tmp_path / "lnd" / "data" / "graph" / network
    graph.mkdir(parents=True)
    for name in files:
        sqlite3.connect(graph / name).close()
    if conf is not None:
        (tmp_path / "lnd" / "lnd.conf").write_text(conf)
    return tmp_path / "lnd", graph


def test_parse_conf_follows_lncfg():
    conf = parse_conf(
        "; comment\n# another\n[Application Options]\ndebuglevel=info\n"
        "[db]\ndb.backend=bolt\n  db.backend = sqlite  \nuse-native-sql=true\n"
        '[Bitcoin]\nbitcoin.regtest=1\nalias="my node"\n'
    )
    assert conf["db.backend"] == "sqlite"  # repeated: last wins
    assert conf["db.use-native-sql"] == "true"  # bare key under [db]
    assert conf["debuglevel"] == "info" and conf["bitcoin.alias"] == "my node"
    with pytest.raises(LndConfError, match=r"lnd.conf:2: malformed key=value"):
        parse_conf("[db]\ndb.use-native-sql\n")


def test_sqlite_node(tmp_path):
    root, graph = _node(tmp_path, "[db]\ndb.backend=sqlite\ndb.use-native-sql=true\n")
    got = resolve_lnddir(root)
    assert (got.backend, got.network, got.use_native_sql) == ("sqlite", "mainnet", True)
    assert got.kv_source == str(graph / "channel.sqlite")
    assert got.target_url == f"sqlite:///{(graph / 'lnd.sqlite').resolve()}"
    assert not got.one_database and got.notes == ()


def test_network_from_flag_and_conf(tmp_path):
    root, graph = _node(tmp_path, "[Bitcoin]\nbitcoin.regtest=true\n[db]\ndb.backend=sqlite\ndb.use-native-sql=1\n",
                        network="regtest")
    assert resolve_lnddir(root).graph_dir == graph
    with pytest.raises(LndDirError, match=r"no testnet data.*networks present: regtest \(use --network\)"):
        resolve_lnddir(root, "testnet")
    with pytest.raises(LndDirError, match="unknown network 'bogus'"):
        resolve_lnddir(root, "bogus")


def test_postgres_dsn_never_shown(tmp_path):
    root, _ = _node(tmp_path, "[db]\ndb.backend=postgres\ndb.use-native-sql=true\n"
                    'db.postgres.dsn="postgres://lnd:s3cr3t-pw@db.example:5432/lnd?sslmode=disable"\n', files=())
    got = resolve_lnddir(root)
    assert got.one_database and got.kv_source == got.target_url
    assert "s3cr3t-pw" in got.kv_source
    assert "s3cr3t-pw" not in repr(got) and "s3cr3t-pw" not in got.kv_display
    assert got.target_display == "postgresql://lnd:***@db.example:5432/lnd?sslmode=disable"


def test_unsupported_backends(tmp_path):
    root, _ = _node(tmp_path, "[db]\ndb.backend=bolt\ndb.use-native-sql=true\n", files=("channel.db",))
    with pytest.raises(LndDirError, match="cannot use native SQL with bolt backend.*lndinit migrate-db"):
        resolve_lnddir(root)
    (root / "lnd.conf").write_text("[db]\ndb.backend=etcd\n")
    with pytest.raises(LndDirError, match="etcd"):
        resolve_lnddir(root)
    (root / "lnd.conf").write_text("[db]\ndb.backend=postgres\n")
    with pytest.raises(LndDirError, match="db.postgres.dsn is not set"):
        resolve_lnddir(root)
    (root / "lnd.conf").write_text("[db]\ndb.backend=postgres\ndb.postgres.dsn=host=x password=y\n")
    with pytest.raises(LndDirError, match="key=value DSNs") as err:
        resolve_lnddir(root)
    assert "password=y" not in str(err.value)
    (root / "lnd.conf").write_text("[db]\ndb.use-native-sql=maybe\n")
    with pytest.raises(LndConfError, match="not a boolean"):
        resolve_lnddir(root)


def test_plain_bolt_is_a_source_without_target(tmp_path):
    root, graph = _node(tmp_path, "", files=("channel.db",))
    got = resolve_lnddir(root)
    assert got.backend == "bolt" and got.target_url is None
    assert got.kv_source == str(graph / "channel.db") and "standalone" in got.notes[0]


def test_missing_dir_and_files(tmp_path):
    with pytest.raises(LndDirError, match="no such lnd directory"):
        resolve_lnddir(tmp_path / "nope")
    root, graph = _node(tmp_path, "[db]\ndb.backend=sqlite\n", files=())
    with pytest.raises(LndDirError, match="channel.sqlite: missing"):
        resolve_lnddir(root)


def test_no_conf_infers_from_files(tmp_path):
    root, _ = _node(tmp_path, None)
    got = resolve_lnddir(root)
    assert (got.backend, got.use_native_sql, got.conf_path) == ("sqlite", True, None)
    assert "no lnd.conf" in got.notes[0]


def test_postgres_node_needs_no_graph_dir(tmp_path):
    """Attack review, finding 6: with db.backend=postgres the databases are not files."""
    root = tmp_path / "lnd"
    root.mkdir()
    (root / "lnd.conf").write_text("[Bitcoin]\nbitcoin.regtest=1\n[db]\ndb.backend=postgres\n"
                                   "db.postgres.dsn=postgresql://u:secret@127.0.0.1:5432/lnd\n")
    got = resolve_lnddir(root)
    assert (got.backend, got.network) == ("postgres", "regtest")
    assert got.target_url == got.kv_source and "secret" not in (got.target_display or "")


def test_relative_lnddir_is_not_joined_twice(tmp_path, monkeypatch):
    root, graph = _node(tmp_path, "[db]\ndb.backend=sqlite\n")
    monkeypatch.chdir(tmp_path)
    got = resolve_lnddir("lnd")
    assert got.graph_dir == graph and got.kv_source == str(graph / "channel.sqlite")
    assert got.lnddir.is_absolute()
