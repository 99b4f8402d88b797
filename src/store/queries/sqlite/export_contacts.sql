-- `herald export contacts`: the columns of export::tables::CONTACTS, in order (a test
-- checks). ?1 campaign or NULL (contacts with an attempt in it); ?2 since, ?3 until (NULL:
-- open), half-open on contacts.updated_at; ?4 the moment that decides which tags are in force.
-- Read a page at a time (SQLite hands each page over as one JSON array, see
-- store::json_page): ?5 (and ?6) the key of the previous page's last row, ?7 the page size.
SELECT c.id AS contact_id, c.external_id, c.first_name, c.last_name, c.phone, c.email,
       c.locale, c.timezone, c.consent_sms, c.consent_email, c.consent_call, c.attributes,
       (SELECT json_group_array(t.tag)
        FROM (SELECT tag FROM contact_tags
              WHERE contact_id = c.id AND (expires_at IS NULL OR expires_at > ?4)
              ORDER BY tag) AS t) AS tags,
       c.created_at, c.updated_at
FROM contacts c
WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM attempts a JOIN runs r ON r.id = a.run_id
                             WHERE a.contact_id = c.id AND r.campaign = ?1))
  AND (?2 IS NULL OR c.updated_at >= ?2)
  AND (?3 IS NULL OR c.updated_at < ?3)
  AND c.id > ?5
ORDER BY c.id
LIMIT ?7
