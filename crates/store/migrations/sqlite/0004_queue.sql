-- Work queue for `pforge enrich --enqueue` + `pforge worker` (single node on SQLite: claims run
-- under BEGIN IMMEDIATE, so concurrent workers on one file never claim the same row).
-- One row per (job, domain). Open rows (pending/running) are what workers scan, so the partial
-- indexes hold only those; closed rows (done/failed/cancelled) keep just a few narrow columns
-- and are pruned by workers after a retention period.
CREATE TABLE queue (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    domain           TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    enqueued_at      TEXT NOT NULL,
    finished_at      TEXT,
    error            TEXT,
    UNIQUE (job_id, domain)
);
CREATE INDEX queue_open ON queue (id) WHERE status IN ('pending', 'running');
CREATE INDEX queue_open_job ON queue (job_id, id) WHERE status IN ('pending', 'running');
CREATE INDEX queue_closed ON queue (finished_at) WHERE status IN ('done', 'failed', 'cancelled');

-- Shared request pacing (GCRA): one row per provider, `tat` = theoretical arrival time in Unix
-- seconds. Every process reserving request slots advances it atomically.
CREATE TABLE rate_buckets (
    bucket TEXT PRIMARY KEY NOT NULL,
    tat    REAL NOT NULL
);

-- Idempotent charges: a retried work item that repeats a call already charged for the same
-- (job, module, domain, request, attempt) is not charged again.
ALTER TABLE charges ADD COLUMN call_key TEXT;
CREATE UNIQUE INDEX charges_call_key ON charges (call_key) WHERE call_key IS NOT NULL;
