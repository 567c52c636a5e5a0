//! `pforge fixtures serve`: the recorded-provider server as a process, for tests and offline use.

use crate::cli::{FixturesArgs, FixturesCommand};
use crate::exit;
use anyhow::{Context, Result};
use pforge_fixture_server::FixtureServer;
use std::io::Write;
use std::net::SocketAddr;

pub async fn run(args: FixturesArgs) -> Result<u8> {
    match args.command {
        FixturesCommand::Serve { dir, epoch, port } => {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let server = FixtureServer::start(&dir, epoch, addr)
                .await
                .with_context(|| format!("starting the fixture server on {}", dir.display()))?;
            // The first line is the URL, so a parent process can read it.
            println!("{}", server.url());
            std::io::stdout().flush().ok();
            tokio::signal::ctrl_c().await.ok();
            server.shutdown().await;
            Ok(exit::OK)
        }
    }
}
