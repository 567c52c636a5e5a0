//! Keeping the accounts summary (`account_summary`, `account_technologies`) equal to what the
//! snapshots, change events and target list say, written once over [`AccountTx`]: every write
//! transaction that changes what an account shows updates its summary row before it commits
//! ([`follow_batch`]), and a summary built with other fields than the application's, or none at
//! all (a database from before the summary existed), is rebuilt from `snapshots` ([`ensure`]).
//!
//! Which module and key hold a value is the application's knowledge ([`AccountFields`]): the
//! store is given it at open ([`crate::StoreOptions`]) or by the first accounts query, records
//! it beside the summary, and a process that opens the database without it uses the recorded
//! one, so every writer keeps the summary whoever opened it first. Pruning needs nothing here:
//! it never deletes a latest version, and the summary only holds latest values.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::accounts::{AccountFields, FieldRef};
use crate::backend::{Backend, SnapshotRow};
use crate::{ChangeEvent, StoreError};

/// Bumped whenever the extraction rules below change, so every summary built by the old rules
/// is rebuilt on the next open.
const RULES: &str = "summary-v1";

/// Latest snapshots read per statement while rebuilding: small enough that the transaction is
/// never idle for long (PostgreSQL ends one idle for 10 s), large enough to be few statements.
const REBUILD_PAGE: u32 = 5_000;

/// How many intent scores an account's sparkline shows (its newest versions).
pub const HISTORY_POINTS: u32 = 24;

/// A value column of the summary, filled from one [`FieldRef`] of [`AccountFields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryCol {
    Name,
    Tier,
    IcpScore,
    IntentScore,
    IntentBand,
}

impl SummaryCol {
    /// Every value column.
    pub const ALL: [SummaryCol; 5] = [
        SummaryCol::Name,
        SummaryCol::Tier,
        SummaryCol::IcpScore,
        SummaryCol::IntentScore,
        SummaryCol::IntentBand,
    ];

    /// The column's name in `account_summary`.
    pub fn column(self) -> &'static str {
        match self {
            SummaryCol::Name => "name",
            SummaryCol::Tier => "tier",
            SummaryCol::IcpScore => "icp_score",
            SummaryCol::IntentScore => "intent_score",
            SummaryCol::IntentBand => "intent_band",
        }
    }

    /// The column's place in [`SummaryCol::ALL`].
    pub fn rank(self) -> usize {
        SummaryCol::ALL
            .iter()
            .position(|c| *c == self)
            .unwrap_or(SummaryCol::ALL.len())
    }

    /// Whether the column holds an integer (else text).
    pub fn integer(self) -> bool {
        matches!(self, SummaryCol::IcpScore | SummaryCol::IntentScore)
    }

    fn field(self, f: &AccountFields) -> &FieldRef {
        match self {
            SummaryCol::Name => &f.name,
            SummaryCol::Tier => &f.tier,
            SummaryCol::IcpScore => &f.icp_score,
            SummaryCol::IntentScore => &f.intent_score,
            SummaryCol::IntentBand => &f.intent_band,
        }
    }

    /// The columns whose values live in `module`'s output.
    fn of_module(f: &AccountFields, module: &str) -> Vec<SummaryCol> {
        SummaryCol::ALL
            .into_iter()
            .filter(|c| c.field(f).module == module)
            .collect()
    }
}

/// One extracted value, typed as its column is.
#[derive(Debug, Clone, PartialEq)]
pub enum SummaryValue {
    Text(Option<String>),
    Int(Option<i64>),
}

/// An account's newest change event, as the summary records it.
#[derive(Debug, Clone, PartialEq)]
pub struct LastChange<'a> {
    pub domain: &'a str,
    pub at: DateTime<Utc>,
    pub id: Uuid,
    pub level: &'static str,
}

/// What one saved batch changes in one domain's summary row: it was enriched at the batch's
/// time, the value columns of the field modules it saved (in [`SummaryCol::ALL`] order) take
/// their new values, and its newest new change event, if any, may become its last change.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryUpdate<'a> {
    pub domain: &'a str,
    pub values: Vec<(SummaryCol, SummaryValue)>,
    pub change: Option<LastChange<'a>>,
}

impl SummaryUpdate<'_> {
    /// The value columns this update sets.
    pub fn cols(&self) -> Vec<SummaryCol> {
        self.values.iter().map(|v| v.0).collect()
    }
}

/// A latest snapshot's data, as a rebuild reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestData {
    pub domain: String,
    pub module: String,
    pub data: Value,
}

/// The summary primitives of a write transaction (each one or two SQL statements). Rows of one
/// call are sorted by domain, so concurrent writers lock summary rows in one order.
#[async_trait]
pub trait AccountTx: Send {
    /// The fields this transaction's store keeps the summary with (`None`: not known yet, so
    /// only the columns that need no fields are kept; the first accounts query rebuilds).
    fn account_fields(&self) -> Option<Arc<AccountFields>>;

    /// Makes each domain an account (inserting its row if missing), shown again if it was
    /// hidden, with `last_enriched` at least `at`.
    async fn summary_enriched(
        &mut self,
        domains: &[&str],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Sets `cols` of each domain's row (which exists) to the given values, in `cols`' order.
    async fn summary_values(
        &mut self,
        cols: &[SummaryCol],
        rows: &[(&str, Vec<SummaryValue>)],
    ) -> Result<(), StoreError>;

    /// Records each change as its domain's newest unless a newer one (by `(at, id)`) is there.
    async fn summary_changes(&mut self, rows: &[LastChange<'_>]) -> Result<(), StoreError>;

    /// A saved batch's updates (sorted by domain, one per domain, rows inserted if missing):
    /// [`AccountTx::summary_enriched`], then [`AccountTx::summary_values`] per set of columns,
    /// then [`AccountTx::summary_changes`]. A backend may do it in one upsert per row instead,
    /// which rewrites each row and its indexes once rather than up to four times.
    async fn summary_update(
        &mut self,
        rows: &[SummaryUpdate<'_>],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let domains: Vec<&str> = rows.iter().map(|r| r.domain).collect();
        self.summary_enriched(&domains, at).await?;
        for (cols, of_set) in by_cols(rows.iter().map(|r| (r.domain, r.values.as_slice()))) {
            self.summary_values(&cols, &of_set).await?;
        }
        let changes: Vec<LastChange<'_>> = rows.iter().filter_map(|r| r.change.clone()).collect();
        if !changes.is_empty() {
            self.summary_changes(&changes).await?;
        }
        Ok(())
    }

    /// Replaces each domain's technologies (lowercased, distinct) with the given ones.
    async fn summary_technologies(
        &mut self,
        rows: &[(&str, Vec<String>)],
    ) -> Result<(), StoreError>;

    /// Makes domains accounts (rows inserted if missing) and shown: the target list grew.
    async fn summary_shown(&mut self, domains: &[String]) -> Result<(), StoreError>;

    /// Hides domains from the accounts table (their rows stay, so history stays reachable);
    /// returns how many were shown before.
    async fn summary_hidden(&mut self, domains: &[String]) -> Result<u64, StoreError>;

    /// Deletes the rows of domains that are no longer accounts (no snapshots, not a target).
    async fn summary_forget(&mut self, domains: &[String]) -> Result<(), StoreError>;

    /// Rebuild, first step: one row per account (snapshots ∪ targets) with `last_enriched`
    /// and the newest change from the tables, value columns and technologies cleared, hidden
    /// flags kept; rows of domains that are no longer accounts deleted.
    async fn summary_reset(&mut self) -> Result<(), StoreError>;

    /// Rebuild, second step: the latest snapshot of each of `modules` per domain, ordered by
    /// (domain, module), strictly after `after`, at most `limit`.
    async fn latest_data(
        &mut self,
        modules: &[&str],
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<LatestData>, StoreError>;

    /// The recorded fingerprint and fields (JSON) of the summary, if any.
    async fn summary_meta(&mut self) -> Result<Option<(String, String)>, StoreError>;

    /// Records the fingerprint and fields the summary now follows.
    async fn set_summary_meta(&mut self, fingerprint: &str, fields: &str)
        -> Result<(), StoreError>;
}

/// The fields a store keeps its summary with, shared by the store and its transactions.
#[derive(Debug, Clone, Default)]
pub struct FieldsCache(Arc<RwLock<Option<Followed>>>);

/// The fingerprint of the followed fields, and the fields.
type Followed = (String, Arc<AccountFields>);

impl FieldsCache {
    /// The fields currently followed.
    pub fn get(&self) -> Option<Arc<AccountFields>> {
        self.read().as_ref().map(|(_, f)| f.clone())
    }

    fn fingerprint(&self) -> Option<String> {
        self.read().as_ref().map(|(p, _)| p.clone())
    }

    fn set(&self, fingerprint: String, fields: Arc<AccountFields>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some((fingerprint, fields));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Followed>> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// The fields as recorded, and their fingerprint (the rules' version and the fields).
fn fingerprint(fields: &AccountFields) -> Result<(String, String), StoreError> {
    let json = serde_json::to_string(fields)
        .map_err(|e| StoreError::Invalid(format!("account fields do not serialize: {e}")))?;
    Ok((format!("{RULES}:{json}"), json))
}

/// Makes the summary follow `fields`: when the store already does, nothing; else, in one write
/// transaction, a rebuild from `snapshots` unless the database records these fields already
/// (another process rebuilt it). The accounts query calls this first, so a summary is never
/// read under other fields than it was built with.
pub async fn ensure<B: Backend + ?Sized>(
    backend: &B,
    cache: &FieldsCache,
    fields: &AccountFields,
) -> Result<(), StoreError> {
    let (print, json) = fingerprint(fields)?;
    if cache.fingerprint().as_deref() == Some(print.as_str()) {
        return Ok(());
    }
    let mut tx = backend.begin().await?;
    let recorded = tx.summary_meta().await?.map(|(p, _)| p);
    if recorded.as_deref() != Some(print.as_str()) {
        rebuild(tx.as_mut(), fields).await?;
        tx.set_summary_meta(&print, &json).await?;
        tx.commit().await?;
        // Only the plans depend on it: a failure is no reason to fail the query.
        if let Err(e) = backend.summary_rebuilt().await {
            tracing::warn!(error = %e, "refreshing the accounts summary's statistics failed");
        }
    } else {
        tx.commit().await?;
    }
    cache.set(print, Arc::new(fields.clone()));
    Ok(())
}

/// At open: with `fields`, [`ensure`]; without, adopt the fields recorded in the database (if
/// any), so this process's writes keep the summary others built.
pub async fn on_open<B: Backend + ?Sized>(
    backend: &B,
    cache: &FieldsCache,
    fields: Option<&AccountFields>,
) -> Result<(), StoreError> {
    if let Some(f) = fields {
        return ensure(backend, cache, f).await;
    }
    let mut tx = backend.begin().await?;
    let meta = tx.summary_meta().await?;
    drop(tx);
    if let Some((print, json)) = meta {
        // Fields recorded by a version with other rules are rebuilt by whoever knows them.
        if print.starts_with(&format!("{RULES}:")) {
            if let Ok(f) = serde_json::from_str::<AccountFields>(&json) {
                cache.set(print, Arc::new(f));
            }
        }
    }
    Ok(())
}

/// Rebuilds the summary from the tables inside `tx` (see [`AccountTx::summary_reset`]).
async fn rebuild<T: AccountTx + ?Sized>(tx: &mut T, f: &AccountFields) -> Result<(), StoreError> {
    tx.summary_reset().await?;
    let mut modules: Vec<&str> = SummaryCol::ALL
        .iter()
        .map(|c| c.field(f).module.as_str())
        .chain([f.technologies.module.as_str()])
        .collect();
    modules.sort_unstable();
    modules.dedup();
    let mut after: Option<(String, String)> = None;
    loop {
        let page = tx
            .latest_data(
                &modules,
                after.as_ref().map(|(d, m)| (d.as_str(), m.as_str())),
                REBUILD_PAGE,
            )
            .await?;
        let Some(last) = page.last() else { break };
        after = Some((last.domain.clone(), last.module.clone()));
        let latest: Vec<(&str, &str, &Value)> = page
            .iter()
            .map(|l| (l.domain.as_str(), l.module.as_str(), &l.data))
            .collect();
        write_values(tx, f, &latest).await?;
        if page.len() < REBUILD_PAGE as usize {
            break;
        }
    }
    Ok(())
}

/// The summary's part of saving a batch (called by the save rule in the same transaction):
/// every domain saved or confirmed is enriched now; each new version of a field's module sets
/// that module's columns; the newest new change event per domain becomes its last change.
pub(crate) async fn follow_batch<T: AccountTx + ?Sized>(
    tx: &mut T,
    rows: &[SnapshotRow<'_>],
    touched: &[(&str, &str, i64)],
    events: &[&ChangeEvent],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut domains: Vec<&str> = rows
        .iter()
        .map(|r| r.new.domain.as_str())
        .chain(touched.iter().map(|t| t.0))
        .collect();
    if domains.is_empty() {
        return Ok(());
    }
    domains.sort_unstable();
    domains.dedup();
    let mut updates: Vec<SummaryUpdate<'_>> = domains
        .iter()
        .map(|d| SummaryUpdate {
            domain: d,
            values: Vec::new(),
            change: None,
        })
        .collect();
    let slot =
        |updates: &[SummaryUpdate<'_>], d: &str| updates.binary_search_by(|u| u.domain.cmp(d)).ok();

    // Value columns: later rows of one (domain, module) win, as later versions do.
    let fields = tx.account_fields();
    let mut technologies: Vec<(&str, &Value)> = Vec::new();
    if let Some(f) = &fields {
        let latest: Vec<(&str, &str, &Value)> = rows
            .iter()
            .map(|r| (r.new.domain.as_str(), r.new.module.as_str(), &r.new.data))
            .collect();
        let found = latest_values(f, &latest);
        for (domain, values) in found.values {
            if let Some(i) = slot(&updates, domain) {
                updates[i].values = values;
            }
        }
        technologies = found.technologies;
    }

    // The newest new change event per domain.
    for e in events {
        let c = LastChange {
            domain: e.domain.as_str(),
            at: e.detected_at,
            id: e.id,
            level: e.level.as_str(),
        };
        let Some(i) = slot(&updates, c.domain) else {
            continue;
        };
        match &updates[i].change {
            Some(x) if (c.at, c.id) <= (x.at, x.id) => {}
            _ => updates[i].change = Some(c),
        }
    }
    tx.summary_update(&updates, at).await?;

    if let Some(f) = &fields {
        write_technologies(tx, f, &technologies).await?;
    }
    Ok(())
}

/// Writes the value columns and technologies that `latest` (latest data per (domain, module),
/// later entries of one key winning) determines.
async fn write_values<T: AccountTx + ?Sized>(
    tx: &mut T,
    f: &AccountFields,
    latest: &[(&str, &str, &Value)],
) -> Result<(), StoreError> {
    let found = latest_values(f, latest);
    for (cols, rows) in by_cols(found.values.iter().map(|(d, v)| (*d, v.as_slice()))) {
        tx.summary_values(&cols, &rows).await?;
    }
    write_technologies(tx, f, &found.technologies).await
}

/// What some latest data sets in the summary: each domain's value columns (in
/// [`SummaryCol::ALL`] order) and the data its technologies come from, both sorted by domain.
struct LatestValues<'a> {
    values: Vec<(&'a str, Vec<(SummaryCol, SummaryValue)>)>,
    technologies: Vec<(&'a str, &'a Value)>,
}

/// The values `latest` (data per (domain, module), later entries of one key winning) sets.
fn latest_values<'a>(
    f: &AccountFields,
    latest: &[(&'a str, &'a str, &'a Value)],
) -> LatestValues<'a> {
    let mut values: Vec<(&str, Vec<(SummaryCol, SummaryValue)>)> = Vec::new();
    let mut technologies: Vec<(&str, &Value)> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut tech_at: HashMap<&str, usize> = HashMap::new();
    for &(domain, module, data) in latest {
        let cols = SummaryCol::of_module(f, module);
        if !cols.is_empty() {
            let i = *at.entry(domain).or_insert_with(|| {
                values.push((domain, Vec::new()));
                values.len() - 1
            });
            for col in cols {
                let value = extract(col, f, data);
                match values[i].1.iter_mut().find(|v| v.0 == col) {
                    Some(v) => v.1 = value,
                    None => values[i].1.push((col, value)),
                }
            }
        }
        if module == f.technologies.module {
            match tech_at.get(domain) {
                Some(&i) => technologies[i].1 = data,
                None => {
                    tech_at.insert(domain, technologies.len());
                    technologies.push((domain, data));
                }
            }
        }
    }
    for v in values.iter_mut() {
        v.1.sort_by_key(|c| c.0.rank());
    }
    values.sort_by(|a, b| a.0.cmp(b.0));
    technologies.sort_by(|a, b| a.0.cmp(b.0));
    LatestValues {
        values,
        technologies,
    }
}

/// Rows grouped by the value columns they set (groups with none left out), each group's rows
/// in the given order: one [`AccountTx::summary_values`] call per group.
#[allow(clippy::type_complexity)]
fn by_cols<'a>(
    rows: impl Iterator<Item = (&'a str, &'a [(SummaryCol, SummaryValue)])>,
) -> Vec<(Vec<SummaryCol>, Vec<(&'a str, Vec<SummaryValue>)>)> {
    let mut groups: Vec<(Vec<SummaryCol>, Vec<(&str, Vec<SummaryValue>)>)> = Vec::new();
    for (domain, values) in rows.filter(|r| !r.1.is_empty()) {
        let cols: Vec<SummaryCol> = values.iter().map(|v| v.0).collect();
        let row = (domain, values.iter().map(|v| v.1.clone()).collect());
        match groups.iter_mut().find(|g| g.0 == cols) {
            Some(g) => g.1.push(row),
            None => groups.push((cols, vec![row])),
        }
    }
    groups
}

/// Replaces the technologies of each domain in `of` (sorted by domain) with its data's.
async fn write_technologies<T: AccountTx + ?Sized>(
    tx: &mut T,
    f: &AccountFields,
    of: &[(&str, &Value)],
) -> Result<(), StoreError> {
    if of.is_empty() {
        return Ok(());
    }
    let rows: Vec<(&str, Vec<String>)> = of
        .iter()
        .map(|(d, data)| (*d, technologies(f, data)))
        .collect();
    tx.summary_technologies(&rows).await
}

/// One column's value out of its module's data: text is a string as it is (any other non-null
/// JSON value as its JSON text); an integer is a number, rounded; anything else is missing.
pub fn extract(col: SummaryCol, f: &AccountFields, data: &Value) -> SummaryValue {
    let v = data.get(&col.field(f).key).filter(|v| !v.is_null());
    if col.integer() {
        SummaryValue::Int(v.and_then(integer))
    } else {
        SummaryValue::Text(v.map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }))
    }
}

/// A JSON number as an integer (rounded), if it is one that fits.
pub fn integer(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .map(f64::round)
            .filter(|x| x.is_finite() && x.abs() < 9.0e18)
            .map(|x| x as i64)
    })
}

/// The technologies a snapshot names: the `technology_name` string of each object of the
/// array at the technologies key, lowercased, sorted and distinct.
pub fn technologies(f: &AccountFields, data: &Value) -> Vec<String> {
    let mut out: Vec<String> = data
        .get(&f.technologies.key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get(&f.technology_name)?.as_str())
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> AccountFields {
        AccountFields {
            name: FieldRef::new("co", "name"),
            tier: FieldRef::new("icp", "tier"),
            icp_score: FieldRef::new("icp", "score"),
            intent_score: FieldRef::new("intent", "score"),
            intent_band: FieldRef::new("intent", "level"),
            technologies: FieldRef::new("tech", "technologies"),
            technology_name: "name".into(),
        }
    }

    #[test]
    fn values_are_extracted_as_their_columns_are_typed() {
        let f = fields();
        let data = json!({"score": 71.6, "level": "hot", "tier": 3});
        assert_eq!(
            extract(SummaryCol::IntentScore, &f, &data),
            SummaryValue::Int(Some(72))
        );
        assert_eq!(
            extract(SummaryCol::IntentBand, &f, &data),
            SummaryValue::Text(Some("hot".into()))
        );
        assert_eq!(
            extract(SummaryCol::Tier, &f, &data),
            SummaryValue::Text(Some("3".into()))
        );
        assert_eq!(
            extract(SummaryCol::IcpScore, &f, &json!({"score": "high"})),
            SummaryValue::Int(None)
        );
        assert_eq!(
            extract(SummaryCol::Name, &f, &json!({"name": null})),
            SummaryValue::Text(None)
        );
    }

    #[test]
    fn technologies_are_lowercased_and_distinct() {
        let f = fields();
        let data = json!({"technologies": [{"name": "React"}, {"name": "Algolia"}, {"name": "react"}, {"x": 1}, 5]});
        assert_eq!(technologies(&f, &data), ["algolia", "react"]);
        assert!(technologies(&f, &json!({"technologies": "React"})).is_empty());
    }

    #[test]
    fn columns_follow_their_module() {
        let f = fields();
        assert_eq!(
            SummaryCol::of_module(&f, "icp"),
            [SummaryCol::Tier, SummaryCol::IcpScore]
        );
        assert!(SummaryCol::of_module(&f, "tech").is_empty());
    }

    #[test]
    fn the_fingerprint_names_the_rules_and_the_fields() {
        let (print, json) = fingerprint(&fields()).unwrap();
        assert!(print.starts_with("summary-v1:"));
        let back: AccountFields = serde_json::from_str(&json).unwrap();
        assert_eq!(fingerprint(&back).unwrap().0, print);
    }
}
