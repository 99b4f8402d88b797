-- Keyset pagination over the members of any of the lists in ?3 (JSON array of names).
-- The cursor is repeated inside EXISTS so the member scan starts at it, not at the
-- list's first member.
SELECT id, external_id, first_name, last_name, phone, email, locale, timezone, attributes, consent_sms, consent_email, consent_call
FROM contacts c
WHERE c.id > ?1
  AND EXISTS (
      SELECT 1
      FROM list_members m
      JOIN contact_lists l ON l.id = m.list_id
      WHERE m.contact_id = c.id
        AND m.contact_id > ?1
        AND l.name IN (SELECT value FROM json_each(?3))
  )
ORDER BY c.id
LIMIT ?2
