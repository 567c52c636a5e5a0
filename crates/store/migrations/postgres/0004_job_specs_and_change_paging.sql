-- Jobs carry their specification (see migrations/sqlite/0005_job_specs_and_change_paging.sql);
-- existing jobs get the empty specification.
ALTER TABLE jobs ADD COLUMN spec jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Newest-first changes with keyset paging on (detected_at, id), with and without a domain.
DROP INDEX change_events_domain_time;
DROP INDEX change_events_time;
CREATE INDEX change_events_time ON change_events (detected_at, id);
CREATE INDEX change_events_domain_time ON change_events (domain, detected_at, id);
