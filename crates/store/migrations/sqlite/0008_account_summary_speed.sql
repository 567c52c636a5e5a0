-- The accounts page at 100,000 accounts (issue 13): every request kind within 150 ms.
--
-- `technologies`: the account's technologies (as in account_technologies) in one text,
-- each one between two unit separators (char 31), e.g. x'1f' || 'algolia' || x'1f' || 'react'
-- || x'1f'; NULL when there are none. The "runs X" filter is then an `instr` on the row
-- instead of a join of every matching account (100,000 seeks when everyone runs it). A name
-- that itself holds a unit separator is left out here and found by the join instead.
ALTER TABLE account_summary ADD COLUMN technologies TEXT;
UPDATE account_summary SET technologies = (
    SELECT char(31) || group_concat(t.technology, char(31)) || char(31)
    FROM account_technologies AS t
    WHERE t.domain = account_summary.domain AND instr(t.technology, char(31)) = 0
);

-- The counts per tier and intent band read this index alone, in (tier, intent_band) order, so
-- they stream through it without a temporary B-tree, whatever the filter (tier, minimum
-- intent, change level, technology, text: every filtered column is in it).
CREATE INDEX account_summary_counts ON account_summary
    (hidden, tier, intent_band, intent_score, last_change_level, technologies, domain, name);

-- Descending sorts ("best first": `col DESC NULLS LAST, domain ASC`) walk these in order and
-- stop after a page; the ascending indexes of 0007 serve the other direction. (In SQLite NULL
-- sorts first, so a DESC column has the missing values last, as the page wants.)
CREATE INDEX account_summary_name_desc ON account_summary (name DESC, domain);
CREATE INDEX account_summary_tier_desc ON account_summary (tier DESC, domain);
CREATE INDEX account_summary_icp_desc ON account_summary (icp_score DESC, domain);
CREATE INDEX account_summary_intent_desc ON account_summary (intent_score DESC, domain);
CREATE INDEX account_summary_enriched_desc ON account_summary (last_enriched DESC, domain);
CREATE INDEX account_summary_change_desc ON account_summary (last_change_at DESC, domain);
