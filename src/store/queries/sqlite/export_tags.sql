-- `herald export tags`: the columns of export::tables::TAGS, in order (a test checks).
-- ?1 campaign or NULL: tags the campaign's runs set (source `CAMPAIGN/run N`), compared
-- as a prefix without LIKE so `_` or `%` in a campaign id match only themselves.
-- ?2 since, ?3 until (NULL: open), half-open on contact_tags.created_at.
-- Read a page at a time (SQLite hands each page over as one JSON array, see
-- store::json_page): ?5 (and ?6) the key of the previous page's last row, ?7 the page size.
SELECT t.contact_id, c.external_id, t.tag, t.source, t.created_at, t.expires_at
FROM contact_tags t
CROSS JOIN contacts c ON c.id = t.contact_id
WHERE (?1 IS NULL OR t.source = ?1 OR substr(t.source, 1, length(?1) + 1) = ?1 || '/')
  AND (?2 IS NULL OR t.created_at >= ?2)
  AND (?3 IS NULL OR t.created_at < ?3)
  AND (t.contact_id, t.tag) > (?5, ?6)
ORDER BY t.contact_id, t.tag
LIMIT ?7
