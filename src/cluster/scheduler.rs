//! A Ballista scheduler that knows snapdiff's functions: it turns the plans clients send
//! into stages and hands their tasks to executors ([`super::executor`]).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::serde::protobuf::executor_status::Status as ExecutorState;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::UpdateTaskStatusParams;
use ballista_scheduler::cluster::{BallistaCluster, ClusterState};
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::prelude::SessionConfig;

use crate::error::{Error, Result};

/// How to start a scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The address and port to listen on.
    pub bind_host: String,
    pub port: u16,
    /// An executor not heard from for this long is taken as lost: its tasks run again
    /// elsewhere, and the stages whose output it held are computed again.
    pub executor_timeout_seconds: u64,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            bind_host: "127.0.0.1".into(),
            port: super::DEFAULT_SCHEDULER_PORT,
            executor_timeout_seconds: 60,
        }
    }
}

/// Run a scheduler until the process ends.
pub fn run(opts: &SchedulerOptions) -> Result<()> {
    let addr: SocketAddr = format!("{}:{}", opts.bind_host, opts.port)
        .parse()
        .map_err(|e| {
            Error::spec(format!(
                "`{}:{}` is not an address to listen on: {e}",
                opts.bind_host, opts.port
            ))
            .with_hint("--bind takes an IP address, such as 0.0.0.0 or 127.0.0.1")
        })?;
    let mut config = SchedulerConfig {
        bind_host: opts.bind_host.clone(),
        bind_port: opts.port,
        // Tasks are pushed to executors, which send heartbeats on their own schedule.
        // Pulled, an executor asks for work only when a task slot is free, so one busy
        // for longer than the timeout with long tasks was taken as lost.
        scheduling_policy: TaskSchedulingPolicy::PushStaged,
        executor_timeout_seconds: opts.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: (opts.executor_timeout_seconds / 3).max(1),
        ..Default::default()
    };
    config = config.with_override_session_builder(Arc::new(|config: SessionConfig| {
        Ok(super::state_with_functions(
            config,
            super::runtime_env(None, None)?,
        ))
    }));
    super::block_on(async move {
        let cluster = BallistaCluster::new_from_config(&config)
            .await
            .map_err(|e| {
                Error::internal(format!("cannot set up the scheduler: {e}")).with_source(e)
            })?;
        eprintln!(
            "snapdiff ballista-scheduler {} (Ballista {}): listening on {addr}",
            env!("CARGO_PKG_VERSION"),
            ballista_core::BALLISTA_VERSION
        );
        let own = if addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        tokio::spawn(keep_offering(
            cluster.cluster_state(),
            format!("http://{own}"),
        ));
        start_server(cluster, addr, Arc::new(config))
            .await
            .map_err(|e| {
                Error::connect(format!("the scheduler on {addr} stopped: {e}"))
                    .with_hint("is another process listening on that port? choose one with --port")
            })
    })
}

/// How often the free task slots are offered again ([`keep_offering`]).
const REOFFER_SECONDS: u64 = 3;

/// Offer the executors' free task slots again every few seconds.
///
/// When Ballista's scheduler (50.0) finds an executor lost, it puts that executor's
/// tasks back in the queue but offers them to no executor: offers are made when an
/// executor reports a task's status. If the executors left are idle at that moment, no
/// report ever comes, and the job waits for ever (seen in the test that kills an
/// executor mid-run: the run hung until its five-minute watchdog). An empty status
/// report, sent here on a live executor's behalf, makes the scheduler offer the free
/// slots (it changes no task); when nothing waits, the offer finds nothing to do.
async fn keep_offering(state: Arc<dyn ClusterState>, url: String) {
    let mut client: Option<SchedulerGrpcClient<_>> = None;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(REOFFER_SECONDS));
    loop {
        tick.tick().await;
        let live = state.executor_heartbeats().into_values().find(|h| {
            matches!(
                h.status.as_ref().and_then(|s| s.status.as_ref()),
                Some(ExecutorState::Active(_))
            )
        });
        let Some(executor) = live else { continue };
        if client.is_none() {
            client = SchedulerGrpcClient::connect(url.clone()).await.ok();
        }
        if let Some(c) = client.as_mut() {
            let nudge = UpdateTaskStatusParams {
                executor_id: executor.executor_id,
                task_status: Vec::new(),
            };
            if c.update_task_status(nudge).await.is_err() {
                client = None;
            }
        }
    }
}
