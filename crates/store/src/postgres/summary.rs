//! The accounts summary's write primitives over PostgreSQL (see [`AccountTx`]): one statement
//! each, binding one array per column and `unnest`-ing them in the caller's (domain) order, so
//! concurrent writers lock summary rows in one order.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::tx::PgTx;
use super::Cells;
use crate::backend::{AccountTx, LastChange, LatestData, SummaryCol, SummaryValue};
use crate::rows::Cols;
use crate::{AccountFields, StoreError};

#[async_trait]
impl AccountTx for PgTx {
    fn account_fields(&self) -> Option<Arc<AccountFields>> {
        self.fields.clone()
    }

    async fn summary_enriched(
        &mut self,
        domains: &[&str],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_summary (domain, last_enriched) SELECT d, $2 \
             FROM unnest($1::text[]) WITH ORDINALITY AS t(d, n) ORDER BY n \
             ON CONFLICT (domain) DO UPDATE SET hidden = false, last_enriched = \
             GREATEST(account_summary.last_enriched, excluded.last_enriched)",
        )
        .bind(domains.to_vec())
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn summary_values(
        &mut self,
        cols: &[SummaryCol],
        rows: &[(&str, Vec<SummaryValue>)],
    ) -> Result<(), StoreError> {
        if cols.is_empty() || rows.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = cols.iter().map(|c| c.column()).collect();
        let arrays: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let ty = if c.integer() { "bigint" } else { "text" };
                format!("${}::{ty}[]", i + 2)
            })
            .collect();
        let aliases: Vec<String> = (0..cols.len()).map(|i| format!("v{i}")).collect();
        let set: Vec<String> = names
            .iter()
            .map(|n| format!("{n} = excluded.{n}"))
            .collect();
        let sql = format!(
            "INSERT INTO account_summary (domain, {names}) SELECT d, {aliases} \
             FROM unnest($1::text[], {arrays}) WITH ORDINALITY AS t(d, {aliases}, n) ORDER BY n \
             ON CONFLICT (domain) DO UPDATE SET {set}",
            names = names.join(", "),
            aliases = aliases.join(", "),
            arrays = arrays.join(", "),
            set = set.join(", "),
        );
        let domains: Vec<&str> = rows.iter().map(|r| r.0).collect();
        let mut query = sqlx::query(&sql).bind(domains);
        for (i, c) in cols.iter().enumerate() {
            if c.integer() {
                let v: Vec<Option<i64>> = rows
                    .iter()
                    .map(|r| match r.1.get(i) {
                        Some(SummaryValue::Int(v)) => *v,
                        _ => None,
                    })
                    .collect();
                query = query.bind(v);
            } else {
                let v: Vec<Option<String>> = rows
                    .iter()
                    .map(|r| match r.1.get(i) {
                        Some(SummaryValue::Text(v)) => v.clone(),
                        _ => None,
                    })
                    .collect();
                query = query.bind(v);
            }
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    async fn summary_changes(&mut self, rows: &[LastChange<'_>]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_summary (domain, last_change_at, last_change_id, \
             last_change_level) SELECT d, a, i, l FROM unnest($1::text[], $2::timestamptz[], \
             $3::uuid[], $4::text[]) WITH ORDINALITY AS t(d, a, i, l, n) ORDER BY n \
             ON CONFLICT (domain) DO UPDATE SET last_change_at = excluded.last_change_at, \
             last_change_id = excluded.last_change_id, \
             last_change_level = excluded.last_change_level \
             WHERE account_summary.last_change_at IS NULL \
             OR (excluded.last_change_at, excluded.last_change_id) > \
             (account_summary.last_change_at, account_summary.last_change_id)",
        )
        .bind(rows.iter().map(|c| c.domain).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.at).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.level).collect::<Vec<_>>())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn summary_technologies(
        &mut self,
        rows: &[(&str, Vec<String>)],
    ) -> Result<(), StoreError> {
        let domains: Vec<&str> = rows.iter().map(|r| r.0).collect();
        sqlx::query("DELETE FROM account_technologies WHERE domain = ANY($1::text[])")
            .bind(&domains)
            .execute(&mut *self.tx)
            .await?;
        let (ds, ts): (Vec<&str>, Vec<&str>) = rows
            .iter()
            .flat_map(|(d, techs)| techs.iter().map(move |t| (*d, t.as_str())))
            .unzip();
        if !ds.is_empty() {
            sqlx::query(
                "INSERT INTO account_technologies (domain, technology) \
                 SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            )
            .bind(ds)
            .bind(ts)
            .execute(&mut *self.tx)
            .await?;
        }
        // The row's copy the filter reads (see migration 0007), from the table just written,
        // in the callers' (domain) order like every summary write.
        sqlx::query(
            "INSERT INTO account_summary (domain, technologies) SELECT u.d, \
             COALESCE((SELECT array_agg(t.technology ORDER BY t.technology) \
             FROM account_technologies AS t WHERE t.domain = u.d), '{}') \
             FROM unnest($1::text[]) WITH ORDINALITY AS u(d, n) ORDER BY u.n \
             ON CONFLICT (domain) DO UPDATE SET technologies = excluded.technologies",
        )
        .bind(&domains)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn summary_shown(&mut self, domains: &[String]) -> Result<(), StoreError> {
        let mut sorted: Vec<&str> = domains.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        sqlx::query(
            "INSERT INTO account_summary (domain) SELECT d FROM unnest($1::text[]) \
             WITH ORDINALITY AS t(d, n) ORDER BY n \
             ON CONFLICT (domain) DO UPDATE SET hidden = false",
        )
        .bind(sorted)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn summary_hidden(&mut self, domains: &[String]) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE account_summary SET hidden = true WHERE NOT hidden AND domain = ANY($1::text[])",
        )
        .bind(domains)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn summary_forget(&mut self, domains: &[String]) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM account_summary AS a WHERE a.domain = ANY($1::text[]) \
             AND NOT EXISTS (SELECT 1 FROM snapshots AS s WHERE s.domain = a.domain) \
             AND NOT EXISTS (SELECT 1 FROM targets AS t WHERE t.domain = a.domain)",
        )
        .bind(domains)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn summary_reset(&mut self) -> Result<(), StoreError> {
        // Writers update summary rows after their own snapshot locks; holding this lock for the
        // rebuild makes them wait for it instead of interleaving with it.
        for sql in [
            "LOCK TABLE account_summary, account_technologies IN EXCLUSIVE MODE",
            "DELETE FROM account_technologies",
            "DELETE FROM account_summary WHERE domain NOT IN \
             (SELECT domain FROM snapshots UNION SELECT domain FROM targets)",
            "INSERT INTO account_summary \
             (domain, last_enriched, last_change_at, last_change_id, last_change_level) \
             SELECT d.domain, e.at, c.detected_at, c.id, c.level \
             FROM (SELECT domain FROM snapshots UNION SELECT domain FROM targets) AS d \
             LEFT JOIN (SELECT domain, MAX(checked_at) AS at FROM snapshots GROUP BY domain) AS e \
             ON e.domain = d.domain \
             LEFT JOIN (SELECT DISTINCT ON (domain) domain, detected_at, id, level \
             FROM change_events ORDER BY domain, detected_at DESC, id DESC) AS c \
             ON c.domain = d.domain \
             ON CONFLICT (domain) DO UPDATE SET name = NULL, tier = NULL, icp_score = NULL, \
             intent_score = NULL, intent_band = NULL, technologies = '{}', \
             last_enriched = excluded.last_enriched, \
             last_change_at = excluded.last_change_at, last_change_id = excluded.last_change_id, \
             last_change_level = excluded.last_change_level",
        ] {
            sqlx::query(sql).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn latest_data(
        &mut self,
        modules: &[&str],
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<LatestData>, StoreError> {
        let (d, m) = after.unwrap_or(("", ""));
        let rows = sqlx::query(
            "SELECT domain, module, data FROM snapshots AS s WHERE module = ANY($1::text[]) \
             AND ($4 OR (domain, module) > ($2, $3)) AND version = (SELECT MAX(version) \
             FROM snapshots WHERE domain = s.domain AND module = s.module) \
             ORDER BY domain, module LIMIT $5",
        )
        .bind(modules.to_vec())
        .bind(d)
        .bind(m)
        .bind(after.is_none())
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.into_iter()
            .map(|r| {
                let c = Cells::new(r, "snapshots");
                Ok(LatestData {
                    domain: c.text("domain")?,
                    module: c.text("module")?,
                    data: c.json("data")?,
                })
            })
            .collect()
    }

    async fn summary_meta(&mut self) -> Result<Option<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT fingerprint, fields FROM account_summary_meta WHERE id = 1")
            .fetch_all(&mut *self.tx)
            .await?;
        match rows.into_iter().next() {
            Some(r) => {
                let c = Cells::new(r, "account_summary_meta");
                Ok(Some((c.text("fingerprint")?, c.text("fields")?)))
            }
            None => Ok(None),
        }
    }

    async fn set_summary_meta(
        &mut self,
        fingerprint: &str,
        fields: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_summary_meta (id, fingerprint, fields) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, \
             fields = excluded.fields",
        )
        .bind(fingerprint)
        .bind(fields)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
