-- Survey answers, A/B variants and the follow-up messages of a survey conversation.

-- One current answer per (run, contact, question). A later answer replaces the earlier
-- one in place: `revision` counts the answers given, `first_answered_at` keeps when the
-- first came, and every answer (replaced ones included) is also an `answer` event.
CREATE TABLE responses (
    id                INTEGER PRIMARY KEY,
    run_id            INTEGER NOT NULL REFERENCES runs (id),
    campaign          TEXT NOT NULL,
    contact_id        INTEGER NOT NULL REFERENCES contacts (id),
    attempt_id        INTEGER NOT NULL REFERENCES attempts (id),
    question          TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('nps', 'csat', 'choice', 'text')),
    -- NPS 0-10 or CSAT 1-5; NULL for choice and text questions.
    score             INTEGER,
    -- The normalised answer: the score as text, the choice, or the free text.
    answer            TEXT NOT NULL,
    -- What the person sent (the SMS text, the spoken words, the link value).
    raw               TEXT NOT NULL,
    channel           TEXT NOT NULL,
    variant           TEXT,
    revision          INTEGER NOT NULL DEFAULT 1,
    first_answered_at TEXT NOT NULL,
    answered_at       TEXT NOT NULL,
    UNIQUE (run_id, contact_id, question)
);
CREATE INDEX responses_campaign ON responses (campaign, answered_at);

-- The A/B variant the attempt uses (`holdout` for a contact held out of the step).
ALTER TABLE attempts ADD COLUMN variant TEXT;
-- A survey follow-up message: `ask:QUESTION` (the next question) or `clarify:QUESTION`
-- (the one re-ask after an answer that could not be read). NULL for a step's own message.
ALTER TABLE attempts ADD COLUMN prompt TEXT;

CREATE INDEX events_occurred ON events (occurred_at);
