//! The application layer under every front end. The CLI (`crates/cli`), the HTTP API and the
//! web UI all parse their input, call an operation here, and print or serialize what it returns;
//! none of them holds a job lifecycle, a query or SQL of its own.
//!
//! This crate owns: [`Settings`], the config file, environment and flags resolved once;
//! [`App`], the library objects those settings build (store, plan, versioner, gateway) opened
//! once per process; the job service ([`Jobs`]: run here, queue, cancel) with its typed
//! [`JobSpec`]; worker tasks over the shared queue ([`worker`]); the daemon's schedules, refresh
//! and alert loops ([`daemon`]); the gateway's ledger and shared-limiter adapters over the store
//! ([`adapters`]); the queries every front end shows (latest intelligence, history, diff,
//! changes, brief, budget, jobs, estimates: [`queries`]); the outbox operations ([`alerts`]);
//! retention ([`prune`]) and the offline demo ([`demo`]).
//!
//! It must not know clap, axum routes or SQL: front ends own their syntax, the store owns its
//! queries. Errors are [`AppError`]s whose [`ErrorKind`] tells a front end which exit code or
//! HTTP status to answer.

pub mod adapters;
pub mod alerts;
mod app;
pub mod daemon;
pub mod demo;
mod error;
pub mod input;
pub mod jobs;
pub mod metrics;
pub mod progress;
pub mod prune;
pub mod queries;
pub mod settings;
pub mod worker;

pub use app::{App, OpenOptions, Role};
pub use error::{AppError, AppResult, ErrorKind, ResultExt};
pub use jobs::{CancelOutcome, JobSpec, Jobs, Refresh, RunReport};
pub use settings::{Settings, SettingsSources};
