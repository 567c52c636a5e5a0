//! Sessions and request checks. `pforge ui` prints a login URL with a one-time code; the code
//! (once) or the API token (on the login form) is exchanged for a random session id in an
//! HttpOnly, SameSite=Strict cookie. Every state-changing request must come from this origin
//! (`Origin` equal to the `Host` it was sent to) and carry the session's CSRF token (a `csrf`
//! form field or query parameter). Every answer carries a Content-Security-Policy that allows
//! no inline script.

use crate::pages::Shell;
use crate::WebState;
use askama::Template;
use axum::body::{to_bytes, Body};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The session cookie's name.
const COOKIE: &str = "pforge_session";
/// Largest form body read for the CSRF check (CSV uploads included).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// The policy every page is served with: scripts, styles and images only from this origin (the
/// charts are inline SVG elements, not data URLs), no framing, forms only to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
     form-action 'self'; base-uri 'none'; object-src 'none'";

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
    expires: Instant,
}

/// Login codes and sessions of one UI process (sessions end with the process).
pub struct Auth {
    token: String,
    code: Mutex<Option<String>>,
    sessions: Mutex<HashMap<String, Session>>,
    ttl: Duration,
}

/// A random 128-bit value as 32 hex digits (UUID v4 bits come from the OS generator).
fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Auth {
    /// Sessions for a UI whose API token is `token`, lasting `ttl`; a fresh one-time code is
    /// ready for [`Auth::login_code`].
    pub fn new(token: &str, ttl: Duration) -> Auth {
        Auth {
            token: token.to_string(),
            code: Mutex::new(Some(random_secret())),
            sessions: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// The current one-time login code (`None` once it was used).
    pub fn login_code(&self) -> Option<String> {
        lock(&self.code).clone()
    }

    /// Consumes the one-time code if `code` is it.
    fn take_code(&self, code: &str) -> bool {
        let mut slot = lock(&self.code);
        let ok = slot
            .as_deref()
            .is_some_and(|c| bool::from(c.as_bytes().ct_eq(code.as_bytes())));
        if ok {
            *slot = None;
        }
        ok
    }

    fn token_matches(&self, token: &str) -> bool {
        !self.token.is_empty() && bool::from(self.token.as_bytes().ct_eq(token.trim().as_bytes()))
    }

    /// Starts a session; returns its id.
    fn start(&self) -> String {
        let id = random_secret();
        let mut sessions = lock(&self.sessions);
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            id.clone(),
            Session {
                csrf: random_secret(),
                expires: now + self.ttl,
            },
        );
        id
    }

    pub(crate) fn session(&self, id: &str) -> Option<Session> {
        let sessions = lock(&self.sessions);
        sessions
            .get(id)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    fn end(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }
}

/// The session id in the request's cookies.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

fn session_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/")
}

/// Whether `Origin` names the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(o), Some(h)) => o == format!("http://{h}") || o == format!("https://{h}"),
        _ => false,
    }
}

/// A refusal page with `status`.
fn refuse(status: StatusCode, message: &str) -> Response {
    crate::error::WebError::status(status, message).into_response()
}

/// Requires a live session (else: GET goes to the login page, anything else is 401); on
/// state-changing methods also the same origin and the session's CSRF token. The session is
/// handed to handlers as a request extension.
pub(crate) async fn require_session(
    State(st): State<WebState>,
    req: Request,
    next: Next,
) -> Response {
    let session = session_id(req.headers()).and_then(|id| st.auth.session(&id));
    let Some(session) = session else {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            let next_url = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            let to = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(next_url.as_bytes()).collect::<String>()
            );
            return Redirect::to(&to).into_response();
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            "your session has expired or you are not logged in: open the login URL `pforge ui` printed",
        );
    };
    let mut req = req;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        if !same_origin(req.headers()) {
            return refuse(
                StatusCode::FORBIDDEN,
                "refused: this request did not come from a page of this UI (Origin check)",
            );
        }
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the form is larger than 8 MiB: upload a smaller file",
            );
        };
        let from_query = parts.uri.query().and_then(|q| csrf_field(q.as_bytes()));
        let presented = from_query.or_else(|| csrf_field(&bytes));
        let ok = presented.is_some_and(|t| bool::from(t.as_bytes().ct_eq(session.csrf.as_bytes())));
        if !ok {
            return refuse(
                StatusCode::FORBIDDEN,
                "refused: the form's CSRF token is missing or wrong (reload the page and try again)",
            );
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(session);
    next.run(req).await
}

/// The `csrf` field of an URL-encoded form or query.
fn csrf_field(bytes: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
}

/// Adds the security headers to every answer.
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Following a source link must not tell the provider where the user came from, but forms
    // must keep their Origin: under `no-referrer` Chromium sends `Origin: null` with every form
    // POST, which the Origin check refuses. `same-origin` sends nothing to other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// `?code=` and `?next=` of the login page.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    code: Option<String>,
    next: Option<String>,
}

/// The login form.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    shell: Shell,
    next: String,
    error: Option<String>,
}

/// Only local paths are followed after login (never another site).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

fn logged_in(st: &WebState, next: &str) -> Response {
    let id = st.auth.start();
    let mut res = Redirect::to(next).into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie(&id)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

fn login_form(next: String, error: Option<String>, status: StatusCode) -> Response {
    let page = LoginPage {
        shell: Shell::anonymous("Log in"),
        next,
        error,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &format!("template: {e}")),
    }
}

/// `GET /login`: exchanges a valid one-time code for a session, else shows the form.
pub(crate) async fn login_page(
    State(st): State<WebState>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = local_path(q.next.as_deref());
    match q.code.as_deref() {
        Some(code) if st.auth.take_code(code) => logged_in(&st, &next),
        Some(_) => login_form(
            next,
            Some("that login code was already used or is wrong: log in with the API token, or restart `pforge ui` for a new code".into()),
            StatusCode::UNAUTHORIZED,
        ),
        None => login_form(next, None, StatusCode::OK),
    }
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `POST /login`: the API token for a session (same origin only).
pub(crate) async fn login_submit(
    State(st): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = local_path(f.next.as_deref());
    if !same_origin(&headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: the login form must be sent from this UI (Origin check)",
        );
    }
    if st.auth.token_matches(&f.token) {
        logged_in(&st, &next)
    } else {
        login_form(
            next,
            Some("wrong token: use the API token (PFORGE_API_TOKEN or [daemon] token)".into()),
            StatusCode::UNAUTHORIZED,
        )
    }
}

/// `POST /logout`: ends the session.
pub(crate) async fn logout(State(st): State<WebState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        st.auth.end(&id);
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("pforge_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_works_once() {
        let a = Auth::new("tok", Duration::from_secs(60));
        let code = a.login_code().unwrap();
        assert!(!a.take_code("wrong"));
        assert!(a.take_code(&code));
        assert!(!a.take_code(&code));
        assert!(a.login_code().is_none());
    }

    #[test]
    fn sessions_expire_and_end() {
        let a = Auth::new("tok", Duration::from_millis(0));
        let id = a.start();
        assert!(
            a.session(&id).is_none(),
            "a zero ttl session is expired at once"
        );
        let a = Auth::new("tok", Duration::from_secs(60));
        let id = a.start();
        assert!(a.session(&id).is_some());
        a.end(&id);
        assert!(a.session(&id).is_none());
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/accounts/a.com")), "/accounts/a.com");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8480"));
        assert!(!same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8480"),
        );
        assert!(same_origin(&h));
    }
}
