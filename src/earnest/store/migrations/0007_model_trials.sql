-- earnest store, schema version 7: the trial ledger also records model training trials.
-- Portable DDL: the same file runs on DuckDB and PostgreSQL.
-- kind: 'hypothesis' (a lab variant, the rows before this migration) or 'model' (one hyperparameter
-- trial of `earnest train`, keyed by the hash of its dataset spec, model kind and parameters).
-- sharpe: a model trial's out-of-sample per-period Sharpe ratio (mean / sd of the per-entry-date net
-- return of the top-scored events, not annualised); n_periods: how many periods it spans. The
-- deflated Sharpe ratio takes the number of trials and the variance of these Sharpe ratios.
-- Null for hypothesis trials.

ALTER TABLE lab_trials ADD COLUMN kind VARCHAR DEFAULT 'hypothesis';

ALTER TABLE lab_trials ADD COLUMN sharpe DOUBLE PRECISION;

ALTER TABLE lab_trials ADD COLUMN n_periods BIGINT;
