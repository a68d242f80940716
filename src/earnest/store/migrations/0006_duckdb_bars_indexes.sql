-- earnest store, schema version 6: DuckDB drops the two secondary indexes on bars.
--
-- DuckDB never uses them for earnest's reads: its zonemaps prune by date (bars are written in
-- date order) and it scans the symbol column faster than an ART lookup for more than a handful
-- of rows (EXPLAIN shows a sequential scan for symbol, date and instrument filters alike). Yet
-- every insert maintains them, which made a bulk ingest of bars twice as slow
-- (benchmarks/store_floor.py). The primary key stays: it enforces one row per key and drives
-- ON CONFLICT. PostgreSQL keeps both indexes: its planner uses them.
--
-- A "-- dialect: NAME" line makes the next statement run on that backend only.

-- dialect: duckdb
DROP INDEX IF EXISTS bars_date_idx;

-- dialect: duckdb
DROP INDEX IF EXISTS bars_symbol_idx;
