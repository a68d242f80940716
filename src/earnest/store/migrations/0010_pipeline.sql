-- earnest store, schema version 10: the daily pipeline's stage log.
-- Portable DDL: the same file runs on DuckDB and PostgreSQL.
-- One row per (trading day, stage). status: running (started, not finished: a crash leaves it so),
-- done, failed (error holds the message). A re-run of `earnest daily` skips stages that are done for
-- that day and re-runs the others; every stage is idempotent, so a stage killed half-way is simply
-- run again. detail_json holds what the stage did (files, rows, signals, alerts).

CREATE TABLE pipeline_runs (
    run_date     DATE NOT NULL,
    stage        VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,
    attempts     BIGINT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    detail_json  VARCHAR NOT NULL,
    error        VARCHAR,
    PRIMARY KEY (run_date, stage)
);
