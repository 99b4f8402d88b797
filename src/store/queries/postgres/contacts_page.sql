-- Keyset pagination over every contact: $1 last id seen, $2 page size.
SELECT id, external_id, first_name, last_name, phone, email, locale, timezone, attributes, consent_sms, consent_email, consent_call
FROM contacts
WHERE id > $1
ORDER BY id
LIMIT $2
