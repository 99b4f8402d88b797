-- Daemons and what they claimed: each daemon beats in `daemons` while it lives, and an
-- attempt it moved to `sending` names it in `claimed_by`. When a daemon stops beating, the
-- others send its claimed attempts back to the queue without waiting for the lease.
CREATE TABLE daemons (
    id         TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    seen_at    TEXT NOT NULL
);

ALTER TABLE attempts ADD COLUMN claimed_by TEXT;
CREATE INDEX attempts_sending ON attempts (claimed_by) WHERE state = 'sending';
