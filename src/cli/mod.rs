//! The command line: clap definitions, dispatch, exit codes and error printing.
//!
//! Commands fill the library's configuration structs and call it; nothing here knows how
//! a source is read. Exit status: 0 success, 1 differences found, 2 the run could not be
//! done, or an entity in it could not be verified (the report is written and says
//! which). Errors go to standard error, with their hint, and never contain a password.

/// `println!` for the command line's output: once standard output is closed
/// (`snapdiff run spec | head -3`), further lines are dropped instead of panicking, and
/// the work goes on to its report and exit status.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::print_line(&format!($($arg)*))
    };
}

mod cluster;
mod diff;
mod extract;
mod progress;
mod recheck;
mod sql;
mod verify;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};

use snapdiff::EXIT_ERROR;

#[derive(Debug, Parser)]
#[command(
    name = "snapdiff",
    version,
    about = "Prove a migrated system holds the same data as the legacy one",
    long_about = "snapdiff dumps legacy and target tables into Parquet snapshots and runs checks over them \
                  with DataFusion SQL.\n\nExit status: 0 success, 1 differences found, 2 the run could not be done \
                  or something in it could not be verified (the report says what).",
    after_help = "Run `snapdiff COMMAND --help` for a command's options. The spec format is documented in docs/spec.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Run(verify::RunArgs),
    Extract(extract::ExtractArgs),
    Verify(verify::VerifyArgs),
    Plan(verify::PlanArgs),
    History(verify::HistoryArgs),
    Recheck(recheck::RecheckArgs),
    Sql(sql::SqlArgs),
    Diff(Box<diff::DiffArgs>),
    BallistaScheduler(cluster::SchedulerArgs),
    BallistaExecutor(cluster::ExecutorArgs),
}

/// Parse the arguments, run the command, and turn its outcome into an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::BallistaScheduler(_) | Command::BallistaExecutor(_)
    ) {
        init_log();
    }
    snapdiff::storage::configure(storage_settings(Default::default()));
    let result = match cli.command {
        Command::Run(args) => verify::run(args),
        Command::Extract(args) => extract::run(args),
        Command::Verify(args) => verify::verify(args),
        Command::Plan(args) => verify::plan(args),
        Command::History(args) => verify::history(args),
        Command::Recheck(args) => recheck::recheck(args),
        Command::Sql(args) => sql::sql(args),
        Command::Diff(args) => diff::diff(*args),
        Command::BallistaScheduler(args) => cluster::scheduler(args),
        Command::BallistaExecutor(args) => cluster::executor(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report_error(&e);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Load a spec, and take its `[storage]` settings for `s3://` roots.
fn load_spec(path: &std::path::Path) -> anyhow::Result<snapdiff::spec::Spec> {
    let spec = snapdiff::spec::Spec::load(path)?;
    snapdiff::storage::configure(storage_settings(spec.storage_settings()));
    Ok(spec)
}

/// `settings` with the upload part size `SNAPDIFF_S3_PART_MIB` gives.
fn storage_settings(mut settings: snapdiff::storage::S3Settings) -> snapdiff::storage::S3Settings {
    settings.part_mib = std::env::var("SNAPDIFF_S3_PART_MIB")
        .ok()
        .and_then(|v| v.trim().parse().ok());
    settings
}

/// Print an error (and what caused it) to standard error, scrubbed of secrets.
pub fn report_error(e: &anyhow::Error) {
    let mut text = format!("error: {e}");
    // Library errors carry their own context; show causes only for other errors.
    if e.downcast_ref::<snapdiff::Error>().is_none() {
        for cause in e.chain().skip(1) {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
    }
    eprintln!("{}", snapdiff::secrets::scrub(&text));
}

/// The library's diagnostics to standard error: what `RUST_LOG` asks (nothing when it
/// is unset), and with `SNAPDIFF_DEBUG_SQL` set, every check's SQL and the diff's
/// passes (target `snapdiff::sql`, printed as they are, SQL ready to paste).
fn init_log() {
    use std::io::Write;
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off"));
    if std::env::var_os("SNAPDIFF_DEBUG_SQL").is_some() {
        b.filter_module(snapdiff::check::entity::SQL_LOG, log::LevelFilter::Debug);
    }
    let _ = b
        .format(|buf, record| {
            if record.target() == snapdiff::check::entity::SQL_LOG {
                writeln!(buf, "{}", record.args())
            } else {
                writeln!(
                    buf,
                    "[{} {}] {}",
                    record.level(),
                    record.target(),
                    record.args()
                )
            }
        })
        .try_init();
}

/// `--memory-limit`: a size (8G, 512M) or a share of RAM (50%), in bytes.
fn memory_limit(text: &str) -> Result<u64, String> {
    snapdiff::engine::memory::parse_limit(text).map_err(|e| match &e.hint {
        Some(h) => format!("{} ({h})", e.message),
        None => e.message.clone(),
    })
}

/// The diff's first pass to start with: `SNAPDIFF_FIRST_PASS` (stream, table or narrow),
/// to compare the passes; unset, each is tried in turn.
fn first_pass() -> anyhow::Result<Option<snapdiff::check::FirstPass>> {
    match std::env::var("SNAPDIFF_FIRST_PASS") {
        Ok(v) if !v.trim().is_empty() => Ok(Some(
            snapdiff::check::FirstPass::parse(&v)
                .map_err(|e| e.with_hint("SNAPDIFF_FIRST_PASS: give stream, table or narrow"))?,
        )),
        _ => Ok(None),
    }
}

/// Set once a line could not be written because standard output was closed.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Write `line` to standard output, or nothing once it is closed ([`out!`]).
pub fn print_line(line: &str) {
    use std::io::Write;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut o = std::io::stdout().lock();
    if let Err(e) = writeln!(o, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
    }
}
