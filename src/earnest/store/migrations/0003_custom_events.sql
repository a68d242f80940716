-- earnest store, schema version 3: user-supplied events (generic event import).
-- Portable DDL: the same file runs on DuckDB and PostgreSQL.

CREATE TABLE custom_events (
    event_id        VARCHAR NOT NULL PRIMARY KEY,
    symbol          VARCHAR,
    isin            VARCHAR,
    event_type      VARCHAR NOT NULL,
    event_time      TIMESTAMPTZ NOT NULL,
    knowledge_time  TIMESTAMPTZ NOT NULL,
    fields          VARCHAR NOT NULL,
    source_file     VARCHAR NOT NULL,
    source_row      BIGINT
);

CREATE INDEX custom_events_symbol_idx ON custom_events (symbol, event_type, event_time);
CREATE INDEX custom_events_isin_idx ON custom_events (isin, event_type, event_time);
