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

/// Pushes ` FROM account_summary WHERE <shown and matching the filter>`.
fn push_matching<'a>(qb: &mut QueryBuilder<'a, Sqlite>, q: &'a AccountQuery) {
    qb.push(" FROM account_summary WHERE NOT hidden");
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", text.to_lowercase());
        qb.push(" AND (lower(domain) LIKE ")
            .push_bind(pattern.clone())
            .push(" OR lower(name) LIKE ")
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
        qb.push(" AND domain IN (SELECT domain FROM account_technologies WHERE technology = ")
            .push_bind(tech.to_lowercase())
            .push(")");
    }
}

impl SqliteStore {
    /// See [`crate::SnapshotStore::list_accounts`].
    pub(super) async fn accounts_page(&self, q: &AccountQuery) -> Result<AccountPage, StoreError> {
        accounts::check(q)?;
        crate::summary::ensure(self, &self.fields, &q.fields).await?;
        let order = q.sort.order_by(q.descending);
        let mut page = AccountPage::default();

        let mut counts = QueryBuilder::<Sqlite>::new("WITH m AS (SELECT tier, intent_band");
        push_matching(&mut counts, q);
        counts.push(
            ") SELECT 'tier' AS dim, tier AS key, COUNT(*) AS n FROM m GROUP BY tier \
             UNION ALL SELECT 'band' AS dim, intent_band AS key, COUNT(*) AS n FROM m \
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
        push_matching(&mut qb, q);
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
