-- herald's ledger on SQLite. Times are UTC, stored as sqlx writes chrono values (text that
-- sorts in time order). A migration that has shipped is never edited: add a new one.

CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    external_id   TEXT NOT NULL UNIQUE,
    first_name    TEXT,
    last_name     TEXT,
    phone         TEXT,
    email         TEXT,
    locale        TEXT,
    timezone      TEXT,
    attributes    TEXT NOT NULL DEFAULT '{}',
    consent_sms   TEXT NOT NULL DEFAULT 'unknown' CHECK (consent_sms IN ('granted', 'denied', 'unknown')),
    consent_email TEXT NOT NULL DEFAULT 'unknown' CHECK (consent_email IN ('granted', 'denied', 'unknown')),
    consent_call  TEXT NOT NULL DEFAULT 'unknown' CHECK (consent_call IN ('granted', 'denied', 'unknown')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX contacts_phone ON contacts (phone);
CREATE INDEX contacts_email ON contacts (email);

CREATE TABLE contact_lists (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE list_members (
    list_id    INTEGER NOT NULL REFERENCES contact_lists (id) ON DELETE CASCADE,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    added_at   TEXT NOT NULL,
    PRIMARY KEY (list_id, contact_id)
) WITHOUT ROWID;
CREATE INDEX list_members_contact ON list_members (contact_id);

CREATE TABLE contact_tags (
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (contact_id, tag)
) WITHOUT ROWID;
CREATE INDEX contact_tags_tag ON contact_tags (tag);

-- Do-not-contact entries, opt-outs and bounces. `channel` NULL means every channel.
CREATE TABLE suppressions (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('dnc', 'opt_out', 'bounce')),
    target_kind TEXT NOT NULL CHECK (target_kind IN ('phone', 'email', 'contact')),
    value       TEXT NOT NULL,
    channel     TEXT CHECK (channel IN ('sms', 'email', 'call')),
    reason      TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT
);
CREATE UNIQUE INDEX suppressions_entry ON suppressions (target_kind, value, kind, COALESCE(channel, '*'));

-- Every definition that ran, by content hash, so a run records exactly what ran.
CREATE TABLE campaign_versions (
    id         INTEGER PRIMARY KEY,
    campaign   TEXT NOT NULL,
    hash       TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (campaign, hash)
);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    campaign    TEXT NOT NULL,
    version_id  INTEGER NOT NULL REFERENCES campaign_versions (id),
    occurrence  TEXT NOT NULL,
    state       TEXT NOT NULL,
    summary     TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    UNIQUE (campaign, occurrence)
);

-- The ledger: one row per action towards one contact.
CREATE TABLE attempts (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    contact_id      INTEGER NOT NULL REFERENCES contacts (id),
    step            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    attempt_no      INTEGER NOT NULL,
    not_before      TEXT NOT NULL,
    state           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    obligation      TEXT,
    connected       INTEGER NOT NULL DEFAULT 0,
    sent_at         TEXT,
    outcome         TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (run_id, contact_id, step, attempt_no)
);
CREATE INDEX attempts_contact_sent ON attempts (contact_id, sent_at);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    attempt_id  INTEGER NOT NULL REFERENCES attempts (id),
    kind        TEXT NOT NULL,
    disposition TEXT,
    payload     TEXT NOT NULL DEFAULT '{}',
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX events_attempt ON events (attempt_id);
