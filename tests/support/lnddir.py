"""A node's lnd directory in lnd's own layout, built in a test (issue 8 item 5)."""

from __future__ import annotations

import shutil
from pathlib import Path


def make_lnddir(root: Path) -> Path:
    """``root/lnd`` as a regtest node on db.backend=sqlite whose payments migration failed."""
    from migwizard.core.generate import generate_store
    from migwizard.core.generate.kvsql import write_kvsql
    from migwizard.core.kv.lmdb_store import LmdbStore
    from migwizard.core.sql.connect import open_database
    from .lnddb import build_lnd_db

    lnddir = root / "lnd"
    graph = lnddir / "data" / "graph" / "regtest"
    graph.mkdir(parents=True)
    (lnddir / "lnd.conf").write_text("[Application Options]\n\n[Bitcoin]\nbitcoin.regtest=true\n\n"
                                     "[db]\ndb.backend=sqlite\ndb.use-native-sql=true\n")
    store = root / "generated"
    generate_store(store, payments=0, seed=1, profile="edge")
    with LmdbStore.open(store, readonly=True) as src, src.read() as kv_root:
        write_kvsql(kv_root, graph / "channel.sqlite", invoice_tombstone=True)
    shutil.rmtree(store)
    db = open_database(f"sqlite:///{graph / 'lnd.sqlite'}")
    try:
        build_lnd_db(db, tracker=13)
    finally:
        db.close()
    return lnddir
