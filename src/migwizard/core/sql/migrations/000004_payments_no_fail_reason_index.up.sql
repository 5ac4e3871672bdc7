-- migwizard 000004_payments_no_fail_reason_index = LND sqldb/sqlc/migrations/000014_payments_no_fail_reason_index.up.sql
-- (LND schema version 14, global migration version 17).
--
-- Partial index for lnd's startup recovery scan of unfinished payments.

CREATE INDEX IF NOT EXISTS idx_payments_no_fail_reason
ON payments(id) WHERE fail_reason IS NULL;
