-- Creates the bucket ?1 full (?2 tokens at ?3), or reads the existing one. It runs in a
-- BEGIN IMMEDIATE transaction, which holds SQLite's one write lock from its start, so no
-- other process takes from the bucket until the transaction ends (PostgreSQL locks the
-- row instead).
INSERT INTO rate_buckets (name, tokens, updated_at)
VALUES (?1, ?2, ?3)
ON CONFLICT (name) DO UPDATE SET tokens = rate_buckets.tokens
RETURNING tokens, updated_at
