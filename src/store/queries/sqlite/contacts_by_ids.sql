-- ?1: JSON array of contact ids.
SELECT id, external_id, first_name, last_name, phone, email, locale, timezone, attributes, consent_sms, consent_email, consent_call
FROM contacts
WHERE id IN (SELECT value FROM json_each(?1))
