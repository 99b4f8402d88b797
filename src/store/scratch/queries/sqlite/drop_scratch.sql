-- Removes the scratch table (and its indexes) when a benchmark is over.
DROP TABLE IF EXISTS bench_raw_attempts
