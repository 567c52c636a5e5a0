//! Response cache and single flight (moka): a successful answer is reused for its provider's
//! TTL, and identical concurrent calls wait for one request instead of each sending their own.
//! Items of batchable endpoints are cached one by one in the same cache (see `batch.rs`).

use crate::Response;
use chrono::{DateTime, Utc};
use moka::future::Cache;
use moka::Expiry;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What makes two calls the same request: provider, method, URL (before auth is attached) and
/// the call's own headers (e.g. `Accept`), sorted. For an item of a batchable endpoint, `url`
/// is the call's URL without the batched parameter (query sorted) and `item` names the item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub provider: String,
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub item: Option<String>,
}

impl CacheKey {
    /// The key of one item of this group.
    pub(crate) fn item(&self, item: &str) -> CacheKey {
        CacheKey {
            item: Some(item.to_string()),
            ..self.clone()
        }
    }
}

/// A cached answer and how long it may be reused.
pub(crate) struct Cached {
    pub entry: Entry,
    pub ttl: Duration,
}

/// A whole answer, or one item split out of a batch answer.
pub(crate) enum Entry {
    Whole(Response),
    Item(ItemAnswer),
}

/// One item of a batch answer: its value and the request it came from.
pub(crate) struct ItemAnswer {
    /// The item's key as the provider wrote it in the answer.
    pub key: String,
    pub value: Value,
    /// Serialized size of `value`, for the cache's byte bound.
    pub size: usize,
    pub source: Arc<BatchSource>,
}

/// What every item of one batch answer shares: the request that was made and the answer's
/// frame (the answer with the object at `split` emptied), into which each caller's own items are
/// put back.
pub(crate) struct BatchSource {
    /// The batch request's URL, secrets masked.
    pub url: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub fetched_at: DateTime<Utc>,
    pub envelope: Value,
    pub split: String,
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
            let size = match &v.entry {
                Entry::Whole(r) => r.body.len(),
                Entry::Item(i) => i.size,
            };
            u32::try_from(size + 512).unwrap_or(u32::MAX)
        })
        .expire_after(PerEntryTtl)
        .build()
}
