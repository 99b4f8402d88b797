-- Due attempts in the order they are claimed, for an ordered index scan that stops after
-- one batch: without it each claim sorted every queued attempt of the run.
CREATE INDEX attempts_queued_due ON attempts (not_before, id) WHERE state = 'queued';
