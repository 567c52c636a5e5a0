//! `pforge daemon`: the long-running mode (see `crate::daemon`).

use crate::cli::{DaemonArgs, GlobalArgs};
use anyhow::Result;

pub async fn run(global: &GlobalArgs, args: DaemonArgs) -> Result<u8> {
    crate::daemon::run(global, args).await
}
