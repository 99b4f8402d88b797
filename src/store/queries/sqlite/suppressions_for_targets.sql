-- Entries naming any of the phones (?1), e-mails (?2) or external ids (?3), JSON arrays.
SELECT kind, target_kind, value, channel, reason, source, created_at, expires_at
FROM suppressions
WHERE (target_kind = 'phone' AND value IN (SELECT value FROM json_each(?1)))
   OR (target_kind = 'email' AND value IN (SELECT value FROM json_each(?2)))
   OR (target_kind = 'contact' AND value IN (SELECT value FROM json_each(?3)))
