-- migwizard 000002_payment_duplicates = LND sqldb/sqlc/migrations/000011_payment_duplicates.down.sql

DROP INDEX IF EXISTS idx_payment_duplicates_payment_id;
DROP TABLE IF EXISTS payment_duplicates;
