//! API errors: `{"error": {"code", "message", "details"?}}` with an HTTP status chosen from what
//! happened (the application error's kind), a stable `code` clients can branch on, and a message
//! that never echoes a database error (those are logged, not sent).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pforge_app::{AppError, ErrorKind};
use pforge_core::DomainError;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// The stable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    NotFound,
    InvalidInput,
    InvalidDomain,
    MethodNotAllowed,
    Conflict,
    ShuttingDown,
    StoreUnavailable,
}

impl ErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidDomain => "invalid_domain",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::StoreUnavailable => "store_unavailable",
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// One line for people: what was wrong and what to do.
    pub message: String,
    /// Per-input problems (`invalid_domain`: each bad domain and why).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub details: Option<Value>,
}

/// An API error: HTTP status, stable code, human message, optional details.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "missing or invalid bearer token: send `Authorization: Bearer <token>`",
        )
    }

    /// 404 `not_found`.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, what)
    }

    /// 400 `invalid_input`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, message)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "this route does not accept that method (see /api/v1/openapi.json)",
        )
    }

    /// 400 `invalid_domain`, every bad input listed in `details`.
    pub fn invalid_domains(errors: Vec<DomainError>) -> ApiError {
        let details = errors
            .iter()
            .map(|e| json!({"input": e.input, "reason": e.reason}))
            .collect();
        let mut err = ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidDomain,
            format!(
                "{} invalid domain(s), first: {}; nothing was done",
                errors.len(),
                errors.first().map(ToString::to_string).unwrap_or_default()
            ),
        );
        err.details = Some(Value::Array(details));
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        if let AppError::ShuttingDown = e {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ShuttingDown,
                e.to_string(),
            );
        }
        match e.kind() {
            ErrorKind::Invalid => ApiError::invalid(e.to_string()),
            ErrorKind::NotFound => ApiError::not_found(e.to_string()),
            ErrorKind::Conflict => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
            }
            ErrorKind::Config | ErrorKind::Unavailable => {
                // The real error is for the operator's log; clients get a stable message.
                tracing::error!("API request failed: {e}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::StoreUnavailable,
                    "the server could not complete the request (see its log); try again later",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> ApiError {
        ApiError::invalid(format!("request body: {}", e.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::invalid(format!("query string: {}", e.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> ApiError {
        ApiError::invalid(format!("path: {}", e.body_text()))
    }
}

impl ErrorCode {
    /// The code's stable text (for logs and tests).
    pub fn name(self) -> &'static str {
        self.as_str()
    }
}
