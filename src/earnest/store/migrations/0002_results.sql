-- earnest store, schema version 2: financial results (NSE results listings and XBRL facts).
-- Portable DDL: the same file runs on DuckDB and PostgreSQL.

CREATE TABLE results_listings (
    filing_key            VARCHAR NOT NULL PRIMARY KEY,
    exchange              VARCHAR NOT NULL,
    symbol                VARCHAR NOT NULL,
    isin                  VARCHAR,
    company               VARCHAR,
    period_from           DATE NOT NULL,
    period_to             DATE NOT NULL,
    period_type           VARCHAR,
    relating_to           VARCHAR,
    financial_year_start  DATE,
    financial_year_end    DATE,
    audited               BOOLEAN,
    cumulative            BOOLEAN,
    consolidated          BOOLEAN,
    ind_as                VARCHAR,
    format                VARCHAR,
    bank_flag             VARCHAR,
    is_bank               BOOLEAN,
    seq_number            BIGINT,
    broadcast_time        TIMESTAMPTZ NOT NULL,
    broadcast_source      VARCHAR NOT NULL,
    dissemination_time    TIMESTAMPTZ,
    filing_time           TIMESTAMPTZ,
    xbrl_url              VARCHAR,
    xbrl_name             VARCHAR,
    detail_url            VARCHAR,
    knowledge_time        TIMESTAMPTZ NOT NULL,
    source_file           VARCHAR NOT NULL,
    source_row            BIGINT
);

CREATE TABLE financial_facts (
    symbol          VARCHAR NOT NULL,
    entity_id       VARCHAR,
    consolidation   VARCHAR NOT NULL,
    period_kind     VARCHAR NOT NULL,
    period_start    DATE,
    period_end      DATE NOT NULL,
    period_source   VARCHAR NOT NULL,
    concept         VARCHAR NOT NULL,
    field           VARCHAR,
    dimension       VARCHAR NOT NULL,
    value           DOUBLE PRECISION,
    value_text      VARCHAR,
    unit            VARCHAR,
    decimals        BIGINT,
    context_id      VARCHAR NOT NULL,
    xbrl_name       VARCHAR NOT NULL,
    xbrl_sha256     VARCHAR NOT NULL,
    broadcast_time  TIMESTAMPTZ,
    knowledge_time  TIMESTAMPTZ,
    source_file     VARCHAR NOT NULL,
    source_row      BIGINT,
    PRIMARY KEY (xbrl_sha256, concept, period_kind, period_end, dimension)
);

CREATE INDEX results_listings_symbol_idx ON results_listings (symbol, period_to);
CREATE INDEX results_listings_xbrl_idx ON results_listings (xbrl_name);
CREATE INDEX financial_facts_symbol_idx ON financial_facts (symbol, field, period_end);
CREATE INDEX financial_facts_xbrl_idx ON financial_facts (xbrl_name);
