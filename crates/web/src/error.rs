//! Errors as pages: an application error becomes an HTML page with the status its kind
//! implies and a one-line message saying what to do; database details stay in the log.

use crate::pages::Shell;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use pforge_app::{AppError, ErrorKind};

/// A page that could not be shown.
#[derive(Debug)]
pub struct WebError {
    status: StatusCode,
    message: String,
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    shell: Shell,
    status: u16,
    message: &'a str,
}

impl WebError {
    /// An error with an explicit status.
    pub fn status(status: StatusCode, message: &str) -> WebError {
        WebError {
            status,
            message: message.to_string(),
        }
    }

    /// A bad request (bad filter, bad form field).
    pub fn invalid(message: impl Into<String>) -> WebError {
        WebError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> WebError {
        let status = match e.kind() {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("page failed: {e}");
            "something went wrong on the server (details are in its log)".to_string()
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!("page unavailable: {e}");
            "the database is unavailable right now: try again in a moment (details are in the server's log)".to_string()
        } else {
            e.to_string()
        };
        WebError { status, message }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> WebError {
        tracing::error!("template failed: {e}");
        WebError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "a page template failed (see the log)",
        )
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            shell: Shell::anonymous("Error"),
            status: self.status.as_u16(),
            message: &self.message,
        };
        let html = page
            .render()
            .unwrap_or_else(|_| crate::render::escape(&self.message));
        (self.status, Html(html)).into_response()
    }
}
