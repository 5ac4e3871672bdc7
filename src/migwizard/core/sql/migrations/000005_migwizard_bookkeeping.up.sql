-- migwizard 000005_migwizard_bookkeeping: migwizard's own tables (no LND
-- equivalent). They live next to LND's tables so that the progress of a
-- migration commits atomically with the rows it describes: a chunk's rows and
-- its checkpoint are in the same transaction, so a crash can never leave a
-- checkpoint that claims rows that are not there (or the reverse). lnd ignores
-- unknown tables.
--
-- Same dialect rules as the LND files (SQLite text, PostgreSQL by string
-- replacement). Sequence-like u64 values (checkpoint_seq, switch_seq_*) are
-- stored as int64(u64), exactly like LND stores its u64 amounts.

-- One row per migration run (a resumed run keeps its row).
CREATE TABLE IF NOT EXISTS migwizard_runs (
    id INTEGER PRIMARY KEY,

    -- Stable external id (uuid4 hex) used by the UI, logs and resume.
    run_id TEXT NOT NULL,

    source_path TEXT NOT NULL,

    -- Identity of the source KV file/DB, so a resume against a different
    -- source is refused.
    source_fingerprint TEXT NOT NULL,

    -- bbolt, lmdb, kvdb-sqlite, kvdb-postgres, ...
    source_kind TEXT NOT NULL,

    kv_layout_version INTEGER,

    channeldb_version INTEGER,

    tool_version TEXT NOT NULL,

    target_dialect TEXT NOT NULL CHECK (target_dialect IN ('sqlite', 'postgres')),

    target_server_version TEXT,

    state TEXT NOT NULL DEFAULT 'running' CHECK (
        state IN ('running', 'validated', 'committed', 'rolled_back', 'failed')
    ),

    -- Last KV payments-index sequence whose payment is committed; 0 = none.
    checkpoint_seq BIGINT NOT NULL DEFAULT 0,

    chunks_done BIGINT NOT NULL DEFAULT 0,
    payments_done BIGINT NOT NULL DEFAULT 0,
    attempts_done BIGINT NOT NULL DEFAULT 0,
    hops_done BIGINT NOT NULL DEFAULT 0,
    duplicates_done BIGINT NOT NULL DEFAULT 0,
    skipped_done BIGINT NOT NULL DEFAULT 0,

    -- payments.id of the first payment this run inserted.
    first_payment_id BIGINT,

    -- JSON {table: next id}: ids are assigned client-side, so a resumed
    -- chunk allocates exactly the ids the interrupted one would have.
    next_ids TEXT NOT NULL DEFAULT '{}',

    -- JSON {normalisation name: count} (nil-hash fallback, orphaned blinded
    -- totals, legacy zero attempt ids, ...).
    normalisations TEXT NOT NULL DEFAULT '{}',

    -- Switch payment-id sequencer before and after the legacy-zero-id
    -- allocator (LND §4.6); NULL until known.
    switch_seq_before BIGINT,
    switch_seq_after BIGINT,

    -- 1 when this run created the payment tables (so rollback may drop them).
    created_schema INTEGER NOT NULL DEFAULT 0,

    started_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    validated_at TIMESTAMP,
    committed_at TIMESTAMP,

    -- Last error text for state = 'failed' (never contains a password).
    error TEXT,

    -- JSON with anything else worth keeping (timings, per-status counts).
    stats TEXT NOT NULL DEFAULT '{}',

    CONSTRAINT migwizard_runs_run_id_unique
    UNIQUE (run_id)
);

CREATE INDEX IF NOT EXISTS idx_migwizard_runs_state
ON migwizard_runs(state);

-- One row per committed chunk: the audit trail of checkpoints, written in the
-- same transaction as the chunk's rows.
CREATE TABLE IF NOT EXISTS migwizard_run_chunks (
    id INTEGER PRIMARY KEY,

    run_id TEXT NOT NULL REFERENCES migwizard_runs (run_id) ON DELETE CASCADE,

    -- 1-based chunk number within the run.
    chunk_no BIGINT NOT NULL,

    -- KV index sequences covered (inclusive).
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,

    payments BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    hops BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,

    first_payment_id BIGINT,
    last_payment_id BIGINT,

    -- JSON {table: next id} after this chunk.
    next_ids TEXT NOT NULL DEFAULT '{}',

    committed_at TIMESTAMP NOT NULL,

    CONSTRAINT migwizard_run_chunks_unique
    UNIQUE (run_id, chunk_no)
);

-- KV entries deliberately not migrated (duplicate index entries, unreadable
-- payments the user chose to skip), so the report can list them.
CREATE TABLE IF NOT EXISTS migwizard_skipped (
    id INTEGER PRIMARY KEY,

    run_id TEXT NOT NULL REFERENCES migwizard_runs (run_id) ON DELETE CASCADE,

    kv_seq BIGINT,

    payment_identifier BLOB,

    reason TEXT NOT NULL,

    detail TEXT,

    created_at TIMESTAMP NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_migwizard_skipped_run_id
ON migwizard_skipped(run_id);
