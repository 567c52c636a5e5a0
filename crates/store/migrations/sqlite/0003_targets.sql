-- The daemon's target list: the domains its schedules enrich (targets = "table") and whose
-- expired modules it refreshes. Domains are stored normalized (the caller parses them); added_at
-- uses the same fixed-width UTC RFC 3339 text as 0001.
CREATE TABLE targets (
    domain   TEXT PRIMARY KEY NOT NULL,
    added_at TEXT NOT NULL
);
