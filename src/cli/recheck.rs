//! `snapdiff recheck`: read a report's findings again from the live sources, and tell
//! the rows that were in flight from the differences that persist.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use snapdiff::job::{self, RecheckOptions};
use snapdiff::spec::duration::parse_duration;

use super::progress::TermProgress;
use super::verify::CommonArgs;

#[derive(Debug, Args)]
#[command(
    about = "Read a report's differing keys again from both live sources: in-flight rows converge, real differences persist",
    long_about = "Read the rows of every differing key of a report (default: the newest of the spec) again from both \
        sources, rebuild and compare the entity for just those keys as `verify` does, and repeat up to --rounds times, \
        --wait apart, while keys still move. Each finding ends as converged (the sides agree now: it was in flight), \
        persistent (the last two readings found the same difference) or moving (it still changed). The recheck writes \
        a report of its own, linked to the one it rechecks, whose status counts only the persistent findings.\n\n\
        An entity whose SQL reads one snapshot table per side, keyed by columns of that table, is read again with no \
        configuration; any other needs [entity.recheck] queries (docs/spec.md).\n\n\
        Exit status: 0 no finding persists (within the thresholds), 1 some persist, 2 the recheck could not be done.",
    after_help = "Examples:\n  snapdiff recheck verify.toml\n  \
        snapdiff recheck verify.toml --report 20261122T021500Z --rounds 5 --wait 2m"
)]
pub struct RecheckArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
    /// The report to recheck (default: the newest of the spec).
    #[arg(long, value_name = "ID")]
    pub report: Option<String>,
    #[command(flatten)]
    pub rounds: RoundArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// How a recheck repeats.
#[derive(Debug, Args, Clone)]
pub struct RoundArgs {
    /// Read the keys again at most N times (fewer when nothing moves any more).
    #[arg(long = "rounds", value_name = "N", default_value_t = 3)]
    pub rounds: usize,
    /// Between rounds: 90s, 10m, 1h30m. Give it at least the time a change takes to
    /// reach the target.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_wait)]
    pub wait: Duration,
    /// Keys read again at a time (one query per side per batch).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub batch: usize,
}

/// A `--wait` duration.
pub(super) fn parse_wait(text: &str) -> Result<Duration, String> {
    parse_duration(text)?
        .to_std()
        .map_err(|_| format!("`{text}` is negative"))
}

impl RoundArgs {
    /// The recheck's options over `job`'s.
    pub fn options(&self, job: job::JobOptions, report: Option<String>) -> RecheckOptions {
        let mut opts = RecheckOptions::new(job);
        opts.report = report;
        opts.rounds = self.rounds;
        opts.wait = self.wait;
        opts.batch = self.batch;
        opts
    }
}

pub fn recheck(args: RecheckArgs) -> anyhow::Result<u8> {
    let spec = super::load_spec(&args.spec)?;
    let job_opts = args.common.job_options(&spec, None, None, None)?;
    let opts = args.rounds.options(job_opts.clone(), args.report.clone());
    let progress = TermProgress::new(args.common.quiet);
    let job = job::recheck(&spec, &opts, &progress)?;
    Ok(super::verify::print_job(
        &job,
        &job_opts,
        args.common.quiet,
        &progress,
    ))
}
