//! The lean core every module author compiles against: the `Module` trait and everything that
//! crosses it (`Domain`, `ModuleSpec`, `ModuleContext`, `ModuleOutput`, `Citation`, `SetArray`,
//! `ChangeEvent` with its `Level` and `ChangeKind`). It owns the *contract* of a module run, not
//! its scheduling (that is the orchestrator's), its storage (the store's) or its diffing (the
//! versioning crate's). It must not depend on a database driver: writing a module compiles this
//! crate and the gateway, nothing more.

mod change;
mod domain;
mod hints;
mod module;
mod set_array;

pub use change::{ChangeEvent, ChangeKind, Level};
pub use domain::{Domain, DomainError};
pub use hints::{DomainHints, EntityPin, HintBook};
pub use module::*;
pub use set_array::SetArray;
