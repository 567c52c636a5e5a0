//! A real HTTP server on 127.0.0.1:0 that counts and timestamps every request, with endpoints
//! that misbehave the ways providers do.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Router;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Seen {
    /// Arrival times per path.
    pub hits: Mutex<HashMap<String, Vec<Instant>>>,
    /// Full request target (path + query) and auth header of every request.
    pub requests: Mutex<Vec<(String, Option<String>)>>,
    /// Whether `/flaky` answers 200 (true) or 503 (false).
    pub healthy: AtomicBool,
}

pub struct Server {
    pub base: String,
    pub seen: Arc<Seen>,
}

impl Server {
    pub async fn start() -> Server {
        let seen = Arc::new(Seen::default());
        let app = Router::new().fallback(handle).with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            base: format!("http://{addr}"),
            seen,
        }
    }

    /// Requests received on `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.seen.hits.lock().unwrap().get(path).map_or(0, Vec::len)
    }

    /// Arrival times on `path`.
    pub fn times(&self, path: &str) -> Vec<Instant> {
        self.seen
            .hits
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.seen.healthy.store(healthy, Ordering::SeqCst);
    }
}

fn query_param(req: &Request, key: &str) -> Option<String> {
    let q = req.uri().query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn json(status: StatusCode, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn handle(State(seen): State<Arc<Seen>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let count = {
        let mut hits = seen.hits.lock().unwrap();
        let v = hits.entry(path.clone()).or_default();
        v.push(Instant::now());
        v.len()
    };
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("").to_string());
    seen.requests
        .lock()
        .unwrap()
        .push((req.uri().to_string(), auth.clone()));
    if let Some(ms) = query_param(&req, "delay_ms") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
    }
    let last = path.rsplit('/').next().unwrap_or("").to_string();
    match last.as_str() {
        "ok" => json(StatusCode::OK, r#"{"ok":true}"#),
        "retry-after" if count == 1 => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, "2")
            .body(Body::from("slow down"))
            .unwrap(),
        "retry-after" => json(StatusCode::OK, r#"{"ok":"second"}"#),
        "bad-request" => json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"unknown field `domian`"}"#,
        ),
        "unavailable" => json(StatusCode::SERVICE_UNAVAILABLE, r#"{"error":"down"}"#),
        "flaky" if seen.healthy.load(Ordering::SeqCst) => json(StatusCode::OK, r#"{"ok":true}"#),
        "flaky" => json(StatusCode::SERVICE_UNAVAILABLE, r#"{"error":"down"}"#),
        "big" => json(
            StatusCode::OK,
            &format!(r#"{{"pad":"{}"}}"#, "x".repeat(5000)),
        ),
        "big-stream" => {
            let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1000]));
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap()
        }
        "html" => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Body::from("<html>maintenance</html>"))
            .unwrap(),
        "echo-key" => {
            // Some providers echo the bad key back in their error message.
            let key = query_param(&req, "api_key").unwrap_or_default();
            json(
                StatusCode::UNAUTHORIZED,
                &format!(r#"{{"error":"invalid api_key {key}"}}"#),
            )
        }
        "need-bearer" => match auth.as_deref() {
            Some("Bearer h3ader-s3cret") => json(StatusCode::OK, r#"{"ok":true}"#),
            _ => json(StatusCode::UNAUTHORIZED, r#"{"error":"no"}"#),
        },
        "redirect" => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, "/loop/redirect")
            .body(Body::empty())
            .unwrap(),
        _ => json(StatusCode::NOT_FOUND, r#"{"error":"no such path"}"#),
    }
}

/// The value of one series in Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .map(|v| v.trim().parse::<f64>().unwrap())
        })
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
}
