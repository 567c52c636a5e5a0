use thiserror::Error;

/// Why a persistence operation failed. Messages say what to do where there is something to do.
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
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// The caller asked for something the store refuses to do (e.g. pruning the latest version).
    #[error("invalid store request: {0}")]
    Invalid(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
}
