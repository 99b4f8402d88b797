-- The run ledger as the engine uses it. The tables 0001 sketched were never written to,
-- so they are replaced rather than altered.

DROP TABLE events;
DROP TABLE attempts;
DROP TABLE runs;

-- Operational state of a campaign (its definition lives in jobs/).
CREATE TABLE campaigns (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('active', 'paused', 'cancelled')),
    updated_at TEXT NOT NULL
);

-- One firing of a campaign, unique per occurrence so it is planned once.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    campaign    TEXT NOT NULL,
    version_id  INTEGER NOT NULL REFERENCES campaign_versions (id),
    occurrence  TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('planning', 'running', 'finished', 'cancelled', 'missed')),
    summary     TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    UNIQUE (campaign, occurrence)
);

-- The ledger: one row per action towards one contact. States:
--   queued → sending → sent → done, or queued → skipped / cancelled.
CREATE TABLE attempts (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    contact_id      INTEGER NOT NULL REFERENCES contacts (id),
    step            TEXT NOT NULL,
    step_index      INTEGER NOT NULL,
    channel         TEXT NOT NULL,
    attempt_no      INTEGER NOT NULL,
    not_before      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'done', 'skipped', 'cancelled')),
    idempotency_key TEXT NOT NULL UNIQUE,
    obligation      TEXT,
    -- The previous step's attempt, and the outcome of it this attempt waits for
    -- (`no_reply`: sent unless the contact replied in between).
    after_attempt   INTEGER REFERENCES attempts (id),
    condition       TEXT,
    connected       INTEGER NOT NULL DEFAULT 0,
    claimed_at      TEXT,
    sent_at         TEXT,
    provider_ref    TEXT,
    outcome         TEXT,
    reason          TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (run_id, contact_id, step, attempt_no)
);
CREATE INDEX attempts_due ON attempts (state, not_before);
CREATE INDEX attempts_contact_sent ON attempts (contact_id, sent_at);
CREATE INDEX attempts_run_contact ON attempts (run_id, contact_id);

-- What happened to attempts, in order.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    attempt_id  INTEGER NOT NULL REFERENCES attempts (id),
    kind        TEXT NOT NULL,
    detail      TEXT,
    payload     TEXT NOT NULL DEFAULT '{}',
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX events_attempt ON events (attempt_id);

-- Provider callbacks and inbound replies waiting to be applied, each once: a repeat of
-- (provider, event_key) is ignored.
CREATE TABLE inbox (
    id              INTEGER PRIMARY KEY,
    provider        TEXT NOT NULL,
    event_key       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL DEFAULT '{}',
    due_at          TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    applied_at      TEXT,
    UNIQUE (provider, event_key)
);
CREATE INDEX inbox_due ON inbox (applied_at, due_at);
