-- The highest contact id (0 without contacts): where a scan by id ranges stops.
SELECT COALESCE(MAX(id), 0)::bigint FROM contacts
