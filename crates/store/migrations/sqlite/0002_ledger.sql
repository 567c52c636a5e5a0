-- Budget ledger: one row per charged provider call, summed to enforce daily/monthly caps across
-- runs and processes. Same conventions as 0001 (timestamps are fixed-width UTC RFC 3339 text, so
-- `at >= ?` is a time comparison). job_id has no foreign key: spend outlives job bookkeeping.
CREATE TABLE charges (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    module   TEXT,
    domain   TEXT,
    job_id   TEXT,
    cost     REAL NOT NULL,
    status   TEXT NOT NULL,
    at       TEXT NOT NULL
);
-- "spent by provider P since T" and "spent by anyone since T" are both one range scan.
CREATE INDEX charges_provider_at ON charges (provider, at);
CREATE INDEX charges_at ON charges (at);
