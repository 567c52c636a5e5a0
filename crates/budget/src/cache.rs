//! Response cache and single flight (moka): a successful answer is reused for its provider's
//! TTL, and identical concurrent calls wait for one request instead of each sending their own.

use crate::Response;
use moka::future::Cache;
use moka::Expiry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What makes two calls the same request: provider, method, URL (before auth is attached) and
/// the call's own headers (e.g. `Accept`), sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub provider: String,
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// A cached answer and how long it may be reused.
pub(crate) struct Cached {
    pub response: Response,
    pub ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<CacheKey, Arc<Cached>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _: &CacheKey,
        value: &Arc<Cached>,
        _: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The shared response cache, bounded by total body bytes.
pub(crate) type ResponseCache = Cache<CacheKey, Arc<Cached>>;

pub(crate) fn new_cache(capacity_bytes: u64) -> ResponseCache {
    Cache::builder()
        .max_capacity(capacity_bytes)
        .weigher(|_k: &CacheKey, v: &Arc<Cached>| {
            u32::try_from(v.response.body.len() + 512).unwrap_or(u32::MAX)
        })
        .expire_after(PerEntryTtl)
        .build()
}
