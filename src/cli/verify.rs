//! `snapdiff verify` (check two complete runs), `snapdiff run` (extract both sides, then
//! verify: the nightly job), `snapdiff plan` (what a spec would do, touching nothing)
//! and `snapdiff history` (how findings moved across reports).

use std::path::{Path, PathBuf};

use clap::Args;

use snapdiff::check::VerifyOptions;
use snapdiff::job::{self, JobOptions, JobOutcome};
use snapdiff::normalize::text::visible;
use snapdiff::report::store::{self, Formats};
use snapdiff::report::{
    key_text, status_word, EntityReport, Failure, Outcome, Report, Row, SpecInfo, Status,
};
use snapdiff::snapshot::Side;
use snapdiff::spec::Spec;
use snapdiff::{EXIT_DIFFERENCES, EXIT_ERROR, EXIT_OK};

use super::progress::TermProgress;

#[derive(Debug, Args)]
#[command(
    about = "Verify the newest complete snapshots (or the runs you name) against a spec",
    long_about = "Verify two complete snapshot runs against a spec: rebuild each entity on both sides, \
        normalise the allowed differences away, and run the schema, count, hash, diff and aggregate checks \
        (and, for columns whose rules can meet a value they cannot read, the invalid check), \
        the query checks and the invariants. The report goes to <reports>/<id>/: report.json, report.md, \
        report.html, junit.xml and diffs/<entity>/*.parquet (every differing row).\n\n\
        Exit status: 0 everything verified within the thresholds, 1 differences found, 2 the run could not be done \
        or an entity, query check or invariant could not be verified (the report is still written and says which).",
    after_help = "Examples:\n  snapdiff verify examples/school/verify.toml\n  \
        snapdiff verify verify.toml --legacy-run 20261122T021500Z --target-run 20261122T021500Z\n  \
        snapdiff verify verify.toml --format none      # no report files: details on standard output"
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
    /// The snapshot root: a folder or s3://BUCKET/PREFIX (default: the spec's [snapshots] root).
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// The reports root: a folder or s3://BUCKET/PREFIX (default: the spec's [reports] root, `reports` beside the spec).
    #[arg(long, value_name = "DIR")]
    pub reports: Option<PathBuf>,
    /// The report files to write: `all`, `none`, or a comma-separated list of json, md,
    /// html, junit, diffs. `history` and the delta against the previous report read
    /// report.json and the diffs.
    #[arg(long, value_name = "LIST", default_value = "all")]
    pub format: String,
    /// Sample rows shown for each kind of difference.
    #[arg(long, value_name = "N", default_value_t = snapdiff::check::DEFAULT_SAMPLE_ROWS)]
    pub samples: usize,
    /// Print only the one-line-per-check summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// The memory every check keeps within: a size (8G, 512M) or a share of RAM (50%).
    /// Bigger data takes more passes, never more memory. Default: half of RAM.
    #[arg(long, value_name = "SIZE", value_parser = super::memory_limit)]
    pub memory_limit: Option<u64>,
    /// Where the checks run: `df://HOST:PORT`, a Ballista scheduler started with
    /// `snapdiff ballista-scheduler` (see docs/scale-out.md), or `local` (this process).
    /// Default: the spec's [engine] url, else local.
    #[arg(long, value_name = "URL")]
    pub engine: Option<String>,
    /// Publish the report's results to this PostgreSQL database (tables snapdiff_reports,
    /// snapdiff_entities, snapdiff_checks, snapdiff_findings; see docs/report.md).
    /// Default: the spec's [reports] publish. A failure is a warning.
    #[arg(long, value_name = "URL")]
    pub publish: Option<String>,
}

impl CommonArgs {
    /// The job's options for `spec`: the runs named (or the newest complete ones), the
    /// report files, and `keep` for `run`.
    pub(super) fn job_options(
        &self,
        spec: &Spec,
        legacy_run: Option<String>,
        target_run: Option<String>,
        keep: Option<usize>,
    ) -> anyhow::Result<JobOptions> {
        let mut opts = VerifyOptions::new(self.root(spec));
        opts.engine = self.engine(spec)?;
        opts.legacy_run = legacy_run;
        opts.target_run = target_run;
        opts.sample_rows = self.samples;
        if let Some(m) = self.memory_limit {
            opts.budget = snapdiff::engine::Budget::new(m);
        }
        opts.first_pass = super::first_pass()?;
        if let (true, Ok(v)) = (
            opts.engine.is_distributed(),
            std::env::var("SNAPDIFF_CLUSTER_PARTITIONS"),
        ) {
            opts.cluster_partitions = snapdiff::engine::remote::parse_cluster_partitions(&v)?;
        }
        Ok(JobOptions {
            verify: opts,
            reports_root: self.reports_root(spec),
            formats: self.formats()?,
            keep,
            publish: self.publish.clone(),
        })
    }

    /// Where the checks run: --engine, else the spec's [engine] url, else this process.
    fn engine(&self, spec: &Spec) -> anyhow::Result<snapdiff::engine::Engine> {
        Ok(match &self.engine {
            Some(e) => snapdiff::engine::Engine::parse(e)?,
            None => spec.engine()?,
        })
    }

    fn root(&self, spec: &Spec) -> PathBuf {
        self.snapshots
            .clone()
            .unwrap_or_else(|| spec.snapshot_root())
    }

    fn reports_root(&self, spec: &Spec) -> PathBuf {
        self.reports.clone().unwrap_or_else(|| spec.reports_root())
    }

    fn formats(&self) -> anyhow::Result<Formats> {
        Ok(Formats::parse(&self.format)?)
    }
}

#[derive(Debug, Args)]
#[command(
    about = "The nightly job: extract both sides into new runs, verify them, write the report",
    long_about = "The nightly job: extract both sides of a spec into new snapshot runs (one run id for both; \
        or reuse a run with --legacy-run/--target-run), verify them as `snapdiff verify` does, and write the \
        report under <reports>/<run id>/. A lock keeps two runs of one spec apart; a run killed part-way \
        leaves earlier runs and reports as they were.\n\n\
        Exit status: 0 everything verified within the thresholds, 1 differences found, 2 the run could not be done \
        or an entity, query check or invariant could not be verified (the report is still written and says which).",
    after_help = "Examples:\n  snapdiff run examples/school/verify.toml\n  \
        snapdiff run verify.toml --keep 14             # keep two weeks of nightly runs and reports"
)]
pub struct RunArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
    /// Reuse this complete legacy run instead of extracting the legacy side.
    #[arg(long, value_name = "RUN")]
    pub legacy_run: Option<String>,
    /// Reuse this complete target run instead of extracting the target side.
    #[arg(long, value_name = "RUN")]
    pub target_run: Option<String>,
    /// After the report is written, keep only the N newest complete snapshot runs of each
    /// side and the N newest reports of the spec (never the runs just verified).
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Live systems: after the verify, read its differing keys again (`snapdiff recheck`)
    /// up to N times; the exit status then counts only the findings that persist.
    #[arg(long, value_name = "N")]
    pub recheck_rounds: Option<usize>,
    /// With --recheck-rounds: between rounds (90s, 10m).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = super::recheck::parse_wait)]
    pub recheck_wait: std::time::Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
#[command(
    about = "Check a spec and print what it would extract and verify, touching no source",
    long_about = "Check a spec and print what it would extract and verify, touching no source. With complete \
        snapshot runs of both sides (the newest, or --legacy-run/--target-run), every entity, query check and \
        invariant is also planned against their schemas, reading no row: a missing table or column, a rule on \
        a column of the wrong type, or a partition expression that does not plan is an error there.\n\n\
        Exit status: 0 the spec is valid (and plans against the runs), 2 it is not.",
    after_help = "Example:\n  snapdiff plan examples/school/verify.toml\n  \
        snapdiff plan verify.toml --legacy-run 20261122T021500Z --target-run 20261122T021500Z"
)]
pub struct PlanArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
    /// Where the runs to plan against are (default: the spec's [snapshots] root).
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// The legacy run to plan against (default: the newest complete one).
    #[arg(long, value_name = "RUN")]
    pub legacy_run: Option<String>,
    /// The target run to plan against (default: the newest complete one).
    #[arg(long, value_name = "RUN")]
    pub target_run: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    about = "How the findings of a spec moved across its reports: new and fixed findings, by key",
    long_about = "List the reports of a spec, oldest first: each report's status and findings per entity, \
        and what changed since the report before it (findings new and fixed, by key).",
    after_help = "Example:\n  snapdiff history examples/school/verify.toml"
)]
pub struct HistoryArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
    /// The reports root: a folder or s3://BUCKET/PREFIX (default: the spec's [reports] root).
    #[arg(long, value_name = "DIR")]
    pub reports: Option<PathBuf>,
    /// Show only the N newest reports.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Also write the history as a self-contained HTML page to FILE: findings per entity
    /// and per kind over time, new and fixed per report, and the table (each report's
    /// folder holds one too, history.html, linked from its report.html).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Print the outcome and return the exit status. With no human-readable report
/// written, the findings' samples are printed too.
fn finish(
    outcome: &Outcome,
    quiet: bool,
    written: Option<(&Report, &Path)>,
    progress: &TermProgress,
) -> u8 {
    progress.println(&format!(
        "verified legacy {}  target {}  (row hash v{})",
        outcome.legacy.run_id, outcome.target.run_id, outcome.row_hash_version
    ));
    let details = !quiet
        && !written.is_some_and(|(r, _)| {
            r.files
                .iter()
                .any(|f| f == "report.md" || f == "report.html")
        });
    let lines = outcome.summary_lines();
    let (entity_lines, invariant_lines) = lines.split_at(outcome.entities.len());
    for (line, e) in entity_lines.iter().zip(&outcome.entities) {
        progress.println(line);
        if let Some(hint) = e.error.as_ref().and_then(Failure::hint_line) {
            progress.println(&hint);
        }
        if details && e.status.failed_or_errored() {
            for l in entity_details(e) {
                progress.println(&l);
            }
        }
    }
    for (line, inv) in invariant_lines.iter().zip(&outcome.invariants) {
        progress.println(line);
        if let Some(hint) = inv.error.as_ref().and_then(Failure::hint_line) {
            progress.println(&hint);
        }
        if !details || inv.status != Status::Fail {
            continue;
        }
        for row in &inv.rows {
            progress.println(&format!("    row: {}", key_text(row).replace(',', ", ")));
        }
    }
    if let Some((report, dir)) = written {
        if let Some(d) = &report.delta {
            progress.println(&format!(
                "since report {}: {} new, {} fixed",
                d.previous_report, d.new, d.fixed
            ));
        }
        let mut diffs = false;
        for f in &report.files {
            if f.starts_with("diffs/") {
                diffs = true;
            } else {
                progress.println(&format!("report: {}", dir.join(f).display()));
            }
        }
        if diffs {
            progress.println(&format!("diffs:  {}", dir.join("diffs").display()));
        }
    }
    exit_status(outcome)
}

/// 2 when something could not be verified (the report says what), else 1 for
/// differences beyond the thresholds, else 0.
pub(super) fn exit_status(outcome: &Outcome) -> u8 {
    match outcome.status() {
        Status::Error => EXIT_ERROR,
        Status::Fail => EXIT_DIFFERENCES,
        _ => EXIT_OK,
    }
}

/// The failing checks of an entity and its sample rows, indented under its line.
pub(super) fn entity_details(e: &EntityReport) -> Vec<String> {
    let mut out = Vec::new();
    for c in &e.checks {
        // A differing digest is the summary line's "partitions x/y equal": not repeated.
        let info = c.status == Status::Info && c.check != snapdiff::spec::CheckKind::Hash;
        if c.status == Status::Fail || info {
            out.push(format!(
                "    {} {}: {}",
                status_word(c.status),
                c.check,
                c.summary
            ));
        }
    }
    if let Some(d) = &e.diff {
        let keys = |r: &Row| key_text(&e.key_of(r));
        let list = |rows: &[Row]| rows.iter().map(keys).collect::<Vec<_>>().join("; ");
        if !d.missing_rows.is_empty() {
            out.push(format!("    missing: {}", list(&d.missing_rows)));
        }
        if !d.extra_rows.is_empty() {
            out.push(format!("    extra: {}", list(&d.extra_rows)));
        }
        for c in &d.changed_rows {
            let cells: Vec<String> = c
                .cells
                .iter()
                .filter(|x| x.differs)
                .map(|x| {
                    format!(
                        "{}: {} -> {}",
                        x.column,
                        visible(x.legacy.as_deref()),
                        visible(x.target.as_deref())
                    )
                })
                .collect();
            out.push(format!(
                "    changed {}: {}",
                keys(&c.key),
                cells.join(", ")
            ));
        }
        for i in &d.invisible {
            out.push(format!("    note: {}", i.sentence()));
        }
        for r in &d.rounding {
            out.push(format!("    note: {}", r.sentence()));
        }
        for dk in &d.duplicates {
            out.push(format!(
                "    duplicate key in {}: {} ({} rows)",
                dk.side,
                keys(&dk.key),
                dk.rows
            ));
        }
    }
    for i in e.invalid.iter().flat_map(|i| &i.rows) {
        out.push(format!(
            "    invalid {} {} {}: {}",
            i.side,
            i.column,
            key_text(&i.key),
            visible(i.value.as_deref())
        ));
    }
    for a in &e.aggregate_differences {
        out.push(format!(
            "    {} {}: legacy {} target {}",
            a.column,
            a.statistic,
            visible(a.legacy.as_deref()),
            visible(a.target.as_deref()),
        ));
    }
    out
}

/// Print what the job found, the report's files and what was pruned; the exit status.
pub(super) fn print_job(
    job: &JobOutcome,
    opts: &JobOptions,
    quiet: bool,
    progress: &TermProgress,
) -> u8 {
    let written = job.report.as_ref().map(|(r, dir)| (r, dir.as_path()));
    let code = finish(job.outcome(), quiet, written, progress);
    if let Some((url, p)) = &job.published {
        progress.println(&format!(
            "published: {url} ({} entities and invariants, {} checks, {} findings)",
            p.entities, p.checks, p.findings
        ));
    }
    if let (Some(pruned), Some(keep)) = (&job.pruned, opts.keep) {
        if !pruned.runs.is_empty() || !pruned.reports.is_empty() {
            progress.println(&format!(
                "pruned (--keep {keep}): {} snapshot runs, {} reports",
                pruned.runs.len(),
                pruned.reports.len()
            ));
        }
    }
    code
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<u8> {
    let spec = super::load_spec(&args.spec)?;
    let opts = args.common.job_options(
        &spec,
        args.legacy_run.clone(),
        args.target_run.clone(),
        None,
    )?;
    let progress = TermProgress::new(true);
    let job = job::verify(&spec, &opts, &progress)?;
    Ok(print_job(&job, &opts, args.common.quiet, &progress))
}

pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let spec = super::load_spec(&args.spec)?;
    let opts = args.common.job_options(
        &spec,
        args.legacy_run.clone(),
        args.target_run.clone(),
        args.keep,
    )?;
    let progress = TermProgress::new(args.common.quiet);
    let job = job::run(&spec, &opts, &progress)?;
    let code = print_job(&job, &opts, args.common.quiet, &progress);
    let Some(rounds) = args.recheck_rounds else {
        return Ok(code);
    };
    // Nothing to recheck when the run found nothing, or could not be done.
    let Some((report, _)) = &job.report else {
        return Ok(code);
    };
    if code != snapdiff::EXIT_DIFFERENCES {
        return Ok(code);
    }
    let mut recheck = job::RecheckOptions::new(opts.clone());
    recheck.report = Some(report.id.clone());
    recheck.rounds = rounds;
    recheck.wait = args.recheck_wait;
    progress.println(&format!(
        "rechecking report {} ({rounds} rounds at most)",
        report.id
    ));
    let rechecked = job::recheck(&spec, &recheck, &progress)?;
    Ok(print_job(&rechecked, &opts, args.common.quiet, &progress))
}

pub fn history(args: HistoryArgs) -> anyhow::Result<u8> {
    let spec = super::load_spec(&args.spec)?;
    let root = args.reports.clone().unwrap_or_else(|| spec.reports_root());
    let (reports, unreadable) = store::list_reports(&root, &SpecInfo::of(&spec))?;
    for u in &unreadable {
        eprintln!("warning: skipped a report that cannot be read: {u}");
    }
    if reports.is_empty() {
        out!(
            "no reports of spec {} under {} yet: `snapdiff run` or `snapdiff verify` writes them",
            spec.name(),
            root.display()
        );
        return Ok(EXIT_OK);
    }
    let shown = &reports[reports.len().saturating_sub(args.limit)..];
    for line in history_lines(&spec.name(), &root, shown) {
        out!("{}", snapdiff::secrets::scrub(&line));
    }
    if let Some(file) = &args.html {
        let listed: Vec<&Report> = shown.iter().map(|(_, r)| r).collect();
        // Local reports with a report.html are linked by their file:// address;
        // reports in object storage have none a browser opens.
        let html = snapdiff::report::trend::render(&spec.name(), &listed, |r| {
            if !r.files.iter().any(|f| f == "report.html") {
                return None;
            }
            let (dir, _) = shown.iter().find(|(_, x)| x.id == r.id)?;
            let page = std::fs::canonicalize(dir).ok()?.join("report.html");
            url::Url::from_file_path(page).ok().map(String::from)
        });
        snapdiff::storage::write_atomic(file, snapdiff::secrets::scrub(&html).as_bytes())?;
        out!("history page: {}", file.display());
    }
    Ok(EXIT_OK)
}

/// The history table: one line per report (status, findings per entity, new and fixed
/// since the report before), then under it what changed, by key.
fn history_lines(name: &str, root: &Path, reports: &[(PathBuf, Report)]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, r) in reports {
        for e in &r.outcome.entities {
            if !names.contains(&e.name) {
                names.push(e.name.clone());
            }
        }
        for i in &r.outcome.invariants {
            if !names.contains(&i.name) {
                names.push(i.name.clone());
            }
        }
    }
    let mut out = vec![format!(
        "spec {name}: {} reports in {} (findings per check; new and fixed since the report before)",
        reports.len(),
        root.display()
    )];
    let mut header = vec![
        format!("{:<20}", "report"),
        format!("{:<20}", "created"),
        "status".into(),
    ];
    header.extend(names.iter().cloned());
    header.push("new".into());
    header.push("fixed".into());
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (_, r) in reports {
        let mut row = vec![
            format!("{:<20}", r.id),
            format!("{:<20}", r.created_at.format("%Y-%m-%d %H:%M:%S")),
            status_word(r.status).to_string(),
        ];
        for n in &names {
            row.push(snapdiff::report::trend::findings_cell(r, n));
        }
        match &r.delta {
            Some(d) => {
                row.push(format!("+{}", d.new));
                row.push(format!("-{}", d.fixed));
            }
            None => {
                row.push("-".into());
                row.push("-".into());
            }
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let fmt = |r: &[String]| {
        r.iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    out.push(fmt(&header));
    for (row, (_, r)) in rows.iter().zip(reports) {
        out.push(fmt(row));
        if let Some(info) = &r.recheck {
            let sum = |f: fn(&snapdiff::report::RecheckCounts) -> u64| -> u64 {
                r.outcome
                    .entities
                    .iter()
                    .filter_map(|e| e.recheck.as_ref())
                    .map(f)
                    .sum()
            };
            out.push(format!(
                "    recheck of report {}: converged {}, persistent {}, moving {}",
                info.rechecks,
                sum(|c| c.converged),
                sum(|c| c.persistent),
                sum(|c| c.moving)
            ));
        }
        let Some(d) = &r.delta else { continue };
        for g in &d.groups {
            let mut line = format!("    {} {}: +{} -{}", g.name, g.kind, g.new, g.fixed);
            if !g.by_key {
                line.push_str(" (counts only: a diff file to match keys was not there)");
            }
            out.push(line);
            if !g.new_items.is_empty() {
                out.push(format!("      new:   {}", items(&g.new_items, g.new)));
            }
            if !g.fixed_items.is_empty() {
                out.push(format!("      fixed: {}", items(&g.fixed_items, g.fixed)));
            }
        }
    }
    out
}

/// Listed findings, with how many more there are.
fn items(listed: &[String], total: u64) -> String {
    let mut s = listed.join("; ");
    if total > listed.len() as u64 {
        s.push_str(&format!("; and {} more", total - listed.len() as u64));
    }
    s
}

pub fn plan(args: PlanArgs) -> anyhow::Result<u8> {
    let spec = super::load_spec(&args.spec)?;
    let mut out = Vec::new();
    out.push(format!("spec {} is valid", args.spec.display()));
    out.push(format!("snapshots: {}", spec.snapshot_root().display()));
    out.push(format!("reports: {}", spec.reports_root().display()));
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
            def.checks
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
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
    let code = plan_against_runs(&spec, &args, &mut out)?;
    for line in out {
        out!("{}", snapdiff::secrets::scrub(&line));
    }
    Ok(code)
}

/// Plan the spec over the runs `args` names, or the newest complete ones; without runs,
/// say what could not be checked.
fn plan_against_runs(spec: &Spec, args: &PlanArgs, out: &mut Vec<String>) -> anyhow::Result<u8> {
    let mut opts = VerifyOptions::new(
        args.snapshots
            .clone()
            .unwrap_or_else(|| spec.snapshot_root()),
    );
    opts.legacy_run = args.legacy_run.clone();
    opts.target_run = args.target_run.clone();
    let asked = args.snapshots.is_some() || args.legacy_run.is_some() || args.target_run.is_some();
    let present = |side: Side| {
        snapdiff::snapshot::newest_complete(&opts.snapshot_root, side.as_str())
            .ok()
            .flatten()
            .is_some()
    };
    if !(asked || present(Side::Legacy) && present(Side::Target)) {
        out.push(format!(
            "not planned against the data: no complete runs of both sides under {} (a missing \
             table or column, or a rule on a column of the wrong type, shows only once they \
             are extracted; then run `snapdiff plan` again)",
            opts.snapshot_root.display()
        ));
        return Ok(EXIT_OK);
    }
    let planned = snapdiff::check::plan::plan(spec, &opts)?;
    out.push(format!(
        "planned against legacy run {} and target run {} (their schemas; no row read):",
        planned.legacy_run, planned.target_run
    ));
    for p in &planned.planned {
        let what = p.kind.map_or("invariant".to_string(), |k| k.to_string());
        match &p.result {
            Ok(findings) if findings.is_empty() => out.push(format!("  {what} {}: ok", p.name)),
            Ok(findings) => {
                out.push(format!("  {what} {}: ok, with schema findings:", p.name));
                out.extend(findings.iter().map(|f| format!("    {f}")));
            }
            Err(f) => {
                out.push(format!("  {what} {}: ERROR {}", p.name, f.message));
                out.extend(f.hint_line());
            }
        }
    }
    Ok(if planned.errors() > 0 {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}
