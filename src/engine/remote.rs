//! Where the checks run: in this process, or on an Apache DataFusion Ballista cluster
//! whose scheduler a session sends its queries to.
//!
//! This is the client's half of distributed verification: the [`Engine`] choice, the
//! remote session and what may not run on a cluster. The scheduler and executor
//! processes are in the `cluster` module, above this layer.

use std::time::Duration;

use datafusion::prelude::SessionContext;
use url::Url;

use super::memory::Budget;
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
        Engine::Ballista { host, port } => {
            super::runtime::runtime(super::runtime::Flavor::OneCall)?
                .block_on(reachable(host, *port))
        }
    }
}

/// A session whose queries run on the Ballista scheduler at `host:port`, each split
/// into `partitions` tasks: snapdiff's functions and settings, with `budget` for what
/// runs on this side (planning, reading `s3://` footers). [`reachable`] says first
/// whether the scheduler answers.
pub async fn remote_session(
    host: &str,
    port: u16,
    partitions: usize,
    budget: &Budget,
) -> Result<SessionContext> {
    use ballista_core::extension::SessionStateExt;
    let engine = Engine::Ballista {
        host: host.to_string(),
        port,
    };
    let ctx = super::session::session_with_budget(budget);
    // Scans and shuffles are split into this many partitions, each a task: enough to keep
    // every executor's task slots busy, and to keep each task's share of a join small.
    let mut config = ctx.state().config().clone();
    config.options_mut().execution.target_partitions = partitions.max(1);
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
        .map_err(|e| {
            Error::internal(format!("cannot prepare a session for {engine}: {e}")).with_source(e)
        })?;
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

/// The partitions (tasks) each query is split into on a cluster unless asked otherwise.
pub const DEFAULT_CLUSTER_PARTITIONS: usize = 16;

/// `SNAPDIFF_CLUSTER_PARTITIONS`'s text as a number of partitions.
pub fn parse_cluster_partitions(text: &str) -> Result<usize> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Error::spec(format!(
                "SNAPDIFF_CLUSTER_PARTITIONS is `{text}`, not a number of partitions"
            ))
            .with_hint("set it to a whole number from 1, such as the cluster's task slots times 2")
        })
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
