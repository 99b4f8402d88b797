-- Channel rate limits shared by every daemon on this database: one token bucket per name
-- (`channel:sms`...), holding `tokens` at the moment `updated_at`. A take refills the
-- bucket for the time since then and takes what it can, in one writer transaction.
CREATE TABLE rate_buckets (
    name       TEXT PRIMARY KEY,
    tokens     REAL NOT NULL CHECK (tokens >= 0),
    updated_at TEXT NOT NULL
);
