-- earnest store, schema version 9: the prediction service (issue 8).
-- Portable DDL: the same file runs on DuckDB and PostgreSQL.
--
-- api_keys: one row per API key. The secret itself is never stored: hash is the hex sha256 of
-- the key's 256-bit random secret (earnest.service.auth explains why a fast hash is enough for a
-- random key). revoked_at is null while the key is valid; rate_limit is the key's requests per
-- second (null: the service default).
CREATE TABLE api_keys (
    key_id      VARCHAR NOT NULL PRIMARY KEY,
    name        VARCHAR NOT NULL,
    hash        VARCHAR NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    rate_limit  DOUBLE PRECISION
);

-- signals: the day's scored universe, written by the daily pipeline and served by GET /v1/signals.
-- One row per (date, symbol, model_name); features_json and receipt_json are JSON objects as text.
CREATE TABLE signals (
    date           DATE NOT NULL,
    symbol         VARCHAR NOT NULL,
    isin           VARCHAR,
    model_name     VARCHAR NOT NULL,
    model_version  VARCHAR NOT NULL,
    score          DOUBLE PRECISION,
    features_json  VARCHAR NOT NULL,
    receipt_json   VARCHAR NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (date, symbol, model_name)
);
