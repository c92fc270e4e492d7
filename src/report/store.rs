//! The reports folder, and what keeps nightly runs from hurting each other.
//!
//! ```text
//! <reports root>/
//!   .tmp-<id>/                 a report being written; never read
//!   <id>/report.json           the machine contract (docs/report.md)
//!   <id>/report.md             the summary for a pull request or a ticket
//!   <id>/report.html           one self-contained page
//!   <id>/junit.xml             one test case per check
//!   <id>/diffs/<entity>/{missing,extra,changed,duplicates,null_keys}.parquet
//! ```
//!
//! A report is written into `.tmp-<id>/` and renamed into place whole, so a run killed
//! part-way leaves earlier reports as they were and nothing that looks complete. The
//! next report sweeps such abandoned folders away ([`sweep_abandoned`]).
//! [`RunLock`] keeps two `snapdiff run`s of one spec from writing the same folders, and
//! [`prune`] applies `--keep`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{delta, Report, SpecInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::snapshot;

/// The files a report can have, as `--format` names them.
pub const FORMAT_NAMES: [&str; 5] = ["json", "md", "html", "junit", "diffs"];

/// Which report files to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub json: bool,
    pub md: bool,
    pub html: bool,
    pub junit: bool,
    pub diffs: bool,
}

impl Formats {
    /// Every file.
    pub fn all() -> Formats {
        Formats {
            json: true,
            md: true,
            html: true,
            junit: true,
            diffs: true,
        }
    }

    /// No report at all.
    pub fn none() -> Formats {
        Formats {
            json: false,
            md: false,
            html: false,
            junit: false,
            diffs: false,
        }
    }

    /// Parse `--format`: `all`, `none`, or a comma-separated list of [`FORMAT_NAMES`].
    pub fn parse(list: &str) -> Result<Formats> {
        let mut f = Formats::none();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "all" => f = Formats::all(),
                "none" => {}
                "json" => f.json = true,
                "md" | "markdown" => f.md = true,
                "html" => f.html = true,
                "junit" | "xml" => f.junit = true,
                "diffs" | "parquet" => f.diffs = true,
                other => {
                    return Err(
                        Error::spec(format!("unknown report format `{other}`")).with_hint(format!(
                            "choose from all, none, {}",
                            FORMAT_NAMES.join(", ")
                        )),
                    )
                }
            }
        }
        Ok(f)
    }

    /// Whether any file is written.
    pub fn any(&self) -> bool {
        self.json || self.md || self.html || self.junit || self.diffs
    }
}

/// The file name of `report.json`.
pub const REPORT_JSON: &str = "report.json";

/// On object storage, the object that claims a report id (see `begin_object`).
const CLAIM: &str = ".claim";

/// A report folder being written: `<root>/.tmp-<id>/` until [`PendingReport::commit`]
/// renames it to `<root>/<id>/`. Dropped uncommitted, it is removed.
pub struct PendingReport {
    root: PathBuf,
    id: String,
    tmp: PathBuf,
    committed: bool,
    /// `.tmp-<id>/.writing`, locked while this process writes the folder: a folder
    /// whose lock can be taken was left by a process that died.
    writing: Option<File>,
    /// The history page to write beside report.html ([`history_page`]).
    history: Option<String>,
}

/// The lock file inside a report folder being written.
const WRITING: &str = ".writing";

/// Remove the `.tmp-` report folders under `root` that processes killed while writing
/// left behind: their `.writing` lock is free (the system released it when the writer
/// died). A folder is only ever removed for that: one without a `.writing` file (another
/// tool's, or one killed in the instant before its lock was in place) is left alone.
/// Returns how many were removed.
pub fn sweep_abandoned(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(snapshot::TMP_PREFIX) {
            continue;
        }
        let dir = entry.path();
        let abandoned = File::options()
            .write(true)
            .open(dir.join(WRITING))
            .is_ok_and(|f| f.try_lock().is_ok());
        if abandoned && std::fs::remove_dir_all(&dir).is_ok() {
            removed += 1;
        }
    }
    removed
}

impl PendingReport {
    /// Start a report under `root` (created if needed), with id `base` or, when a
    /// report of that id exists or is being written, `base-2`, `base-3`, ... The id is
    /// claimed atomically (`create_dir`), so two snapdiffs never share one. Fails,
    /// before any work is done, when the folder cannot be written.
    pub fn begin(root: &Path, base: &str) -> Result<PendingReport> {
        snapshot::check_name("report id", base)?;
        if crate::storage::is_object(root) {
            return Self::begin_object(root, base);
        }
        std::fs::create_dir_all(root).map_err(|e| unwritable(root, e))?;
        let mut n = 1;
        let (id, tmp) = loop {
            let id = if n == 1 {
                base.to_string()
            } else {
                format!("{base}-{n}")
            };
            n += 1;
            if root.join(&id).exists() {
                continue;
            }
            let tmp = root.join(format!("{}{id}", snapshot::TMP_PREFIX));
            match std::fs::create_dir(&tmp) {
                Ok(()) => break (id, tmp),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(unwritable(root, e)),
            }
        };
        // Prove the folder takes files now, not after an hour of extraction. The file
        // stays, locked, as the sign that this folder is being written: it is locked
        // under another name and renamed, so a sweep never sees it unlocked. (Where the
        // file system has no locks, the folder is just not swept if the run dies.)
        let new = tmp.join(".writing.new");
        let file = File::create(&new)
            .and_then(|mut f| f.write_all(b"ok").map(|()| f))
            .map_err(|e| unwritable(root, e))?;
        let writing = match file.try_lock() {
            Ok(()) => {
                std::fs::rename(&new, tmp.join(WRITING)).map_err(|e| unwritable(root, e))?;
                Some(file)
            }
            Err(_) => {
                drop(file);
                let _ = std::fs::remove_file(&new);
                None
            }
        };
        sweep_abandoned(root);
        Ok(PendingReport {
            root: root.to_path_buf(),
            id,
            tmp,
            committed: false,
            writing,
            history: None,
        })
    }

    /// A report for object storage: written in a local folder, uploaded on commit with
    /// `report.json` last (what marks a report complete there; object storage has no
    /// rename). The id is the first free one, claimed by creating its `.claim` object
    /// only if it does not exist (a conditional write), so two runs writing reports of
    /// one base id at the same second take two ids.
    fn begin_object(root: &Path, base: &str) -> Result<PendingReport> {
        let mut n = 1;
        let id = loop {
            let id = if n == 1 {
                base.to_string()
            } else {
                format!("{base}-{n}")
            };
            n += 1;
            let dir = root.join(&id);
            if !crate::storage::is_dir(&dir)?
                && crate::storage::create_new_object(
                    &dir.join(CLAIM),
                    format!("{{\"pid\": {}}}", std::process::id()).as_bytes(),
                )?
            {
                break id;
            }
        };
        let tmp = tempfile::Builder::new()
            .prefix("snapdiff-report-")
            .tempdir()
            .map_err(|e| {
                Error::io(
                    "create a local folder for the report",
                    &std::env::temp_dir(),
                    e,
                )
            })?
            .keep();
        Ok(PendingReport {
            root: root.to_path_buf(),
            id,
            tmp,
            committed: false,
            writing: None,
            history: None,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The folder the report's files are written to until it is committed.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Where the verification writes every differing row.
    pub fn diffs_dir(&self) -> PathBuf {
        self.tmp.join("diffs")
    }

    /// Write `html` as the report's `history.html` (with report.html, which links it).
    pub fn set_history_page(&mut self, html: String) {
        self.history = Some(html);
    }

    /// The folder the report will have once committed.
    pub fn final_dir(&self) -> PathBuf {
        self.root.join(&self.id)
    }

    /// Write the chosen files, then rename the folder into place. `report.files` is
    /// filled in. Returns the report's folder.
    pub fn commit(mut self, report: &mut Report, formats: Formats) -> Result<PathBuf> {
        let diffs = self.diffs_dir();
        if formats.diffs {
            report.files = diff_file_list(report);
        } else {
            report.files.clear();
            for e in &mut report.outcome.entities {
                e.diff_files.clear();
            }
            if diffs.exists() {
                std::fs::remove_dir_all(&diffs)
                    .map_err(|e| Error::io("remove the diff files", &diffs, e))?;
            }
        }
        let mut written: Vec<(&str, String)> = Vec::new();
        if formats.json {
            written.push((REPORT_JSON, String::new()));
        }
        if formats.md {
            written.push(("report.md", super::markdown::render(report)));
        }
        if formats.html {
            written.push(("report.html", super::html::render(report)));
            if let Some(h) = self.history.take() {
                written.push((super::trend::PAGE, h));
            }
        }
        if formats.junit {
            written.push(("junit.xml", super::junit::render(report)));
        }
        let mut files: Vec<String> = written.iter().map(|(n, _)| n.to_string()).collect();
        files.append(&mut report.files);
        report.files = files;
        for (name, text) in &written {
            let path = self.tmp.join(name);
            let text = if *name == REPORT_JSON {
                let mut json = serde_json::to_string_pretty(report).map_err(|e| {
                    Error::internal(format!("cannot serialize {}: {e}", path.display()))
                })?;
                json.push('\n');
                json
            } else {
                text.clone()
            };
            // Reports are shared (pull requests, CI artefacts): no registered secret
            // may reach one, whatever field it hid in.
            crate::storage::write_atomic(&path, crate::secrets::scrub(&text).as_bytes())?;
        }
        let dest = self.final_dir();
        if crate::storage::is_object(&self.root) {
            // Every other file first; report.json, written last, marks it complete.
            let mut files = Vec::new();
            local_files(&self.tmp, "", &mut files)?;
            files.sort_by_key(|f| f == REPORT_JSON);
            for f in files {
                if let Err(e) = crate::storage::copy_from_local(&self.tmp.join(&f), &dest.join(&f))
                {
                    // Nothing of a report that cannot be finished stays (the id is this
                    // run's, claimed); the local copy is kept, so nothing is lost.
                    let _ = crate::storage::remove_all(&dest);
                    self.committed = true;
                    let kept = format!("the report is kept at {}", self.tmp.display());
                    let hint = match &e.hint {
                        Some(h) => format!("{h}; {kept}"),
                        None => kept,
                    };
                    return Err(e.with_hint(hint));
                }
            }
            // The claim goes once report.json is in place (which then holds the id), so
            // the folder holds the report's files alone, as a local one does.
            let _ = crate::storage::remove_all(&dest.join(CLAIM));
            let _ = std::fs::remove_dir_all(&self.tmp);
            self.committed = true;
            return Ok(dest);
        }
        sync_folders(&self.tmp)?;
        std::fs::rename(&self.tmp, &dest)
            .map_err(|e| Error::io("move the report into place", &dest, e))?;
        // The lock goes once the folder is in place (so no sweep can take it before).
        drop(self.writing.take());
        let _ = std::fs::remove_file(dest.join(WRITING));
        File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("sync folder", &self.root, e))?;
        self.committed = true;
        Ok(dest)
    }
}

impl Drop for PendingReport {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// The files under the local folder `dir`, as paths relative to it (`prefix` joined).
fn local_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.path().is_dir() {
            local_files(&entry.path(), &format!("{name}/"), out)?;
        } else if !name.starts_with('.') {
            out.push(name);
        }
    }
    Ok(())
}

/// Fsync `dir` and every folder under it, so a renamed report's files are all on disk.
fn sync_folders(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let path = entry.map_err(|e| Error::io("list", dir, e))?.path();
        if path.is_dir() {
            sync_folders(&path)?;
        }
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync folder", dir, e))
}

/// The diff files of a report's entities, relative to its folder.
fn diff_file_list(report: &Report) -> Vec<String> {
    report
        .outcome
        .entities
        .iter()
        .flat_map(|e| e.diff_files.iter().map(|f| format!("diffs/{f}")))
        .collect()
}

fn unwritable(root: &Path, e: std::io::Error) -> Error {
    Error::io("write the reports folder", root, e).with_hint(
        "choose a folder you can write with --reports DIR (or [reports] root in the spec), or fix its permissions",
    )
}

/// A report id from the current UTC time (`20261122T021500Z`); [`PendingReport::begin`]
/// makes it unique.
pub fn new_report_id() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

/// A report's folder and its `report.json`.
pub type StoredReport = (PathBuf, Report);

/// Every complete report of `spec` (same name and path) under `root`, oldest first (by
/// creation time). Folders whose `report.json` cannot be read are listed in the second
/// vector, with why.
pub fn list_reports(root: &Path, spec: &SpecInfo) -> Result<(Vec<StoredReport>, Vec<String>)> {
    let (mut reports, mut unreadable) = (Vec::new(), Vec::new());
    for name in crate::storage::list_dirs(root)? {
        if name.starts_with('.') {
            continue;
        }
        let dir = root.join(&name);
        let path = dir.join(REPORT_JSON);
        let bytes = match crate::storage::read(&path) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => {
                unreadable.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        match serde_json::from_slice::<Report>(&bytes).map_err(|e| e.to_string()) {
            Ok(r) if r.spec.same_spec(spec) => reports.push((dir, r)),
            Ok(_) => {}
            Err(e) => unreadable.push(format!("{}: {e}", path.display())),
        }
    }
    reports.sort_by(|a, b| (a.1.created_at, &a.1.id).cmp(&(b.1.created_at, &b.1.id)));
    Ok((reports, unreadable))
}

/// The delta of `report` (being written in `pending`) against `previous`, the newest
/// earlier report of its spec (none: the first report).
pub fn delta_against(
    previous: Option<&StoredReport>,
    report: &Report,
    pending: &PendingReport,
    masker: &super::mask::Masker,
) -> Result<Option<delta::Delta>> {
    let Some((dir, previous)) = previous else {
        return Ok(None);
    };
    let rt = crate::engine::runtime::runtime(crate::engine::runtime::Flavor::OneCall)?;
    rt.block_on(delta::compute(report, pending.dir(), previous, dir, masker))
        .map(Some)
}

/// The history page of `report` ([`super::trend`]): its spec's `earlier` reports and
/// itself, each that has a report.html linked as `../<id>/report.html` (the page lives
/// in the report's folder).
pub fn history_page(earlier: &[StoredReport], report: &Report) -> String {
    let mut listed: Vec<&Report> = earlier
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.id != report.id)
        .collect();
    listed.push(report);
    super::trend::render(&report.spec.name, &listed, |r| {
        // This report's files are listed when it is committed; it writes its page.
        let html = r.id == report.id || r.files.iter().any(|f| f == "report.html");
        html.then(|| format!("../{}/report.html", r.id))
    })
}

/// Held while a `snapdiff run` of one spec works: a second run of the same spec (same
/// snapshot root) fails at once instead of writing the same folders. Released when
/// dropped, and by the system when the process dies.
pub struct RunLock {
    /// `None` for a snapshot root on object storage, which has no locks.
    _file: Option<File>,
}

/// Take the run lock of the snapshot root `root`.
pub fn lock_run(root: &Path) -> Result<RunLock> {
    if crate::storage::is_object(root) {
        return Ok(RunLock { _file: None });
    }
    std::fs::create_dir_all(root).map_err(|e| Error::io("create the snapshot root", root, e))?;
    let path = root.join(".run.lock");
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("create the run lock", &path, e))?;
    match file.try_lock() {
        Ok(()) => {
            // Who holds it, for the message a second run prints.
            let _ = file.set_len(0);
            let _ = writeln!(
                file,
                "pid {} since {}",
                std::process::id(),
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
            );
            Ok(RunLock { _file: Some(file) })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            Err(Error::new(
                ErrorKind::Interrupted,
                format!(
                    "another snapdiff run of this spec is in progress{}",
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" ({holder})")
                    }
                ),
            )
            .with_file(&path)
            .with_hint("wait for it to finish; nothing was written"))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("take the run lock", &path, e)),
    }
}

/// What `--keep N` removed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Pruned {
    /// `legacy/<run>` and `target/<run>` snapshot folders.
    pub runs: Vec<String>,
    /// Report ids.
    pub reports: Vec<String>,
}

/// Keep the `keep` newest complete snapshot runs of each side and the `keep` newest
/// reports of the spec; remove older ones. Never removes a run in `protect` (the runs
/// just verified), the report `protect_report` (just written), an incomplete run (it
/// may be resumed, or be being written), or a folder being written. Call it holding
/// the [`RunLock`].
pub fn prune(
    keep: usize,
    snapshot_root: &Path,
    reports_root: &Path,
    spec: &SpecInfo,
    protect: &[(&str, &str)],
    protect_report: Option<&str>,
) -> Result<Pruned> {
    if keep == 0 {
        return Err(Error::spec(
            "--keep must be at least 1: the newest run is always kept",
        ));
    }
    let mut pruned = Pruned::default();
    for side in snapshot::Side::ALL.map(|s| s.as_str()) {
        // Oldest first by when they finished (run ids given by hand need not sort).
        let mut complete: Vec<(chrono::DateTime<chrono::Utc>, snapshot::RunInfo)> = Vec::new();
        for run in snapshot::list_runs(snapshot_root, side)? {
            if run.complete {
                let finished = snapshot::read_manifest(&run.path)?.finished_at;
                complete.push((finished, run));
            }
        }
        complete.sort_by(|a, b| (a.0, &a.1.run_id).cmp(&(b.0, &b.1.run_id)));
        let complete: Vec<snapshot::RunInfo> = complete.into_iter().map(|(_, r)| r).collect();
        let old = complete.len().saturating_sub(keep);
        for run in &complete[..old] {
            if protect
                .iter()
                .any(|(s, id)| *s == side && *id == run.run_id)
            {
                continue;
            }
            remove_run(&run.path)?;
            pruned.runs.push(format!("{side}/{}", run.run_id));
        }
    }
    let (reports, _) = list_reports(reports_root, spec)?;
    let old = reports.len().saturating_sub(keep);
    for (dir, r) in &reports[..old] {
        if protect_report == Some(r.id.as_str()) {
            continue;
        }
        if crate::storage::is_object(dir) {
            // report.json first: from then on it is not a report.
            crate::storage::remove_all(&dir.join(REPORT_JSON))?;
            crate::storage::remove_all(dir)?;
            pruned.reports.push(r.id.clone());
            continue;
        }
        let trash = reports_root.join(format!(".trash-{}", r.id));
        std::fs::rename(dir, &trash).map_err(|e| Error::io("remove an old report", dir, e))?;
        std::fs::remove_dir_all(&trash)
            .map_err(|e| Error::io("remove an old report", &trash, e))?;
        pruned.reports.push(r.id.clone());
    }
    Ok(pruned)
}

/// Remove a complete snapshot run: renamed aside to a hidden folder first (one atomic
/// step: from then on no check lists it, complete or not), then deleted.
fn remove_run(dir: &Path) -> Result<()> {
    if crate::storage::is_object(dir) {
        // No rename there: the manifest goes first, and with it the run's completeness.
        crate::storage::remove_all(&dir.join(snapshot::MANIFEST))?;
        return crate::storage::remove_all(dir);
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let trash = dir.with_file_name(format!(".trash-{name}"));
    std::fs::rename(dir, &trash).map_err(|e| Error::io("remove an old run", dir, e))?;
    std::fs::remove_dir_all(&trash).map_err(|e| Error::io("remove an old run", &trash, e))
}
