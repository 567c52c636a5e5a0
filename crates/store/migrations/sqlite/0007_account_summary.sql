-- The accounts summary: one row per account (a domain with snapshots or on the target list), so
-- the accounts page filters, sorts, counts and pages in indexed SQL instead of reading every
-- account's latest snapshots. Kept in the transaction of every write it depends on; rebuilt
-- from `snapshots` when the fields it was built with (account_summary_meta) differ from the
-- application's, or when this table is new (an existing database after this migration).
CREATE TABLE account_summary (
    domain            TEXT PRIMARY KEY NOT NULL,
    -- 1: removed from the accounts table by a user (history kept); a new save or add clears it.
    hidden            INTEGER NOT NULL DEFAULT 0,
    name              TEXT,
    tier              TEXT,
    icp_score         INTEGER,
    intent_score      INTEGER,
    intent_band       TEXT,
    last_enriched     TEXT,
    last_change_at    TEXT,
    last_change_id    TEXT,
    last_change_level TEXT
);
CREATE INDEX account_summary_name ON account_summary (name, domain);
CREATE INDEX account_summary_tier ON account_summary (tier, domain);
CREATE INDEX account_summary_icp ON account_summary (icp_score, domain);
CREATE INDEX account_summary_intent ON account_summary (intent_score, domain);
CREATE INDEX account_summary_band ON account_summary (intent_band);
CREATE INDEX account_summary_enriched ON account_summary (last_enriched, domain);
CREATE INDEX account_summary_change ON account_summary (last_change_at, domain);
CREATE INDEX account_summary_level ON account_summary (last_change_level);

-- What each account's latest technology snapshot names, lowercased: the "runs X" filter.
CREATE TABLE account_technologies (
    domain     TEXT NOT NULL,
    technology TEXT NOT NULL,
    PRIMARY KEY (domain, technology)
);
CREATE INDEX account_technologies_tech ON account_technologies (technology, domain);

-- Which fields the summary was built with (one row): a different fingerprint means rebuild.
CREATE TABLE account_summary_meta (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    fields      TEXT NOT NULL
);
