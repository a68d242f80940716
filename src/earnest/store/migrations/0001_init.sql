-- earnest store, schema version 1: market data layer.
-- Portable DDL: the same file runs on DuckDB and PostgreSQL.

CREATE TABLE instruments (
    instrument_id   VARCHAR NOT NULL PRIMARY KEY,
    isin            VARCHAR,
    exchange        VARCHAR NOT NULL,
    symbol          VARCHAR NOT NULL,
    name            VARCHAR,
    series          VARCHAR,
    listing_date    DATE,
    delisting_date  DATE,
    face_value      DOUBLE PRECISION,
    status          VARCHAR NOT NULL,
    first_seen      DATE,
    last_seen       DATE,
    source          VARCHAR NOT NULL
);

CREATE TABLE symbol_changes (
    old_symbol      VARCHAR NOT NULL,
    new_symbol      VARCHAR NOT NULL,
    change_date     DATE NOT NULL,
    company_name    VARCHAR,
    source          VARCHAR NOT NULL,
    PRIMARY KEY (old_symbol, new_symbol, change_date)
);

CREATE TABLE bars (
    exchange        VARCHAR NOT NULL,
    instrument_id   VARCHAR NOT NULL,
    isin            VARCHAR,
    symbol          VARCHAR NOT NULL,
    series          VARCHAR NOT NULL,
    date            DATE NOT NULL,
    open            DOUBLE PRECISION NOT NULL,
    high            DOUBLE PRECISION NOT NULL,
    low             DOUBLE PRECISION NOT NULL,
    close           DOUBLE PRECISION NOT NULL,
    last            DOUBLE PRECISION,
    prev_close      DOUBLE PRECISION,
    volume          BIGINT,
    turnover        DOUBLE PRECISION,
    trades          BIGINT,
    delivery_qty    BIGINT,
    knowledge_time  TIMESTAMPTZ NOT NULL,
    source_file     VARCHAR NOT NULL,
    source_row      BIGINT,
    PRIMARY KEY (exchange, instrument_id, series, date)
);

CREATE TABLE derivative_bars (
    exchange        VARCHAR NOT NULL,
    date            DATE NOT NULL,
    instrument_type VARCHAR NOT NULL,
    symbol          VARCHAR NOT NULL,
    expiry          DATE NOT NULL,
    strike          DOUBLE PRECISION NOT NULL,
    option_type     VARCHAR NOT NULL,
    open            DOUBLE PRECISION,
    high            DOUBLE PRECISION,
    low             DOUBLE PRECISION,
    close           DOUBLE PRECISION,
    last            DOUBLE PRECISION,
    prev_close      DOUBLE PRECISION,
    underlying      DOUBLE PRECISION,
    settle          DOUBLE PRECISION,
    open_interest   BIGINT,
    oi_change       BIGINT,
    volume          BIGINT,
    turnover        DOUBLE PRECISION,
    trades          BIGINT,
    lot_size        BIGINT,
    knowledge_time  TIMESTAMPTZ NOT NULL,
    source_file     VARCHAR NOT NULL,
    source_row      BIGINT,
    PRIMARY KEY (exchange, date, instrument_type, symbol, expiry, strike, option_type)
);

CREATE TABLE index_bars (
    index_name      VARCHAR NOT NULL,
    date            DATE NOT NULL,
    open            DOUBLE PRECISION,
    high            DOUBLE PRECISION,
    low             DOUBLE PRECISION,
    close           DOUBLE PRECISION NOT NULL,
    volume          DOUBLE PRECISION,
    turnover        DOUBLE PRECISION,
    knowledge_time  TIMESTAMPTZ NOT NULL,
    source_file     VARCHAR NOT NULL,
    source_row      BIGINT,
    PRIMARY KEY (index_name, date)
);

CREATE TABLE price_bands (
    symbol          VARCHAR NOT NULL,
    series          VARCHAR NOT NULL,
    name            VARCHAR,
    band_pct        DOUBLE PRECISION,
    remarks         VARCHAR,
    effective_date  DATE NOT NULL,
    knowledge_time  TIMESTAMPTZ NOT NULL,
    source_file     VARCHAR NOT NULL,
    source_row      BIGINT,
    PRIMARY KEY (symbol, series, effective_date)
);

CREATE TABLE corporate_actions (
    action_id       VARCHAR NOT NULL PRIMARY KEY,
    exchange        VARCHAR NOT NULL,
    instrument_id   VARCHAR,
    symbol          VARCHAR NOT NULL,
    series          VARCHAR,
    ex_date         DATE NOT NULL,
    action_type     VARCHAR NOT NULL,
    ratio_new       DOUBLE PRECISION,
    ratio_old       DOUBLE PRECISION,
    price_factor    DOUBLE PRECISION NOT NULL,
    amount          DOUBLE PRECISION,
    purpose         VARCHAR,
    source          VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,
    knowledge_time  TIMESTAMPTZ NOT NULL,
    source_file     VARCHAR
);

CREATE TABLE quarantine (
    source_file     VARCHAR NOT NULL,
    source_sha256   VARCHAR NOT NULL,
    source_row      BIGINT,
    target          VARCHAR NOT NULL,
    field           VARCHAR,
    rule            VARCHAR NOT NULL,
    reason          VARCHAR NOT NULL,
    raw             VARCHAR,
    quarantined_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE quality_findings (
    rule            VARCHAR NOT NULL,
    severity        VARCHAR NOT NULL,
    instrument_id   VARCHAR,
    symbol          VARCHAR,
    date            DATE,
    detail          VARCHAR NOT NULL,
    source_file     VARCHAR,
    found_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE ingested_files (
    sha256          VARCHAR NOT NULL PRIMARY KEY,
    file_name       VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,
    rows_total      BIGINT NOT NULL,
    rows_stored     BIGINT NOT NULL,
    rows_merged     BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL,
    code_version    VARCHAR NOT NULL
);

CREATE INDEX bars_date_idx ON bars (date);
CREATE INDEX bars_symbol_idx ON bars (symbol, date);
CREATE INDEX quarantine_file_idx ON quarantine (source_sha256);
CREATE INDEX ca_symbol_idx ON corporate_actions (symbol, ex_date);
