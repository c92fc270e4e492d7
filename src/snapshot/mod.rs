//! Snapshots on disk: the layout every later check reads.
//!
//! ```text
//! <root>/<side>/<run-id>/
//!   .run.json            the plan of the run (what it set out to extract), for --resume
//!   .tmp-<table>/        a table being written; never read
//!   <table>/_table.json  a complete table's record (rows, schema, files with xxh3)
//!   <table>/part-*.parquet
//!   schema.json          written after every table is complete
//!   manifest.json        written last, atomically: its presence marks the run complete
//! ```
//!
//! A run folder without `manifest.json` is incomplete and is never read by a check.
//!
//! `<root>` may be a local folder or `s3://bucket/prefix` ([`crate::storage`]); the layout
//! is the same, but for the `.tmp-<table>/` folders, which object storage does without.

pub mod manifest;
pub mod names;
pub mod writer;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::storage;

pub use manifest::{
    FileEntry, Manifest, SchemaDoc, SourceKind, TableManifest, TableRecord, TableSchema,
};
pub use writer::{RunPlan, RunWriter, TableWriter, WriterSettings};

/// Name of the file that marks a run complete.
pub const MANIFEST: &str = "manifest.json";
/// Name of the source schema document.
pub const SCHEMA: &str = "schema.json";
/// Name of a table's own record inside its folder.
pub const TABLE_RECORD: &str = "_table.json";
/// Name of the run plan, written when the run starts.
pub const RUN_PLAN: &str = ".run.json";
/// Prefix of folders that hold a table while it is being written.
pub const TMP_PREFIX: &str = ".tmp-";

/// The two sides of a migration: each has its own runs, `<root>/<side>/<run-id>/`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The system being migrated from.
    Legacy,
    /// The system being migrated to.
    Target,
}

impl Side {
    /// Both sides, legacy first.
    pub const ALL: [Side; 2] = [Side::Legacy, Side::Target];

    /// The side's name: its folder, its schema in a session (`legacy.<table>`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Side::Legacy => "legacy",
            Side::Target => "target",
        }
    }

    /// The side's position in [`Side::ALL`] (legacy 0, target 1).
    pub fn index(self) -> usize {
        match self {
            Side::Legacy => 0,
            Side::Target => 1,
        }
    }

    /// The side named `name` (`legacy` or `target`).
    pub fn parse(name: &str) -> Result<Side> {
        Side::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| {
                Error::spec(format!("side `{name}` is neither legacy nor target"))
                    .with_hint("write legacy or target")
            })
    }
}

impl AsRef<str> for Side {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run folder found under `<root>/<side>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: String,
    pub path: PathBuf,
    pub complete: bool,
}

/// The folder of a run.
pub fn run_dir(root: &Path, side: &str, run_id: &str) -> PathBuf {
    root.join(side).join(run_id)
}

/// Every run of `side` under `root`, oldest first (run ids sort by time).
pub fn list_runs(root: &Path, side: &str) -> Result<Vec<RunInfo>> {
    let dir = root.join(side);
    let mut runs = Vec::new();
    for run_id in storage::list_dirs(&dir)? {
        if run_id.starts_with('.') {
            continue;
        }
        let path = dir.join(&run_id);
        let complete = storage::is_file(&path.join(MANIFEST))?;
        runs.push(RunInfo {
            run_id,
            path,
            complete,
        });
    }
    runs.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(runs)
}

/// The newest complete run of `side`, if any.
pub fn newest_complete(root: &Path, side: &str) -> Result<Option<RunInfo>> {
    Ok(list_runs(root, side)?
        .into_iter()
        .rev()
        .find(|r| r.complete))
}

/// Read and check `manifest.json` of a run folder.
pub fn read_manifest(run_dir: &Path) -> Result<Manifest> {
    let path = run_dir.join(MANIFEST);
    let Some(bytes) = storage::read(&path)? else {
        return Err(
            Error::snapshot("the run has no manifest.json, so it is incomplete")
                .with_file(run_dir)
                .with_hint("finish it with `snapdiff extract --resume RUN`, or extract a new run"),
        );
    };
    parse_manifest(&String::from_utf8_lossy(&bytes), &path)
}

/// Parse and check the text of a `manifest.json`; `path` only names the file in errors.
/// [`read_manifest`] without the file system (the fuzz harness in `fuzz/` uses it).
pub fn parse_manifest(text: &str, path: &Path) -> Result<Manifest> {
    let manifest: Manifest = serde_json::from_str(text).map_err(|e| {
        Error::snapshot(format!("manifest.json is not valid: {e}"))
            .with_source(e)
            .with_file(path)
    })?;
    if manifest.format_version != manifest::FORMAT_VERSION {
        return Err(Error::snapshot(format!(
            "manifest format version {} is not supported (this snapdiff reads version {})",
            manifest.format_version,
            manifest::FORMAT_VERSION
        ))
        .with_file(path));
    }
    Ok(manifest)
}

/// Read `schema.json` of a run folder.
pub fn read_schema(run_dir: &Path) -> Result<SchemaDoc> {
    let path = run_dir.join(SCHEMA);
    let bytes = storage::read(&path)?
        .ok_or_else(|| Error::snapshot("the run has no schema.json").with_file(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::snapshot(format!("schema.json is not valid: {e}"))
            .with_source(e)
            .with_file(&path)
    })
}

/// xxh3-64 of a file's (or object's) bytes as 16 hex digits.
pub fn file_xxh3(path: &Path) -> Result<String> {
    Ok(storage::xxh3(path)?.1)
}

/// Check every file of a complete run against its manifest: present, same size, same
/// xxh3. Returns the manifest when all match.
pub fn verify_run(run_dir: &Path) -> Result<Manifest> {
    let manifest = read_manifest(run_dir)?;
    for (table, t) in &manifest.tables {
        for f in &t.files {
            let path = run_dir.join(&f.path);
            let Some(len) = storage::size(&path)? else {
                return Err(Error::snapshot("a file listed in the manifest is missing")
                    .with_table(table)
                    .with_file(&path));
            };
            if len != f.bytes {
                return Err(Error::snapshot(format!(
                    "the file has {len} bytes but the manifest says {}",
                    f.bytes
                ))
                .with_table(table)
                .with_file(&path));
            }
            let got = file_xxh3(&path)?;
            if got != f.xxh3 {
                return Err(Error::snapshot(format!(
                    "the file's xxh3 is {got} but the manifest says {}: it was changed or corrupted after extraction",
                    f.xxh3
                ))
                .with_table(table)
                .with_file(&path));
            }
        }
    }
    Ok(manifest)
}

/// A new run id from the current UTC time (`20261122T021500Z`), with `-2`, `-3`, ...
/// appended if a run of that id exists for any of `sides` under `root`. Sorts by time.
pub fn new_run_id(root: &Path, sides: &[impl AsRef<str>]) -> String {
    let base = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let taken = |id: &str| {
        sides
            .iter()
            .any(|s| storage::is_dir(&run_dir(root, s.as_ref(), id)).unwrap_or(false))
    };
    let mut id = base.clone();
    let mut n = 2;
    while taken(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// Check a user-given run id or snapshot name: letters, digits, `_`, `-`, `.`; not hidden.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Error::spec(format!(
            "{what} `{name}` may hold only letters, digits, `_`, `-` and `.`, and may not start with `.`"
        )))
    }
}
