-- Daemons and what they claimed: each daemon beats in `daemons` while it lives, and an
-- attempt it moved to `sending` names it in `claimed_by`. When a daemon stops beating, the
-- others send its claimed attempts back to the queue without waiting for the lease.
CREATE TABLE daemons (
    id         TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        BIGINT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL
);

ALTER TABLE attempts ADD COLUMN claimed_by TEXT;
CREATE INDEX attempts_sending ON attempts (claimed_by) WHERE state = 'sending';
