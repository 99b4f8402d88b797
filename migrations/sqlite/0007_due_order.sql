-- Due attempts in the order they are claimed, for an ordered index scan that stops after
-- one batch: without it each claim sorted every queued attempt of the run.
CREATE INDEX attempts_queued_due ON attempts (not_before, id) WHERE state = 'queued';

-- Provider events waiting to be applied, in the order they are applied.
CREATE INDEX inbox_pending ON inbox (due_at, id) WHERE applied_at IS NULL;
