-- `sending` → `sent` for many attempts in one statement ($1 ids, $2 times, $3 provider
-- references), each only if still `sending`; returns the attempts that moved.
UPDATE attempts a
SET state = 'sent', sent_at = u.at, provider_ref = u.ref, updated_at = u.at
FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[]) AS u (id, at, ref)
WHERE a.id = u.id AND a.state = 'sending'
RETURNING a.id
