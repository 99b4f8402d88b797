-- The scratch table of the raw measurements: `attempts` as herald's migrations leave it
-- (same columns, types and state check), without foreign keys and with only two indexes:
-- the idempotency key's, which every insert checks, and the due order claims read
-- (`attempts_queued_due`). Dropped first, so each bulk insert starts from an empty table.
DROP TABLE IF EXISTS bench_raw_attempts;
CREATE TABLE bench_raw_attempts (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL,
    contact_id      INTEGER NOT NULL,
    step            TEXT NOT NULL,
    step_index      INTEGER NOT NULL,
    channel         TEXT NOT NULL,
    attempt_no      INTEGER NOT NULL,
    not_before      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'done', 'skipped', 'cancelled')),
    idempotency_key TEXT NOT NULL UNIQUE,
    obligation      TEXT,
    after_attempt   INTEGER,
    condition       TEXT,
    connected       INTEGER NOT NULL DEFAULT 0,
    claimed_at      TEXT,
    sent_at         TEXT,
    provider_ref    TEXT,
    outcome         TEXT,
    reason          TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    held_by         TEXT,
    held_at         TEXT,
    variant         TEXT,
    prompt          TEXT,
    claimed_by      TEXT
);
CREATE INDEX bench_raw_attempts_queued_due ON bench_raw_attempts (not_before, id) WHERE state = 'queued';
