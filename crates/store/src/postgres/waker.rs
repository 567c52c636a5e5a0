//! Waking idle workers: a `LISTEN` connection on [`QUEUE_CHANNEL`], shared by clones of one
//! store, that `wait_for_queue` blocks on until a notification or its timeout.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};

use crate::{StoreError, QUEUE_CHANNEL};

/// A lazily opened `LISTEN` connection shared by clones of one store.
#[derive(Clone, Default)]
pub(crate) struct Waker {
    listener: Arc<tokio::sync::Mutex<Option<PgListener>>>,
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

impl Waker {
    /// Returns when a notification arrives on [`QUEUE_CHANNEL`] or `timeout` passes.
    /// Notifications sent while nobody waited are buffered by the connection, so a wake-up
    /// between two waits is not lost.
    pub(crate) async fn wait(&self, pool: &PgPool, timeout: Duration) -> Result<(), StoreError> {
        let mut guard = self.listener.lock().await;
        if guard.is_none() {
            let mut l = PgListener::connect_with(pool).await?;
            l.listen(QUEUE_CHANNEL).await?;
            *guard = Some(l);
        }
        let Some(listener) = guard.as_mut() else {
            return Ok(());
        };
        match tokio::time::timeout(timeout, listener.recv()).await {
            Ok(Ok(_)) | Err(_) => Ok(()),
            Ok(Err(e)) => {
                // Reconnect on the next wait; polling covers the gap.
                *guard = None;
                Err(StoreError::Backend { source: e })
            }
        }
    }
}
