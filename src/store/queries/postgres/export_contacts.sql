-- `herald export contacts`: the columns of export::tables::CONTACTS, in order (a test
-- checks). $1 campaign or NULL (contacts with an attempt in it); $2 since, $3 until (NULL:
-- open), half-open on contacts.updated_at; $4 the moment that decides which tags are in
-- force. `attributes` and `tags` are jsonb, written out as compact JSON text.
SELECT c.id AS contact_id, c.external_id, c.first_name, c.last_name, c.phone, c.email,
       c.locale, c.timezone, c.consent_sms, c.consent_email, c.consent_call, c.attributes,
       COALESCE((SELECT jsonb_agg(t.tag ORDER BY t.tag COLLATE "C")
                 FROM contact_tags t
                 WHERE t.contact_id = c.id AND (t.expires_at IS NULL OR t.expires_at > $4)),
                '[]'::jsonb) AS tags,
       c.created_at, c.updated_at
FROM contacts c
WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM attempts a JOIN runs r ON r.id = a.run_id
                                   WHERE a.contact_id = c.id AND r.campaign = $1))
  AND ($2::timestamptz IS NULL OR c.updated_at >= $2)
  AND ($3::timestamptz IS NULL OR c.updated_at < $3)
ORDER BY c.id
