-- ?1: JSON array of external ids (SQLite has no array parameters).
SELECT id, external_id, first_name, last_name, phone, email, locale, timezone, attributes, consent_sms, consent_email, consent_call
FROM contacts
WHERE external_id IN (SELECT value FROM json_each(?1))
