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

pub mod manifest;
pub mod writer;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use manifest::{FileEntry, Manifest, SchemaDoc, TableManifest, TableRecord, TableSchema};
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
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list snapshot runs", &dir, e)),
    };
    let mut runs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list snapshot runs", &dir, e))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let Some(run_id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if run_id.starts_with('.') {
            continue;
        }
        let complete = path.join(MANIFEST).is_file();
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
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::snapshot("the run has no manifest.json, so it is incomplete")
                .with_file(run_dir)
                .with_hint("finish it with `snapdiff extract --resume RUN`, or extract a new run")
        } else {
            Error::io("read manifest", &path, e)
        }
    })?;
    parse_manifest(&text, &path)
}

/// Parse and check the text of a `manifest.json`; `path` only names the file in errors.
/// [`read_manifest`] without the file system (the fuzz harness in `fuzz/` uses it).
pub fn parse_manifest(text: &str, path: &Path) -> Result<Manifest> {
    let manifest: Manifest = serde_json::from_str(text)
        .map_err(|e| Error::snapshot(format!("manifest.json is not valid: {e}")).with_file(path))?;
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
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read schema", &path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::snapshot(format!("schema.json is not valid: {e}")).with_file(&path))
}

/// xxh3-64 of a file's bytes as 16 hex digits, read in 1 MiB blocks.
pub fn file_xxh3(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:016x}", hasher.digest()))
}

/// Check every file of a complete run against its manifest: present, same size, same
/// xxh3. Returns the manifest when all match.
pub fn verify_run(run_dir: &Path) -> Result<Manifest> {
    let manifest = read_manifest(run_dir)?;
    for (table, t) in &manifest.tables {
        for f in &t.files {
            let path = run_dir.join(&f.path);
            let meta = std::fs::metadata(&path).map_err(|e| {
                Error::snapshot(format!("a file listed in the manifest is missing: {e}"))
                    .with_table(table)
                    .with_file(&path)
            })?;
            if meta.len() != f.bytes {
                return Err(Error::snapshot(format!(
                    "the file has {} bytes but the manifest says {}",
                    meta.len(),
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
pub fn new_run_id(root: &Path, sides: &[&str]) -> String {
    let base = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let taken = |id: &str| sides.iter().any(|s| run_dir(root, s, id).exists());
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
