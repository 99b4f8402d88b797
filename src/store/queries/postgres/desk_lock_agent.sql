-- An agent's capacity, with their row locked until the transaction ends: two daemons
-- giving calls to the same agent take turns, so the second counts the first one's call.
SELECT capacity FROM agents WHERE name = $1 FOR UPDATE
