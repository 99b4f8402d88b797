INSERT INTO contacts (external_id, first_name, last_name, phone, email, locale, timezone, attributes,
                      consent_sms, consent_email, consent_call, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)
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
RETURNING id
