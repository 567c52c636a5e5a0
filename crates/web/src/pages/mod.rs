//! The pages. Each handler parses its URL, calls one application operation (sometimes two),
//! shapes the result into a view of plain strings and renders its template.

pub mod account;
pub mod accounts;
pub mod alerts;
pub mod budget;
pub mod changes;
pub mod history;
pub mod job_events;
pub mod jobs;
pub mod plan;

use crate::auth::Session;
use crate::error::WebError;
use crate::WebState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

/// What the layout needs: the title, the active navigation entry, the session's CSRF token for
/// forms, and the asset URLs.
pub struct Shell {
    pub title: String,
    pub nav: &'static str,
    pub csrf: String,
    pub logged_in: bool,
    pub style_url: &'static str,
    pub htmx_url: &'static str,
    pub script_url: &'static str,
}

impl Shell {
    /// The layout of a logged-in page.
    pub fn new(title: impl Into<String>, nav: &'static str, session: &Session) -> Shell {
        Shell {
            title: title.into(),
            nav,
            csrf: session.csrf.clone(),
            logged_in: true,
            style_url: crate::assets::url("style.css"),
            htmx_url: crate::assets::url("htmx.min.js"),
            script_url: crate::assets::url("app.js"),
        }
    }

    /// The layout of the login and error pages (no navigation, no forms).
    pub fn anonymous(title: &str) -> Shell {
        Shell {
            title: title.to_string(),
            nav: "",
            csrf: String::new(),
            logged_in: false,
            style_url: crate::assets::url("style.css"),
            htmx_url: crate::assets::url("htmx.min.js"),
            script_url: crate::assets::url("app.js"),
        }
    }
}

/// Renders a template as a 200 page.
pub fn html(t: &impl Template) -> Result<Response, WebError> {
    Ok(Html(t.render()?).into_response())
}

/// An optional text query field: empty means absent.
pub fn opt(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// URL-encodes one query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `?q=` of the jump bar.
#[derive(Debug, Deserialize)]
pub struct JumpQuery {
    q: Option<String>,
}

/// `GET /jump?q=`: the account whose domain is `q`, or the accounts table filtered by it.
pub async fn jump(State(st): State<WebState>, Query(q): Query<JumpQuery>) -> Response {
    let Some(text) = opt(&q.q) else {
        return Redirect::to("/").into_response();
    };
    if let Ok(domain) = pforge_core::Domain::parse(&text) {
        if st.app.latest(&domain, None).await.is_ok() {
            return Redirect::to(&format!("/accounts/{}", enc(domain.as_str()))).into_response();
        }
    }
    Redirect::to(&format!("/?q={}", enc(&text))).into_response()
}
