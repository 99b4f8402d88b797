-- The version row of a definition's text, created on first use.
INSERT INTO campaign_versions (campaign, hash, source, created_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (campaign, hash) DO UPDATE SET campaign = excluded.campaign
RETURNING id
