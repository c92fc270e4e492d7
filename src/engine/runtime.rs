//! The tokio runtimes the library's synchronous calls block on.
//!
//! The library's API is synchronous (a nightly job, a CLI command); DataFusion, the
//! object stores and Ballista are async. Each synchronous entry point starts one of
//! these and blocks on it, so the runtimes are made, and fail, in one place.

use crate::error::{Error, Result};

/// What a runtime is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Queries over snapshots: one worker per core.
    Queries,
    /// One short call (a scheduler's answer, the report's delta): the calling thread.
    OneCall,
    /// A Ballista scheduler or executor: plans arrive as nested protobuf and are decoded
    /// and planned recursively, and a check's plan overflowed the default 2 MiB stack.
    DeepPlans,
}

/// A new runtime of `flavor`.
pub fn runtime(flavor: Flavor) -> Result<tokio::runtime::Runtime> {
    let mut b = match flavor {
        Flavor::OneCall => tokio::runtime::Builder::new_current_thread(),
        Flavor::Queries | Flavor::DeepPlans => tokio::runtime::Builder::new_multi_thread(),
    };
    b.enable_all();
    if flavor == Flavor::DeepPlans {
        b.thread_stack_size(32 << 20);
    }
    b.build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")).with_source(e))
}
