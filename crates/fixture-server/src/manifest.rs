//! Loading `epochN/manifest.toml` files into ready-to-serve routes. Everything is validated and
//! every body file read here, at start, so that a broken fixture fails the test that starts the
//! server (naming the file and line) instead of surfacing later as a puzzling 404 or 500.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::Deserialize;

use crate::FixtureError;

/// One recorded response, validated.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub provider: String,
    /// Rest of the path after `/{provider}`, possibly empty.
    pub path: String,
    pub method: Method,
    /// Parameters that must all be present with these exact values.
    pub query: Vec<(String, String)>,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub delay: Option<Duration>,
    /// A deliberate misbehaviour, for provider-fault tests.
    pub fault: Option<Fault>,
    /// `epochN/manifest.toml:LINE`, for logs.
    pub origin: String,
}

impl Route {
    /// Whether this route answers the request; `params` are the decoded query pairs.
    pub fn matches(
        &self,
        method: &Method,
        provider: &str,
        path: &str,
        params: &[(String, String)],
    ) -> bool {
        self.method == method
            && self.provider == provider
            && self.path == path
            && self
                .query
                .iter()
                .all(|(k, v)| params.iter().any(|(pk, pv)| pk == k && pv == v))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    #[serde(default)]
    route: Vec<toml::Spanned<RouteSpec>>,
    #[serde(default)]
    batch: Vec<toml::Spanned<BatchRule>>,
}

/// A `[[batch]]` table: an endpoint that, like the real provider, answers any set of items in
/// one request (Wikidata `wbgetentities`: `ids=Q1|Q2`). A request whose item set was never
/// recorded together (the gateway merges callers' items and leaves out cached ones) is answered
/// item by item from the recorded routes holding each item, newest epoch first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRule {
    pub provider: String,
    pub path: String,
    /// Query parameter holding the items.
    pub param: String,
    /// What joins items in `param`.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// JSON Pointer to the object keyed by item in the recorded bodies.
    pub split: String,
}

fn default_separator() -> String {
    "|".into()
}

/// Every epoch's routes (index 0 is epoch 1) and the batch rules declared in any of them.
pub(crate) struct Loaded {
    pub epochs: Vec<Vec<Route>>,
    pub batches: Vec<BatchRule>,
}

/// A `[[route]]` table as written. Unknown keys are refused so that a typo (`querry`) is an
/// error at start rather than a route that silently matches too much.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    provider: String,
    path: String,
    method: Option<String>,
    #[serde(default)]
    query: BTreeMap<String, toml::Value>,
    status: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, HeaderSpec>,
    body: Option<String>,
    delay_ms: Option<u64>,
    fault: Option<Fault>,
}

/// How a route misbehaves (`fault = "hang"` or `"reset_mid_body"`), so that tests can play a
/// broken provider over real TCP. Absent means the route answers normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Accept the request and never answer (the client's timeout must fire).
    Hang,
    /// Send the headers (with the full `content-length`) and half the body, then break the
    /// connection.
    ResetMidBody,
}

/// A header value, or several for headers that repeat (`set-cookie`).
#[derive(Deserialize)]
#[serde(untagged)]
enum HeaderSpec {
    One(String),
    Many(Vec<String>),
}

/// Reads epochs 1..=`epoch` under `dir`.
pub(crate) fn load(dir: &Path, epoch: u32) -> Result<Loaded, FixtureError> {
    if epoch == 0 {
        return Err(FixtureError::ZeroEpoch);
    }
    let mut loaded = Loaded {
        epochs: Vec::new(),
        batches: Vec::new(),
    };
    for n in 1..=epoch {
        let (routes, batches) = load_epoch(dir, n)?;
        loaded.epochs.push(routes);
        loaded.batches.extend(batches);
    }
    Ok(loaded)
}

type Epoch = (Vec<Route>, Vec<BatchRule>);

fn load_epoch(dir: &Path, epoch: u32) -> Result<Epoch, FixtureError> {
    let epoch_dir = dir.join(format!("epoch{epoch}"));
    if !epoch_dir.is_dir() {
        return Err(FixtureError::UnknownEpoch {
            epoch,
            path: epoch_dir,
        });
    }
    let manifest_path = epoch_dir.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest_path).map_err(|source| FixtureError::Io {
        path: manifest_path.clone(),
        source,
    })?;
    let manifest: ManifestFile = toml::from_str(&text).map_err(|e| FixtureError::Manifest {
        path: manifest_path.clone(),
        line: e.span().map_or(0, |s| line_of(&text, s.start)),
        message: e.message().to_string(),
    })?;

    let mut batches = Vec::new();
    for spanned in manifest.batch {
        let line = line_of(&text, spanned.span().start);
        let rule = spanned.into_inner();
        let problem = if rule.param.is_empty() || rule.separator.is_empty() {
            Some("`param` and `separator` must not be empty")
        } else if !(rule.split.is_empty() || rule.split.starts_with('/')) {
            Some("`split` must be a JSON Pointer (\"\" or starting with '/')")
        } else {
            None
        };
        if let Some(message) = problem {
            return Err(FixtureError::Manifest {
                path: manifest_path.clone(),
                line,
                message: format!("[[batch]]: {message}"),
            });
        }
        batches.push(rule);
    }
    let routes = manifest
        .route
        .into_iter()
        .map(|spanned| {
            let line = line_of(&text, spanned.span().start);
            let err = |message: String| FixtureError::Manifest {
                path: manifest_path.clone(),
                line,
                message,
            };
            build_route(
                spanned.into_inner(),
                &epoch_dir,
                &manifest_path,
                line,
                epoch,
                err,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((routes, batches))
}

fn build_route(
    spec: RouteSpec,
    epoch_dir: &Path,
    manifest_path: &Path,
    line: usize,
    epoch: u32,
    err: impl Fn(String) -> FixtureError,
) -> Result<Route, FixtureError> {
    if spec.provider.is_empty() || spec.provider.contains('/') {
        return Err(err(format!(
            "provider {:?} must be one non-empty path segment",
            spec.provider
        )));
    }
    if !(spec.path.is_empty() || spec.path.starts_with('/')) {
        return Err(err(format!(
            "path {:?} must be empty or start with '/'",
            spec.path
        )));
    }
    if spec.path.contains('?') {
        return Err(err(format!(
            "path {:?} contains '?': put parameters in `query`",
            spec.path
        )));
    }
    let method_text = spec.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let method = Method::from_bytes(method_text.as_bytes())
        .map_err(|_| err(format!("invalid method {method_text:?}")))?;
    let status = StatusCode::from_u16(spec.status.unwrap_or(200))
        .map_err(|_| err(format!("invalid status {:?}", spec.status)))?;

    let mut query = Vec::with_capacity(spec.query.len());
    for (key, value) in spec.query {
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(err(format!(
                    "query parameter {key:?} must be a string, number or boolean, not {}",
                    other.type_str()
                )))
            }
        };
        query.push((key, text));
    }

    let mut headers = HeaderMap::new();
    for (name, spec_value) in spec.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| err(format!("invalid header name {name:?}")))?;
        let values = match spec_value {
            HeaderSpec::One(v) => vec![v],
            HeaderSpec::Many(vs) => vs,
        };
        for value in values {
            let value = HeaderValue::from_str(&value)
                .map_err(|_| err(format!("invalid value for header {name:?}: {value:?}")))?;
            headers.append(header.clone(), value);
        }
    }

    let body = match &spec.body {
        None => Bytes::new(),
        Some(rel) => {
            let rel_path = Path::new(rel);
            let escapes = rel_path.components().any(|c| {
                matches!(
                    c,
                    Component::ParentDir | Component::RootDir | Component::Prefix(_)
                )
            });
            if escapes {
                return Err(err(format!(
                    "body {rel:?} must be a path inside the epoch folder"
                )));
            }
            let full: PathBuf = epoch_dir.join(rel_path);
            let bytes = std::fs::read(&full).map_err(|source| FixtureError::MissingBody {
                manifest: manifest_path.to_path_buf(),
                line,
                body: full.clone(),
                source,
            })?;
            if !headers.contains_key(CONTENT_TYPE) {
                if let Some(guess) = guess_content_type(rel) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static(guess));
                }
            }
            Bytes::from(bytes)
        }
    };

    Ok(Route {
        provider: spec.provider,
        path: spec.path,
        method,
        query,
        status,
        headers,
        body,
        delay: spec.delay_ms.map(Duration::from_millis),
        fault: spec.fault,
        origin: format!("epoch{epoch}/manifest.toml:{line}"),
    })
}

/// A content type for bodies whose route gives none, so clients that parse by type still work.
fn guess_content_type(file: &str) -> Option<&'static str> {
    let ext = Path::new(file).extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "xml" => "application/xml",
        "txt" => "text/plain; charset=utf-8",
        "csv" => "text/csv",
        _ => return None,
    })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
