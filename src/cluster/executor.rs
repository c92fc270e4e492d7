//! A Ballista executor that knows snapdiff's functions and reads `s3://` snapshots: it
//! takes tasks from a scheduler ([`super::scheduler`]), reads the snapshots' Parquet
//! files, and serves its results to the next stage or to the client.

use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool};
use datafusion::prelude::SessionConfig;

use crate::engine::Budget;
use crate::error::{Error, Result};

/// How to start an executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host and port.
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// The address to listen on.
    pub bind_host: String,
    /// The host the scheduler and other executors reach this one by (default: the
    /// address the scheduler sees it connect from).
    pub external_host: Option<String>,
    /// The Arrow Flight port that serves results.
    pub port: u16,
    /// The port of the executor's gRPC service (the scheduler pushes tasks to it).
    pub grpc_port: u16,
    /// Tasks run at once (default: the machine's cores).
    pub concurrent_tasks: usize,
    /// Where shuffle files and spills go (default: a temporary folder).
    pub work_dir: Option<PathBuf>,
    /// The memory the executor keeps within, in bytes: as in one process, its tasks share
    /// a pool of half of it, and sorts and aggregations spill beyond that.
    pub memory_limit: u64,
    /// How often the executor tells the scheduler it is alive.
    pub heartbeat_seconds: u64,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            scheduler_host: "127.0.0.1".into(),
            scheduler_port: super::DEFAULT_SCHEDULER_PORT,
            bind_host: "127.0.0.1".into(),
            external_host: None,
            port: 50051,
            grpc_port: 50052,
            concurrent_tasks: 0,
            work_dir: None,
            memory_limit: crate::engine::memory::default_limit(),
            heartbeat_seconds: 10,
        }
    }
}

/// Run an executor until the process ends.
pub fn run(opts: &ExecutorOptions) -> Result<()> {
    let work_dir = match &opts.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| Error::io("create folder", d, e))?;
            d.clone()
        }
        None => std::env::temp_dir().join(format!(
            "snapdiff-executor-{}-{}",
            opts.port,
            std::process::id()
        )),
    };
    std::fs::create_dir_all(&work_dir).map_err(|e| Error::io("create folder", &work_dir, e))?;
    let pool: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(
        Budget::new(opts.memory_limit).pool() as usize,
    ));
    let functions = super::state_with_functions(
        SessionConfig::new(),
        super::runtime_env(None, None).map_err(|e| {
            Error::internal(format!("cannot set up the executor: {e}")).with_source(e)
        })?,
    );
    let spill_dir = work_dir.clone();
    let config = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: opts.external_host.clone(),
        port: opts.port,
        grpc_port: opts.grpc_port,
        scheduler_host: opts.scheduler_host.clone(),
        scheduler_port: opts.scheduler_port,
        // Started beside its scheduler, an executor waits for it rather than failing.
        scheduler_connect_timeout_seconds: 60,
        concurrent_tasks: opts.concurrent_tasks,
        // As the scheduler ([`super::scheduler`]): tasks pushed, heartbeats on a timer.
        task_scheduling_policy: TaskSchedulingPolicy::PushStaged,
        work_dir: Some(work_dir.to_string_lossy().to_string()),
        print_thread_info: false,
        executor_heartbeat_interval_seconds: opts.heartbeat_seconds.max(1),
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&functions))),
        override_runtime_producer: Some(Arc::new(move |_config: &SessionConfig| {
            super::runtime_env(Some(&spill_dir), Some(pool.clone()))
        })),
        ..Default::default()
    };
    let scheduler = format!("{}:{}", opts.scheduler_host, opts.scheduler_port);
    let (bind, port) = (opts.bind_host.clone(), opts.port);
    let config = Arc::new(config);
    super::block_on(async move {
        eprintln!(
            "snapdiff ballista-executor {} (Ballista {}): serving on {bind}:{port}, scheduler {scheduler}",
            env!("CARGO_PKG_VERSION"),
            ballista_core::BALLISTA_VERSION
        );
        let mut attempt = 1;
        loop {
            match start_executor_process(config.clone()).await {
                Ok(()) => return Ok(()),
                // Ballista registers an executor while its gRPC server is still starting
                // (its own TODO in `executor_server::startup`), and the scheduler, which
                // connects back to that port to push tasks, can find it closed. The
                // failed start has shut everything down again: start once more.
                Err(e) if attempt < REGISTRATION_ATTEMPTS && lost_registration_race(&e) => {
                    log::warn!("registration attempt {attempt} lost the race with the executor's own gRPC server: {e}; starting again");
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => {
                    return Err(Error::connect(format!(
                        "the executor (scheduler {scheduler}) stopped: {e}"
                    ))
                    .with_hint("is the scheduler running (`snapdiff ballista-scheduler`), and are --port and --grpc-port free?"))
                }
            }
        }
    })
}

/// How many times an executor starts before a registration that the scheduler could
/// not complete is final.
const REGISTRATION_ATTEMPTS: u64 = 5;

/// Whether `e` is the scheduler failing to connect back to this executor while it
/// registered: the executor's gRPC server was not listening yet.
fn lost_registration_race(e: &ballista_core::error::BallistaError) -> bool {
    let text = e.to_string();
    text.contains("Failed to register executor") && text.contains("could not connect")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballista_core::error::BallistaError;

    #[test]
    fn a_registration_the_scheduler_could_not_complete_is_told_apart() {
        let lost = BallistaError::General(
            "Grpc error: status: Internal, message: \"Fail to do executor registration due to: \
             Internal Ballista error: Failed to register executor at 127.0.0.1:43405, could not \
             connect: tonic::transport::Error(Transport, ConnectError)\""
                .into(),
        );
        assert!(lost_registration_race(&lost));
        let refused = BallistaError::General(
            "Failed to register executor: the scheduler is shutting down".into(),
        );
        assert!(!lost_registration_race(&refused));
        assert!(!lost_registration_race(&BallistaError::General(
            "could not connect to the scheduler".into()
        )));
    }
}
