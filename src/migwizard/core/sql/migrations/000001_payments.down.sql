-- migwizard 000001_payments = LND sqldb/sqlc/migrations/000010_payments.down.sql
-- Drops the payment tables in dependency order (children first).

DROP TABLE IF EXISTS payment_hop_custom_records;
DROP TABLE IF EXISTS payment_attempt_first_hop_custom_records;
DROP TABLE IF EXISTS payment_first_hop_custom_records;

DROP TABLE IF EXISTS payment_route_hop_blinded;
DROP TABLE IF EXISTS payment_route_hop_amp;
DROP TABLE IF EXISTS payment_route_hop_mpp;

DROP INDEX IF EXISTS idx_route_hops_htlc_attempt_index;
DROP TABLE IF EXISTS payment_route_hops;

DROP INDEX IF EXISTS idx_htlc_resolutions_type;
DROP INDEX IF EXISTS idx_htlc_resolutions_time;
DROP TABLE IF EXISTS payment_htlc_attempt_resolutions;

DROP INDEX IF EXISTS idx_htlc_payment_id;
DROP INDEX IF EXISTS idx_htlc_attempt_index;
DROP INDEX IF EXISTS idx_htlc_payment_hash;
DROP INDEX IF EXISTS idx_htlc_attempt_time;
DROP TABLE IF EXISTS payment_htlc_attempts;

DROP INDEX IF EXISTS idx_payment_intents_type;
DROP TABLE IF EXISTS payment_intents;

DROP INDEX IF EXISTS idx_payments_created_at;
DROP TABLE IF EXISTS payments;
