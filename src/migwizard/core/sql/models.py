"""peewee models for LND's payment tables and migwizard's bookkeeping tables.

The SQL files in ``migrations/`` create the tables (they must be byte-for-byte
LND's DDL); these models only render statements and run queries, so they are
deliberately plain: column-named integer fields instead of ``ForeignKeyField``
(no hidden joins or lazy loads, attribute name == column name, which is what
the bulk writer and dumps key on) and ``field_type`` set to LND's SQLite type
so a test can compare models and the created schema column by column.

Value conversion is NOT done here for LND tables: timestamps go in already in
the dialect's on-disk form (``Dialect.ts``), see :mod:`.values`. Bind the
models to a database with :func:`bind_models` (or ``db.bind_ctx(ALL_MODELS)``).
"""

from __future__ import annotations

from datetime import datetime, timezone

import peewee

database_proxy = peewee.DatabaseProxy()


class BlobField(peewee.BlobField):
    field_type = "BLOB"


class BigIntegerField(peewee.BigIntegerField):
    field_type = "BIGINT"


class IntegerField(peewee.IntegerField):
    field_type = "INTEGER"


class SmallIntegerField(peewee.SmallIntegerField):
    field_type = "SMALLINT"


class TextField(peewee.TextField):
    field_type = "TEXT"


class IdField(peewee.BigIntegerField):
    """``INTEGER PRIMARY KEY`` (BIGSERIAL on PostgreSQL), always given explicitly:
    ids are allocated client-side so a resumed chunk reproduces them."""

    field_type = "INTEGER"

    def __init__(self, **kwargs):
        kwargs.setdefault("primary_key", True)
        super().__init__(**kwargs)


class LndTimestampField(peewee.Field):
    """LND ``TIMESTAMP`` column, passed through untouched: TEXT in Go
    ``time.String()`` form on SQLite, naive UTC ``datetime`` on PostgreSQL."""

    field_type = "TIMESTAMP"


class UtcDateTimeField(peewee.DateTimeField):
    """``TIMESTAMP`` of migwizard's own tables: naive UTC ``datetime`` in Python.

    Written as ISO text ourselves, because sqlite3's implicit datetime adapter
    is deprecated and PostgreSQL accepts the same text for TIMESTAMP.
    """

    field_type = "TIMESTAMP"

    def db_value(self, value):
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(timezone.utc).replace(tzinfo=None)
            return value.isoformat(sep=" ")
        return super().db_value(value)

    def python_value(self, value):
        value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


# ---------------------------------------------------------------------------
# LND 000010
# ---------------------------------------------------------------------------


class Payment(BaseModel):
    id = IdField()
    amount_msat = BigIntegerField()
    created_at = LndTimestampField()
    payment_identifier = BlobField()
    fail_reason = IntegerField(null=True)

    class Meta:
        table_name = "payments"


class PaymentIntent(BaseModel):
    id = IdField()
    payment_id = BigIntegerField()
    intent_type = SmallIntegerField()
    intent_payload = BlobField(null=True)

    class Meta:
        table_name = "payment_intents"


class PaymentHtlcAttempt(BaseModel):
    id = IdField()
    attempt_index = BigIntegerField()
    payment_id = BigIntegerField()
    session_key = BlobField()
    attempt_time = LndTimestampField()
    payment_hash = BlobField()
    first_hop_amount_msat = BigIntegerField()
    route_total_time_lock = IntegerField()
    route_total_amount = BigIntegerField()
    route_source_key = BlobField()

    class Meta:
        table_name = "payment_htlc_attempts"


class PaymentHtlcAttemptResolution(BaseModel):
    attempt_index = IdField()
    resolution_time = LndTimestampField()
    resolution_type = IntegerField()
    settle_preimage = BlobField(null=True)
    failure_source_index = IntegerField(null=True)
    htlc_fail_reason = IntegerField(null=True)
    failure_msg = BlobField(null=True)

    class Meta:
        table_name = "payment_htlc_attempt_resolutions"


class PaymentRouteHop(BaseModel):
    id = IdField()
    htlc_attempt_index = BigIntegerField()
    hop_index = IntegerField()
    pub_key = BlobField(null=True)
    scid = TextField()
    outgoing_time_lock = IntegerField()
    amt_to_forward = BigIntegerField()
    meta_data = BlobField(null=True)

    class Meta:
        table_name = "payment_route_hops"


class PaymentRouteHopMpp(BaseModel):
    hop_id = IdField()
    payment_addr = BlobField()
    total_msat = BigIntegerField()

    class Meta:
        table_name = "payment_route_hop_mpp"


class PaymentRouteHopAmp(BaseModel):
    hop_id = IdField()
    root_share = BlobField()
    set_id = BlobField()
    child_index = IntegerField()

    class Meta:
        table_name = "payment_route_hop_amp"


class PaymentRouteHopBlinded(BaseModel):
    hop_id = IdField()
    encrypted_data = BlobField()
    blinding_point = BlobField(null=True)
    blinded_path_total_amt = BigIntegerField(null=True)

    class Meta:
        table_name = "payment_route_hop_blinded"


class PaymentFirstHopCustomRecord(BaseModel):
    id = IdField()
    payment_id = BigIntegerField()
    key = BigIntegerField()
    value = BlobField()

    class Meta:
        table_name = "payment_first_hop_custom_records"


class PaymentAttemptFirstHopCustomRecord(BaseModel):
    id = IdField()
    htlc_attempt_index = BigIntegerField()
    key = BigIntegerField()
    value = BlobField()

    class Meta:
        table_name = "payment_attempt_first_hop_custom_records"


class PaymentHopCustomRecord(BaseModel):
    id = IdField()
    hop_id = BigIntegerField()
    key = BigIntegerField()
    value = BlobField()

    class Meta:
        table_name = "payment_hop_custom_records"


# ---------------------------------------------------------------------------
# LND 000011
# ---------------------------------------------------------------------------


class PaymentDuplicate(BaseModel):
    id = IdField()
    payment_id = BigIntegerField()
    amount_msat = BigIntegerField()
    created_at = LndTimestampField()
    fail_reason = IntegerField(null=True)
    settle_preimage = BlobField(null=True)
    settle_time = LndTimestampField(null=True)

    class Meta:
        table_name = "payment_duplicates"


# ---------------------------------------------------------------------------
# migwizard bookkeeping (000005 + the tracking table of schema.py)
# ---------------------------------------------------------------------------

RUN_STATES = ("running", "validated", "committed", "rolled_back", "failed")


class MigwizardRun(BaseModel):
    id = IdField()
    run_id = TextField(unique=True)
    source_path = TextField()
    source_fingerprint = TextField()
    source_kind = TextField()
    kv_layout_version = IntegerField(null=True)
    channeldb_version = IntegerField(null=True)
    tool_version = TextField()
    target_dialect = TextField()
    target_server_version = TextField(null=True)
    state = TextField(default="running")
    checkpoint_seq = BigIntegerField(default=0)
    chunks_done = BigIntegerField(default=0)
    payments_done = BigIntegerField(default=0)
    attempts_done = BigIntegerField(default=0)
    hops_done = BigIntegerField(default=0)
    duplicates_done = BigIntegerField(default=0)
    skipped_done = BigIntegerField(default=0)
    first_payment_id = BigIntegerField(null=True)
    next_ids = TextField(default="{}")
    normalisations = TextField(default="{}")
    switch_seq_before = BigIntegerField(null=True)
    switch_seq_after = BigIntegerField(null=True)
    created_schema = IntegerField(default=0)
    started_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()
    validated_at = UtcDateTimeField(null=True)
    committed_at = UtcDateTimeField(null=True)
    error = TextField(null=True)
    stats = TextField(default="{}")

    class Meta:
        table_name = "migwizard_runs"


class MigwizardRunChunk(BaseModel):
    id = IdField()
    run_id = TextField()
    chunk_no = BigIntegerField()
    first_seq = BigIntegerField()
    last_seq = BigIntegerField()
    payments = BigIntegerField(default=0)
    attempts = BigIntegerField(default=0)
    hops = BigIntegerField(default=0)
    duplicates = BigIntegerField(default=0)
    skipped = BigIntegerField(default=0)
    first_payment_id = BigIntegerField(null=True)
    last_payment_id = BigIntegerField(null=True)
    next_ids = TextField(default="{}")
    committed_at = UtcDateTimeField()

    class Meta:
        table_name = "migwizard_run_chunks"


class MigwizardSkipped(BaseModel):
    id = IdField()
    run_id = TextField()
    kv_seq = BigIntegerField(null=True)
    payment_identifier = BlobField(null=True)
    reason = TextField()
    detail = TextField(null=True)
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "migwizard_skipped"


class MigwizardSchemaMigration(BaseModel):
    """Created by :func:`schema.apply_migrations`, not by a migration file."""

    version = IntegerField(primary_key=True)
    name = TextField()
    checksum = TextField()
    applied_at = TextField()
    # 1 = the objects were created by lnd and only verified ("adopted").
    adopted = IntegerField(default=0)

    class Meta:
        table_name = "migwizard_schema_migrations"


#: LND's tables in dependency (insert) order; reverse for deletes.
LND_PAYMENT_MODELS: tuple[type[BaseModel], ...] = (
    Payment,
    PaymentIntent,
    PaymentFirstHopCustomRecord,
    PaymentHtlcAttempt,
    PaymentAttemptFirstHopCustomRecord,
    PaymentRouteHop,
    PaymentRouteHopMpp,
    PaymentRouteHopAmp,
    PaymentRouteHopBlinded,
    PaymentHopCustomRecord,
    PaymentHtlcAttemptResolution,
    PaymentDuplicate,
)
BOOKKEEPING_MODELS: tuple[type[BaseModel], ...] = (
    MigwizardRun,
    MigwizardRunChunk,
    MigwizardSkipped,
)
ALL_MODELS: tuple[type[BaseModel], ...] = (
    LND_PAYMENT_MODELS + BOOKKEEPING_MODELS + (MigwizardSchemaMigration,)
)
MODELS_BY_TABLE: dict[str, type[BaseModel]] = {m._meta.table_name: m for m in ALL_MODELS}
LND_PAYMENT_TABLES: tuple[str, ...] = tuple(m._meta.table_name for m in LND_PAYMENT_MODELS)
#: The tables of LND 000010 (everything but payment_duplicates).
LND_000010_TABLES: tuple[str, ...] = tuple(t for t in LND_PAYMENT_TABLES if t != "payment_duplicates")


def bind_models(db: peewee.Database) -> None:
    """Point every model at ``db`` (process-wide; use ``db.bind_ctx`` for scoped use)."""
    database_proxy.initialize(db)
