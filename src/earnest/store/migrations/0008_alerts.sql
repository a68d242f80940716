-- earnest store, schema version 8: the alert outbox and live outcomes (issue 8).
-- Portable DDL: the same file runs on DuckDB and PostgreSQL.
--
-- alerts: one row per alert; alert_id is the sha256 of (model name, model version, symbol, signal
-- date, event id), so enqueueing the same alert twice keeps one row (the first payload).
-- knowledge_time is when the signal's information was known: the entry session follows it.
CREATE TABLE alerts (
    alert_id        VARCHAR NOT NULL PRIMARY KEY,
    model_name      VARCHAR NOT NULL,
    model_version   VARCHAR NOT NULL,
    symbol          VARCHAR NOT NULL,
    signal_date     DATE NOT NULL,
    event_id        VARCHAR NOT NULL,
    signal          VARCHAR NOT NULL,
    probability     DOUBLE PRECISION,
    knowledge_time  TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    payload_json    VARCHAR NOT NULL
);

-- alert_deliveries: one row per (alert, channel). status: pending (due at next_attempt_at), sent
-- (final: provider_message_id and sent_at set), failed_permanent (the provider refused it for
-- good, last_error says why; `earnest alerts retry` puts it back to pending).
CREATE TABLE alert_deliveries (
    alert_id             VARCHAR NOT NULL,
    channel              VARCHAR NOT NULL,
    status               VARCHAR NOT NULL,
    attempts             BIGINT NOT NULL,
    next_attempt_at      TIMESTAMPTZ NOT NULL,
    last_error           VARCHAR,
    provider_message_id  VARCHAR,
    sent_at              TIMESTAMPTZ,
    updated_at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (alert_id, channel)
);

CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (status, next_attempt_at);

-- alert_outcomes: a sent alert's realised return over horizon sessions from its entry, raw and
-- minus the benchmark (an index name such as NIFTY 50, or EQUAL_WEIGHT when the index has no bars
-- for the window). known_at: when the exit session's bar is known.
CREATE TABLE alert_outcomes (
    alert_id          VARCHAR NOT NULL,
    horizon           BIGINT NOT NULL,
    symbol            VARCHAR NOT NULL,
    fill              VARCHAR NOT NULL,
    entry_date        DATE NOT NULL,
    exit_date         DATE NOT NULL,
    raw_return        DOUBLE PRECISION NOT NULL,
    benchmark         VARCHAR NOT NULL,
    benchmark_return  DOUBLE PRECISION,
    excess_return     DOUBLE PRECISION,
    known_at          TIMESTAMPTZ NOT NULL,
    computed_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (alert_id, horizon)
);
