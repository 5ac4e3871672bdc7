-- migwizard 000003_payments_index_improvements = LND sqldb/sqlc/migrations/000013_payments_index_improvements.up.sql
-- (LND schema version 13, global migration version 16).
--
-- The two dropped indexes duplicate the autoindexes of UNIQUE(attempt_index)
-- and UNIQUE(htlc_attempt_index, hop_index); the composite ones serve lnd's
-- hot read (attempts by payment ordered by time) and delete paths.

DROP INDEX IF EXISTS idx_htlc_attempt_index;
DROP INDEX IF EXISTS idx_route_hops_htlc_attempt_index;

CREATE INDEX IF NOT EXISTS idx_htlc_payment_id_attempt_time
ON payment_htlc_attempts(payment_id, attempt_time);

CREATE INDEX IF NOT EXISTS idx_htlc_resolutions_type_attempt_index
ON payment_htlc_attempt_resolutions(resolution_type, attempt_index);
