//! The accounts page in SQLite, read from the summary table (`account_summary`, kept by every
//! write): one statement for the page (failing modules computed for its rows only), one for
//! the counts, one for the page's intent history; filters and sorts are indexed columns.

use sqlx::{QueryBuilder, Sqlite};

use super::{Cells, SqliteStore};
use crate::accounts::{self, AccountPage, AccountQuery};
use crate::rows::Cols;
use crate::StoreError;

/// Columns of a page row.
const ROW_COLS: &str = "domain, name, tier, icp_score, intent_score, intent_band, \
                        last_change_level, last_change_at, last_enriched";

/// The separator around each name in `account_summary.technologies` (migration 0008).
const TECH_SEP: char = '\u{1f}';

/// Pushes ` FROM account_summary [INDEXED BY index] WHERE <shown and matching the filter>`.
///
/// `counting` reads the counting index (`hidden` first, so it tests `hidden = 0`, which an
/// index can seek, where the page tests `NOT hidden` so that the planner walks a sort index).
/// The text filter has no `lower()` on the columns: SQLite's `LIKE` ignores ASCII case and its
/// `lower()` changes ASCII letters only, so with the pattern lowercased the two are the same
/// match, and lowercasing 200,000 values was most of the filter's time.
fn push_matching<'a>(qb: &mut QueryBuilder<'a, Sqlite>, q: &'a AccountQuery, counting: bool) {
    if counting {
        qb.push(" FROM account_summary INDEXED BY account_summary_counts WHERE hidden = 0");
    } else {
        qb.push(" FROM account_summary WHERE NOT hidden");
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", text.to_lowercase());
        qb.push(" AND (domain LIKE ")
            .push_bind(pattern.clone())
            .push(" OR name LIKE ")
            .push_bind(pattern)
            .push(")");
    }
    if let Some(tier) = &q.tier {
        qb.push(" AND tier = ").push_bind(tier.as_str());
    }
    if let Some(min) = q.min_intent {
        qb.push(" AND intent_score >= ").push_bind(min);
    }
    if let Some(level) = q.min_change_level {
        qb.push(" AND last_change_level IN (");
        let mut list = qb.separated(", ");
        for l in accounts::levels_at_or_above(level) {
            list.push_bind(l);
        }
        list.push_unseparated(")");
    }
    if let Some(tech) = &q.technology {
        let tech = tech.to_lowercase();
        if tech.contains(TECH_SEP) {
            // Not in the row's copy (see migration 0008): the table has it.
            qb.push(" AND domain IN (SELECT domain FROM account_technologies WHERE technology = ")
                .push_bind(tech)
                .push(")");
        } else {
            qb.push(" AND instr(technologies, ")
                .push_bind(format!("{TECH_SEP}{tech}{TECH_SEP}"))
                .push(") > 0");
        }
    }
}

impl SqliteStore {
    /// See [`crate::SnapshotStore::list_accounts`].
    pub(super) async fn accounts_page(&self, q: &AccountQuery) -> Result<AccountPage, StoreError> {
        accounts::check(q)?;
        crate::summary::ensure(self, &self.fields, &q.fields).await?;
        let order = q.sort.order_by(q.descending);
        let mut page = AccountPage::default();

        // One pass over the counting index, grouped in its order (a few dozen groups), then
        // folded per tier and per band.
        let mut counts = QueryBuilder::<Sqlite>::new(
            "WITH m AS MATERIALIZED (SELECT tier, intent_band, COUNT(*) AS n",
        );
        push_matching(&mut counts, q, true);
        counts.push(
            " GROUP BY tier, intent_band) \
             SELECT 'tier' AS dim, tier AS key, SUM(n) AS n FROM m GROUP BY tier \
             UNION ALL SELECT 'band' AS dim, intent_band AS key, SUM(n) AS n FROM m \
             GROUP BY intent_band ORDER BY 1, 2 NULLS LAST",
        );
        for r in counts.build().fetch_all(&self.reader).await? {
            accounts::add_count(&mut page, &Cells::new(r, "account_summary"))?;
        }

        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT p.*, (SELECT group_concat(w.module, ',') FROM work_items AS w \
             WHERE w.domain = p.domain AND w.status = 'failed' AND w.job_id = \
             (SELECT j.id FROM jobs AS j WHERE EXISTS (SELECT 1 FROM work_items AS x \
             WHERE x.job_id = j.id AND x.domain = p.domain) ORDER BY j.created_at DESC LIMIT 1)) \
             AS failing FROM (SELECT ",
        );
        qb.push(ROW_COLS);
        push_matching(&mut qb, q, false);
        qb.push(" ORDER BY ")
            .push(&order)
            .push(" LIMIT ")
            .push_bind(i64::from(q.limit))
            .push(" OFFSET ")
            .push_bind(i64::try_from(q.offset).unwrap_or(i64::MAX))
            .push(") AS p ORDER BY ")
            .push(&order);
        for r in qb.build().fetch_all(&self.reader).await? {
            page.rows
                .push(accounts::row(&Cells::new(r, "account_summary"))?);
        }

        if !page.rows.is_empty() {
            let mut h = QueryBuilder::<Sqlite>::new(
                "SELECT domain, data FROM (SELECT domain, version, data, ROW_NUMBER() OVER \
                 (PARTITION BY domain ORDER BY version DESC) AS rn FROM snapshots WHERE module = ",
            );
            h.push_bind(q.fields.intent_score.module.as_str())
                .push(" AND domain IN (");
            let mut list = h.separated(", ");
            for r in &page.rows {
                list.push_bind(r.domain.as_str());
            }
            list.push_unseparated(")) WHERE rn <= ");
            h.push_bind(i64::from(crate::HISTORY_POINTS))
                .push(" ORDER BY domain, version");
            let mut history = Vec::new();
            for r in h.build().fetch_all(&self.reader).await? {
                let c = Cells::new(r, "snapshots");
                history.push((c.text("domain")?, c.json("data")?));
            }
            accounts::attach_history(&mut page, &q.fields, &history);
        }
        Ok(page)
    }
}
