-- Running runs with no open attempt left.
SELECT r.id, r.campaign, r.occurrence, r.state, r.summary, r.created_at, r.finished_at
FROM runs r
WHERE r.state = 'running'
  AND NOT EXISTS (
      SELECT 1 FROM attempts a
      WHERE a.run_id = r.id AND a.state IN ('queued', 'sending', 'sent')
  )
ORDER BY r.id
