-- Open runs of campaigns that are paused or cancelled: their attempts are not claimed.
SELECT r.id
FROM runs r
JOIN campaigns c ON c.id = r.campaign
WHERE c.state <> 'active' AND r.state IN ('planning', 'running')
