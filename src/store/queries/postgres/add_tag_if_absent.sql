-- Tags contact $1[i] with $2[i] (source $3), leaving tags a contact already has alone.
INSERT INTO contact_tags (contact_id, tag, source, created_at, expires_at)
SELECT t.contact_id, t.tag, $3, $4, NULL
FROM UNNEST($1::bigint[], $2::text[]) AS t (contact_id, tag)
ON CONFLICT (contact_id, tag) DO NOTHING
