//! `snapdiff recheck`: a report's findings read again from the live sources.
//!
//! On live systems the two sides are extracted minutes apart, so a row written in
//! between shows up as missing, extra or changed. A recheck reads the rows of just the
//! differing keys again from both sources ([`reads`]), rebuilds and compares the entity
//! for those keys as `verify` does, and repeats, round after round, while keys still
//! move. Each finding ends as *converged* (the sides agree now: it was in flight),
//! *persistent* (the last two readings found the same difference) or *moving* (it still
//! changed between them). The result is a report of its own, linked to the one it
//! rechecks, whose status counts only the persistent findings.
//!
//! Keys are streamed in batches (`batch`), and what a round leaves open is kept in a
//! Parquet file for the next, so memory does not grow with the number of findings.
//! Every point read is a snapshot run under the report's `runs/` folder, with its
//! manifest, as an extraction's.

mod reads;
mod state;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{JobOptions, JobOutcome, WarningsOnly};
use crate::check;
use crate::engine::diff_files::DiffKind;
use crate::engine::{choose_run, LoadedRun};
use crate::error::{Error, ErrorKind, Result};
use crate::extract::{self, ExtractOptions, ExtractRequest, Source};
use crate::progress::{NoProgress, Progress};
use crate::report::mask::Masker;
use crate::report::store::{self, PendingReport, StoredReport};
use crate::report::{
    CheckOutcome, Diff, EntityReport, Failure, Outcome, RecheckCounts, RecheckInfo, Report, Row,
    SpecInfo, Status,
};
use crate::snapshot::Side;
use crate::spec::{CheckKind, EntityDef, EntityKind, Spec};
use reads::SideRead;
use state::{Finding, Key};

/// How to recheck, beyond what the spec says.
#[derive(Debug, Clone)]
pub struct RecheckOptions {
    /// The snapshot root of the report's runs, the reports root, the report files, the
    /// checks' budget and samples.
    pub job: JobOptions,
    /// The report to recheck (default: the newest of the spec).
    pub report: Option<String>,
    /// At most this many rounds of reading again.
    pub rounds: usize,
    /// Between rounds.
    pub wait: Duration,
    /// Keys read again at a time.
    pub batch: usize,
}

impl RecheckOptions {
    /// Three rounds, 30 seconds apart, 10,000 keys at a time.
    pub fn new(job: JobOptions) -> Self {
        RecheckOptions {
            job,
            report: None,
            rounds: 3,
            wait: Duration::from_secs(30),
            batch: 10_000,
        }
    }
}

/// Recheck the findings of the report `opts.report` names (or the newest of `spec`'s)
/// and write the recheck's report.
pub fn recheck(spec: &Spec, opts: &RecheckOptions, progress: &dyn Progress) -> Result<JobOutcome> {
    if opts.rounds == 0 || opts.batch == 0 {
        return Err(Error::spec(
            "--rounds and --batch must be at least 1: a recheck reads the keys again at least once",
        ));
    }
    if !(opts.job.formats.json && opts.job.formats.diffs) {
        return Err(Error::spec(
            "a recheck's result is a report: --format must include json and diffs (history, the delta and the next recheck read them)",
        ));
    }
    let masker = super::masker(spec)?;
    let root = &opts.job.reports_root;
    if crate::storage::is_object(root) {
        return Err(Error::spec(format!(
            "recheck reads the diff files of a report on this machine's disk, and the reports root {} is in object storage",
            root.display()
        ))
        .with_hint("copy the report folder to a local reports root (--reports DIR) and recheck it there"));
    }
    let clock = std::time::Instant::now();
    let (reports, _) = store::list_reports(root, &SpecInfo::of(spec))?;
    let (dir, original) = pick(&reports, opts.report.as_deref(), root, spec)?;
    let runs = original_runs(&opts.job.verify.snapshot_root, original)?;
    let sources = [spec.source(Side::Legacy)?, spec.source(Side::Target)?];
    let pending = PendingReport::begin(root, &store::new_report_id())?;
    let work = tempfile::Builder::new()
        .prefix("snapdiff-recheck-")
        .tempdir()
        .map_err(|e| Error::io("create a temporary folder", &std::env::temp_dir(), e))?;
    let mut job = Recheck {
        spec,
        opts,
        sources,
        runs,
        pending_dir: pending.dir().to_path_buf(),
        work: work.path().to_path_buf(),
        run_ids: Vec::new(),
        rounds_run: 0,
        progress,
    };
    let defs = spec.entity_defs();
    // The spec's extract entries (their casts apply to a table read again).
    let requests = [
        spec.extract_request(Side::Legacy)?.tables,
        spec.extract_request(Side::Target)?.tables,
    ];
    // Every entity is planned and its findings collected first; then each round reads
    // the open keys of every entity again, so one `--wait` serves them all.
    let mut slots: Vec<Slot> = Vec::new();
    for e in &original.outcome.entities {
        let from = dir.join("diffs").join(&e.name);
        if e.error.is_some() || keyed(e) == 0 {
            job.copy_diffs(&from, &e.name)?;
            slots.push(Slot::Done(Box::new(e.clone())));
            continue;
        }
        let def = defs.iter().find(|d| d.name == e.name);
        let section = spec.file.entity.iter().find(|s| s.name == e.name);
        let planned = match def {
            None => Err("the spec no longer has it".to_string()),
            Some(d) if d.kind == EntityKind::Query => {
                Err("a query check is compared whole, not by key".to_string())
            }
            Some(d) => reads::plan(
                d,
                section,
                [&job.sources[0], &job.sources[1]],
                [&job.runs[0], &job.runs[1]],
                [&requests[0], &requests[1]],
            )
            .map(|p| (d, p)),
        };
        let slot = match planned.map(|(d, p)| job.open(d, p, e, &from)) {
            Err(why) => Slot::Done(Box::new(job.not_rechecked(e, &from, why)?)),
            Ok(Ok(Some(open))) => Slot::Open(Box::new(open)),
            Ok(Ok(None)) => Slot::Done(Box::new(job.not_rechecked(
                e,
                &from,
                "the report has no diff files to read its keys from (it was written without `diffs`, or `mask_diffs` masked them)".into(),
            )?)),
            Ok(Err(err)) => Slot::Done(Box::new(job.failed(e, &from, err)?)),
        };
        slots.push(slot);
    }
    for round in 1..=opts.rounds {
        if !slots.iter().any(|s| matches!(s, Slot::Open(o) if !o.done)) {
            break;
        }
        if round > 1 {
            std::thread::sleep(opts.wait);
        }
        for slot in slots.iter_mut() {
            let Slot::Open(o) = slot else { continue };
            if o.done {
                continue;
            }
            if let Err(err) = job.step(o, round) {
                let (e, from) = (o.original, o.from.clone());
                *slot = Slot::Done(Box::new(job.failed(e, &from, err)?));
            }
        }
    }
    let mut entities = Vec::new();
    for slot in slots {
        entities.push(match slot {
            Slot::Done(e) => *e,
            Slot::Open(o) => {
                let (e, from) = (o.original, o.from.clone());
                match job.close(*o, &masker) {
                    Ok(r) => r,
                    Err(err) => job.failed(e, &from, err)?,
                }
            }
        });
    }
    let outcome = Outcome {
        legacy: original.outcome.legacy.clone(),
        target: original.outcome.target.clone(),
        row_hash_version: original.outcome.row_hash_version,
        entities,
        invariants: original.outcome.invariants.clone(),
        seconds: clock.elapsed().as_secs_f64(),
    };
    let mut report = Report::new(pending.id(), SpecInfo::of(spec), outcome);
    report.recheck = Some(RecheckInfo {
        rechecks: original.id.clone(),
        rounds: job.rounds_run.max(1),
        wait_seconds: opts.wait.as_secs_f64(),
        runs: job.run_ids.clone(),
    });
    // The point reads' runs are in the report's folder (`runs/`), committed with it.
    super::finish(spec, &opts.job, report, pending, &masker, progress)
}

/// The keyed findings of an entity (rows and keys a recheck can read again).
fn keyed(e: &EntityReport) -> u64 {
    e.diff.as_ref().map_or(0, |d| {
        d.missing + d.extra + d.changed + d.duplicate_keys_legacy + d.duplicate_keys_target
    })
}

/// The report to recheck: `id`, or the newest.
fn pick<'a>(
    reports: &'a [StoredReport],
    id: Option<&str>,
    root: &Path,
    spec: &Spec,
) -> Result<&'a StoredReport> {
    let found = match id {
        Some(id) => reports.iter().find(|(_, r)| r.id == id),
        None => reports.last(),
    };
    found.ok_or_else(|| {
        let what = id.map_or("no report".to_string(), |id| format!("no report {id}"));
        Error::spec(format!(
            "{what} of spec {} under {}",
            spec.name(),
            root.display()
        ))
        .with_hint("`snapdiff history SPEC` lists the spec's reports; `snapdiff run` writes one")
    })
}

/// The runs the report verified: their manifests say what each table's query was.
fn original_runs(root: &Path, r: &Report) -> Result<[LoadedRun; 2]> {
    let load = |side: Side, id: &str| {
        choose_run(root, side, Some(id)).map_err(|e| {
            Error::snapshot(format!(
                "report {} verified the {side} run {id}, which cannot be read any more: {e}",
                r.id
            ))
            .with_hint("a recheck needs the report's runs (their manifests say what was read): recheck a newer report, or keep more runs (--keep)")
        })
    };
    Ok([
        load(Side::Legacy, &r.outcome.legacy.run_id)?,
        load(Side::Target, &r.outcome.target.run_id)?,
    ])
}

/// A recheck at work.
struct Recheck<'a> {
    spec: &'a Spec,
    opts: &'a RecheckOptions,
    sources: [Source; 2],
    /// The runs the rechecked report verified.
    runs: [LoadedRun; 2],
    pending_dir: PathBuf,
    /// Each round's state and each batch's diff files.
    work: PathBuf,
    /// The point reads' runs, as `runs/<side>/<id>`.
    run_ids: Vec<String>,
    /// The most rounds an entity took.
    rounds_run: usize,
    progress: &'a dyn Progress,
}

impl Recheck<'_> {
    /// Copy an entity's diff files from the rechecked report: its findings stand as
    /// they were (the delta then matches them by key).
    fn copy_diffs(&self, from: &Path, entity: &str) -> Result<()> {
        if !from.is_dir() {
            return Ok(());
        }
        let to = self.pending_dir.join("diffs").join(entity);
        std::fs::create_dir_all(&to).map_err(|e| Error::io("create folder", &to, e))?;
        for f in std::fs::read_dir(from).map_err(|e| Error::io("list", from, e))? {
            let p = f.map_err(|e| Error::io("list", from, e))?.path();
            if let Some(name) = p.file_name() {
                std::fs::copy(&p, to.join(name)).map_err(|e| Error::io("copy", &p, e))?;
            }
        }
        Ok(())
    }

    /// An entity whose findings stand as they were, with the reason.
    fn not_rechecked(&self, e: &EntityReport, from: &Path, why: String) -> Result<EntityReport> {
        self.copy_diffs(from, &e.name)?;
        let mut out = e.clone();
        out.recheck = Some(RecheckCounts {
            not_rechecked: Some(why),
            ..Default::default()
        });
        Ok(out)
    }

    /// An entity whose recheck failed: its findings stand, with their files, and it
    /// says why (status `error`). An interruption stops the whole recheck.
    fn failed(&self, e: &EntityReport, from: &Path, err: Error) -> Result<EntityReport> {
        if err.kind == ErrorKind::Interrupted {
            return Err(err);
        }
        self.copy_diffs(from, &e.name)?;
        let mut out = e.clone();
        out.status = Status::Error;
        out.error = Some(Failure::of(&err));
        Ok(out)
    }

    /// Collect one entity's keyed findings (in the rechecked report's diff files
    /// `from`) as its open keys; `None` when there are none to read back.
    fn open<'d>(
        &self,
        def: &'d EntityDef,
        plan: [SideRead; 2],
        original: &'d EntityReport,
        from: &Path,
    ) -> Result<Option<Open<'d>>> {
        let rt = crate::engine::runtime::runtime(crate::engine::runtime::Flavor::Queries)?;
        let ctx = crate::engine::session_with_budget(&self.opts.job.verify.budget);
        // Masked diff files hold no key the sources know.
        let masked = DiffKind::KEYED.iter().any(|k| {
            let p = from.join(k.file_name());
            p.is_file() && crate::engine::diff_files::is_masked(&p, crate::report::mask::MASKED_KEY)
        });
        let state = self.work.join(format!("{}-open-0.parquet", def.name));
        let total = if masked {
            0
        } else {
            rt.block_on(state::collect(&ctx, from, &def.key, &state))?
        };
        if total == 0 {
            return Ok(None);
        }
        Ok(Some(Open {
            def,
            plan,
            original,
            from: from.to_path_buf(),
            state,
            numeric: rt.block_on(state::numeric_keys(&ctx, from, &def.key))?,
            columns: rt.block_on(self.side_columns(def))?,
            counts: RecheckCounts::default(),
            last: None,
            left: total,
            done: false,
        }))
    }

    /// Round `round` of an open entity: its open keys read again; done when none is
    /// left, nothing converged or moved, or the rounds are over.
    fn step(&mut self, o: &mut Open<'_>, round: usize) -> Result<()> {
        let rt = crate::engine::runtime::runtime(crate::engine::runtime::Flavor::Queries)?;
        let def = o.def;
        self.progress
            .recheck_round(&def.name, round, self.opts.rounds, o.left);
        let next = self.work.join(format!("{}-open-{round}.parquet", def.name));
        let r = self.round(o, &next, round, &rt)?;
        o.counts.converged += r.converged;
        o.state = next;
        o.left = r.same + r.moved;
        self.rounds_run = self.rounds_run.max(round);
        // Go on while anything changed: a key that converged this round says others
        // may still be on their way.
        let settled = r.moved == 0 && r.converged == 0;
        o.done = o.left == 0 || settled || round == self.opts.rounds;
        o.last = Some(r);
        Ok(())
    }

    /// The entity's report from its last round: the persistent findings as that round
    /// read them (counts, samples, diff files), judged against the thresholds.
    fn close(&self, o: Open<'_>, masker: &Masker) -> Result<EntityReport> {
        let rt = crate::engine::runtime::runtime(crate::engine::runtime::Flavor::Queries)?;
        let ctx = crate::engine::session_with_budget(&self.opts.job.verify.budget);
        let (def, original, from) = (o.def, o.original, &o.from);
        let r = o.last.expect("a rechecked entity ran a round");
        let mut counts = o.counts;
        counts.persistent = r.same;
        counts.moving = r.moved;
        // The persistent findings as this round read them: the report's diff files and
        // samples.
        let to = self.pending_dir.join("diffs").join(&def.name);
        if r.same > 0 {
            self.copy_diffs(&r.kept, &def.name)?;
        }
        // NULL keys and invalid values are not read again: their files stand.
        std::fs::create_dir_all(&to).map_err(|e| Error::io("create folder", &to, e))?;
        for kind in [DiffKind::NullKeys, DiffKind::Invalid] {
            let was = from.join(kind.file_name());
            if was.is_file() {
                std::fs::copy(&was, to.join(kind.file_name()))
                    .map_err(|e| Error::io("copy", &was, e))?;
            }
        }
        for kind in DiffKind::KEYED {
            let (was, is) = (from.join(kind.file_name()), to.join(kind.file_name()));
            if was.is_file() && !is.is_file() {
                state::empty_like(&was, &is)?;
            }
        }
        let mut out = original.clone();
        let mut diff = r.samples;
        rt.block_on(state::count_files(&ctx, &to, &mut diff))?;
        masker.diff_files(&def.name, &to)?;
        // The new samples are masked here; what comes from the rechecked report (its
        // NULL-key rows, invalid values, statistics) was masked when it was written.
        masker.diff(&def.name, &mut diff);
        let d0 = original.diff.as_ref();
        diff.null_keys_legacy = d0.map_or(0, |d| d.null_keys_legacy);
        diff.null_keys_target = d0.map_or(0, |d| d.null_keys_target);
        diff.null_key_rows = d0.map_or_else(Vec::new, |d| d.null_key_rows.clone());
        let th = original.thresholds;
        let fails = diff.exceeds(&th, original.legacy_rows, original.target_rows);
        let summary = format!(
            "rechecked {} times: persistent: missing {}, extra {}, changed {}, duplicate keys {}; converged {}, moving {}",
            r.round,
            diff.missing,
            diff.extra,
            diff.changed,
            diff.duplicate_keys_legacy + diff.duplicate_keys_target,
            counts.converged,
            counts.moving
        );
        for c in out.checks.iter_mut().filter(|c| c.check == CheckKind::Diff) {
            c.status = if fails { Status::Fail } else { Status::Pass };
            c.summary = summary.clone();
        }
        if !out.checks.iter().any(|c| c.check == CheckKind::Diff) {
            out.checks.push(CheckOutcome {
                check: CheckKind::Diff,
                status: if fails { Status::Fail } else { Status::Pass },
                summary,
                seconds: 0.0,
            });
        }
        let others_fail = out
            .checks
            .iter()
            .any(|c| c.check != CheckKind::Diff && c.status == Status::Fail);
        out.status = if fails || others_fail {
            Status::Fail
        } else {
            Status::Pass
        };
        out.diff_files = list_files(&to, &def.name);
        out.diff = Some(diff);
        out.recheck = Some(counts);
        Ok(out)
    }

    /// One round over the keys still open in `open`: read them again in batches, write
    /// those that still differ to `next`, and keep the rows of those that did not move.
    fn round(
        &mut self,
        o: &Open<'_>,
        next: &Path,
        round: usize,
        rt: &tokio::runtime::Runtime,
    ) -> Result<Round> {
        let (def, plan, open, numeric) = (o.def, &o.plan, &o.state, &o.numeric);
        let kept = self.work.join(format!("{}-kept-{round}", def.name));
        let mut r = Round {
            round,
            kept: kept.clone(),
            ..Default::default()
        };
        let mut writer = state::Writer::new(next, &def.key)?;
        let mut kept_files = state::Kept::new(&kept);
        for (b, batch) in state::batches(open, self.opts.batch)?.enumerate() {
            let batch = batch?;
            let runs = self.read_again(o, &batch, numeric, round, b + 1)?;
            let diffs = self.work.join(format!("{}-r{round}-b{}", def.name, b + 1));
            let report = rt.block_on(self.verify(def, plan, &batch, &runs, &diffs))?;
            // Keys that read back nowhere would all look converged: when not one row of
            // a batch holding rows found on both sides (changed ones) is found again, the
            // point reads do not find the source's rows by the keys as shown.
            let both = batch.iter().any(|f| f.kind == "changed");
            if both && report.legacy_rows + report.target_rows == 0 {
                return Err(Error::source(format!(
                    "rechecking {} {}: the point reads found none of {} keys on either side",
                    def.kind,
                    def.name,
                    batch.len()
                ))
                .with_hint("the key's values as the report shows them do not find the source's rows (a key the entity's SQL transforms, or a binary key): give [entity.recheck] queries"));
            }
            let ctx = crate::engine::session_with_budget(&self.opts.job.verify.budget);
            let now = rt.block_on(state::findings(&ctx, &diffs.join(&def.name), &def.key))?;
            let mut moved: HashSet<Key> = HashSet::new();
            for f in &batch {
                match now.get(&f.key) {
                    None => r.converged += 1,
                    Some(seen) => {
                        writer.write(seen)?;
                        if seen.kind != f.kind || seen.sig != f.sig {
                            r.moved += 1;
                            moved.insert(f.key.clone());
                        } else {
                            r.same += 1;
                        }
                    }
                }
            }
            kept_files.append(&diffs.join(&def.name), &def.key, &moved)?;
            if let Some(d) = &report.diff {
                keep_samples(
                    &mut r.samples,
                    d,
                    def,
                    &moved,
                    self.opts.job.verify.sample_rows,
                );
            }
        }
        writer.finish()?;
        kept_files.finish()?;
        Ok(r)
    }

    /// Read `batch`'s keys again on each side: a snapshot run per side under the
    /// report's `runs/` (a static side keeps its original run).
    fn read_again(
        &mut self,
        o: &Open<'_>,
        batch: &[Finding],
        numeric: &[bool],
        round: usize,
        b: usize,
    ) -> Result<[LoadedRun; 2]> {
        let (def, plan) = (o.def, &o.plan);
        let keys: Vec<Key> = batch.iter().map(|f| f.key.clone()).collect();
        let root = self.pending_dir.join("runs");
        let mut out = Vec::new();
        for (s, side) in Side::ALL.into_iter().enumerate() {
            let Some(table) = reads::request(&plan[s], &def.name, &self.sources[s], &keys, numeric)
            else {
                out.push(self.runs[s].clone());
                continue;
            };
            let id = format!("{}-r{round}-b{b}", def.name.replace('_', "-"));
            let req = ExtractRequest {
                side: side.to_string(),
                source: self.sources[s].clone(),
                tables: vec![table],
                names: self.spec.names(side)?,
            };
            extract::extract(
                &req,
                &ExtractOptions::new(&root, &id),
                &WarningsOnly(self.progress),
            )
            .map_err(|e| {
                let msg = format!(
                    "rechecking {} {}: reading the {side} side again: {e}",
                    def.kind, def.name
                );
                let hint = e.hint.clone();
                let err = Error::source(msg);
                match hint {
                    Some(h) => err.with_hint(h),
                    None => err,
                }
            })?;
            self.run_ids.push(format!("runs/{side}/{id}"));
            let run = choose_run(&root, side, Some(&id))?;
            if let SideRead::Template(_) = plan[s] {
                check_template(def, &o.columns[s], side, &run)?;
            }
            out.push(run);
        }
        let [l, t]: [LoadedRun; 2] = out.try_into().expect("two sides");
        Ok([l, t])
    }

    /// The columns the entity's SQL returns on each side, over the rechecked runs.
    async fn side_columns(&self, def: &EntityDef) -> Result<[Vec<String>; 2]> {
        let ctx = check::session_over(&self.runs[0], &self.runs[1], &self.opts.job.verify).await?;
        let mut out: [Vec<String>; 2] = Default::default();
        for (s, sql) in [&def.legacy_sql, &def.target_sql].into_iter().enumerate() {
            let q = format!("SELECT * FROM ({sql}\n) AS s LIMIT 0");
            if let Ok(df) = crate::engine::sql::sql(&ctx, &q).await {
                out[s] = df
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
            }
        }
        Ok(out)
    }

    /// Compare the entity over the point reads `runs`, for `batch`'s keys only.
    async fn verify(
        &self,
        def: &EntityDef,
        plan: &[SideRead; 2],
        batch: &[Finding],
        runs: &[LoadedRun; 2],
        diffs: &Path,
    ) -> Result<EntityReport> {
        let keys_file = diffs.with_extension("keys.csv");
        state::write_keys_csv(&keys_file, &def.key, batch)?;
        let mut d = def.clone();
        d.checks = vec![CheckKind::Schema, CheckKind::Diff];
        d.keys_file = Some(keys_file);
        d.sample = None;
        // The findings are judged as they read now; none is left out as too young.
        d.settle = None;
        for (s, side) in Side::ALL.into_iter().enumerate() {
            if let SideRead::Template(_) = plan[s] {
                let sql = format!("SELECT * FROM {side}.{}", reads::template_table(&def.name));
                match side {
                    Side::Legacy => d.legacy_sql = sql,
                    Side::Target => d.target_sql = sql,
                }
            }
        }
        let mut opts = self.opts.job.verify.clone();
        opts.diffs_dir = Some(diffs.to_path_buf());
        opts.sample_rows = self.opts.job.verify.sample_rows;
        let ctx = check::session_over(&runs[0], &runs[1], &opts).await?;
        let defs = check::settled(vec![d], &runs[0], &runs[1]);
        let mut reports = check::verify_entities(&ctx, &defs, &opts, &NoProgress).await?;
        let r = reports.pop().expect("one entity");
        if let Some(f) = &r.error {
            let e = Error::source(format!(
                "rechecking {} {}: {}",
                def.kind, def.name, f.message
            ));
            return Err(match &f.hint {
                Some(h) => e.with_hint(h.clone()),
                None => e,
            });
        }
        Ok(r)
    }
}

/// A template's rows must have the columns the entity's SQL has on that side.
fn check_template(def: &EntityDef, want: &[String], side: Side, run: &LoadedRun) -> Result<()> {
    let table = reads::template_table(&def.name);
    let got: Vec<String> = run
        .manifest
        .tables
        .get(&table)
        .map(|t| t.arrow_schema.iter().map(|f| f.name.clone()).collect())
        .unwrap_or_default();
    let (mut w, mut g) = (want.to_vec(), got.clone());
    w.sort();
    g.sort();
    if want.is_empty() || w == g {
        return Ok(());
    }
    Err(Error::spec(format!(
        "rechecking {} {}: the [entity.recheck] {side} query returns {}, but the entity's {side} SQL returns {}",
        def.kind,
        def.name,
        got.join(", "),
        want.join(", ")
    ))
    .with_hint("the recheck query returns the entity's columns, before normalisation, by the same names"))
}

/// An entity of the recheck: done (its report), or open (being read again).
enum Slot<'d> {
    Done(Box<EntityReport>),
    Open(Box<Open<'d>>),
}

/// An entity being read again: its open keys and what the rounds found.
struct Open<'d> {
    def: &'d EntityDef,
    plan: [SideRead; 2],
    /// Its report in the rechecked report.
    original: &'d EntityReport,
    /// Its diff files there.
    from: PathBuf,
    /// The keys still open: a state file.
    state: PathBuf,
    /// Which key columns are numbers (bare in SQL).
    numeric: Vec<bool>,
    /// The columns the entity's SQL returns on each side, which a template must return.
    columns: [Vec<String>; 2],
    counts: RecheckCounts,
    last: Option<Round>,
    /// Keys still open.
    left: u64,
    done: bool,
}

/// What one round found.
#[derive(Debug, Default)]
struct Round {
    round: usize,
    converged: u64,
    /// Still differing as the reading before found.
    same: u64,
    /// Still differing, differently.
    moved: u64,
    /// The diff files of the findings that did not move, as this round read them.
    kept: PathBuf,
    /// Their first rows.
    samples: Diff,
}

/// Add the sample rows of `d` whose key did not move to `into`, up to `n` of each kind.
fn keep_samples(into: &mut Diff, d: &Diff, def: &EntityDef, moved: &HashSet<Key>, n: usize) {
    let key_of = |row: &Row| -> Key {
        def.key
            .iter()
            .map(|k| {
                row.iter()
                    .find(|(c, _)| c == k)
                    .and_then(|(_, v)| v.clone())
            })
            .collect()
    };
    let keep = |row: &Row| !moved.contains(&key_of(row));
    for (to, from) in [
        (&mut into.missing_rows, &d.missing_rows),
        (&mut into.extra_rows, &d.extra_rows),
    ] {
        to.extend(
            from.iter()
                .filter(|r| keep(r))
                .take(n.saturating_sub(to.len()))
                .cloned(),
        );
    }
    let room = n.saturating_sub(into.changed_rows.len());
    into.changed_rows.extend(
        d.changed_rows
            .iter()
            .filter(|c| keep(&c.key))
            .take(room)
            .cloned(),
    );
    let room = n.saturating_sub(into.duplicates.len());
    into.duplicates.extend(
        d.duplicates
            .iter()
            .filter(|k| keep(&k.key))
            .take(room)
            .cloned(),
    );
}

/// The diff files in `dir`, as a report lists them (`<entity>/<kind>.parquet`).
fn list_files(dir: &Path, entity: &str) -> Vec<String> {
    let mut out: Vec<String> = DiffKind::KEYED
        .iter()
        .chain([DiffKind::NullKeys, DiffKind::Invalid].iter())
        .filter(|k| dir.join(k.file_name()).is_file())
        .map(|k| format!("{entity}/{}", k.file_name()))
        .collect();
    out.sort();
    out
}
