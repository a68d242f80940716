-- earnest store, schema version 5: the hypothesis lab's trial ledger.
-- Portable DDL: the same file runs on DuckDB and PostgreSQL.
-- One row per trial: a hypothesis variant (research question, events, entry, benchmark, costs,
-- horizon, outcome...) identified by trial_key, the sha256 of its canonical definition
-- (earnest.lab.spec.Variant.key). Re-running a variant updates its latest figures, last_run_at and
-- runs; it never adds a row. effect and p_value are null when the variant had no usable events;
-- receipt_json is the latest run's receipt (data hash, config hash, code version, seed).

CREATE TABLE lab_trials (
    trial_key       VARCHAR NOT NULL PRIMARY KEY,
    question        VARCHAR NOT NULL,
    hypothesis_name VARCHAR NOT NULL,
    variant_json    VARCHAR NOT NULL,
    horizon         BIGINT NOT NULL,
    outcome         VARCHAR NOT NULL,
    n_events        BIGINT NOT NULL,
    effect          DOUBLE PRECISION,
    p_value         DOUBLE PRECISION,
    first_run_at    TIMESTAMPTZ NOT NULL,
    last_run_at     TIMESTAMPTZ NOT NULL,
    runs            BIGINT NOT NULL,
    receipt_json    VARCHAR NOT NULL
);

CREATE INDEX lab_trials_question_idx ON lab_trials (question, first_run_at);
