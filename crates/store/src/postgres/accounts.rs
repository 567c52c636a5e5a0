//! The accounts summary in PostgreSQL: one statement per page (and one for the counts), each
//! value an index seek on `(domain, module, version)` or `(domain, detected_at, id)`.

use sqlx::{Postgres, QueryBuilder};

use super::{Cells, PgStore};
use crate::accounts::{self, AccountPage, AccountQuery, FieldRef};
use crate::StoreError;

/// Pushes `(SELECT data ->> 'key' FROM <latest snapshot of module>)`.
fn latest_value(qb: &mut QueryBuilder<'_, Postgres>, f: &FieldRef, integer: bool) {
    qb.push("(SELECT ");
    if integer {
        qb.push("CASE WHEN jsonb_typeof(data -> ")
            .push_bind(f.key.clone())
            .push(") = 'number' THEN round((data ->> ")
            .push_bind(f.key.clone())
            .push(")::numeric)::bigint END");
    } else {
        qb.push("data ->> ").push_bind(f.key.clone());
    }
    qb.push(" FROM snapshots WHERE domain = d.domain AND module = ")
        .push_bind(f.module.clone())
        .push(" ORDER BY version DESC LIMIT 1)");
}

/// Pushes `WITH acc AS (...), m AS (<acc filtered>)`.
fn push_matching(qb: &mut QueryBuilder<'_, Postgres>, q: &AccountQuery) {
    let f = &q.fields;
    qb.push("WITH acc AS (SELECT d.domain AS domain, ");
    latest_value(qb, &f.name, false);
    qb.push(" AS name, ");
    latest_value(qb, &f.tier, false);
    qb.push(" AS tier, ");
    latest_value(qb, &f.icp_score, true);
    qb.push(" AS icp_score, ");
    latest_value(qb, &f.intent_score, true);
    qb.push(" AS intent_score, ");
    latest_value(qb, &f.intent_band, false);
    qb.push(
        " AS intent_band, \
         (SELECT MAX(checked_at) FROM snapshots WHERE domain = d.domain) AS last_enriched, \
         (SELECT MAX(detected_at) FROM change_events WHERE domain = d.domain) AS last_change_at, \
         (SELECT level FROM change_events WHERE domain = d.domain \
          ORDER BY detected_at DESC, id DESC LIMIT 1) AS last_change_level \
         FROM (SELECT domain FROM snapshots UNION SELECT domain FROM targets) AS d), \
         m AS (SELECT * FROM acc WHERE 1 = 1",
    );
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", text.to_lowercase());
        qb.push(" AND (lower(domain) LIKE ")
            .push_bind(pattern.clone())
            .push(" OR lower(name) LIKE ")
            .push_bind(pattern)
            .push(")");
    }
    if let Some(tier) = &q.tier {
        qb.push(" AND tier = ").push_bind(tier.clone());
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
        qb.push(" AND EXISTS (SELECT 1 FROM (SELECT data FROM snapshots WHERE domain = acc.domain AND module = ")
            .push_bind(f.technologies.module.clone())
            .push(" ORDER BY version DESC LIMIT 1) AS t, jsonb_array_elements(CASE WHEN jsonb_typeof(t.data -> ")
            .push_bind(f.technologies.key.clone())
            .push(") = 'array' THEN t.data -> ")
            .push_bind(f.technologies.key.clone())
            .push(" ELSE '[]'::jsonb END) AS j WHERE lower(j ->> ")
            .push_bind(f.technology_name.clone())
            .push(") = lower(")
            .push_bind(tech.clone())
            .push("))");
    }
    qb.push(")");
}

impl PgStore {
    /// See [`crate::SnapshotStore::list_accounts`].
    pub(super) async fn accounts_page(&self, q: &AccountQuery) -> Result<AccountPage, StoreError> {
        accounts::check(q)?;
        // Byte order for text columns, like every other listing of this store.
        let order = q
            .sort
            .order_by(q.descending)
            .replace("domain ", "domain COLLATE \"C\" ");
        let mut page = AccountPage::default();

        let mut counts = QueryBuilder::<Postgres>::new("");
        push_matching(&mut counts, q);
        counts.push(
            " SELECT 'tier' AS dim, tier AS key, COUNT(*) AS n FROM m GROUP BY tier \
             UNION ALL SELECT 'band' AS dim, intent_band AS key, COUNT(*) AS n FROM m \
             GROUP BY intent_band ORDER BY 1, 2 NULLS LAST",
        );
        for r in counts.build().fetch_all(&self.pool).await? {
            accounts::add_count(&mut page, &Cells::new(r, "snapshots"))?;
        }

        let mut qb = QueryBuilder::<Postgres>::new("");
        push_matching(&mut qb, q);
        qb.push(
            " SELECT p.*, (SELECT string_agg(w.module, ',') FROM work_items AS w \
             WHERE w.domain = p.domain AND w.status = 'failed' AND w.job_id = \
             (SELECT j.id FROM jobs AS j WHERE EXISTS (SELECT 1 FROM work_items AS x \
             WHERE x.job_id = j.id AND x.domain = p.domain) ORDER BY j.created_at DESC LIMIT 1)) \
             AS failing FROM (SELECT * FROM m ORDER BY ",
        );
        qb.push(&order)
            .push(" LIMIT ")
            .push_bind(i64::from(q.limit))
            .push(" OFFSET ")
            .push_bind(i64::try_from(q.offset).unwrap_or(i64::MAX))
            .push(") AS p ORDER BY ")
            .push(&order);
        for r in qb.build().fetch_all(&self.pool).await? {
            page.rows.push(accounts::row(&Cells::new(r, "snapshots"))?);
        }
        Ok(page)
    }
}
