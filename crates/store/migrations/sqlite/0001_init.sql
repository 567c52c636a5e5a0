-- PartnerForge store schema (SQLite).
-- Conventions: uuids are lowercase hyphenated TEXT; timestamps are UTC RFC 3339 TEXT with exactly
-- six fractional digits and a trailing `Z` (e.g. 2024-05-01T12:00:00.000000Z), so text order is
-- time order; JSON values are TEXT.

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY NOT NULL,
    label       TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX jobs_created_at ON jobs (created_at);

CREATE TABLE work_items (
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    domain      TEXT NOT NULL,
    module      TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    started_at  TEXT,
    finished_at TEXT,
    version     INTEGER,
    PRIMARY KEY (job_id, domain, module)
);

-- job_id deliberately has no foreign key: history outlives job bookkeeping.
CREATE TABLE snapshots (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    domain       TEXT NOT NULL,
    module       TEXT NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    data         TEXT NOT NULL,
    citations    TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    fetched_at   TEXT NOT NULL,
    checked_at   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    job_id       TEXT,
    patch        TEXT,
    UNIQUE (domain, module, version)
);
-- The UNIQUE constraint's index (domain, module, version) is also the "latest per
-- (domain, module)" index: `MAX(version)` / `ORDER BY version DESC LIMIT 1` is one seek on it, so
-- a second index on the same columns would only slow inserts.

CREATE TABLE change_events (
    id           TEXT PRIMARY KEY NOT NULL,
    domain       TEXT NOT NULL,
    module       TEXT NOT NULL,
    version      INTEGER NOT NULL,
    path         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    old_value    TEXT,
    new_value    TEXT,
    significance INTEGER NOT NULL,
    level        TEXT NOT NULL,
    rule         TEXT NOT NULL,
    detected_at  TEXT NOT NULL
);
CREATE INDEX change_events_domain_time ON change_events (domain, detected_at);
CREATE INDEX change_events_time ON change_events (detected_at);

-- The alert outbox: rows are inserted with the snapshot that raised them and drained by the
-- delivery loop (`status = 'pending' AND next_attempt_at <= now`).
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY NOT NULL,
    rule            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    channel         TEXT NOT NULL,
    delivery        TEXT NOT NULL,
    domain          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX alerts_due ON alerts (status, next_attempt_at);
