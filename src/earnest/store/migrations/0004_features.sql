-- earnest store, schema version 4: materialised point-in-time features, long layout.
-- Portable DDL: the same file runs on DuckDB and PostgreSQL.
-- One row per (instrument, session, feature output). value is null where the feature is unknown
-- (warm-up, missing input); known_at is when the value became known (UTC); spec_hash identifies the
-- spec and input basis (raw or adjusted bars) it was computed with; computed_at is when it was written.

CREATE TABLE features (
    instrument_id   VARCHAR NOT NULL,
    date            DATE NOT NULL,
    feature         VARCHAR NOT NULL,
    value           DOUBLE PRECISION,
    known_at        TIMESTAMPTZ NOT NULL,
    spec_hash       VARCHAR NOT NULL,
    computed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (instrument_id, date, feature)
);
