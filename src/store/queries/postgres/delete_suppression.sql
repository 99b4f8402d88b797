DELETE FROM suppressions
WHERE target_kind = $1 AND value = $2 AND ($3::text IS NULL OR kind = $3)
