//! The `Call` and `Response` values that pass through the gateway.

use crate::GatewayError;
use bytes::Bytes;
use chrono::{DateTime, Utc};

/// One outbound request, described in provider terms rather than as a raw URL so that policy
/// (base URL, auth, limits) is applied in one place.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub provider: String,
    /// Path appended to the provider's base URL (may be empty).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// Domain being enriched; fills `{domain}` in the base URL and is recorded for accounting.
    pub domain: Option<String>,
    /// Module making the call, for accounting and metrics.
    pub module: Option<String>,
    /// Job the call belongs to, for the spend ledger.
    pub job: Option<String>,
}

impl Call {
    /// A GET of `path` on `provider`.
    pub fn get(provider: impl Into<String>, path: impl Into<String>) -> Self {
        Call {
            provider: provider.into(),
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            domain: None,
            module: None,
            job: None,
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Adds a request header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// Sets the domain the call is made for.
    pub fn for_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the module making the call.
    pub fn by_module(mut self, module: impl Into<String>) -> Self {
        self.module = Some(module.into());
        self
    }

    /// Sets the job the call belongs to, so its cost is attributed in the ledger.
    pub fn for_job(mut self, job: impl Into<String>) -> Self {
        self.job = Some(job.into());
        self
    }
}

/// A successful (2xx) provider answer with its body read in full (within the size limit).
#[derive(Debug, Clone)]
pub struct Response {
    pub provider: String,
    /// The URL that was fetched, safe to store in a citation: secrets in the query are `***`.
    pub url: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub fetched_at: DateTime<Utc>,
    /// Every request this answer came from, `url` first, secrets masked. Just `url`, unless the
    /// answer was put together from items that different batch requests fetched (see
    /// [`crate::BatchConfig`]): a citation of the whole answer names them all.
    pub sources: Vec<String>,
    /// The URL asking for exactly what this caller asked for, alone (secrets masked): what it
    /// would have fetched without batching. Equal to `url` unless the answer was carried by a
    /// batch request, whose URL depends on whichever other callers' items rode along. It gives
    /// the same answer for the caller's items every time, so it is the stable way to cite them.
    pub requested: String,
}

impl Response {
    /// First value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header (e.g. all `set-cookie` lines).
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, replacing invalid UTF-8 rather than failing: pages in the wild are messy.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON, with an error naming the provider and URL.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, GatewayError> {
        serde_json::from_slice(&self.body).map_err(|e| GatewayError::Body {
            provider: self.provider.clone(),
            url: self.url.clone(),
            reason: format!("invalid JSON: {e}"),
        })
    }
}
