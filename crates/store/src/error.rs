use thiserror::Error;

/// Why a persistence operation failed, by what the caller can do about it: `NotFound`,
/// `Conflict` and `Invalid` are the caller's to fix (an API answers 404/409/400 with the
/// message); `Backend`, `Open`, `Migrate` and `Corrupt` are the database's (an API answers 503
/// and logs the source, whose text may name tables and values). Messages say what to do where
/// there is something to do.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open database {url}: {source} (check the path or --db / PFORGE_DATABASE_URL)")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The named thing (e.g. `job 1b4e…`) does not exist.
    #[error("no {what}")]
    NotFound { what: String },
    /// The named thing already exists (e.g. a job id used twice).
    #[error("{what} already exists")]
    Conflict { what: String },
    /// The caller asked for something the store refuses to do (e.g. pruning the latest version,
    /// a cursor this store did not issue).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// The database failed (connection lost, timeout, constraint the caller could not foresee).
    /// The message is generic on purpose; the database's own text is the `source`, for logs.
    #[error("the database operation failed")]
    Backend {
        #[from]
        source: sqlx::Error,
    },
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// A fenced write for a claimed domain found its queue row no longer held by the claim
    /// (the lease expired and another worker took it, or the row was closed): nothing was
    /// written, so a worker that was paused past its lease cannot overwrite the new holder.
    #[error("lease lost for {domain}; another worker owns it")]
    LeaseLost { domain: String },
}

impl StoreError {
    /// A failed insert: a unique violation means `what` already exists, a foreign-key violation
    /// that what it refers to (`missing`) does not; anything else is the backend's failure.
    pub(crate) fn on_insert(
        e: sqlx::Error,
        what: impl FnOnce() -> String,
        missing: impl FnOnce() -> String,
    ) -> StoreError {
        match e.as_database_error() {
            Some(d) if d.is_unique_violation() => StoreError::Conflict { what: what() },
            Some(d) if d.is_foreign_key_violation() => StoreError::NotFound { what: missing() },
            _ => StoreError::Backend { source: e },
        }
    }

    /// Whether the database could not be reached (connection refused or dropped, pool timed
    /// out, server shutting down or starting): the operation may succeed if retried once the
    /// database answers, unlike a constraint or a bad request.
    pub fn is_connection(&self) -> bool {
        let e = match self {
            StoreError::Backend { source } | StoreError::Open { source, .. } => source,
            _ => return false,
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => d.code().is_some_and(|c| {
                // 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown,
                // cannot connect now (the server is starting).
                c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
            }),
            _ => false,
        }
    }

    /// `NotFound` for `what`.
    pub(crate) fn not_found(what: impl Into<String>) -> StoreError {
        StoreError::NotFound { what: what.into() }
    }
}
