-- `herald export events`: the columns of export::tables::EVENTS, in order (a test checks).
-- $1 campaign or NULL; $2 since, $3 until (NULL: open), half-open on events.occurred_at.
-- `payload` is jsonb, written out as compact JSON text.
SELECT e.id AS event_id, e.attempt_id, a.run_id, r.campaign, a.contact_id, c.external_id,
       a.step, a.channel, e.kind, e.detail, e.payload, e.occurred_at, e.recorded_at
FROM events e
JOIN attempts a ON a.id = e.attempt_id
JOIN runs r ON r.id = a.run_id
JOIN contacts c ON c.id = a.contact_id
WHERE ($1::text IS NULL OR r.campaign = $1)
  AND ($2::timestamptz IS NULL OR e.occurred_at >= $2)
  AND ($3::timestamptz IS NULL OR e.occurred_at < $3)
ORDER BY e.id
