-- Forgets every rate bucket (a simulation's copy starts with full buckets: the real
-- daemons' buckets hold real moments, which may lie ahead of the simulated time).
DELETE FROM rate_buckets
