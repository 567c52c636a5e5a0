//! The web UI of PartnerForge: server-rendered HTML pages (askama templates, checked at compile
//! time) over the application layer, for revenue teams who should not have to read terminal
//! output. It owns routes, page layout, sessions (a one-time login code or the API token
//! exchanged for an HttpOnly, SameSite=Strict cookie), CSRF and Origin checks on every
//! state-changing request, the Content-Security-Policy, embedded static assets (one pinned
//! htmx file), server-drawn SVG charts and the rendering of stored values (escaped, with source
//! badges) and of the brief (Markdown, sanitized).
//!
//! It must not know the store's tables or SQL, job lifecycles or business rules: every page
//! calls the same `pforge_app::App` operation the CLI and the API call (`accounts`, `latest`,
//! `history`, `diff`, `changes`, `brief`, `alerts`, `budget_status`, `jobs`, `plan_for`), and actions go
//! through the daemon's job submission like API submissions do.

mod assets;
mod auth;
mod brief;
mod dag;
mod error;
mod pages;
mod render;
mod svg;

pub use assets::{asset_sha256, HTMX_SHA256};
pub use auth::Auth;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use pforge_app::daemon::Daemon;
use pforge_app::App;
use std::sync::Arc;

/// What every page handler needs. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    pub app: App,
    /// Where re-enrich and add-domain actions submit their jobs.
    pub daemon: Arc<Daemon>,
    /// Sessions, login codes and CSRF tokens.
    pub auth: Arc<Auth>,
}

/// The UI's routes (`/`, `/accounts/...`, `/changes`, `/alerts`, `/budget`, `/jobs`, `/plan`,
/// `/plan.dot`, `/login`, `/assets/...`), with sessions required everywhere but the login page
/// and the assets, and security headers on every answer. Merge it with `pforge_http::router` to serve the API
/// beside it (this router has no fallback of its own).
pub fn router(state: WebState) -> Router {
    let pages = Router::new()
        .route("/", get(pages::accounts::page))
        .route("/accounts.csv", get(pages::accounts::csv))
        .route("/accounts/enrich", post(pages::accounts::enrich))
        .route("/accounts/remove", post(pages::accounts::remove))
        .route(
            "/accounts/add",
            get(pages::accounts::add_form).post(pages::accounts::add),
        )
        .route("/accounts/{domain}", get(pages::account::page))
        .route("/accounts/{domain}/history", get(pages::history::page))
        .route(
            "/accounts/{domain}/diff/{module}",
            get(pages::history::diff),
        )
        .route("/changes", get(pages::changes::page))
        .route("/alerts", get(pages::alerts::page))
        .route("/alerts/retry", post(pages::alerts::retry))
        .route("/budget", get(pages::budget::page))
        .route("/plan", get(pages::plan::page))
        .route("/plan.dot", get(pages::plan::dot))
        .route("/jobs", get(pages::jobs::list))
        .route("/jobs/{id}", get(pages::jobs::page))
        .route("/jobs/{id}/events", get(pages::job_events::events))
        .route("/jobs/{id}/cancel", post(pages::jobs::cancel))
        .route("/jump", get(pages::jump))
        .route("/logout", post(auth::logout))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_session,
        ));
    Router::new()
        .merge(pages)
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/assets/{name}", get(assets::serve))
        .layer(middleware::from_fn(auth::security_headers))
        .with_state(state)
}
