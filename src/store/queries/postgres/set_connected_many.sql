-- The attempts in $1 (an array of ids) reached their person.
UPDATE attempts SET connected = TRUE, updated_at = $2 WHERE id = ANY($1::bigint[])
