//! The orchestrator owns the shape of an enrichment run: the registry of modules (the `Module`
//! contract itself lives in `pforge-core`) and its validated DAG plan (petgraph), and the executor that runs
//! many domains at once, starting each module the moment its own dependencies are done, bounded
//! by a global concurrency limit, and recording every (job, domain, module) so runs resume. It
//! knows nothing of HTTP details (that is the gateway's) or SQL (that is the store's).

mod executor;
mod plan;

pub use executor::*;
pub use plan::{Plan, PlanError, Registry};
