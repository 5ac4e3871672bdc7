"""SQL side of migwizard: LND's payments schema, its on-disk value forms, and
fast, transaction-safe writes into SQLite or PostgreSQL.

Modules: ``connect`` (URLs, connections), ``schema`` (migrations, LND
detection), ``models`` (peewee models), ``values`` (Go/driver value forms and
``Dialect``), ``transactions`` (``write_txn``), ``bulk`` (``BulkWriter``),
``dump`` (deterministic dumps), ``introspect`` (catalog queries).
"""
