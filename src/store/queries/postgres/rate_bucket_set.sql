-- What a take left in the bucket, in the transaction that holds its row.
UPDATE rate_buckets SET tokens = $2, updated_at = $3 WHERE name = $1
