-- After a bulk load: fresh planner statistics for the tables an import fills, so the
-- audience pages are read by index at once instead of after autovacuum's next pass
-- (without them a page of a fresh million-member list scans the rest of the list).
ANALYZE contacts, list_members, contact_lists, contact_tags
