//! The account brief (module `m15_strategic_brief`): Markdown with every claim cited, as
//! `pforge brief`, the API and the account page show it.

use crate::error::{AppError, AppResult};
use crate::App;
use chrono::{DateTime, Utc};
use pforge_core::Domain;
use serde::Serialize;
use serde_json::Value;

/// The module whose output is the brief.
pub const BRIEF_MODULE: &str = "m15_strategic_brief";

/// The latest brief of an account.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub domain: String,
    pub version: i64,
    pub fetched_at: DateTime<Utc>,
    pub markdown: String,
    /// Numbered sources the Markdown's `[n]` marks refer to.
    pub footnotes: Value,
    /// Modules the brief had to do without.
    pub missing_modules: Value,
}

impl App {
    /// The latest brief of `domain`. Nothing stored, or a stored result without Markdown, is
    /// [`AppError::NotFound`] saying what to do.
    pub async fn brief(&self, domain: &Domain) -> AppResult<Brief> {
        let Some(snap) = self
            .store()
            .latest_snapshot(domain.as_str(), BRIEF_MODULE)
            .await?
        else {
            return Err(AppError::not_found(format!(
                "no brief stored for {domain}: run `pforge enrich {domain}` first (the brief is module {BRIEF_MODULE})"
            )));
        };
        let Some(markdown) = snap.data.get("markdown").and_then(Value::as_str) else {
            return Err(AppError::not_found(format!(
                "the stored {BRIEF_MODULE} snapshot for {domain} holds no Markdown"
            )));
        };
        Ok(Brief {
            domain: domain.to_string(),
            version: snap.version,
            fetched_at: snap.fetched_at,
            markdown: markdown.to_string(),
            footnotes: snap.data.get("footnotes").cloned().unwrap_or(Value::Null),
            missing_modules: snap
                .data
                .get("missing_modules")
                .cloned()
                .unwrap_or(Value::Null),
        })
    }
}
