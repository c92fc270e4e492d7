//! `snapdiff verify` (check two complete runs), `snapdiff run` (extract both sides, then
//! verify) and `snapdiff plan` (what a spec would do, touching nothing).

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use snapdiff::check::{self, VerifyOptions};
use snapdiff::extract::{self, ExtractOptions};
use snapdiff::report::{status_word, Outcome, Status};
use snapdiff::snapshot;
use snapdiff::spec::Spec;
use snapdiff::{EXIT_DIFFERENCES, EXIT_OK};

use super::progress::TermProgress;

#[derive(Debug, Args)]
#[command(
    about = "Verify the newest complete snapshots (or the runs you name) against a spec",
    long_about = "Verify two complete snapshot runs against a spec: rebuild each entity on both sides, \
        normalise the allowed differences away, and run the schema, count, hash, diff and aggregate checks, \
        the query checks and the invariants.\n\n\
        Exit status: 0 everything verified within the thresholds, 1 differences found, 2 the run could not be done.",
    after_help = "Examples:\n  snapdiff verify examples/school/verify.toml\n  \
        snapdiff verify verify.toml --legacy-run 20261122T021500Z --target-run 20261122T021500Z"
)]
pub struct VerifyArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
    /// The legacy run to verify (default: the newest complete one).
    #[arg(long, value_name = "RUN")]
    pub legacy_run: Option<String>,
    /// The target run to verify (default: the newest complete one).
    #[arg(long, value_name = "RUN")]
    pub target_run: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The flags `verify` and `run` share.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The snapshot root (default: the spec's [snapshots] root).
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// Sample rows shown for each kind of difference.
    #[arg(long, value_name = "N", default_value_t = snapdiff::check::DEFAULT_SAMPLE_ROWS)]
    pub samples: usize,
    /// Print only the one-line-per-check summary.
    #[arg(long, short)]
    pub quiet: bool,
}

impl CommonArgs {
    /// Verify options for `spec`, reading the runs named (or the newest complete ones).
    fn options(
        &self,
        spec: &Spec,
        legacy_run: Option<String>,
        target_run: Option<String>,
    ) -> VerifyOptions {
        let mut opts = VerifyOptions::new(self.root(spec));
        opts.legacy_run = legacy_run;
        opts.target_run = target_run;
        opts.sample_rows = self.samples;
        opts
    }

    fn root(&self, spec: &Spec) -> PathBuf {
        self.snapshots
            .clone()
            .unwrap_or_else(|| spec.snapshot_root())
    }
}

#[derive(Debug, Args)]
#[command(
    about = "Extract both sides of a spec into new runs, then verify them",
    long_about = "The nightly job: extract both sides of a spec into new snapshot runs (one run id for both), \
        then verify them as `snapdiff verify` does.\n\n\
        Exit status: 0 everything verified within the thresholds, 1 differences found, 2 the run could not be done.",
    after_help = "Example:\n  snapdiff run examples/school/verify.toml"
)]
pub struct RunArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
#[command(
    about = "Check a spec and print what it would extract and verify, touching no source",
    after_help = "Example:\n  snapdiff plan examples/school/verify.toml"
)]
pub struct PlanArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
}

/// Print the outcome and return the exit status.
fn finish(outcome: &Outcome, quiet: bool, progress: &TermProgress) -> u8 {
    progress.println(&format!(
        "verified legacy {}  target {}  (row hash v{})",
        outcome.legacy_run, outcome.target_run, outcome.row_hash_version
    ));
    let lines = outcome.summary_lines();
    let (entity_lines, invariant_lines) = lines.split_at(outcome.entities.len());
    for (line, e) in entity_lines.iter().zip(&outcome.entities) {
        progress.println(line);
        if quiet || e.status != Status::Fail {
            continue;
        }
        for c in &e.checks {
            // A differing digest is the summary line's "partitions x/y equal": not repeated.
            let info = c.status == Status::Info && c.check != "hash";
            if c.status == Status::Fail || info {
                progress.println(&format!(
                    "    {} {}: {}",
                    status_word(c.status),
                    c.check,
                    c.summary
                ));
            }
        }
        if let Some(d) = &e.diff {
            let keys = |r: &snapdiff::report::Row| {
                r.iter()
                    .filter(|(c, _)| e.key.contains(c))
                    .map(|(c, v)| format!("{c}={}", v.as_deref().unwrap_or("NULL")))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            if !d.missing_rows.is_empty() {
                progress.println(&format!(
                    "    missing: {}",
                    d.missing_rows
                        .iter()
                        .map(keys)
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            if !d.extra_rows.is_empty() {
                progress.println(&format!(
                    "    extra: {}",
                    d.extra_rows.iter().map(keys).collect::<Vec<_>>().join("; ")
                ));
            }
            for c in &d.changed_rows {
                let k = keys(&c.key);
                let cells: Vec<String> = c
                    .cells
                    .iter()
                    .filter(|x| x.differs)
                    .map(|x| {
                        format!(
                            "{}: {} -> {}",
                            x.column,
                            x.legacy.as_deref().unwrap_or("NULL"),
                            x.target.as_deref().unwrap_or("NULL")
                        )
                    })
                    .collect();
                progress.println(&format!("    changed {k}: {}", cells.join(", ")));
            }
            for dk in &d.duplicates {
                progress.println(&format!(
                    "    duplicate key in {}: {} ({} rows)",
                    dk.side,
                    keys(&dk.key),
                    dk.rows
                ));
            }
        }
        for a in &e.aggregate_differences {
            progress.println(&format!(
                "    {} {}: legacy {} target {}",
                a.column,
                a.statistic,
                a.legacy.as_deref().unwrap_or("NULL"),
                a.target.as_deref().unwrap_or("NULL")
            ));
        }
    }
    for (line, inv) in invariant_lines.iter().zip(&outcome.invariants) {
        progress.println(line);
        if quiet || inv.status != Status::Fail {
            continue;
        }
        for row in &inv.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|(c, v)| format!("{c}={}", v.as_deref().unwrap_or("NULL")))
                .collect();
            progress.println(&format!("    row: {}", cells.join(", ")));
        }
    }
    if outcome.passed() {
        EXIT_OK
    } else {
        EXIT_DIFFERENCES
    }
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<u8> {
    let spec = Spec::load(&args.spec)?;
    let opts = args
        .common
        .options(&spec, args.legacy_run.clone(), args.target_run.clone());
    let progress = TermProgress::new(true);
    let outcome = check::verify(&spec, &opts, &progress)?;
    Ok(finish(&outcome, args.common.quiet, &progress))
}

pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let spec = Spec::load(&args.spec)?;
    let root = args.common.root(&spec);
    let sides = spec.sides();
    if sides.len() != 2 {
        bail!(
            "{}: `run` needs both [sources.legacy] and [sources.target]",
            args.spec.display()
        );
    }
    let run_id = snapshot::new_run_id(&root, &sides);
    let progress = TermProgress::new(args.common.quiet);
    for side in sides {
        let req = spec.extract_request(side)?;
        let opts = ExtractOptions::new(&root, &run_id);
        let outcome = extract::extract(&req, &opts, &progress)?;
        let rows: u64 = outcome.manifest.tables.values().map(|t| t.rows).sum();
        let n = outcome.manifest.tables.len();
        progress.println(&format!(
            "extracted {:<7} {}  {n} {}  {rows} rows",
            outcome.side,
            outcome.run_id,
            if n == 1 { "table" } else { "tables" },
        ));
    }
    let opts = args
        .common
        .options(&spec, Some(run_id.clone()), Some(run_id));
    let quiet_progress = TermProgress::new(true);
    let outcome = check::verify(&spec, &opts, &quiet_progress)?;
    Ok(finish(&outcome, args.common.quiet, &progress))
}

pub fn plan(args: PlanArgs) -> anyhow::Result<u8> {
    let spec = Spec::load(&args.spec)?;
    let mut out = Vec::new();
    out.push(format!("spec {} is valid", args.spec.display()));
    out.push(format!("snapshots: {}", spec.snapshot_root().display()));
    for side in spec.sides() {
        let req = spec.extract_request(side)?;
        out.push(format!(
            "extract {side} from {} ({}):",
            req.source.redacted(),
            req.source.kind
        ));
        if req.tables.is_empty() {
            out.push("  every table of the source".into());
        }
        for t in &req.tables {
            out.push(format!(
                "  {} <- {}",
                t.name,
                snapdiff::secrets::scrub(&t.describe())
            ));
        }
    }
    for def in spec.entity_defs() {
        let key = if def.key.is_empty() {
            "whole rows".to_string()
        } else {
            def.key.join(", ")
        };
        out.push(format!(
            "{} {} (key {key}): checks {}",
            def.kind,
            def.name,
            def.checks.join(", ")
        ));
        out.push(format!("  legacy: {}", one_line(&def.legacy_sql)));
        out.push(format!("  target: {}", one_line(&def.target_sql)));
        if let Some(c) = &def.columns {
            out.push(format!("  columns: {}", c.join(", ")));
        }
        if let Some(p) = &def.partition_by {
            out.push(format!("  partition by: {p}"));
        }
        if let Some(f) = &def.legacy_filter {
            out.push(format!("  legacy filter: {f}"));
        }
        if let Some(f) = &def.target_filter {
            out.push(format!("  target filter: {f}"));
        }
        if let Some(s) = def.sample {
            out.push(format!("  sample: {s} of keys"));
        }
        if let Some(k) = &def.keys_file {
            out.push(format!("  keys file: {}", k.display()));
        }
        for (col, r) in &def.normalize {
            let (l, t) = (r.legacy.describe(), r.target.describe());
            let mut line = if l == t {
                format!("  normalize {col}: {l}")
            } else {
                format!("  normalize {col}: legacy [{l}], target [{t}]")
            };
            if let Some(tol) = r.tolerance {
                line.push_str(&format!(" tolerance abs {:?} rel {:?}", tol.abs, tol.rel));
            }
            out.push(line);
        }
    }
    for inv in &spec.file.invariant {
        out.push(format!("invariant {}: {}", inv.name, one_line(&inv.sql)));
    }
    for line in out {
        println!("{}", snapdiff::secrets::scrub(&line));
    }
    Ok(EXIT_OK)
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}
