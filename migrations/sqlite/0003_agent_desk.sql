-- The agent desk: people who take call steps, and which attempt each one holds.

CREATE TABLE agents (
    name       TEXT PRIMARY KEY,
    skills     TEXT NOT NULL DEFAULT '[]',
    capacity   INTEGER NOT NULL DEFAULT 1 CHECK (capacity > 0),
    created_at TEXT NOT NULL
);

ALTER TABLE attempts ADD COLUMN held_by TEXT;
ALTER TABLE attempts ADD COLUMN held_at TEXT;
CREATE INDEX attempts_desk ON attempts (channel, state, held_by);
