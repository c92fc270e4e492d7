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
use std::time::Duration;

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;
use url::Url;

use crate::error::{Error, Result};

/// The scheduler port Ballista listens on unless told otherwise.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// Where the checks run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    /// DataFusion in this process (the default).
    #[default]
    InProcess,
    /// A Ballista scheduler and its executors.
    Ballista {
        /// The scheduler's host name or IP address (an IPv6 address without brackets).
        host: String,
        /// The scheduler's port.
        port: u16,
    },
}

impl Engine {
    /// `local` (or `in-process`) for this process, `df://HOST[:PORT]` for a Ballista
    /// scheduler (port 50050 by default).
    pub fn parse(text: &str) -> Result<Engine> {
        let text = text.trim();
        if text == "local" || text == "in-process" {
            return Ok(Engine::InProcess);
        }
        let bad = |why: String| {
            Error::spec(format!("engine `{text}`: {why}"))
                .with_hint("write `df://HOST:PORT` for a Ballista scheduler, or `local`")
        };
        let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
        if url.scheme() != "df" {
            return Err(bad(format!("unknown scheme `{}`", url.scheme())));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(bad("a scheduler address has no path or query".into()));
        }
        Ok(Engine::Ballista {
            host,
            port: url.port().unwrap_or(DEFAULT_SCHEDULER_PORT),
        })
    }

    /// Whether the checks run on a cluster.
    pub fn is_distributed(&self) -> bool {
        matches!(self, Engine::Ballista { .. })
    }
}

/// `host:port`, with an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The hint of a check whose query failed on the cluster.
pub fn failed_query_hint(engine: &Engine) -> String {
    format!(
        "the query ran on the Ballista cluster at {engine}: an executor that stopped, or a \
         scheduler or executor that cannot read the snapshots at their paths, fails it; \
         their output says more"
    )
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::InProcess => write!(f, "local"),
            Engine::Ballista { host, port } => write!(f, "df://{}", authority(host, *port)),
        }
    }
}

/// Fails unless a Ballista scheduler answers at `host:port`: it accepts a connection,
/// and answers a scheduler's request (an executor's port, say, would not).
pub async fn reachable(host: &str, port: u16) -> Result<()> {
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
    use ballista_core::serde::protobuf::GetJobStatusParams;
    let engine = Engine::Ballista {
        host: host.to_string(),
        port,
    };
    let start_one = format!(
        "start one with `snapdiff ballista-scheduler --bind {host} --port {port}` and at least one \
         `snapdiff ballista-executor --scheduler {host}:{port}`, or leave out --engine to verify in this process"
    );
    let reach = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await;
    let why = match reach {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("no answer within 10 s".to_string()),
    };
    if let Some(why) = why {
        return Err(Error::connect(format!(
            "cannot reach the Ballista scheduler at {engine}: {why}"
        ))
        .with_hint(start_one));
    }
    let not_a_scheduler = |why: String| {
        Error::connect(format!(
            "the service at {engine} does not answer as a Ballista scheduler: {why}"
        ))
        .with_hint(format!(
            "is that an executor's port? give the scheduler's address; {start_one}"
        ))
    };
    let probe = async {
        let channel = ballista_core::utils::create_grpc_client_connection(
            format!("http://{}", authority(host, port)),
            &ballista_core::utils::GrpcClientConfig::default(),
        )
        .await
        .map_err(|e| not_a_scheduler(e.to_string()))?;
        SchedulerGrpcClient::new(channel)
            .get_job_status(GetJobStatusParams {
                job_id: "snapdiff-probe".into(),
            })
            .await
            .map_err(|s| not_a_scheduler(format!("{}: {}", s.code(), s.message())))?;
        Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(10), probe).await {
        Ok(r) => r,
        Err(_) => Err(not_a_scheduler("no answer within 10 s".into())),
    }
}

/// Fails when `engine` is a Ballista scheduler that does not accept a connection.
pub fn ensure_reachable(engine: &Engine) -> Result<()> {
    match engine {
        Engine::InProcess => Ok(()),
        Engine::Ballista { host, port } => block_on(reachable(host, *port)),
    }
}

/// A session whose queries run on the Ballista scheduler at `host:port`: snapdiff's
/// functions and settings, with `memory_limit` for what runs on this side (planning,
/// reading `s3://` footers). [`reachable`] says first whether the scheduler answers.
pub async fn remote_session(host: &str, port: u16, memory_limit: u64) -> Result<SessionContext> {
    use ballista_core::extension::SessionStateExt;
    let engine = Engine::Ballista {
        host: host.to_string(),
        port,
    };
    let ctx = crate::check::session_with_memory(memory_limit);
    // Scans and shuffles are split into this many partitions, each a task: enough to keep
    // every executor's task slots busy, and to keep each task's share of a join small.
    let mut config = ctx.state().config().clone();
    config.options_mut().execution.target_partitions = cluster_partitions()?;
    // Every join hash-partitions both sides. A join that collects one side whole
    // (`CollectLeft`) emits that side's unmatched rows once all partitions are done,
    // which holds in one process but not across a cluster's tasks, each of which runs
    // one partition: left-only rows were lost.
    config
        .options_mut()
        .optimizer
        .hash_join_single_partition_threshold = 0;
    config
        .options_mut()
        .optimizer
        .hash_join_single_partition_threshold_rows = 0;
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(ctx.state())
        .with_config(config)
        .build()
        .upgrade_for_ballista(format!("http://{}", authority(host, port)))
        .map_err(|e| Error::internal(format!("cannot prepare a session for {engine}: {e}")))?;
    Ok(SessionContext::new_with_state(state))
}

/// Whether `ctx` sends its queries to a Ballista cluster ([`remote_session`]).
pub fn is_remote(ctx: &SessionContext) -> bool {
    ctx.state()
        .config()
        .options()
        .extensions
        .get::<ballista_core::config::BallistaConfig>()
        .is_some()
}

/// Why `plan` (optimised) cannot run on a cluster, if it cannot: an outer, semi or anti
/// join without an equality condition (a range, an `OR`, `IS NOT DISTINCT FROM`) runs
/// as a nested-loop join, which emits the unmatched rows of the side it collects once
/// every partition is done. Each task of a cluster runs one partition, so those rows
/// would be lost and the check would pass or fail on a wrong count.
pub fn unsupported_join(plan: &datafusion::logical_expr::LogicalPlan) -> Option<String> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::{JoinType, LogicalPlan};
    let mut found = None;
    let _ = plan.apply_with_subqueries(|p| {
        if let LogicalPlan::Join(j) = p {
            if j.on.is_empty() && j.join_type != JoinType::Inner {
                found = Some(format!(
                    "a {} join with no equality condition{} cannot run on a Ballista cluster: \
                     its unmatched rows would be lost",
                    j.join_type,
                    j.filter
                        .as_ref()
                        .map(|f| format!(" (ON {f})"))
                        .unwrap_or_default()
                ));
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The partitions a query is split into on a cluster: `SNAPDIFF_CLUSTER_PARTITIONS`,
/// else 16.
fn cluster_partitions() -> Result<usize> {
    match std::env::var("SNAPDIFF_CLUSTER_PARTITIONS") {
        Err(_) => Ok(16),
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Error::spec(format!(
                    "SNAPDIFF_CLUSTER_PARTITIONS is `{v}`, not a number of partitions"
                ))
                .with_hint(
                    "set it to a whole number from 1, such as the cluster's task slots times 2",
                )
            }),
    }
}

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
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Plans arrive as nested protobuf and are decoded and planned recursively: a
        // check's plan overflowed the default 2 MiB stack.
        .thread_stack_size(32 << 20)
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?
        .block_on(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_parse_with_the_default_port_and_refuse_what_is_not_a_scheduler() {
        assert_eq!(Engine::parse("local").unwrap(), Engine::InProcess);
        assert_eq!(
            Engine::parse("df://10.0.0.5:7000").unwrap(),
            Engine::Ballista {
                host: "10.0.0.5".into(),
                port: 7000
            }
        );
        let e = Engine::parse("df://sched").unwrap();
        assert_eq!(e.to_string(), "df://sched:50050");
        for bad in ["http://sched:50050", "df://", "df://h:1/x", "sched:50050"] {
            let err = Engine::parse(bad).unwrap_err();
            assert!(
                err.message.starts_with(&format!("engine `{bad}`")),
                "{bad}: {err}"
            );
            assert_eq!(
                err.hint.as_deref(),
                Some("write `df://HOST:PORT` for a Ballista scheduler, or `local`")
            );
        }
    }
}
