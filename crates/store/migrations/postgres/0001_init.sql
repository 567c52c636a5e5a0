-- PartnerForge store schema (PostgreSQL). Same tables and semantics as migrations/sqlite, with
-- native types: uuid, timestamptz (microsecond precision, like the SQLite text format), jsonb,
-- bigint. Applied into the first schema of the connection's search_path.

CREATE TABLE jobs (
    id          uuid PRIMARY KEY,
    -- Insertion order: the tie-breaker for jobs created in the same microsecond (SQLite: rowid).
    seq         bigserial NOT NULL,
    label       text NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX jobs_created_at ON jobs (created_at, seq);

CREATE TABLE work_items (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    domain      text NOT NULL,
    module      text NOT NULL,
    status      text NOT NULL,
    attempts    bigint NOT NULL DEFAULT 0,
    error       text,
    started_at  timestamptz,
    finished_at timestamptz,
    version     bigint,
    PRIMARY KEY (job_id, domain, module)
);

-- job_id deliberately has no foreign key: history outlives job bookkeeping.
-- UNIQUE (domain, module, version) is both the backstop against duplicate versions and the
-- "latest per (domain, module)" index.
CREATE TABLE snapshots (
    id           bigserial PRIMARY KEY,
    domain       text NOT NULL,
    module       text NOT NULL,
    version      bigint NOT NULL CHECK (version >= 1),
    data         jsonb NOT NULL,
    citations    jsonb NOT NULL,
    content_hash text NOT NULL,
    fetched_at   timestamptz NOT NULL,
    checked_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    job_id       uuid,
    patch        jsonb,
    UNIQUE (domain, module, version)
);

CREATE TABLE change_events (
    id           uuid PRIMARY KEY,
    domain       text NOT NULL,
    module       text NOT NULL,
    version      bigint NOT NULL,
    path         text NOT NULL,
    kind         text NOT NULL,
    old_value    jsonb,
    new_value    jsonb,
    significance bigint NOT NULL,
    level        text NOT NULL,
    rule         text NOT NULL,
    detected_at  timestamptz NOT NULL
);
CREATE INDEX change_events_domain_time ON change_events (domain, detected_at);
CREATE INDEX change_events_time ON change_events (detected_at);

-- The alert outbox (see the SQLite schema).
CREATE TABLE alerts (
    id              uuid PRIMARY KEY,
    rule            text NOT NULL,
    recipient       text NOT NULL,
    channel         text NOT NULL,
    delivery        text NOT NULL,
    domain          text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL,
    attempts        bigint NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    delivered_at    timestamptz
);
CREATE INDEX alerts_due ON alerts (status, next_attempt_at);

-- Budget ledger: one row per charged provider call (see migrations/sqlite/0002_ledger.sql).
CREATE TABLE charges (
    id       bigserial PRIMARY KEY,
    provider text NOT NULL,
    module   text,
    domain   text,
    job_id   uuid,
    cost     double precision NOT NULL,
    status   text NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX charges_provider_at ON charges (provider, at);
CREATE INDEX charges_at ON charges (at);
