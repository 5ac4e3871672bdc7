"""Which payment of a refused chunk (or transaction of chunks) the SQL target refuses.

No per-payment copy of the rows is kept while loading: the walk is replayed from the state
committed last, in this process and on the same snapshot, one payment per item, each inserted
in a savepoint of a transaction that is always rolled back, until one fails.
"""

from __future__ import annotations

from typing import Any

from ..sql.bulk import BulkWriter
from ..sql.transactions import write_txn
from . import migrate_kv, workers
from .rows import PAYMENT_TABLES, TABLE_COLUMNS, pg_times_to_datetimes


def find_culprit(db, writer: BulkWriter, args: dict) -> tuple[bytes | None, Exception | None]:
    """(the first payment refused, the target's error) for the KV half's ``args`` (one payment per
    chunk, ``until`` the refused chunk's last sequence, ``root`` the snapshot); either may be None."""
    found: list[Any] = [None, None]

    class _Undo(Exception):
        pass

    try:
        with workers.stream(migrate_kv.TARGET, args, workers=1) as items, write_txn(db):
            for item in items:
                if not isinstance(item, migrate_kv.Chunk):
                    continue
                if args["dialect"] == "postgres":
                    pg_times_to_datetimes(item.rows.rows)  # as the loop's _flush does
                try:
                    with write_txn(db):  # a savepoint
                        for table in PAYMENT_TABLES:
                            if item.rows.rows[table]:
                                writer.insert(table, TABLE_COLUMNS[table], item.rows.rows[table])
                except Exception as e:  # noqa: BLE001
                    found[0], found[1] = item.last_payment, e
                    break
            raise _Undo()
    except _Undo:
        pass
    except Exception as e:  # noqa: BLE001
        found[1] = found[1] or e
    return found[0], found[1]
