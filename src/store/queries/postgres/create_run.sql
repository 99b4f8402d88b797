-- Returns no row when this occurrence already has a run: it is planned once, whatever
-- the number of daemons.
INSERT INTO runs (campaign, version_id, occurrence, state, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (campaign, occurrence) DO NOTHING
RETURNING id
