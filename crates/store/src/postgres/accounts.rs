//! The accounts page in PostgreSQL, read from the summary table (`account_summary`, kept by
//! every write): one statement for the page (failing modules computed for its rows only), one
//! for the counts, one for the page's intent history; filters and sorts are indexed columns.

use sqlx::{Postgres, QueryBuilder};

use super::{Cells, PgStore};
use crate::accounts::{self, AccountPage, AccountQuery};
use crate::rows::Cols;
use crate::StoreError;

/// Columns of a page row.
const ROW_COLS: &str = "domain, name, tier, icp_score, intent_score, intent_band, \
                        last_change_level, last_change_at, last_enriched";

/// Pushes ` FROM account_summary WHERE <shown and matching the filter>`; `counting` for the
/// counts, which read every matching row (so test the row's technologies, not a join).
fn push_matching<'a>(qb: &mut QueryBuilder<'a, Postgres>, q: &'a AccountQuery, counting: bool) {
    qb.push(" FROM account_summary WHERE NOT hidden");
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let text = text.to_lowercase();
        let pattern = format!("%{text}%");
        if text.contains(['%', '_', '\n']) {
            // Could match across the newline of `search`: the two columns, as they are.
            qb.push(" AND (lower(domain) LIKE ")
                .push_bind(pattern.clone())
                .push(" OR lower(name) LIKE ")
                .push_bind(pattern)
                .push(")");
        } else {
            // `search` is lower(domain) || newline || lower(name), computed at write
            // (migration 0007): a substring of it without a newline is one of either.
            qb.push(" AND search LIKE ").push_bind(pattern);
        }
    }
    if let Some(tier) = &q.tier {
        qb.push(" AND tier = ").push_bind(tier.as_str());
    }
    if let Some(min) = q.min_intent {
        qb.push(" AND intent_score >= ").push_bind(min);
    }
    if let Some(level) = q.min_change_level {
        let levels: Vec<&str> = accounts::levels_at_or_above(level);
        qb.push(" AND last_change_level = ANY(")
            .push_bind(levels)
            .push(")");
    }
    if let Some(tech) = &q.technology {
        if counting {
            // The row's copy of account_technologies (migration 0007).
            qb.push(" AND ")
                .push_bind(tech.to_lowercase())
                .push(" = ANY(technologies)");
        } else {
            qb.push(" AND domain IN (SELECT domain FROM account_technologies WHERE technology = ")
                .push_bind(tech.to_lowercase())
                .push(")");
        }
    }
}

impl PgStore {
    /// See [`crate::SnapshotStore::list_accounts`].
    pub(super) async fn accounts_page(&self, q: &AccountQuery) -> Result<AccountPage, StoreError> {
        accounts::check(q)?;
        crate::summary::ensure(self, &self.fields, &q.fields).await?;
        // Byte order for domains, like every other listing of this store (the sort indexes
        // are on `domain COLLATE "C"`).
        let order = q
            .sort
            .order_by(q.descending)
            .replace("domain ", "domain COLLATE \"C\" ");
        let mut page = AccountPage::default();

        // One pass (hash-aggregated into a few dozen groups), then folded per tier and per
        // band: the matching rows are read once, not materialized and read twice.
        let mut counts =
            QueryBuilder::<Postgres>::new("WITH m AS (SELECT tier, intent_band, COUNT(*) AS n");
        push_matching(&mut counts, q, true);
        counts.push(
            " GROUP BY tier, intent_band) \
             SELECT 'tier' AS dim, tier AS key, SUM(n)::bigint AS n FROM m GROUP BY tier \
             UNION ALL SELECT 'band' AS dim, intent_band AS key, SUM(n)::bigint AS n FROM m \
             GROUP BY intent_band ORDER BY 1, 2 NULLS LAST",
        );
        for r in counts.build().fetch_all(&self.pool).await? {
            accounts::add_count(&mut page, &Cells::new(r, "account_summary"))?;
        }

        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT p.*, (SELECT string_agg(w.module, ',') FROM work_items AS w \
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
        for r in qb.build().fetch_all(&self.pool).await? {
            page.rows
                .push(accounts::row(&Cells::new(r, "account_summary"))?);
        }

        if !page.rows.is_empty() {
            let domains: Vec<&str> = page.rows.iter().map(|r| r.domain.as_str()).collect();
            let rows = sqlx::query(
                "SELECT domain, data FROM (SELECT domain, version, data, ROW_NUMBER() OVER \
                 (PARTITION BY domain ORDER BY version DESC) AS rn FROM snapshots \
                 WHERE module = $1 AND domain = ANY($2::text[])) AS h WHERE rn <= $3 \
                 ORDER BY domain, version",
            )
            .bind(q.fields.intent_score.module.as_str())
            .bind(&domains)
            .bind(i64::from(crate::HISTORY_POINTS))
            .fetch_all(&self.pool)
            .await?;
            let mut history = Vec::new();
            for r in rows {
                let c = Cells::new(r, "snapshots");
                history.push((c.text("domain")?, c.json("data")?));
            }
            accounts::attach_history(&mut page, &q.fields, &history);
        }
        Ok(page)
    }
}
