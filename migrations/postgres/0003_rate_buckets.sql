-- Channel rate limits shared by every daemon on this database: one token bucket per name
-- (`channel:sms`...), holding `tokens` at the moment `updated_at`. A take locks the row,
-- refills the bucket for the time since then and takes what it can.
CREATE TABLE rate_buckets (
    name       TEXT PRIMARY KEY,
    tokens     DOUBLE PRECISION NOT NULL CHECK (tokens >= 0),
    updated_at TIMESTAMPTZ NOT NULL
);
