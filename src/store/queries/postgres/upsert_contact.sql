-- Writes a batch of contacts in one statement: one array per column, element i of each
-- describing one contact; inserted in array order so new ids follow the file. $8 holds
-- each contact's attributes as JSON text. The caller passes each external id once.
INSERT INTO contacts (external_id, first_name, last_name, phone, email, locale, timezone, attributes,
                      consent_sms, consent_email, consent_call, created_at, updated_at)
SELECT n.external_id, n.first_name, n.last_name, n.phone, n.email, n.locale, n.timezone,
       n.attributes::jsonb, n.consent_sms, n.consent_email, n.consent_call, $12, $12
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[], $11::text[])
     WITH ORDINALITY AS n (external_id, first_name, last_name, phone, email, locale, timezone,
                           attributes, consent_sms, consent_email, consent_call, ord)
ORDER BY n.ord
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
RETURNING id, external_id
