-- `herald export tags`: the columns of export::tables::TAGS, in order (a test checks).
-- $1 campaign or NULL: tags the campaign's runs set (source `CAMPAIGN/run N`), compared
-- as a prefix without LIKE so `_` or `%` in a campaign id match only themselves.
-- $2 since, $3 until (NULL: open), half-open on contact_tags.created_at.
SELECT t.contact_id, c.external_id, t.tag, t.source, t.created_at, t.expires_at
FROM contact_tags t
JOIN contacts c ON c.id = t.contact_id
WHERE ($1::text IS NULL OR t.source = $1 OR left(t.source, length($1) + 1) = $1 || '/')
  AND ($2::timestamptz IS NULL OR t.created_at >= $2)
  AND ($3::timestamptz IS NULL OR t.created_at < $3)
ORDER BY t.contact_id, t.tag COLLATE "C"
