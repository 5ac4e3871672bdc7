-- migwizard 000004_payments_no_fail_reason_index = LND sqldb/sqlc/migrations/000014_payments_no_fail_reason_index.down.sql

DROP INDEX IF EXISTS idx_payments_no_fail_reason;
