-- migwizard 000005_migwizard_bookkeeping (no LND equivalent).

DROP INDEX IF EXISTS idx_migwizard_skipped_run_id;
DROP TABLE IF EXISTS migwizard_skipped;
DROP TABLE IF EXISTS migwizard_run_chunks;
DROP INDEX IF EXISTS idx_migwizard_runs_state;
DROP TABLE IF EXISTS migwizard_runs;
