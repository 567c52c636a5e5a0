//! Serves recorded provider responses (`fixtures/epochN/manifest.toml`, format in
//! `fixtures/README.md`) over real HTTP on 127.0.0.1, so that tests and the demo exercise the
//! real gateway and HTTP client without touching the internet.
//!
//! A request `/{provider}{path}?{query}` is looked up in the served epoch's manifest first, then
//! in each earlier epoch down to 1; within an epoch the matching route with the most query
//! parameters wins (ties: the first in the file). `GET /__stats` and `POST /__reset` expose and
//! zero the request counts so that tests can prove how many calls reached a provider. Endpoints
//! declared `[[batch]]` answer item sets that were never recorded together from the recordings
//! of each item, as the real provider answers any set of ids.

mod manifest;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use manifest::{BatchRule, Route};

/// Why the fixture server could not start. Messages name the file (and line) to fix.
#[derive(Debug, Error)]
pub enum FixtureError {
    #[error("fixture epoch must be 1 or more (epoch 1 is the base recording)")]
    ZeroEpoch,
    #[error("no fixtures for epoch {epoch}: {path} is not a directory (serving epoch N needs epoch1..=epochN)")]
    UnknownEpoch { epoch: u32, path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Manifest {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{manifest}:{line}: body file {body} cannot be read: {source}")]
    MissingBody {
        manifest: PathBuf,
        line: usize,
        body: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing to listen on {0}: the fixture server only binds loopback addresses such as 127.0.0.1")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Request counts since start or the last reset, as `GET /__stats` returns them. Keys are the
/// request path including its raw query string (`/sec_edgar/cgi-bin/browse-edgar?action=x`).
/// Control endpoints (`/__stats`, `/__reset`) are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub total: u64,
    pub by_path: BTreeMap<String, u64>,
}

impl Stats {
    /// Requests seen for one exact path (with query string), 0 if none.
    pub fn hits(&self, path_and_query: &str) -> u64 {
        self.by_path.get(path_and_query).copied().unwrap_or(0)
    }

    /// Requests seen for one provider (paths under `/{provider}`).
    pub fn provider_hits(&self, provider: &str) -> u64 {
        let prefix = format!("/{provider}");
        self.by_path
            .iter()
            .filter(|(path, _)| {
                path.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
            })
            .map(|(_, n)| n)
            .sum()
    }
}

struct Shared {
    /// Index 0 is epoch 1.
    epochs: Vec<Vec<Route>>,
    batches: Vec<BatchRule>,
    epoch: u32,
    stats: Mutex<Stats>,
}

impl Shared {
    /// A poisoned lock only means a handler panicked mid-increment; the counts are still usable.
    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn find(
        &self,
        method: &Method,
        provider: &str,
        path: &str,
        params: &[(String, String)],
    ) -> Option<&Route> {
        for routes in self.epochs.iter().rev() {
            let mut best: Option<&Route> = None;
            for route in routes
                .iter()
                .filter(|r| r.matches(method, provider, path, params))
            {
                if best.is_none_or(|b| route.query.len() > b.query.len()) {
                    best = Some(route);
                }
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }

    /// Answers a request to a `[[batch]]` endpoint item by item: each item's entry is taken
    /// from the best route (newest epoch, most query parameters) whose recorded items include it
    /// and whose other parameters the request has. None when the endpoint is not batched; a
    /// 404 naming the items nothing recorded.
    fn assemble(
        &self,
        method: &Method,
        provider: &str,
        path: &str,
        params: &[(String, String)],
    ) -> Option<Response> {
        let rule = self
            .batches
            .iter()
            .find(|b| method == Method::GET && b.provider == provider && b.path == path)?;
        let mut values = params.iter().filter(|(k, _)| *k == rule.param);
        let (_, value) = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let holds = |route: &Route, item: &str| {
            route.method == Method::GET
                && route.provider == provider
                && route.path == path
                && route.status == StatusCode::OK
                && route.fault.is_none()
                && route.query.iter().any(|(k, v)| {
                    *k == rule.param && v.split(rule.separator.as_str()).any(|i| i == item)
                })
                && route.query.iter().all(|(k, v)| {
                    *k == rule.param || params.iter().any(|(pk, pv)| pk == k && pv == v)
                })
        };
        let mut frame: Option<(serde_json::Value, &Route)> = None;
        let mut entries = serde_json::Map::new();
        let mut missing = Vec::new();
        for item in value
            .split(rule.separator.as_str())
            .filter(|i| !i.is_empty())
        {
            let entry = self.epochs.iter().rev().find_map(|routes| {
                let mut best: Option<&Route> = None;
                for r in routes.iter().filter(|r| holds(r, item)) {
                    if best.is_none_or(|b| r.query.len() > b.query.len()) {
                        best = Some(r);
                    }
                }
                let route = best?;
                let mut body: serde_json::Value = serde_json::from_slice(&route.body).ok()?;
                let entry = body
                    .pointer_mut(&rule.split)?
                    .as_object_mut()?
                    .remove(item)?;
                Some((entry, body, route))
            });
            match entry {
                Some((entry, body, route)) => {
                    entries.insert(item.to_string(), entry);
                    frame.get_or_insert((body, route));
                }
                None => missing.push(item.to_string()),
            }
        }
        if !missing.is_empty() {
            return Some(
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({
                        "error": "no fixture",
                        "epoch": self.epoch,
                        "provider": provider,
                        "path": path,
                        "missing_items": missing,
                    })),
                )
                    .into_response(),
            );
        }
        let (mut body, route) = frame?;
        if let Some(object) = body
            .pointer_mut(&rule.split)
            .and_then(|v| v.as_object_mut())
        {
            *object = entries;
        }
        tracing::debug!(provider, path, items = %value, route = %route.origin, "fixture batch assembled");
        let mut response = Response::new(axum::body::Body::from(body.to_string()));
        *response.headers_mut() = route.headers.clone();
        response
            .headers_mut()
            .remove(axum::http::header::CONTENT_LENGTH);
        Some(response)
    }
}

/// A running fixture server. Stops when dropped (or via [`FixtureServer::shutdown`]).
pub struct FixtureServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FixtureServer {
    /// Loads epochs 1..=`epoch` from `fixtures_dir` (reading every body file) and starts serving
    /// on `addr`, which must be a loopback address; port 0 picks a free port.
    pub async fn start(
        fixtures_dir: &Path,
        epoch: u32,
        addr: SocketAddr,
    ) -> Result<FixtureServer, FixtureError> {
        if !addr.ip().is_loopback() {
            return Err(FixtureError::NotLoopback(addr));
        }
        let manifest::Loaded { epochs, batches } = manifest::load(fixtures_dir, epoch)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| FixtureError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| FixtureError::Bind { addr, source })?;
        let routes: usize = epochs.iter().map(Vec::len).sum();
        let shared = Arc::new(Shared {
            epochs,
            batches,
            epoch,
            stats: Mutex::new(Stats::default()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                // Either an explicit shutdown or the sender being dropped stops the server.
                let _ = rx.await;
            });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "fixture server stopped with an error");
            }
        });
        tracing::info!(addr = %local, epoch, routes, dir = %fixtures_dir.display(), "fixture server listening");
        Ok(FixtureServer {
            addr: local,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Base URL of the server, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address actually bound (useful when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The epoch being served.
    pub fn epoch(&self) -> u32 {
        self.shared.epoch
    }

    /// Number of routes loaded across all served epochs.
    pub fn route_count(&self) -> usize {
        self.shared.epochs.iter().map(Vec::len).sum()
    }

    /// Request counts so far (same data as `GET /__stats`).
    pub fn stats(&self) -> Stats {
        self.shared.stats().clone()
    }

    /// Zeroes the request counts (same as `POST /__reset`).
    pub fn reset_stats(&self) {
        *self.shared.stats() = Stats::default();
    }

    /// Stops accepting connections and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "fixture server task ended abnormally");
            }
        }
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        // Graceful: the serve task finishes in-flight requests and exits on its own.
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Base URL a provider should use when running against the fixture server:
/// `{fixture_url}/{provider}`, plus `/{domain}` when the configured URL is per-domain (contains
/// `{domain}`, like the homepage provider's `https://{domain}`), so the placeholder is still
/// substituted by the caller and each domain gets its own path prefix.
pub fn rewrite_base_url(original: &str, fixture_url: &str, provider: &str) -> String {
    let base = fixture_url.trim_end_matches('/');
    if original.contains("{domain}") {
        format!("{base}/{provider}/{{domain}}")
    } else {
        format!("{base}/{provider}")
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().map(str::to_string);

    match (&method, path.as_str()) {
        (&Method::GET, "/__stats") => return Json(shared.stats().clone()).into_response(),
        (&Method::POST, "/__reset") => {
            *shared.stats() = Stats::default();
            return Json(Stats::default()).into_response();
        }
        _ => {}
    }

    let key = match &raw_query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    {
        let mut stats = shared.stats();
        stats.total += 1;
        *stats.by_path.entry(key.clone()).or_insert(0) += 1;
    }

    let trimmed = path.strip_prefix('/').unwrap_or(&path);
    let (provider, rest) = match trimmed.find('/') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, ""),
    };
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(raw_query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();

    let mut route = shared.find(&method, provider, rest, &params);
    if route.is_none() && method == Method::HEAD {
        route = shared.find(&Method::GET, provider, rest, &params);
    }
    if route.is_none() {
        if let Some(assembled) = shared.assemble(&method, provider, rest, &params) {
            return assembled;
        }
    }
    let Some(route) = route else {
        tracing::debug!(%method, request = %key, epoch = shared.epoch, "no fixture");
        let query: BTreeMap<&str, &str> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        return (
            StatusCode::NOT_FOUND,
            Json(json!({
                "error": "no fixture",
                "epoch": shared.epoch,
                "method": method.as_str(),
                "provider": provider,
                "path": rest,
                "query": query,
                "raw_query": raw_query.unwrap_or_default(),
            })),
        )
            .into_response();
    };

    tracing::debug!(%method, request = %key, route = %route.origin, "fixture hit");
    if let Some(delay) = route.delay {
        tokio::time::sleep(delay).await;
    }
    let body = match route.fault {
        None => axum::body::Body::from(route.body.clone()),
        Some(manifest::Fault::Hang) => {
            std::future::pending::<()>().await;
            axum::body::Body::empty()
        }
        Some(manifest::Fault::ResetMidBody) => {
            let half = route.body.slice(..route.body.len() / 2);
            // The half is flushed before the error, so the client sees headers and a partial
            // body, then the connection breaking.
            let chunks = futures::stream::unfold(0u8, move |step| {
                let half = half.clone();
                async move {
                    match step {
                        0 => Some((Ok::<_, std::io::Error>(half), 1)),
                        1 => {
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            let reset = std::io::Error::new(
                                std::io::ErrorKind::ConnectionReset,
                                "fixture fault: reset mid-body",
                            );
                            Some((Err(reset), 2))
                        }
                        _ => None,
                    }
                }
            });
            let mut response = Response::new(axum::body::Body::from_stream(chunks));
            *response.status_mut() = route.status;
            *response.headers_mut() = route.headers.clone();
            response.headers_mut().insert(
                axum::http::header::CONTENT_LENGTH,
                axum::http::HeaderValue::from(route.body.len()),
            );
            return response;
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = route.status;
    *response.headers_mut() = route.headers.clone();
    response
}
