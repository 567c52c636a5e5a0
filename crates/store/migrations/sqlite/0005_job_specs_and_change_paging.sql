-- Jobs carry their specification (modules, refresh, spend cap, ...) as JSON text defined by the
-- application layer; jobs created before this migration get the empty specification.
ALTER TABLE jobs ADD COLUMN spec TEXT NOT NULL DEFAULT '{}';

-- The changes query reads newest first, (detected_at, id) descending, with keyset paging on
-- that pair; these indexes serve it backwards, with and without a domain filter.
DROP INDEX change_events_domain_time;
DROP INDEX change_events_time;
CREATE INDEX change_events_time ON change_events (detected_at, id);
CREATE INDEX change_events_domain_time ON change_events (domain, detected_at, id);
