//! snapdiff proves that a migrated system holds the same data as the legacy one.
//!
//! It dumps legacy and target tables into Parquet snapshots ([`extract`] →
//! [`snapshot`]) and runs checks over those snapshots with DataFusion SQL. Everything
//! after extraction reads snapshots only: sources are touched once, read-only.
//!
//! The library has no command line in it: the `snapdiff` binary fills the plain
//! configuration structs here ([`job::JobOptions`], [`extract::ExtractRequest`],
//! [`extract::ExtractOptions`], [`spec::Spec`]), calls [`job::run`], [`job::verify`],
//! [`extract::extract`] or [`check::verify_entities`], and renders
//! [`progress::Progress`] events. The modules are layered (ARCHITECTURE.md): each
//! imports only from the layers below it. Errors are
//! [`error::Error`]: a kind, a message, the source/table/column/file it concerns and a
//! hint, with secrets scrubbed.

pub mod check;
pub mod cluster;
pub mod engine;
pub mod error;
pub mod extract;
pub mod job;
pub mod normalize;
pub mod progress;
pub mod query;
pub mod report;
pub mod secrets;
pub mod snapshot;
pub mod spec;
pub mod storage;
pub mod suggest;

pub use error::{Error, ErrorKind, Result};

/// Exit status: everything verified (or, for `extract`, the run completed).
pub const EXIT_OK: u8 = 0;
/// Exit status: differences beyond the spec's thresholds were found.
pub const EXIT_DIFFERENCES: u8 = 1;
/// Exit status: the run could not be done (bad spec, unreachable source, corrupt snapshot).
pub const EXIT_ERROR: u8 = 2;
