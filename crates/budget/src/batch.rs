//! Cross-domain batching for endpoints declared batchable ([`BatchConfig`]).
//!
//! A call to such an endpoint is split into items (`ids=Q1|Q2` → `Q1`, `Q2`). Each item is
//! looked up in the cache, then among the items already in flight (awaited, never asked twice),
//! and only the rest are queued in the call's *group*: same provider, URL without the batched
//! parameter, and headers, so calls whose other parameters differ (`props=labels` vs
//! `props=claims`) never merge. A group's queue becomes one request when it holds `max_items`,
//! or `window_ms` after its first item, or, if earlier batches of the group are still waiting for
//! a rate-limit or in-flight slot, once the last of them has left: batches fill up while the
//! provider is the bottleneck instead of queueing up half empty.
//!
//! A batch request goes through the normal pipeline as ONE call: SSRF guard, breaker, budget
//! (reserved and charged once, at the cost of one call to its path), in-flight limit, rate
//! limits, retries (the batch is retried as a whole) and metrics. Its charge is written to the
//! ledger under the module, domain and job of the call whose item opened the batch: items of
//! other callers (possibly of other domains or jobs) ride along at no charge to them. Caps are
//! per provider, total and per run, so they hold exactly whoever is named.
//!
//! The answer is split by the keys of the object at `split`; each caller gets a body of the
//! provider's shape holding only its own items (an item the provider reports as missing, such as
//! Wikidata's `{"id": "Q..", "missing": ""}`, is passed through as that item's answer), with
//! `url` naming the batch request actually made. An item absent from the answer fails only its
//! callers. An answer that cannot be split at all (no object at `split`, e.g. Wikidata's
//! top-level `error` for one malformed id), a 400/413/414 or a body over the cap is blamed on the
//! batch's contents: the items are asked again in two halves, down to single items, so one bad
//! item fails only the callers that asked for it.

use crate::cache::{BatchSource, CacheKey, Cached, Entry, ItemAnswer};
use crate::config::BatchConfig;
use crate::gateway::Departure;
use crate::metrics::GatewayMetrics;
use crate::provider::ProviderRuntime;
use crate::{Call, Gateway, GatewayError, Response};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What a call to a batchable endpoint asks for.
pub(crate) struct ItemCall {
    /// Index of the matching declaration in the provider's `batch` list.
    spec: usize,
    /// Distinct items, in the caller's order.
    items: Vec<String>,
    /// The call's group: its cache key without the batched parameter.
    group: CacheKey,
}

/// The batch declaration `call` falls under, if any, with its items. A call with no item (an
/// empty parameter) or with the parameter given twice is not batched: it is sent as it is.
pub(crate) fn classify(gw: &Gateway, rt: &ProviderRuntime, call: &Call) -> Option<ItemCall> {
    let (spec, cfg) = rt.cfg.batch.iter().enumerate().find(|(_, b)| {
        b.path == call.path
            && b.match_query
                .iter()
                .all(|(k, v)| call.query.iter().any(|(qk, qv)| qk == k && qv == v))
    })?;
    let mut values = call.query.iter().filter(|(k, _)| *k == cfg.param);
    let (_, value) = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let mut items: Vec<String> = Vec::new();
    for item in value.split(cfg.separator.as_str()) {
        if !item.is_empty() && !items.iter().any(|i| i == item) {
            items.push(item.to_string());
        }
    }
    if items.is_empty() {
        return None;
    }
    let mut rest = call.clone();
    rest.query.retain(|(k, _)| *k != cfg.param);
    rest.query.sort();
    let url = gw.url_for(&rest).ok()?;
    let mut headers = call.headers.clone();
    headers.sort();
    Some(ItemCall {
        spec,
        items,
        group: CacheKey {
            provider: call.provider.clone(),
            method: "GET",
            url: url.to_string(),
            headers,
            item: None,
        },
    })
}

type ItemResult = Result<Arc<Cached>, GatewayError>;

/// Queues and in-flight items of every group.
#[derive(Default)]
pub(crate) struct Batcher {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Items asked for and not answered yet, with everyone waiting for them.
    inflight: HashMap<CacheKey, Vec<oneshot::Sender<ItemResult>>>,
    groups: HashMap<CacheKey, Group>,
    next_gen: u64,
}

#[derive(Default)]
struct Group {
    /// Items queued for the group's next request.
    pending: Option<Pending>,
    /// Batches sent and not yet past the limiters: while any waits, the next batch keeps
    /// filling instead of queueing behind them half empty.
    waiting: u32,
}

struct Pending {
    gen: u64,
    opened: Instant,
    spec: usize,
    /// The call whose item opened the batch: its query order, module, domain and job are the
    /// batch request's.
    opener: Call,
    items: Vec<String>,
}

/// A batch ready to send.
struct Batch {
    group: CacheKey,
    spec: usize,
    opener: Call,
    items: Vec<String>,
}

/// What to do once the state lock is released.
enum Action {
    Timer {
        group: CacheKey,
        gen: u64,
        after: Duration,
    },
    Send(Batch),
}

impl Batcher {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update under this lock is a few map operations that cannot be left half done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Queues `item` in its group, returning what must happen next.
    fn enqueue(
        &mut self,
        ic: &ItemCall,
        cfg: &BatchConfig,
        call: &Call,
        item: &str,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let gen = self.next_gen;
        let group = self.groups.entry(ic.group.clone()).or_default();
        match &mut group.pending {
            Some(p) => p.items.push(item.to_string()),
            None => {
                self.next_gen += 1;
                group.pending = Some(Pending {
                    gen,
                    opened: Instant::now(),
                    spec: ic.spec,
                    opener: call.clone(),
                    items: vec![item.to_string()],
                });
                if group.waiting == 0 {
                    actions.push(Action::Timer {
                        group: ic.group.clone(),
                        gen,
                        after: Duration::from_millis(cfg.window_ms),
                    });
                }
            }
        }
        let full = group
            .pending
            .as_ref()
            .is_some_and(|p| p.items.len() >= cfg.max_items as usize);
        if let Some(p) = group.pending.take_if(|_| full) {
            group.waiting += 1;
            actions.push(Action::Send(Batch {
                group: ic.group.clone(),
                spec: p.spec,
                opener: p.opener,
                items: p.items,
            }));
        }
        actions
    }

    fn forget_if_idle(&mut self, key: &CacheKey) {
        if self
            .groups
            .get(key)
            .is_some_and(|g| g.pending.is_none() && g.waiting == 0)
        {
            self.groups.remove(key);
        }
    }
}

impl Gateway {
    /// Serves a call to a batchable endpoint item by item (see the module docs).
    pub(crate) async fn fetch_items(
        &self,
        rt: &Arc<ProviderRuntime>,
        call: &Call,
        ic: ItemCall,
    ) -> Result<Response, GatewayError> {
        let cfg = &rt.cfg.batch[ic.spec];
        let keys: Vec<CacheKey> = ic.items.iter().map(|i| ic.group.item(i)).collect();
        let mut got: Vec<Option<Arc<Cached>>> = vec![None; keys.len()];
        let mut receivers = Vec::new();
        let (mut asked, mut awaited) = (0usize, 0usize);
        let cache = &self.inner.cache;
        // An item answered between the cache lookup and the lock is in the cache by then (it is
        // cached before it leaves the in-flight map): look again rather than ask twice.
        for round in 0..3 {
            let mut again = false;
            for (i, key) in keys.iter().enumerate() {
                if got[i].is_none() && !receivers.iter().any(|(j, _)| *j == i) {
                    got[i] = cache.get(key).await;
                }
            }
            let mut actions = Vec::new();
            {
                let mut st = self.inner.batcher.lock();
                for (i, key) in keys.iter().enumerate() {
                    if got[i].is_some() || receivers.iter().any(|(j, _)| *j == i) {
                        continue;
                    }
                    let (tx, rx) = oneshot::channel();
                    if let Some(waiters) = st.inflight.get_mut(key) {
                        waiters.push(tx);
                        receivers.push((i, rx));
                        awaited += 1;
                    } else if round < 2 && cache.contains_key(key) {
                        again = true;
                    } else {
                        st.inflight.insert(key.clone(), vec![tx]);
                        receivers.push((i, rx));
                        asked += 1;
                        actions.extend(st.enqueue(&ic, cfg, call, &ic.items[i]));
                    }
                }
            }
            for action in actions {
                self.run(rt, action);
            }
            if !again {
                break;
            }
        }
        let label = GatewayMetrics::provider(&call.provider);
        if asked == 0 {
            if awaited == 0 {
                self.inner.metrics.cache_hits.get_or_create(&label).inc();
            } else {
                self.inner.metrics.coalesced.get_or_create(&label).inc();
            }
        }
        for (i, rx) in receivers {
            let answer = rx.await.unwrap_or_else(|_| {
                Err(GatewayError::Batch {
                    provider: call.provider.clone(),
                    url: ic.group.url.clone(),
                    reason: "was never delivered: the batch request was abandoned".into(),
                })
            })?;
            got[i] = Some(answer);
        }
        let answers: Vec<&ItemAnswer> = got
            .iter()
            .flatten()
            .filter_map(|c| match &c.entry {
                Entry::Item(a) => Some(a),
                Entry::Whole(_) => None,
            })
            .collect();
        let requested = own_url(self, rt, call).unwrap_or_else(|| ic.group.url.clone());
        assemble(&call.provider, &answers, requested).map_err(|e| e.map_text(|s| rt.masker.text(s)))
    }

    /// Starts a timer or a batch request, off the caller's task: a caller that gives up must
    /// not strand the other callers of its batch.
    fn run(&self, rt: &Arc<ProviderRuntime>, action: Action) {
        let gw = self.clone();
        let rt = Arc::clone(rt);
        match action {
            Action::Timer { group, gen, after } => {
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    gw.window_closed(&rt, &group, gen);
                });
            }
            Action::Send(batch) => {
                tokio::spawn(async move { gw.send_batch(rt, batch).await });
            }
        }
    }

    /// The window of batch `gen` is over: send it, unless earlier batches of the group are
    /// still waiting for a slot (it is then sent when the last one leaves).
    fn window_closed(&self, rt: &Arc<ProviderRuntime>, key: &CacheKey, gen: u64) {
        let batch = {
            let mut st = self.inner.batcher.lock();
            let Some(group) = st.groups.get_mut(key) else {
                return;
            };
            if group.waiting > 0 || group.pending.as_ref().is_none_or(|p| p.gen != gen) {
                return;
            }
            let Some(p) = group.pending.take() else {
                return;
            };
            group.waiting += 1;
            Batch {
                group: key.clone(),
                spec: p.spec,
                opener: p.opener,
                items: p.items,
            }
        };
        self.run(rt, Action::Send(batch));
    }

    /// A batch of the group got past the limiters (or failed before them): when none is left
    /// waiting, the next batch may go once its own window is over.
    fn departed(&self, rt: &Arc<ProviderRuntime>, key: &CacheKey) {
        let timer = {
            let mut st = self.inner.batcher.lock();
            let Some(group) = st.groups.get_mut(key) else {
                return;
            };
            group.waiting = group.waiting.saturating_sub(1);
            if group.waiting > 0 {
                return;
            }
            let timer = group.pending.as_ref().map(|p| {
                let window = Duration::from_millis(rt.cfg.batch[p.spec].window_ms);
                Action::Timer {
                    group: key.clone(),
                    gen: p.gen,
                    after: window.saturating_sub(p.opened.elapsed()),
                }
            });
            st.forget_if_idle(key);
            timer
        };
        if let Some(timer) = timer {
            self.run(rt, timer);
        }
    }

    async fn send_batch(self, rt: Arc<ProviderRuntime>, batch: Batch) {
        let mut delivery = Delivery {
            gw: self.clone(),
            provider: batch.opener.provider.clone(),
            keys: batch.items.iter().map(|i| batch.group.item(i)).collect(),
        };
        let departure = {
            let (gw, rt, key) = (self.clone(), Arc::clone(&rt), batch.group.clone());
            Departure::new(move || gw.departed(&rt, &key))
        };
        let results = self
            .request_items(
                &rt,
                &batch.opener,
                batch.spec,
                &batch.items,
                Some(&departure),
            )
            .await;
        departure.fire();
        delivery.deliver(results, &self.inner.cache).await;
    }

    /// One request for `items` (bisected on errors the items may cause); one result per item.
    fn request_items<'a>(
        &'a self,
        rt: &'a ProviderRuntime,
        opener: &'a Call,
        spec: usize,
        items: &'a [String],
        departure: Option<&'a Departure>,
    ) -> BoxFuture<'a, Vec<ItemResult>> {
        async move {
            let cfg = &rt.cfg.batch[spec];
            let mut call = opener.clone();
            for (k, v) in call.query.iter_mut() {
                if *k == cfg.param {
                    *v = items.join(cfg.separator.as_str());
                }
            }
            let fail = |e: GatewayError| items.iter().map(|_| Err(e.clone())).collect();
            let url = match self.url_for(&call) {
                Ok(url) => url,
                Err(e) => return fail(e),
            };
            if let Err(blocked) = rt.guard.check_url(&url) {
                return fail(GatewayError::Forbidden {
                    provider: call.provider.clone(),
                    url: rt.masker.url(&url),
                    reason: blocked.0,
                });
            }
            let label = GatewayMetrics::provider(&call.provider);
            self.inner
                .metrics
                .batch_size
                .get_or_create(&label)
                .observe(items.len() as f64);
            let limit = cfg.max_body_bytes.unwrap_or(rt.cfg.max_body_bytes);
            let answer = self
                .fetch_with_retries(rt, &call, &url, limit, departure)
                .await;
            let blame_items = match answer {
                Ok(resp) => match split(&resp, cfg, items, rt.cfg.cache_ttl_secs) {
                    Ok(results) => {
                        let n = results.iter().filter(|r| r.is_ok()).count();
                        self.inner
                            .metrics
                            .batched_items
                            .get_or_create(&label)
                            .inc_by(n as u64);
                        return results;
                    }
                    Err(Unsplit::NotJson(e)) => return fail(e.map_text(|s| rt.masker.text(s))),
                    Err(Unsplit::NoObject(e)) => e,
                },
                Err(e) if caused_by_items(&e) => e,
                Err(e) => return fail(e.map_text(|s| rt.masker.text(s))),
            };
            if items.len() < 2 {
                return fail(blame_items.map_text(|s| rt.masker.text(s)));
            }
            tracing::info!(provider = %call.provider, items = items.len(),
                "batch request failed, asking again in two halves: {blame_items}");
            let (a, b) = items.split_at(items.len() / 2);
            let (mut ra, rb) = futures::join!(
                self.request_items(rt, opener, spec, a, None),
                self.request_items(rt, opener, spec, b, None)
            );
            ra.extend(rb);
            ra
        }
        .boxed()
    }
}

/// Whether a failed batch request may have failed because of what it asked for, so that asking
/// for fewer items at a time can succeed.
fn caused_by_items(e: &GatewayError) -> bool {
    match e {
        GatewayError::Status { status, .. } => matches!(status, 400 | 413 | 414),
        GatewayError::TooLarge { .. } => true,
        _ => false,
    }
}

enum Unsplit {
    /// Not JSON at all: the provider is broken, not the items.
    NotJson(GatewayError),
    /// JSON without the keyed object: the kind of answer one bad item causes.
    NoObject(GatewayError),
}

/// Splits a batch answer into one cache entry per item (in `items` order).
fn split(
    resp: &Response,
    cfg: &BatchConfig,
    items: &[String],
    ttl_secs: u64,
) -> Result<Vec<ItemResult>, Unsplit> {
    let err = |reason: String| GatewayError::Batch {
        provider: resp.provider.clone(),
        url: resp.url.clone(),
        reason,
    };
    let mut envelope: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| Unsplit::NotJson(err(format!("is not JSON: {e}"))))?;
    let Some(object) = envelope
        .pointer_mut(&cfg.split)
        .and_then(Value::as_object_mut)
    else {
        let snippet: String = resp.text().chars().take(200).collect();
        return Err(Unsplit::NoObject(err(format!(
            "has no object at {:?} to split into items: {}",
            cfg.split,
            snippet.trim()
        ))));
    };
    let mut entries = std::mem::take(object);
    let source = Arc::new(BatchSource {
        url: resp.url.clone(),
        status: resp.status,
        headers: resp
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
            .cloned()
            .collect(),
        fetched_at: resp.fetched_at,
        envelope,
        split: cfg.split.clone(),
    });
    let ttl = Duration::from_secs(ttl_secs);
    Ok(items
        .iter()
        .map(|item| {
            // Providers may normalize an id's case (`q42` → `Q42`).
            let key = if entries.contains_key(item) {
                Some(item.clone())
            } else {
                entries
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(item))
                    .cloned()
            };
            let Some((key, value)) = key.and_then(|k| entries.remove_entry(&k)) else {
                return Err(err(format!(
                    "has no entry for {item:?} under {:?}",
                    cfg.split
                )));
            };
            let size = serde_json::to_vec(&value).map_or(0, |v| v.len());
            Ok(Arc::new(Cached {
                entry: Entry::Item(ItemAnswer {
                    key,
                    value,
                    size,
                    source: Arc::clone(&source),
                }),
                ttl,
            }))
        })
        .collect())
}

/// The caller's own URL with secrets masked: what it would have fetched without batching.
fn own_url(gw: &Gateway, rt: &ProviderRuntime, call: &Call) -> Option<String> {
    gw.url_for(call).ok().map(|u| rt.masker.url(&u))
}

/// A caller's answer: the first item's answer frame holding the caller's items, citing every
/// request they came from (and, as `requested`, the caller's own URL).
fn assemble(
    provider: &str,
    answers: &[&ItemAnswer],
    requested: String,
) -> Result<Response, GatewayError> {
    let Some(first) = answers.first() else {
        return Err(GatewayError::Batch {
            provider: provider.to_string(),
            url: String::new(),
            reason: "held no item".into(),
        });
    };
    let src = &first.source;
    let mut body = src.envelope.clone();
    if let Some(object) = body.pointer_mut(&src.split).and_then(Value::as_object_mut) {
        for a in answers {
            object.insert(a.key.clone(), a.value.clone());
        }
    }
    let mut sources: Vec<String> = Vec::new();
    for a in answers {
        if !sources.contains(&a.source.url) {
            sources.push(a.source.url.clone());
        }
    }
    let fetched_at = answers
        .iter()
        .map(|a| a.source.fetched_at)
        .min()
        .unwrap_or(src.fetched_at);
    let body = serde_json::to_vec(&body).map_err(|e| GatewayError::Batch {
        provider: provider.to_string(),
        url: src.url.clone(),
        reason: format!("cannot be re-encoded: {e}"),
    })?;
    Ok(Response {
        provider: provider.to_string(),
        url: src.url.clone(),
        status: src.status,
        headers: src.headers.clone(),
        body: body.into(),
        fetched_at,
        sources,
        requested,
    })
}

/// Hands a batch's results to everyone waiting for its items. If the batch task ends without
/// delivering (a panic), dropping this fails the waiters instead of leaving them hanging and
/// the items stuck "in flight".
struct Delivery {
    gw: Gateway,
    provider: String,
    keys: Vec<CacheKey>,
}

impl Delivery {
    async fn deliver(&mut self, results: Vec<ItemResult>, cache: &crate::cache::ResponseCache) {
        // Cache first, then leave the in-flight map: a caller never finds an item in neither.
        for (key, result) in self.keys.iter().zip(&results) {
            if let Ok(c) = result {
                if !c.ttl.is_zero() {
                    cache.insert(key.clone(), Arc::clone(c)).await;
                }
            }
        }
        let keys = std::mem::take(&mut self.keys);
        let mut st = self.gw.inner.batcher.lock();
        for (key, result) in keys.iter().zip(results) {
            for tx in st.inflight.remove(key).unwrap_or_default() {
                let _ = tx.send(result.clone());
            }
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let mut st = self.gw.inner.batcher.lock();
        for key in &self.keys {
            for tx in st.inflight.remove(key).unwrap_or_default() {
                let _ = tx.send(Err(GatewayError::Batch {
                    provider: self.provider.clone(),
                    url: key.url.clone(),
                    reason: "was never delivered: the batch request was abandoned".into(),
                }));
            }
        }
    }
}
