-- After a bulk load (an import, or a run's attempts planned): fresh planner statistics for
-- the tables it filled, at once instead of at autovacuum's next pass. Without them a fresh
-- table looks empty to the planner: audience pages scan the rest of the list, and claims
-- and batch reads scan the whole run. ANALYZE reads a fixed-size sample, so it costs
-- about the same on a million rows as on a thousand.
ANALYZE contacts, list_members, contact_lists, contact_tags, attempts
