-- Contacts, one row per element of ?1 (a JSON array of objects with the columns below), in
-- one statement; ?2 is now. An existing external id is updated in place. Returns each
-- written contact's external id and id. (`WHERE true` keeps SQLite from reading ON
-- CONFLICT as a join's ON.)
INSERT INTO contacts (external_id, first_name, last_name, phone, email, locale, timezone, attributes,
                      consent_sms, consent_email, consent_call, created_at, updated_at)
SELECT json_extract(value, '$.external_id'), json_extract(value, '$.first_name'),
       json_extract(value, '$.last_name'), json_extract(value, '$.phone'),
       json_extract(value, '$.email'), json_extract(value, '$.locale'),
       json_extract(value, '$.timezone'), json_extract(value, '$.attributes'),
       json_extract(value, '$.consent_sms'), json_extract(value, '$.consent_email'),
       json_extract(value, '$.consent_call'), ?2, ?2
FROM jsonb_each(?1)
WHERE true
ORDER BY key
ON CONFLICT (external_id) DO UPDATE SET
    first_name = excluded.first_name,
    last_name = excluded.last_name,
    phone = excluded.phone,
    email = excluded.email,
    locale = excluded.locale,
    timezone = excluded.timezone,
    attributes = excluded.attributes,
    consent_sms = excluded.consent_sms,
    consent_email = excluded.consent_email,
    consent_call = excluded.consent_call,
    updated_at = excluded.updated_at
RETURNING external_id, id
