SELECT id, external_id, first_name, last_name, phone, email, locale, timezone, attributes, consent_sms, consent_email, consent_call
FROM contacts
WHERE external_id = $1
