//! What can go wrong in an application operation, said so that every front end can act on it:
//! the CLI picks an exit code, the HTTP API a status code, the UI a message, from [`AppError::kind`]
//! alone. Messages are one line, name the input, and say what to do.

use pforge_store::StoreError;
use thiserror::Error;

/// Why an operation did not do what was asked.
#[derive(Debug, Error)]
pub enum AppError {
    /// The configuration (file, environment, flags) cannot work: fix it and start again. Never
    /// retried.
    #[error("{0}")]
    Config(String),
    /// The request itself is wrong (a bad domain, flag or parameter).
    #[error("{0}")]
    Invalid(String),
    /// What was asked for does not exist (no such job, nothing stored for a domain).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. shutting down).
    #[error("{0}")]
    Conflict(String),
    /// The service is stopping and takes no new work.
    #[error("the daemon is shutting down and accepts no new work")]
    ShuttingDown,
    /// A backend answered with a failure that is not the caller's fault (a ledger read, an
    /// alert channel); may work later.
    #[error("{0}")]
    Unavailable(String),
    /// The database failed or refused; the store's error says which.
    #[error(transparent)]
    Store(StoreError),
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// The class of an [`AppError`], which is all a front end needs to choose its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Config,
    Invalid,
    NotFound,
    Conflict,
    /// The database or the file system failed: may work later.
    Unavailable,
}

impl AppError {
    /// The class of the error (store errors are classified by what the store said).
    pub fn kind(&self) -> ErrorKind {
        match self {
            AppError::Config(_) => ErrorKind::Config,
            AppError::Invalid(_) => ErrorKind::Invalid,
            AppError::NotFound(_) => ErrorKind::NotFound,
            AppError::Conflict(_) => ErrorKind::Conflict,
            AppError::Unavailable(_) | AppError::ShuttingDown => ErrorKind::Unavailable,
            AppError::Store(e) => store_kind(e),
            AppError::Io { .. } => ErrorKind::Unavailable,
        }
    }

    /// A configuration error with the given message.
    pub fn config(message: impl Into<String>) -> Self {
        AppError::Config(message.into())
    }

    /// An invalid-request error with the given message.
    pub fn invalid(message: impl Into<String>) -> Self {
        AppError::Invalid(message.into())
    }

    /// A not-found error with the given message.
    pub fn not_found(message: impl Into<String>) -> Self {
        AppError::NotFound(message.into())
    }

    /// An I/O error, saying what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        AppError::Io {
            what: what.into(),
            source,
        }
    }
}

fn store_kind(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::Invalid(_) => ErrorKind::Invalid,
        StoreError::UnsupportedUrl(_) => ErrorKind::Config,
        _ => ErrorKind::Unavailable,
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e)
    }
}

impl From<pforge_core::DomainError> for AppError {
    fn from(e: pforge_core::DomainError) -> Self {
        AppError::Invalid(e.to_string())
    }
}

/// Adds what was being done to an error, turning it into an [`AppError`] of a chosen class:
/// `.or_config(|| format!("[daemon] bind in {source}"))` reads `"[daemon] bind in ...: <why>"`.
pub trait ResultExt<T> {
    /// A configuration error, prefixed with `what`.
    fn or_config(self, what: impl FnOnce() -> String) -> Result<T, AppError>;
    /// An invalid-request error, prefixed with `what`.
    fn or_invalid(self, what: impl FnOnce() -> String) -> Result<T, AppError>;
}

impl<T, E: std::fmt::Display> ResultExt<T> for Result<T, E> {
    fn or_config(self, what: impl FnOnce() -> String) -> Result<T, AppError> {
        self.map_err(|e| AppError::Config(format!("{}: {e}", what())))
    }

    fn or_invalid(self, what: impl FnOnce() -> String) -> Result<T, AppError> {
        self.map_err(|e| AppError::Invalid(format!("{}: {e}", what())))
    }
}

/// Results of application operations.
pub type AppResult<T> = Result<T, AppError>;
