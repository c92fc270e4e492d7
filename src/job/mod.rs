//! The nightly job as library calls: [`verify`] (two complete runs in, a report out),
//! [`run`] (extract both sides into new runs, verify them, write the report, prune) and
//! [`diff()`] (two tables by key, without a spec).
//!
//! The binary only fills [`JobOptions`] from its flags, calls one of these and prints
//! the [`JobOutcome`]; a program that embeds snapdiff runs the same job the same way.
//! Everything the job says while it works goes to a [`Progress`]: the sides extracted
//! or reused, and warnings (a delta or a pruning that could not be done never changes
//! the verdict).

mod diff;
pub mod recheck;

use std::path::PathBuf;

use crate::check::{self, VerifyOptions};
use crate::engine::remote::ensure_reachable;
use crate::error::{Error, Result};
use crate::extract::{self, ExtractOptions};
use crate::progress::Progress;
use crate::report::mask::Masker;
use crate::report::publish::{self, Published};
use crate::report::store::{self, Formats, PendingReport, Pruned};
use crate::report::{Outcome, Report, SpecInfo};
use crate::snapshot::{self, Side};
use crate::spec::Spec;

pub use diff::{diff, DiffOptions, DiffOutcome, Rename, DIFF_ENTITY};
pub use recheck::{recheck, RecheckOptions};

/// How to run the job, beyond what the spec says.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// The verification's options: the snapshot root, the runs (for `run`: runs to
    /// reuse instead of extracting that side), samples, budget, engine.
    pub verify: VerifyOptions,
    /// Where reports are written.
    pub reports_root: PathBuf,
    /// The report files to write ([`Formats::none`]: no report, the outcome only).
    pub formats: Formats,
    /// `run`: after the report is written, keep only the N newest complete runs of each
    /// side and the N newest reports of the spec (never the runs just verified).
    pub keep: Option<usize>,
    /// A PostgreSQL URL to publish the report's results to (default: the spec's
    /// `[reports] publish`).
    pub publish: Option<String>,
}

impl JobOptions {
    /// Every report file under `reports_root`, the runs under `snapshot_root`.
    pub fn new(snapshot_root: impl Into<PathBuf>, reports_root: impl Into<PathBuf>) -> Self {
        JobOptions {
            verify: VerifyOptions::new(snapshot_root),
            reports_root: reports_root.into(),
            formats: Formats::all(),
            keep: None,
            publish: None,
        }
    }
}

/// What the job did.
#[derive(Debug)]
pub struct JobOutcome {
    /// The report written and its folder; `None` when no report file was asked for.
    pub report: Option<(Report, PathBuf)>,
    /// The verification, when no report was written (else it is the report's).
    unreported: Option<Outcome>,
    /// What `keep` removed (`run` only).
    pub pruned: Option<Pruned>,
    /// Where the report was published (the URL without its password) and what was
    /// written; `None` when it was not asked for or failed (a warning says why).
    pub published: Option<(String, Published)>,
}

impl JobOutcome {
    /// The verification's outcome.
    pub fn outcome(&self) -> &Outcome {
        match (&self.report, &self.unreported) {
            (Some((r, _)), _) => &r.outcome,
            (None, Some(o)) => o,
            (None, None) => unreachable!("a job outcome holds a report or an outcome"),
        }
    }
}

/// Forwards only warnings: the verification's own events stay out of the job's output.
struct WarningsOnly<'a>(&'a dyn Progress);

impl Progress for WarningsOnly<'_> {
    fn table_started(&self, _: &str, _: &str, _: Option<u64>) {}
    fn rows(&self, _: &str, _: &str, _: u64) {}
    fn table_restarted(&self, _: &str, _: &str, _: &str) {}
    fn table_finished(&self, _: &str, _: &str, _: u64, _: f64) {}
    fn table_skipped(&self, _: &str, _: &str, _: &str) {}
    fn warn(&self, message: &str) {
        self.0.warn(message)
    }
}

/// Verify the runs `opts.verify` names (or the newest complete ones) and write the
/// report under a new id.
pub fn verify(spec: &Spec, opts: &JobOptions, progress: &dyn Progress) -> Result<JobOutcome> {
    let masker = masker(spec)?;
    let pending = if opts.formats.any() {
        Some(PendingReport::begin(
            &opts.reports_root,
            &store::new_report_id(),
        )?)
    } else {
        None
    };
    verify_and_report(spec, opts, opts.verify.clone(), pending, &masker, progress)
}

/// The masker of the spec's `[reports] mask` and entities' `mask`: an error (before
/// anything is extracted or verified) when `hash` has no key.
fn masker(spec: &Spec) -> Result<Masker> {
    Masker::new(spec.mask_plan()?, spec.mask_key())
}

/// The nightly job: extract each side into a new run (or reuse the run
/// `opts.verify.legacy_run`/`target_run` names), verify both, write the report, and
/// prune to `opts.keep`. A lock keeps two runs of one spec apart.
pub fn run(spec: &Spec, opts: &JobOptions, progress: &dyn Progress) -> Result<JobOutcome> {
    let root = &opts.verify.snapshot_root;
    let sides = spec.sides();
    if sides.len() != 2 {
        return Err(Error::spec(format!(
            "{}: `run` needs both [sources.legacy] and [sources.target]",
            spec.path.display()
        )));
    }
    let reuse = |side: Side| match side {
        Side::Legacy => opts.verify.legacy_run.as_ref(),
        Side::Target => opts.verify.target_run.as_ref(),
    };
    for id in Side::ALL.into_iter().filter_map(reuse) {
        snapshot::check_name("run id", id)?;
    }
    if opts.keep == Some(0) {
        return Err(Error::spec(
            "--keep must be at least 1: the newest run is always kept",
        ));
    }
    // A cluster that cannot be reached, or a mask without its key, is said before
    // anything is extracted.
    ensure_reachable(&opts.verify.engine)?;
    let masker = masker(spec)?;
    // One run of a spec at a time; the lock is released when this returns (or dies).
    let _lock = store::lock_run(root)?;
    let mut run_id = snapshot::new_run_id(root, &sides);
    // The report folder is claimed first: an unwritable one fails before any extraction.
    // Its id is the run id, or that id with a suffix when the reports root (shared by
    // other specs) has it; the runs take the report's id when their root is free of it.
    let pending = if opts.formats.any() {
        let p = PendingReport::begin(&opts.reports_root, &run_id)?;
        let mut taken = false;
        for s in &sides {
            taken |= crate::storage::is_dir(&snapshot::run_dir(root, s.as_str(), p.id()))?;
        }
        if !taken {
            run_id = p.id().to_string();
        }
        Some(p)
    } else {
        None
    };
    let mut used = Vec::new();
    for side in sides {
        if let Some(id) = reuse(side) {
            progress.side_reused(side.as_str(), id);
            used.push((side, id.clone()));
            continue;
        }
        let req = spec.extract_request(side)?;
        let outcome = extract::extract(&req, &ExtractOptions::new(root, &run_id), progress)?;
        let rows: u64 = outcome.manifest.tables.values().map(|t| t.rows).sum();
        progress.side_extracted(
            &outcome.side,
            &outcome.run_id,
            outcome.manifest.tables.len(),
            rows,
        );
        used.push((side, run_id.clone()));
    }
    let run_of = |side: Side| {
        used.iter()
            .find(|(s, _)| *s == side)
            .map(|(_, id)| id.clone())
    };
    let mut verify = opts.verify.clone();
    verify.legacy_run = run_of(Side::Legacy);
    verify.target_run = run_of(Side::Target);
    let mut job = verify_and_report(spec, opts, verify, pending, &masker, progress)?;
    if let Some(keep) = opts.keep {
        let protect: Vec<(&str, &str)> = used
            .iter()
            .map(|(s, id)| (s.as_str(), id.as_str()))
            .collect();
        let written = job.report.as_ref().map(|(r, _)| r.id.as_str());
        // The verification is done and its report written: a pruning failure is a
        // warning, never a reason to change the verdict.
        match store::prune(
            keep,
            root,
            &opts.reports_root,
            &SpecInfo::of(spec),
            &protect,
            written,
        ) {
            Ok(pruned) => job.pruned = Some(pruned),
            Err(e) => progress.warn(&format!("--keep {keep} could not prune: {e}")),
        }
    }
    Ok(job)
}

/// Verify with `verify`, and write the report into `pending` when there is one.
fn verify_and_report(
    spec: &Spec,
    opts: &JobOptions,
    mut verify: VerifyOptions,
    pending: Option<PendingReport>,
    masker: &Masker,
    progress: &dyn Progress,
) -> Result<JobOutcome> {
    verify.diffs_dir = pending.as_ref().map(|p| p.diffs_dir());
    let mut outcome = check::verify(spec, &verify, &WarningsOnly(progress))?;
    mask(&mut outcome, masker, pending.as_ref(), progress)?;
    let url = opts.publish.as_ref().or(spec.file.reports.publish.as_ref());
    let Some(pending) = pending else {
        if url.is_some() {
            progress
                .warn("the report was not published: `--format none` writes no report to publish");
        }
        return Ok(JobOutcome {
            report: None,
            unreported: Some(outcome),
            pruned: None,
            published: None,
        });
    };
    let report = Report::new(pending.id(), SpecInfo::of(spec), outcome);
    finish(spec, opts, report, pending, masker, progress)
}

/// Write `report` into `pending` with its delta against the previous report of the
/// spec and its history page, and publish it where the spec or `opts` says.
fn finish(
    spec: &Spec,
    opts: &JobOptions,
    mut report: Report,
    mut pending: PendingReport,
    masker: &Masker,
    progress: &dyn Progress,
) -> Result<JobOutcome> {
    let url = opts.publish.as_ref().or(spec.file.reports.publish.as_ref());
    // The delta and the history page are information: when they cannot be made, the
    // report still is.
    let earlier = match store::list_reports(&opts.reports_root, &report.spec) {
        Ok((earlier, _)) => earlier,
        Err(e) => {
            progress.warn(&format!(
                "no delta against the previous report and no history page: {e}"
            ));
            Vec::new()
        }
    };
    let previous = earlier.iter().rev().find(|(_, r)| r.id != report.id);
    report.delta = match store::delta_against(previous, &report, &pending, masker) {
        Ok(d) => d,
        Err(e) => {
            progress.warn(&format!("no delta against the previous report: {e}"));
            None
        }
    };
    if opts.formats.html {
        pending.set_history_page(store::history_page(&earlier, &report));
    }
    let dir = pending.commit(&mut report, opts.formats)?;
    // Publishing is for dashboards: when it fails, the report and the verdict stand.
    let published = url.and_then(|url| match publish::publish(url, &report) {
        Ok(p) => Some((crate::secrets::redact_url(url), p)),
        Err(e) => {
            progress.warn(&publish::warning(url, &e));
            None
        }
    });
    Ok(JobOutcome {
        report: Some((report, dir)),
        unreported: None,
        pruned: None,
        published,
    })
}

/// Every value the outcome shows masked and cut ([`Masker::outcome`]), and with
/// `[reports] mask_diffs` the diff files masked too. A column an entity's `mask` names
/// and the entity does not have is a warning (a typo would leave the real one bare).
fn mask(
    outcome: &mut Outcome,
    masker: &Masker,
    pending: Option<&PendingReport>,
    progress: &dyn Progress,
) -> Result<()> {
    masker.outcome(outcome);
    for e in &outcome.entities {
        if e.error.is_some() {
            continue;
        }
        let has: Vec<String> = [&e.key, &e.compared, &e.legacy_only, &e.target_only]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for c in masker.plan().named(&e.name).filter(|c| !has.contains(c)) {
            let hint = crate::suggest::nearest(c, &has)
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
            progress.warn(&format!(
                "{} {}: `mask` names column `{c}`, which it does not have{hint}",
                e.kind, e.name
            ));
        }
        if let Some(p) = pending {
            masker.diff_files(&e.name, &p.diffs_dir().join(&e.name))?;
        }
    }
    Ok(())
}
