//! Distributed verification on an Apache DataFusion Ballista cluster.
//!
//! Checks are DataFusion SQL, so the same checks run on one machine or on a cluster: with
//! [`Engine::Ballista`], the session the checks query plans each query locally and
//! hands it to a Ballista scheduler, whose executors read the snapshots (shared paths or
//! `s3://`) and send the results back. snapdiff's functions travel by name, so the
//! scheduler and every executor must know them: [`scheduler::run`] and
//! [`executor::run`] start Ballista's own processes with them registered (the
//! `snapdiff ballista-scheduler` and `snapdiff ballista-executor` commands).
//!
//! What cannot travel stays on the client: the diff files and the rows a check holds in
//! memory are read in a local session, and the narrow first pass of the diff (whose
//! bucket test lives in the client's memory) gives way to the plain SQL diff, whose
//! findings are the same.

pub mod executor;
pub mod scheduler;

use std::sync::Arc;

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;
use url::Url;

use crate::error::Result;

pub use crate::engine::remote::DEFAULT_SCHEDULER_PORT;

/// A session state with DataFusion's defaults, snapdiff's functions, `config`, and
/// `s3://` stores made on first use: what the scheduler plans in and what the
/// executors' function registry is taken from.
pub fn state_with_functions(
    config: SessionConfig,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> SessionState {
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .build();
    let ctx = SessionContext::new_with_state(state);
    crate::normalize::register_all(&ctx);
    ctx.state()
}

/// Object stores for a scheduler or an executor: `s3://BUCKET` is made on first use from
/// the process's AWS environment ([`crate::storage::store`]), since neither knows in
/// advance which buckets the snapshots are in; everything else as DataFusion's default.
#[derive(Debug, Default)]
pub struct Stores {
    inner: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for Stores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if url.scheme() == "s3" {
            if let Some(bucket) = url.host_str() {
                // As text (Ballista reports a failed job's error in its debug form), with a
                // hint for this process: a spec's [storage] never reaches it.
                return crate::storage::store(bucket).map_err(|e| {
                    datafusion::error::DataFusionError::Execution(format!(
                        "{}; give the scheduler and every executor the AWS_* variables in \
                         their environment",
                        e.message
                    ))
                });
            }
        }
        self.inner.get_store(url)
    }
}

/// A runtime for a scheduler or an executor: [`Stores`], spill files under `work_dir`
/// (the system's temporary folder when `None`), and a memory pool of `memory_limit`
/// bytes shared by every task given the same `pool`.
pub fn runtime_env(
    work_dir: Option<&std::path::Path>,
    pool: Option<Arc<dyn datafusion::execution::memory_pool::MemoryPool>>,
) -> datafusion::error::Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
    let mut b = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(Stores::default()));
    if let Some(dir) = work_dir {
        b = b.with_temp_file_path(dir);
    }
    if let Some(pool) = pool {
        b = b.with_memory_pool(pool);
    }
    b.build_arc()
}

/// Run `f` on a new multi-threaded runtime until it ends (for a scheduler or an
/// executor, the process's lifetime).
fn block_on<F: std::future::Future<Output = Result<()>>>(f: F) -> Result<()> {
    crate::engine::runtime::runtime(crate::engine::runtime::Flavor::DeepPlans)?.block_on(f)
}
