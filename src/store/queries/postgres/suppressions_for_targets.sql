-- Entries naming any of the phones ($1), e-mails ($2) or external ids ($3).
SELECT kind, target_kind, value, channel, reason, source, created_at, expires_at
FROM suppressions
WHERE (target_kind = 'phone' AND value = ANY($1::text[]))
   OR (target_kind = 'email' AND value = ANY($2::text[]))
   OR (target_kind = 'contact' AND value = ANY($3::text[]))
