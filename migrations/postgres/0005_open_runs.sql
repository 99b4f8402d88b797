-- The open attempts of each run, so that "has this run anything left?" is one index probe.
-- Without it the check walked every finished attempt of the run before the first open one,
-- once per dispatch batch: quadratic over a large run.
CREATE INDEX attempts_open_run ON attempts (run_id) WHERE state IN ('queued', 'sending', 'sent');
