-- The accounts page at 100,000 accounts (issue 13): every request kind within 150 ms.
--
-- `technologies`: the account's technologies (as in account_technologies, sorted), so the
-- counts of the "runs X" filter test the row instead of joining every matching account (a
-- hash join of 100,000 rows when everyone runs it). The page itself still joins: it reads 50
-- rows, by whichever end the planner finds cheaper.
ALTER TABLE account_summary ADD COLUMN technologies TEXT[] NOT NULL DEFAULT '{}';
UPDATE account_summary AS s SET technologies = t.techs
FROM (SELECT domain, array_agg(technology ORDER BY technology) AS techs
      FROM account_technologies GROUP BY domain) AS t
WHERE t.domain = s.domain;

-- The counts per tier and intent band of the unfiltered page (and by tier) are an index-only
-- scan of this, in group order, when the table's pages are all-visible (vacuumed).
CREATE INDEX account_summary_counts ON account_summary (hidden, tier, intent_band);

-- `search`: the lowercased domain and name, so the text filter lowercases nothing per row
-- (lower() on 100,000 rows twice was most of its time). The newline keeps the two apart; a
-- search text that could match across it (holding %, _ or a newline) is matched against the
-- two columns instead.
ALTER TABLE account_summary ADD COLUMN search TEXT
    GENERATED ALWAYS AS (lower(domain) || E'\n' || coalesce(lower(name), '')) STORED;

-- Descending sorts ("best first": `col DESC NULLS LAST, domain ASC`) walk these in order and
-- stop after a page; the ascending indexes of 0006 serve the other direction.
CREATE INDEX account_summary_name_desc ON account_summary (name DESC NULLS LAST, (domain COLLATE "C"));
CREATE INDEX account_summary_tier_desc ON account_summary (tier DESC NULLS LAST, (domain COLLATE "C"));
CREATE INDEX account_summary_icp_desc ON account_summary (icp_score DESC NULLS LAST, (domain COLLATE "C"));
CREATE INDEX account_summary_intent_desc ON account_summary (intent_score DESC NULLS LAST, (domain COLLATE "C"));
CREATE INDEX account_summary_enriched_desc ON account_summary (last_enriched DESC NULLS LAST, (domain COLLATE "C"));
CREATE INDEX account_summary_change_desc ON account_summary (last_change_at DESC NULLS LAST, (domain COLLATE "C"));
