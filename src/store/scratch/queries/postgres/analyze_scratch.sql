-- Fresh planner statistics for the scratch table before it is timed, and its dead rows
-- (a reset rewrites every row) cleared away, so each measurement starts from the same
-- state. (VACUUM cannot run in a transaction; this is its own statement.)
VACUUM (ANALYZE) bench_raw_attempts
