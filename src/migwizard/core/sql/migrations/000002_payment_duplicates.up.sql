-- migwizard 000002_payment_duplicates = LND sqldb/sqlc/migrations/000011_payment_duplicates.up.sql
-- (LND schema version 11, global migration version 13; PR #10485).
--
-- Legacy duplicate payments (an old lnd bug). Intentionally minimal: no
-- payment request, route or sequence number is kept. A duplicate without a
-- recorded outcome is migrated as failed, hence the outcome CHECK.

CREATE TABLE IF NOT EXISTS payment_duplicates (
    id INTEGER PRIMARY KEY,

    payment_id BIGINT NOT NULL REFERENCES payments (id) ON DELETE CASCADE,

    amount_msat BIGINT NOT NULL,

    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,

    fail_reason INTEGER,

    settle_preimage BLOB,

    settle_time TIMESTAMP,

    CONSTRAINT chk_payment_duplicates_outcome
    CHECK (fail_reason IS NOT NULL OR settle_preimage IS NOT NULL)
);

CREATE INDEX IF NOT EXISTS idx_payment_duplicates_payment_id
ON payment_duplicates(payment_id);
