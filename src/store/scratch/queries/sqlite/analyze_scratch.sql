-- Fresh planner statistics for the scratch table before it is timed.
ANALYZE bench_raw_attempts
