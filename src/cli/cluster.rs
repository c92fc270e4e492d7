//! `snapdiff ballista-scheduler` and `snapdiff ballista-executor`: Ballista's scheduler
//! and executor with snapdiff's functions registered, for `verify --engine df://...`.

use std::path::PathBuf;

use clap::Args;

use snapdiff::cluster::executor::ExecutorOptions;
use snapdiff::cluster::scheduler::SchedulerOptions;
use snapdiff::cluster::DEFAULT_SCHEDULER_PORT;

#[derive(Debug, Args)]
#[command(
    about = "Start a Ballista scheduler for distributed verification",
    long_about = "Start an Apache DataFusion Ballista scheduler that knows snapdiff's functions. \
        `snapdiff verify --engine df://HOST:PORT` sends it every check's query; it splits each into \
        stages and hands their tasks to the executors (`snapdiff ballista-executor`) that registered \
        with it. It plans the queries, so it lists the snapshot files too: give it the AWS_* \
        variables for s3:// snapshots, or mount local snapshot folders at the paths the client names. \
        It runs until stopped (Ctrl-C). See docs/scale-out.md.",
    after_help = "Examples:\n  snapdiff ballista-scheduler                       # 127.0.0.1:50050\n  \
        snapdiff ballista-scheduler --bind 0.0.0.0 --port 50050"
)]
pub struct SchedulerArgs {
    /// The address to listen on (0.0.0.0 for every interface).
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub bind: String,
    /// The port clients and executors connect to.
    #[arg(long, default_value_t = DEFAULT_SCHEDULER_PORT)]
    pub port: u16,
    /// Seconds without word from an executor before it is taken as lost: its tasks run
    /// again on the others, and the stages whose output it held are computed again.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub executor_timeout: u64,
}

#[derive(Debug, Args)]
#[command(
    about = "Start a Ballista executor for distributed verification",
    long_about = "Start an Apache DataFusion Ballista executor that knows snapdiff's functions and reads \
        s3:// snapshots (credentials from its own AWS_* environment). It registers with the scheduler, \
        runs the tasks it is given and serves their results. Every executor must read the snapshots at \
        the paths the client names: use s3:// roots, or a folder mounted at the same path everywhere. \
        It runs until stopped (Ctrl-C). See docs/scale-out.md.",
    after_help = "Examples:\n  snapdiff ballista-executor --scheduler 127.0.0.1:50050\n  \
        snapdiff ballista-executor --scheduler sched.internal:50050 --bind 0.0.0.0 \\\n      \
        --external-host worker-1.internal --memory-limit 16G"
)]
pub struct ExecutorArgs {
    /// The scheduler, as HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
    pub scheduler: String,
    /// The address to listen on (0.0.0.0 for every interface).
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub bind: String,
    /// The name the scheduler, the client and other executors reach this executor by
    /// (default: the address the scheduler sees it connect from).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// The port results are served on (Arrow Flight).
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// The port of the executor's gRPC service.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// Tasks run at once (default: one per core).
    #[arg(long, value_name = "N")]
    pub tasks: Option<usize>,
    /// Where shuffle files and spills go (default: a folder under the system's temporary folder).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// The memory the executor keeps within: a size (8G, 512M) or a share of RAM (50%).
    /// Default: half of RAM.
    #[arg(long, value_name = "SIZE", value_parser = super::memory_limit)]
    pub memory_limit: Option<u64>,
    /// Seconds between the executor's heartbeats to the scheduler (keep it well under
    /// the scheduler's --executor-timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub heartbeat: u64,
}

/// Ballista's own log to standard error: warnings and errors, or what `RUST_LOG` asks.
fn init_log() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp_millis()
        .try_init();
}

/// `snapdiff ballista-scheduler`: runs until the process is stopped.
pub fn scheduler(args: SchedulerArgs) -> anyhow::Result<u8> {
    init_log();
    snapdiff::cluster::scheduler::run(&SchedulerOptions {
        bind_host: args.bind,
        port: args.port,
        executor_timeout_seconds: args.executor_timeout.max(1),
    })?;
    Ok(snapdiff::EXIT_OK)
}

/// `snapdiff ballista-executor`: runs until the process is stopped.
pub fn executor(args: ExecutorArgs) -> anyhow::Result<u8> {
    init_log();
    let (host, port) = match args.scheduler.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => match p.parse::<u16>() {
            Ok(p) => (h.to_string(), p),
            Err(_) => anyhow::bail!("--scheduler {}: `{p}` is not a port", args.scheduler),
        },
        _ => (args.scheduler.clone(), DEFAULT_SCHEDULER_PORT),
    };
    let mut opts = ExecutorOptions {
        scheduler_host: host,
        scheduler_port: port,
        bind_host: args.bind,
        external_host: args.external_host,
        port: args.port,
        grpc_port: args.grpc_port,
        concurrent_tasks: args.tasks.unwrap_or(0),
        work_dir: args.work_dir,
        heartbeat_seconds: args.heartbeat.max(1),
        ..Default::default()
    };
    if let Some(m) = args.memory_limit {
        opts.memory_limit = m;
    }
    snapdiff::cluster::executor::run(&opts)?;
    Ok(snapdiff::EXIT_OK)
}
