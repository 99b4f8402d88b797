-- herald's store on PostgreSQL: the same tables as the SQLite migrations 0001-0004 end
-- with, in PostgreSQL's own types (timestamptz, jsonb, boolean, bigint identities). A
-- migration that has shipped is never edited: add a new one.

CREATE TABLE contacts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id   TEXT NOT NULL UNIQUE,
    first_name    TEXT,
    last_name     TEXT,
    phone         TEXT,
    email         TEXT,
    locale        TEXT,
    timezone      TEXT,
    attributes    JSONB NOT NULL DEFAULT '{}',
    consent_sms   TEXT NOT NULL DEFAULT 'unknown' CHECK (consent_sms IN ('granted', 'denied', 'unknown')),
    consent_email TEXT NOT NULL DEFAULT 'unknown' CHECK (consent_email IN ('granted', 'denied', 'unknown')),
    consent_call  TEXT NOT NULL DEFAULT 'unknown' CHECK (consent_call IN ('granted', 'denied', 'unknown')),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX contacts_phone ON contacts (phone);
CREATE INDEX contacts_email ON contacts (email);

CREATE TABLE contact_lists (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE list_members (
    list_id    BIGINT NOT NULL REFERENCES contact_lists (id) ON DELETE CASCADE,
    contact_id BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    added_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (list_id, contact_id)
);
CREATE INDEX list_members_contact ON list_members (contact_id);

CREATE TABLE contact_tags (
    contact_id BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    PRIMARY KEY (contact_id, tag)
);
CREATE INDEX contact_tags_tag ON contact_tags (tag);

-- Do-not-contact entries, opt-outs and bounces. `channel` NULL means every channel.
CREATE TABLE suppressions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('dnc', 'opt_out', 'bounce')),
    target_kind TEXT NOT NULL CHECK (target_kind IN ('phone', 'email', 'contact')),
    value       TEXT NOT NULL,
    channel     TEXT CHECK (channel IN ('sms', 'email', 'call')),
    reason      TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX suppressions_entry ON suppressions (target_kind, value, kind, COALESCE(channel, '*'));

-- Every definition that ran, by content hash, so a run records exactly what ran.
CREATE TABLE campaign_versions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign   TEXT NOT NULL,
    hash       TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (campaign, hash)
);

-- Operational state of a campaign (its definition lives in jobs/).
CREATE TABLE campaigns (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('active', 'paused', 'cancelled')),
    updated_at TIMESTAMPTZ NOT NULL
);

-- One firing of a campaign, unique per occurrence so it is planned once, whatever the
-- number of daemons.
CREATE TABLE runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign    TEXT NOT NULL,
    version_id  BIGINT NOT NULL REFERENCES campaign_versions (id),
    occurrence  TIMESTAMPTZ NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('planning', 'running', 'finished', 'cancelled', 'missed')),
    summary     JSONB NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    UNIQUE (campaign, occurrence)
);

-- The ledger: one row per action towards one contact. States:
--   queued → sending → sent → done, or queued → skipped / cancelled.
CREATE TABLE attempts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          BIGINT NOT NULL REFERENCES runs (id),
    contact_id      BIGINT NOT NULL REFERENCES contacts (id),
    step            TEXT NOT NULL,
    step_index      INTEGER NOT NULL,
    channel         TEXT NOT NULL,
    attempt_no      INTEGER NOT NULL,
    not_before      TIMESTAMPTZ NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'done', 'skipped', 'cancelled')),
    idempotency_key TEXT NOT NULL UNIQUE,
    obligation      TEXT,
    after_attempt   BIGINT REFERENCES attempts (id),
    condition       TEXT,
    connected       BOOLEAN NOT NULL DEFAULT FALSE,
    claimed_at      TIMESTAMPTZ,
    sent_at         TIMESTAMPTZ,
    provider_ref    TEXT,
    outcome         TEXT,
    reason          TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    held_by         TEXT,
    held_at         TIMESTAMPTZ,
    -- The A/B variant (`holdout` for the control group).
    variant         TEXT,
    -- A survey follow-up message: `ask:QUESTION` or `clarify:QUESTION`.
    prompt          TEXT,
    UNIQUE (run_id, contact_id, step, attempt_no)
);
CREATE INDEX attempts_due ON attempts (state, not_before);
CREATE INDEX attempts_contact_sent ON attempts (contact_id, sent_at);
CREATE INDEX attempts_run_contact ON attempts (run_id, contact_id);
CREATE INDEX attempts_desk ON attempts (channel, state, held_by);

-- What happened to attempts, in order.
CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    attempt_id  BIGINT NOT NULL REFERENCES attempts (id),
    kind        TEXT NOT NULL,
    detail      TEXT,
    payload     JSONB NOT NULL DEFAULT '{}',
    occurred_at TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_attempt ON events (attempt_id);
CREATE INDEX events_occurred ON events (occurred_at);

-- Provider callbacks and inbound replies waiting to be applied, each once: a repeat of
-- (provider, event_key) is ignored.
CREATE TABLE inbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider        TEXT NOT NULL,
    event_key       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    kind            TEXT NOT NULL,
    payload         JSONB NOT NULL DEFAULT '{}',
    due_at          TIMESTAMPTZ NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    applied_at      TIMESTAMPTZ,
    UNIQUE (provider, event_key)
);
CREATE INDEX inbox_due ON inbox (applied_at, due_at);

-- The agent desk: people who take call steps.
CREATE TABLE agents (
    name       TEXT PRIMARY KEY,
    skills     JSONB NOT NULL DEFAULT '[]',
    capacity   INTEGER NOT NULL DEFAULT 1 CHECK (capacity > 0),
    created_at TIMESTAMPTZ NOT NULL
);

-- Survey answers: one current answer per (run, contact, question).
CREATE TABLE responses (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id            BIGINT NOT NULL REFERENCES runs (id),
    campaign          TEXT NOT NULL,
    contact_id        BIGINT NOT NULL REFERENCES contacts (id),
    attempt_id        BIGINT NOT NULL REFERENCES attempts (id),
    question          TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('nps', 'csat', 'choice', 'text')),
    score             INTEGER,
    answer            TEXT NOT NULL,
    raw               TEXT NOT NULL,
    channel           TEXT NOT NULL,
    variant           TEXT,
    revision          INTEGER NOT NULL DEFAULT 1,
    first_answered_at TIMESTAMPTZ NOT NULL,
    answered_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (run_id, contact_id, question)
);
CREATE INDEX responses_campaign ON responses (campaign, answered_at);
