-- Work queue for `pforge enrich --enqueue` + `pforge worker` (see migrations/sqlite/0004_queue.sql).
-- Workers claim with FOR UPDATE SKIP LOCKED and hold a lease (lease_expires_at, database clock)
-- renewed by heartbeat; an expired lease makes the row claimable again. Open rows are what
-- workers scan, so the partial indexes hold only those; closed rows are pruned on a schedule.
CREATE TABLE queue (
    id               bigserial PRIMARY KEY,
    job_id           uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    domain           text NOT NULL,
    status           text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    enqueued_at      timestamptz NOT NULL,
    finished_at      timestamptz,
    error            text,
    UNIQUE (job_id, domain)
);
CREATE INDEX queue_open ON queue (id) WHERE status IN ('pending', 'running');
CREATE INDEX queue_open_job ON queue (job_id, id) WHERE status IN ('pending', 'running');
CREATE INDEX queue_closed ON queue (finished_at) WHERE status IN ('done', 'failed', 'cancelled');

-- Shared request pacing (GCRA): one row per provider holding its theoretical arrival time,
-- advanced atomically by every worker that reserves request slots.
CREATE TABLE rate_buckets (
    bucket text PRIMARY KEY,
    tat    timestamptz NOT NULL
);

-- Idempotent charges (see the SQLite migration).
ALTER TABLE charges ADD COLUMN call_key text;
CREATE UNIQUE INDEX charges_call_key ON charges (call_key) WHERE call_key IS NOT NULL;
