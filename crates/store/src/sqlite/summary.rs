//! The accounts summary's write primitives over SQLite (see [`AccountTx`]): multi-row upserts
//! on `account_summary`, chunked under SQLite's bound-parameter limit.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite};

use super::tx::SqliteTx;
use super::{sized_chunks, ts, Cells};
use crate::backend::{AccountTx, LastChange, LatestData, SummaryCol, SummaryUpdate, SummaryValue};
use crate::rows::Cols;
use crate::{AccountFields, StoreError};

/// Rows per statement: at most 10 parameters a row, well under 32,766.
const CHUNK: usize = 2000;

/// `domain IN (?, ...)`.
fn push_domains<'a>(qb: &mut QueryBuilder<'a, Sqlite>, domains: &'a [String]) {
    qb.push("domain IN (");
    let mut list = qb.separated(", ");
    for d in domains {
        list.push_bind(d.as_str());
    }
    list.push_unseparated(")");
}

#[async_trait]
impl AccountTx for SqliteTx {
    fn account_fields(&self) -> Option<Arc<AccountFields>> {
        self.fields.clone()
    }

    async fn summary_enriched(
        &mut self,
        domains: &[&str],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = ts(at);
        for chunk in sized_chunks(domains, CHUNK) {
            let mut qb =
                QueryBuilder::<Sqlite>::new("INSERT INTO account_summary (domain, last_enriched) ");
            qb.push_values(chunk, |mut b, d| {
                b.push_bind(*d).push_bind(at.clone());
            });
            qb.push(
                " ON CONFLICT (domain) DO UPDATE SET hidden = 0, last_enriched = \
                 CASE WHEN account_summary.last_enriched IS NULL \
                 OR excluded.last_enriched > account_summary.last_enriched \
                 THEN excluded.last_enriched ELSE account_summary.last_enriched END",
            );
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn summary_values(
        &mut self,
        cols: &[SummaryCol],
        rows: &[(&str, Vec<SummaryValue>)],
    ) -> Result<(), StoreError> {
        if cols.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = cols.iter().map(|c| c.column()).collect();
        let set: Vec<String> = names
            .iter()
            .map(|n| format!("{n} = excluded.{n}"))
            .collect();
        for chunk in rows.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(format!(
                "INSERT INTO account_summary (domain, {}) ",
                names.join(", ")
            ));
            qb.push_values(chunk, |mut b, (d, values)| {
                b.push_bind(*d);
                for v in values {
                    match v {
                        SummaryValue::Text(t) => b.push_bind(t.clone()),
                        SummaryValue::Int(i) => b.push_bind(*i),
                    };
                }
            });
            qb.push(format!(
                " ON CONFLICT (domain) DO UPDATE SET {}",
                set.join(", ")
            ));
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// One upsert per row: rows that set the same columns share a statement, and each row and
    /// its indexes are rewritten once (SET expressions all read the row as it was, so the
    /// last-change test holds for its three columns alike).
    async fn summary_update(
        &mut self,
        rows: &[SummaryUpdate<'_>],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = ts(at);
        let mut shapes: Vec<(Vec<SummaryCol>, bool)> = rows
            .iter()
            .map(|r| (r.cols(), r.change.is_some()))
            .collect();
        shapes.sort_by_key(|(cols, change)| {
            (cols.iter().map(|c| c.rank()).collect::<Vec<_>>(), *change)
        });
        shapes.dedup();
        for (cols, change) in shapes {
            let of_shape: Vec<&SummaryUpdate<'_>> = rows
                .iter()
                .filter(|r| r.change.is_some() == change && r.cols() == cols)
                .collect();
            let names: Vec<&str> = cols.iter().map(|c| c.column()).collect();
            let mut insert = vec!["domain", "last_enriched"];
            insert.extend(&names);
            if change {
                insert.extend(["last_change_at", "last_change_id", "last_change_level"]);
            }
            let mut set = vec![
                "hidden = 0".to_string(),
                "last_enriched = CASE WHEN account_summary.last_enriched IS NULL \
                 OR excluded.last_enriched > account_summary.last_enriched \
                 THEN excluded.last_enriched ELSE account_summary.last_enriched END"
                    .to_string(),
            ];
            set.extend(names.iter().map(|n| format!("{n} = excluded.{n}")));
            if change {
                let newer = "account_summary.last_change_at IS NULL \
                     OR (excluded.last_change_at, excluded.last_change_id) > \
                     (account_summary.last_change_at, account_summary.last_change_id)";
                set.extend(["last_change_at", "last_change_id", "last_change_level"].map(|c| {
                    format!("{c} = CASE WHEN {newer} THEN excluded.{c} ELSE account_summary.{c} END")
                }));
            }
            for chunk in sized_chunks(&of_shape, CHUNK) {
                let mut qb = QueryBuilder::<Sqlite>::new(format!(
                    "INSERT INTO account_summary ({}) ",
                    insert.join(", ")
                ));
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.domain).push_bind(at.clone());
                    for (_, v) in &r.values {
                        match v {
                            SummaryValue::Text(t) => b.push_bind(t.clone()),
                            SummaryValue::Int(i) => b.push_bind(*i),
                        };
                    }
                    if let Some(c) = &r.change {
                        b.push_bind(ts(c.at))
                            .push_bind(c.id.to_string())
                            .push_bind(c.level);
                    }
                });
                qb.push(format!(
                    " ON CONFLICT (domain) DO UPDATE SET {}",
                    set.join(", ")
                ));
                qb.build().execute(&mut *self.tx).await?;
            }
        }
        Ok(())
    }

    async fn summary_changes(&mut self, rows: &[LastChange<'_>]) -> Result<(), StoreError> {
        for chunk in sized_chunks(rows, CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO account_summary \
                 (domain, last_change_at, last_change_id, last_change_level) ",
            );
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.domain)
                    .push_bind(ts(c.at))
                    .push_bind(c.id.to_string())
                    .push_bind(c.level);
            });
            qb.push(
                " ON CONFLICT (domain) DO UPDATE SET last_change_at = excluded.last_change_at, \
                 last_change_id = excluded.last_change_id, \
                 last_change_level = excluded.last_change_level \
                 WHERE account_summary.last_change_at IS NULL \
                 OR (excluded.last_change_at, excluded.last_change_id) > \
                 (account_summary.last_change_at, account_summary.last_change_id)",
            );
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn summary_technologies(
        &mut self,
        rows: &[(&str, Vec<String>)],
    ) -> Result<(), StoreError> {
        for chunk in sized_chunks(rows, CHUNK) {
            let mut qb =
                QueryBuilder::<Sqlite>::new("DELETE FROM account_technologies WHERE domain IN (");
            let mut list = qb.separated(", ");
            for (d, _) in chunk {
                list.push_bind(*d);
            }
            list.push_unseparated(")");
            qb.build().execute(&mut *self.tx).await?;
        }
        let pairs: Vec<(&str, &str)> = rows
            .iter()
            .flat_map(|(d, techs)| techs.iter().map(move |t| (*d, t.as_str())))
            .collect();
        for chunk in sized_chunks(&pairs, CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO account_technologies (domain, technology) ",
            );
            qb.push_values(chunk, |mut b, (d, t)| {
                b.push_bind(*d).push_bind(*t);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *self.tx).await?;
        }
        // The row's copy the filter reads (see migration 0008), from the table just written.
        for chunk in sized_chunks(rows, CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "UPDATE account_summary SET technologies = (SELECT char(31) || \
                 group_concat(t.technology, char(31)) || char(31) FROM account_technologies AS t \
                 WHERE t.domain = account_summary.domain AND instr(t.technology, char(31)) = 0) \
                 WHERE domain IN (",
            );
            let mut list = qb.separated(", ");
            for (d, _) in chunk {
                list.push_bind(*d);
            }
            list.push_unseparated(")");
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn summary_shown(&mut self, domains: &[String]) -> Result<(), StoreError> {
        for chunk in domains.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("INSERT INTO account_summary (domain) ");
            qb.push_values(chunk, |mut b, d| {
                b.push_bind(d.as_str());
            });
            qb.push(" ON CONFLICT (domain) DO UPDATE SET hidden = 0");
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn summary_hidden(&mut self, domains: &[String]) -> Result<u64, StoreError> {
        let mut n = 0;
        for chunk in domains.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "UPDATE account_summary SET hidden = 1 WHERE hidden = 0 AND ",
            );
            push_domains(&mut qb, chunk);
            n += qb.build().execute(&mut *self.tx).await?.rows_affected();
        }
        Ok(n)
    }

    async fn summary_forget(&mut self, domains: &[String]) -> Result<(), StoreError> {
        for chunk in domains.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("DELETE FROM account_summary WHERE ");
            push_domains(&mut qb, chunk);
            qb.push(
                " AND NOT EXISTS (SELECT 1 FROM snapshots AS s WHERE s.domain = account_summary.domain) \
                 AND NOT EXISTS (SELECT 1 FROM targets AS t WHERE t.domain = account_summary.domain)",
            );
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn summary_reset(&mut self) -> Result<(), StoreError> {
        for sql in [
            "DELETE FROM account_technologies",
            "DELETE FROM account_summary WHERE domain NOT IN \
             (SELECT domain FROM snapshots UNION SELECT domain FROM targets)",
            "INSERT INTO account_summary \
             (domain, last_enriched, last_change_at, last_change_id, last_change_level) \
             SELECT d.domain, e.at, c.detected_at, c.id, c.level \
             FROM (SELECT domain FROM snapshots UNION SELECT domain FROM targets) AS d \
             LEFT JOIN (SELECT domain, MAX(checked_at) AS at FROM snapshots GROUP BY domain) AS e \
             ON e.domain = d.domain \
             LEFT JOIN (SELECT domain, detected_at, id, level FROM (SELECT domain, detected_at, \
             id, level, ROW_NUMBER() OVER (PARTITION BY domain ORDER BY detected_at DESC, id DESC) \
             AS rn FROM change_events) WHERE rn = 1) AS c ON c.domain = d.domain \
             WHERE true \
             ON CONFLICT (domain) DO UPDATE SET name = NULL, tier = NULL, icp_score = NULL, \
             intent_score = NULL, intent_band = NULL, technologies = NULL, \
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
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT domain, module, data FROM snapshots AS s WHERE module IN (",
        );
        let mut list = qb.separated(", ");
        for m in modules {
            list.push_bind(*m);
        }
        list.push_unseparated(")");
        if let Some((d, m)) = after {
            qb.push(" AND (domain, module) > (")
                .push_bind(d)
                .push(", ")
                .push_bind(m)
                .push(")");
        }
        qb.push(
            " AND version = (SELECT MAX(version) FROM snapshots \
             WHERE domain = s.domain AND module = s.module) ORDER BY domain, module LIMIT ",
        )
        .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&mut *self.tx).await?;
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
            "INSERT INTO account_summary_meta (id, fingerprint, fields) VALUES (1, ?, ?) \
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
