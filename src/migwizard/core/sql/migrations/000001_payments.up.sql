-- migwizard 000001_payments = LND sqldb/sqlc/migrations/000010_payments.up.sql
-- (LND schema version 10, global migration version 12).
--
-- Written in LND's SQLite dialect, statement for statement as LND's file, so
-- that the tables we create are indistinguishable from the ones lnd creates.
-- PostgreSQL gets LND's plain string replacements at apply time (BLOB ->
-- BYTEA, INTEGER PRIMARY KEY -> BIGSERIAL PRIMARY KEY, " TIMESTAMP" ->
-- " TIMESTAMP WITHOUT TIME ZONE"). Do not edit: the checksum is recorded.

-- Payments: one row per payment; payments.id becomes the sequence number.
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY,

    amount_msat BIGINT NOT NULL,

    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,

    -- Payment hash for legacy/MPP payments, the set ID for AMP.
    payment_identifier BLOB NOT NULL,

    -- FailureReason, only set once the payment has failed.
    fail_reason INTEGER,

    CONSTRAINT idx_payments_payment_identifier_unique
    UNIQUE (payment_identifier)
);

CREATE INDEX IF NOT EXISTS idx_payments_created_at
ON payments(created_at);

-- Payment intents: what the payment pays for (0 = BOLT 11 payment request).
CREATE TABLE IF NOT EXISTS payment_intents (
    id INTEGER PRIMARY KEY,

    payment_id BIGINT NOT NULL REFERENCES payments (id) ON DELETE CASCADE,

    intent_type SMALLINT NOT NULL,

    intent_payload BLOB,

    CONSTRAINT idx_payment_intents_payment_id_unique
    UNIQUE (payment_id)
);

CREATE INDEX IF NOT EXISTS idx_payment_intents_type
ON payment_intents(intent_type);

-- HTLC attempts, one route each.
CREATE TABLE IF NOT EXISTS payment_htlc_attempts (
    id INTEGER PRIMARY KEY,

    attempt_index BIGINT NOT NULL,

    payment_id BIGINT NOT NULL REFERENCES payments (id) ON DELETE CASCADE,

    session_key BLOB NOT NULL,

    attempt_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,

    payment_hash BLOB NOT NULL,

    first_hop_amount_msat BIGINT NOT NULL,

    route_total_time_lock INTEGER NOT NULL,

    route_total_amount BIGINT NOT NULL,

    route_source_key BLOB NOT NULL,

    CONSTRAINT idx_htlc_attempt_index_unique
    UNIQUE (attempt_index),

    CONSTRAINT idx_htlc_session_key_unique
    UNIQUE (session_key)
);

CREATE INDEX IF NOT EXISTS idx_htlc_payment_id
ON payment_htlc_attempts(payment_id);

CREATE INDEX IF NOT EXISTS idx_htlc_attempt_index
ON payment_htlc_attempts(attempt_index);

CREATE INDEX IF NOT EXISTS idx_htlc_payment_hash
ON payment_htlc_attempts(payment_hash);

CREATE INDEX IF NOT EXISTS idx_htlc_attempt_time
ON payment_htlc_attempts(attempt_time);

-- Resolutions: a row once an attempt settled (1) or failed (2).
CREATE TABLE IF NOT EXISTS payment_htlc_attempt_resolutions (
    attempt_index INTEGER PRIMARY KEY
    REFERENCES payment_htlc_attempts (attempt_index) ON DELETE CASCADE,

    resolution_time TIMESTAMP NOT NULL,

    resolution_type INTEGER NOT NULL CHECK (resolution_type IN (1, 2)),

    settle_preimage BLOB,

    failure_source_index INTEGER,

    htlc_fail_reason INTEGER,

    -- lnwire-encoded failure message (code + payload).
    failure_msg BLOB,

    CHECK (
        (resolution_type = 1 AND settle_preimage IS NOT NULL AND
         failure_source_index IS NULL AND htlc_fail_reason IS NULL AND
         failure_msg IS NULL)
        OR
        (resolution_type = 2 AND settle_preimage IS NULL)
    )
);

CREATE INDEX IF NOT EXISTS idx_htlc_resolutions_type
ON payment_htlc_attempt_resolutions(resolution_type);

CREATE INDEX IF NOT EXISTS idx_htlc_resolutions_time
ON payment_htlc_attempt_resolutions(resolution_time);

-- Route hops of an attempt, hop_index is the 0-based position.
CREATE TABLE IF NOT EXISTS payment_route_hops (
    id INTEGER PRIMARY KEY,

    htlc_attempt_index BIGINT NOT NULL
    REFERENCES payment_htlc_attempts (attempt_index) ON DELETE CASCADE,

    hop_index INTEGER NOT NULL,

    pub_key BLOB,

    -- Decimal string of the u64 short channel ID.
    scid TEXT NOT NULL,

    outgoing_time_lock INTEGER NOT NULL,

    amt_to_forward BIGINT NOT NULL,

    meta_data BLOB,

    CONSTRAINT idx_route_hops_unique_hop_per_attempt
    UNIQUE (htlc_attempt_index, hop_index)
);

CREATE INDEX IF NOT EXISTS idx_route_hops_htlc_attempt_index
ON payment_route_hops(htlc_attempt_index);

-- Per-hop payloads.
CREATE TABLE IF NOT EXISTS payment_route_hop_mpp (
    hop_id INTEGER PRIMARY KEY
    REFERENCES payment_route_hops (id) ON DELETE CASCADE,

    payment_addr BLOB NOT NULL,

    total_msat BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS payment_route_hop_amp (
    hop_id INTEGER PRIMARY KEY
    REFERENCES payment_route_hops (id) ON DELETE CASCADE,

    root_share BLOB NOT NULL,

    set_id BLOB NOT NULL,

    -- uint32 reinterpreted as int32.
    child_index INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS payment_route_hop_blinded (
    hop_id INTEGER PRIMARY KEY
    REFERENCES payment_route_hops (id) ON DELETE CASCADE,

    encrypted_data BLOB NOT NULL,

    blinding_point BLOB,

    blinded_path_total_amt BIGINT
);

-- Custom TLV records (keys >= 65536 only).
CREATE TABLE IF NOT EXISTS payment_first_hop_custom_records (
    id INTEGER PRIMARY KEY,

    payment_id BIGINT NOT NULL REFERENCES payments (id) ON DELETE CASCADE,

    key BIGINT NOT NULL,

    value BLOB NOT NULL,

    CHECK (key >= 65536),

    CONSTRAINT idx_payment_first_hop_custom_records_unique
    UNIQUE (payment_id, key)
);

CREATE TABLE IF NOT EXISTS payment_attempt_first_hop_custom_records (
    id INTEGER PRIMARY KEY,

    htlc_attempt_index BIGINT NOT NULL
    REFERENCES payment_htlc_attempts (attempt_index) ON DELETE CASCADE,

    key BIGINT NOT NULL,

    value BLOB NOT NULL,

    CHECK (key >= 65536),

    CONSTRAINT idx_payment_attempt_first_hop_custom_records_unique
    UNIQUE (htlc_attempt_index, key)
);

CREATE TABLE IF NOT EXISTS payment_hop_custom_records (
    id INTEGER PRIMARY KEY,

    hop_id BIGINT NOT NULL REFERENCES payment_route_hops (id) ON DELETE CASCADE,

    key BIGINT NOT NULL,

    value BLOB NOT NULL,

    CHECK (key >= 65536),

    CONSTRAINT idx_payment_hop_custom_records_unique
    UNIQUE (hop_id, key)
);
