-- Creates the bucket $1 full ($2 tokens at $3), or takes the lock of its row until the
-- transaction ends: the no-op update of the conflict locks the row, so a second daemon
-- taking from the same bucket waits here, then reads what the first one left.
INSERT INTO rate_buckets (name, tokens, updated_at)
VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET tokens = rate_buckets.tokens
RETURNING tokens, updated_at
