-- The daemon's target list: the domains its schedules enrich (targets = "table") and whose
-- expired modules it refreshes. Domains are stored normalized (the caller parses them).
CREATE TABLE targets (
    domain   TEXT PRIMARY KEY,
    added_at TIMESTAMPTZ NOT NULL
);
