//! The accounts summary the UI's home page (and any front end listing accounts) shows: per
//! domain its company name, ICP tier and score, intent score and band, last change, last
//! enrichment and failing modules, filtered, sorted and paged in the database.

use crate::error::{AppError, AppResult};
use crate::App;
use pforge_core::Level;
use pforge_store::{AccountFields, AccountPage, AccountQuery, AccountSort, FieldRef};

/// Most rows one page of the summary holds.
pub const MAX_ACCOUNTS_PAGE: u32 = 1000;

/// Which module outputs the summary's columns come from: the company name of
/// `m01_company_context`, the tier and score of `m13_icp_priority`, the score and level of
/// `m14_signal_scoring`, the technologies of `m02_tech_stack`.
pub fn account_fields() -> AccountFields {
    AccountFields {
        name: FieldRef::new("m01_company_context", "name"),
        tier: FieldRef::new("m13_icp_priority", "tier"),
        icp_score: FieldRef::new("m13_icp_priority", "score"),
        intent_score: FieldRef::new("m14_signal_scoring", "score"),
        intent_band: FieldRef::new("m14_signal_scoring", "level"),
        technologies: FieldRef::new("m02_tech_stack", "technologies"),
        technology_name: "name".to_string(),
    }
}

/// Which accounts to list, as a front end parses it from its input.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Substring of the domain or company name.
    pub text: Option<String>,
    pub tier: Option<String>,
    pub min_intent: Option<i64>,
    /// Runs this technology (name as detected, any case).
    pub technology: Option<String>,
    /// Newest change at this level or above.
    pub min_change_level: Option<Level>,
    pub sort: AccountSort,
    pub descending: bool,
    pub offset: u64,
    /// 1 ..= [`MAX_ACCOUNTS_PAGE`].
    pub limit: u32,
}

impl App {
    /// Removes accounts from the accounts table without destroying history: drops them from
    /// the target list (schedules stop enriching them) and hides them, keeping every snapshot
    /// and change event; adding or enriching a domain again brings it back. Returns how many
    /// were shown. The UI's "Remove" and the API's account removal both call this.
    pub async fn remove_accounts(&self, domains: &[pforge_core::Domain]) -> AppResult<u64> {
        let names: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        Ok(self.store().remove_accounts(&names).await?)
    }

    /// One page of the accounts summary with counts per tier and intent band over everything
    /// the filter matches (one query for the page, one for the counts, at any size).
    pub async fn accounts(&self, filter: &AccountFilter) -> AppResult<AccountPage> {
        if !(1..=MAX_ACCOUNTS_PAGE).contains(&filter.limit) {
            return Err(AppError::invalid(format!(
                "limit {} is out of range: use 1 to {MAX_ACCOUNTS_PAGE}",
                filter.limit
            )));
        }
        let clean = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        };
        let query = AccountQuery {
            fields: account_fields(),
            text: clean(&filter.text),
            tier: clean(&filter.tier),
            min_intent: filter.min_intent,
            technology: clean(&filter.technology),
            min_change_level: filter.min_change_level,
            sort: filter.sort,
            descending: filter.descending,
            offset: filter.offset,
            limit: filter.limit,
        };
        self.store()
            .list_accounts(&query)
            .await
            .map_err(|e| match e {
                pforge_store::StoreError::Invalid(m) => AppError::invalid(m),
                other => other.into(),
            })
    }
}
