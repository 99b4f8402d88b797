-- Every change of an attempt's state rewrites its entry in each index that holds the state,
-- and an attempt changes state three times on its way (claimed, sent, closed). Two of those
-- indexes did no work the others do not do better:
-- * attempts_due (state, not_before): claims and the next wake-up read the queued attempts
--   through attempts_queued_due, and stale claims through attempts_sending;
-- * attempts_desk (channel, state, held_by) held every attempt, while only the agent
--   desk's attempts are ever looked up by it: it now holds those alone.
DROP INDEX attempts_due;
DROP INDEX attempts_desk;
CREATE INDEX attempts_desk ON attempts (state, held_by) WHERE channel = 'agent';
