//! `GET /jobs/{id}/events`: a job's progress as server-sent events, so that its page updates
//! while the job runs without reloading (plain `EventSource` in `app.js`; without JavaScript the
//! page falls back to reloading itself). Each `progress` event carries the page's live part as
//! HTML rendered by the same template as the page (escaped like every page); a last `done` event
//! carries the final state, then the stream ends. The stream also ends when the session does
//! (logout or expiry): the session middleware only checks it once, when the stream opens.

use super::jobs::live;
use crate::auth::{session_id, Session};
use crate::error::WebError;
use crate::WebState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::stream::{self, Stream};
use pforge_app::queries::parse_job_id;
use std::convert::Infallible;
use std::time::Duration;

/// How often the job is read again while it runs.
const TICK: Duration = Duration::from_millis(500);

/// Where the stream is.
struct Cursor {
    st: WebState,
    id: uuid::Uuid,
    session_id: String,
    csrf: String,
    /// The HTML last sent, to send only changes.
    last: String,
    first: bool,
    finished: bool,
}

/// `GET /jobs/{id}/events`.
pub async fn events(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = parse_job_id(&id)?;
    // Fails early (404 page) for a job that does not exist, before the stream starts.
    live(&st, id, &session.csrf).await?;
    let cursor = Cursor {
        st,
        id,
        session_id: session_id(&headers).unwrap_or_default(),
        csrf: session.csrf,
        last: String::new(),
        first: true,
        finished: false,
    };
    Ok(Sse::new(updates(cursor))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The events of one stream: the live part whenever it changed, `done` at the end.
fn updates(cursor: Cursor) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(cursor, |mut c| async move {
        loop {
            if c.finished || c.st.auth.session(&c.session_id).is_none() {
                return None;
            }
            if !c.first {
                tokio::time::sleep(TICK).await;
            }
            c.first = false;
            let live = match live(&c.st, c.id, &c.csrf).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(job = %c.id, "job events: {e:?}");
                    c.finished = true;
                    return Some((Ok(Event::default().event("gone").data("")), c));
                }
            };
            let html = match live.render() {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(job = %c.id, "job events: template: {e}");
                    return None;
                }
            };
            if !live.running() {
                c.finished = true;
                return Some((Ok(Event::default().event("done").data(html)), c));
            }
            if html != c.last {
                c.last = html.clone();
                return Some((Ok(Event::default().event("progress").data(html)), c));
            }
        }
    })
}
