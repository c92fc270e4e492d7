//! Writing a run so that no interruption can pass for a complete snapshot.
//!
//! Tables are written into `.tmp-<table>/`, closed, fsynced and renamed into place with
//! their `_table.json` inside; `schema.json` follows, and `manifest.json` is written last
//! through a temporary file and a rename. A process killed at any point leaves either a
//! folder without a manifest (incomplete, never read) or a complete run.
//!
//! On object storage ([`crate::storage`]) there is no rename: a table's parts go straight
//! to `<table>/` as multipart uploads, which appear only when completed, and its
//! `_table.json`, written after them, marks it complete. A table written again (on
//! resume) is cleared first. A new run's `.run.json` is written only if absent, which
//! claims the id; there is no other lock: one process resumes a run.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use super::manifest::{
    FieldInfo, FileEntry, Manifest, SchemaDoc, SourceInfo, TableManifest, TableRecord, TableSchema,
    FORMAT_VERSION,
};
use super::{MANIFEST, RUN_PLAN, SCHEMA, TABLE_RECORD, TMP_PREFIX};
use crate::error::{Error, Result};
use crate::storage::{self, sync_dir, Sink};

/// How Parquet parts are laid out.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Rows per row group (at most; a group is also closed when it reaches
    /// `row_group_bytes` in memory).
    pub row_group_rows: usize,
    /// Bytes a row group may take in memory before it is flushed.
    pub row_group_bytes: usize,
    /// Rows per part file before a new part is started.
    pub rows_per_file: u64,
    /// zstd level (1 is fast and still compresses well).
    pub zstd_level: i32,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            row_group_rows: 1 << 20,
            row_group_bytes: 128 << 20,
            rows_per_file: 50_000_000,
            zstd_level: 1,
        }
    }
}

/// What a run set out to do, stored in `.run.json` so that `--resume` finishes the same
/// run and not a different one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunPlan {
    pub format_version: u32,
    pub run_id: String,
    pub side: String,
    pub source: SourceInfo,
    /// Snapshot table name → what is read for it (table name or query, and options).
    pub tables: BTreeMap<String, String>,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub resumed_at: Vec<DateTime<Utc>>,
}

/// A run being written.
pub struct RunWriter {
    dir: PathBuf,
    plan: RunPlan,
    settings: WriterSettings,
    /// The run's lock (a local run only).
    _lock: Option<File>,
}

impl RunWriter {
    /// Start a new run folder `<root>/<side>/<run_id>`. Fails if it exists.
    pub fn create(root: &Path, plan: RunPlan, settings: WriterSettings) -> Result<RunWriter> {
        let side_dir = root.join(&plan.side);
        let dir = side_dir.join(&plan.run_id);
        let exists = if storage::is_object(&dir) {
            storage::is_dir(&dir)?
        } else {
            std::fs::create_dir_all(&side_dir)
                .map_err(|e| Error::io("create snapshot folder", &side_dir, e))?;
            match std::fs::create_dir(&dir) {
                Ok(()) => false,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => true,
                Err(e) => return Err(Error::io("create run folder", &dir, e)),
            }
        };
        match exists {
            false => {}
            true => {
                let hint = if storage::is_file(&dir.join(MANIFEST))? {
                    "that run is complete; choose another --run-id"
                } else {
                    "that run is incomplete; finish it with --resume RUN or choose another --run-id"
                };
                return Err(
                    Error::snapshot(format!("run `{}` already exists", plan.run_id))
                        .with_file(&dir)
                        .with_hint(hint),
                );
            }
        }
        let lock = lock_run(&dir)?;
        if storage::is_object(&dir) {
            // No folder to create there: the plan, written only if absent, claims the id,
            // so two writers that both found it free cannot both take it.
            let path = dir.join(RUN_PLAN);
            if !storage::create_new_object(&path, json_text(&path, &plan)?.as_bytes())? {
                return Err(
                    Error::snapshot(format!("run `{}` already exists", plan.run_id))
                        .with_file(&dir)
                        .with_hint(
                            "another snapdiff took that run id just now; choose another --run-id",
                        ),
                );
            }
        } else {
            write_json_atomic(&dir.join(RUN_PLAN), &plan)?;
        }
        Ok(RunWriter {
            dir,
            plan,
            settings,
            _lock: lock,
        })
    }

    /// Reopen an interrupted run to finish it. The new plan must match the stored one.
    pub fn resume(root: &Path, mut plan: RunPlan, settings: WriterSettings) -> Result<RunWriter> {
        let dir = root.join(&plan.side).join(&plan.run_id);
        if !storage::is_dir(&dir)? {
            return Err(Error::snapshot(format!("there is no run `{}` to resume", plan.run_id))
                .with_file(&dir)
                .with_hint("list runs with `ls` on the snapshot folder, or start a new run without --resume"));
        }
        if storage::is_file(&dir.join(MANIFEST))? {
            return Err(
                Error::snapshot(format!("run `{}` is already complete", plan.run_id))
                    .with_file(&dir)
                    .with_hint("nothing to resume; start a new run without --resume"),
            );
        }
        let lock = lock_run(&dir)?;
        let plan_path = dir.join(RUN_PLAN);
        let text = match storage::read(&plan_path)? {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => {
                // Killed between creating the folder and writing its plan: no table can
                // have been finished, and the run starts over under its id. A folder
                // with finished tables and no plan was not made by snapdiff this way.
                let mut finished = false;
                for t in storage::list_dirs(&dir)? {
                    finished |= storage::is_file(&dir.join(t).join(TABLE_RECORD))?;
                }
                if finished {
                    return Err(Error::snapshot(format!(
                        "run `{}` has finished tables but no plan ({RUN_PLAN}): what it set out to read is unknown",
                        plan.run_id
                    ))
                    .with_file(&dir)
                    .with_hint("start a new run without --resume"));
                }
                write_json_atomic(&plan_path, &plan)?;
                return Ok(RunWriter {
                    dir,
                    plan,
                    settings,
                    _lock: lock,
                });
            }
        };
        let stored: RunPlan = serde_json::from_str(&text).map_err(|e| {
            Error::snapshot(format!("the run plan is not valid: {e}")).with_file(&plan_path)
        })?;
        if stored.source != plan.source || stored.tables != plan.tables {
            let mut diffs = Vec::new();
            if stored.source != plan.source {
                diffs.push(format!(
                    "source was {} and is now {}",
                    stored.source.url, plan.source.url
                ));
            }
            for (t, q) in &plan.tables {
                match stored.tables.get(t) {
                    None => diffs.push(format!("table {t} was not in the run")),
                    Some(old) if old != q => {
                        diffs.push(format!("table {t} was read as `{old}` and is now `{q}`"))
                    }
                    _ => {}
                }
            }
            for t in stored.tables.keys() {
                if !plan.tables.contains_key(t) {
                    diffs.push(format!(
                        "table {t} was in the run and is no longer asked for"
                    ));
                }
            }
            return Err(Error::snapshot(format!(
                "run `{}` was started with a different plan: {}",
                plan.run_id,
                diffs.join("; ")
            ))
            .with_file(&dir)
            .with_hint("resume with the same spec and flags, or start a new run"));
        }
        plan.started_at = stored.started_at;
        plan.resumed_at = stored.resumed_at.clone();
        plan.resumed_at.push(Utc::now());
        // Leftovers of tables that were being written when the run stopped (on object
        // storage, a table is cleared when it is written again).
        let local_entries = if storage::is_object(&dir) {
            Vec::new()
        } else {
            std::fs::read_dir(&dir)
                .map_err(|e| Error::io("list run folder", &dir, e))?
                .collect()
        };
        for entry in local_entries {
            let entry = entry.map_err(|e| Error::io("list run folder", &dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TMP_PREFIX) || name.ends_with(".json.tmp") {
                let p = entry.path();
                let r = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                r.map_err(|e| Error::io("remove an unfinished table", &p, e))?;
            }
        }
        write_json_atomic(&plan_path, &plan)?;
        Ok(RunWriter {
            dir,
            plan,
            settings,
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn plan(&self) -> &RunPlan {
        &self.plan
    }

    /// Whether `table` was completed by an earlier attempt of this run. An error (object
    /// storage not answering) is an error: taken for "not complete", the table would be
    /// removed and extracted again.
    pub fn is_table_complete(&self, table: &str) -> Result<bool> {
        storage::is_file(&self.dir.join(table).join(TABLE_RECORD))
    }

    /// Start writing `table` with `schema` into its temporary folder.
    pub fn table_writer(&self, table: &str, schema: SchemaRef) -> Result<TableWriter> {
        let final_dir = self.dir.join(table);
        let tmp_dir = if storage::is_object(&self.dir) {
            // Straight into place: an earlier attempt's parts are removed first.
            storage::remove_all(&final_dir)?;
            final_dir.clone()
        } else {
            let tmp_dir = self.dir.join(format!("{TMP_PREFIX}{table}"));
            if tmp_dir.exists() {
                std::fs::remove_dir_all(&tmp_dir)
                    .map_err(|e| Error::io("remove an unfinished table", &tmp_dir, e))?;
            }
            std::fs::create_dir(&tmp_dir)
                .map_err(|e| Error::io("create table folder", &tmp_dir, e))?;
            tmp_dir
        };
        Ok(TableWriter {
            table: table.to_string(),
            tmp_dir,
            final_dir,
            schema,
            settings: self.settings.clone(),
            current: None,
            files: Vec::new(),
            rows: 0,
            committed: false,
        })
    }

    /// Give up a run that completed nothing: remove its folder.
    pub fn abandon(self) {
        let _ = storage::remove_all(&self.dir);
    }

    /// Write `schema.json` and then `manifest.json`, completing the run. Every planned
    /// table must be complete.
    pub fn finish(self, consistency: &str) -> Result<Manifest> {
        let mut tables = BTreeMap::new();
        let mut schemas = BTreeMap::new();
        for name in self.plan.tables.keys() {
            let path = self.dir.join(name).join(TABLE_RECORD);
            let text = match storage::read(&path)? {
                Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                None => {
                    return Err(Error::snapshot(format!(
                        "table {name} is not complete: it has no {TABLE_RECORD}"
                    ))
                    .with_file(&path))
                }
            };
            let record: TableRecord = serde_json::from_str(&text).map_err(|e| {
                Error::snapshot(format!("the table record is not valid: {e}")).with_file(&path)
            })?;
            tables.insert(name.clone(), record.manifest);
            schemas.insert(name.clone(), record.schema);
        }
        let schema_doc = SchemaDoc {
            format_version: FORMAT_VERSION,
            side: self.plan.side.clone(),
            source: self.plan.source.clone(),
            tables: schemas,
        };
        write_json_atomic(&self.dir.join(SCHEMA), &schema_doc)?;
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            tool: "snapdiff".to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id: self.plan.run_id.clone(),
            side: self.plan.side.clone(),
            source: self.plan.source.clone(),
            started_at: self.plan.started_at,
            finished_at: Utc::now(),
            resumed_at: self.plan.resumed_at.clone(),
            consistency: consistency.to_string(),
            tables,
        };
        write_json_atomic(&self.dir.join(MANIFEST), &manifest)?;
        if self._lock.is_some() {
            let _ = std::fs::remove_file(self.dir.join(".lock"));
        }
        Ok(manifest)
    }
}

/// Lock a local run folder against a second writer (object storage has no locks).
fn lock_run(dir: &Path) -> Result<Option<File>> {
    if storage::is_object(dir) {
        return Ok(None);
    }
    let path = dir.join(".lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("create lock file", &path, e))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::new(
            crate::error::ErrorKind::Interrupted,
            "another snapdiff process is writing this run",
        )
        .with_file(dir)
        .with_hint("wait for it to finish, or stop it first")),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock the run folder", &path, e)),
    }
}

/// Serialize `value` to `path` atomically ([`storage::write_atomic`]: a local file
/// through `path.tmp`, fsync, rename and fsync of the folder; an object with one PUT).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    storage::write_atomic(path, json_text(path, value)?.as_bytes())
}

/// `value` as pretty JSON with a final newline, as snapshot files hold it (`path` only
/// names the file in errors).
fn json_text<T: Serialize>(path: &Path, value: &T) -> Result<String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| {
        Error::internal(format!("cannot serialize {}: {e}", path.display())).with_source(e)
    })?;
    text.push('\n');
    Ok(text)
}

/// A table being written: Parquet parts in a temporary folder until [`TableWriter::commit`].
/// Dropping it without committing removes the temporary folder.
pub struct TableWriter {
    table: String,
    tmp_dir: PathBuf,
    final_dir: PathBuf,
    schema: SchemaRef,
    settings: WriterSettings,
    current: Option<PartWriter>,
    files: Vec<FileEntry>,
    rows: u64,
    committed: bool,
}

impl TableWriter {
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Append a batch; it must have the table's schema.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if batch.schema().fields() != self.schema.fields() {
            return Err(Error::internal(format!(
                "batch schema {:?} differs from the table schema {:?}",
                batch.schema(),
                self.schema
            ))
            .with_table(&self.table));
        }
        if self.current.is_none() {
            let part = format!("part-{:05}.parquet", self.files.len());
            self.current = Some(PartWriter::create(
                &self.tmp_dir.join(&part),
                part,
                self.schema.clone(),
                &self.settings,
            )?);
        }
        let part = self.current.as_mut().expect("part writer was just created");
        part.write(batch, self.settings.row_group_bytes)?;
        self.rows += batch.num_rows() as u64;
        if part.rows >= self.settings.rows_per_file {
            self.close_part()?;
        }
        Ok(())
    }

    fn close_part(&mut self) -> Result<()> {
        if let Some(part) = self.current.take() {
            let mut entry = part.close()?;
            entry.path = format!("{}/{}", self.table, entry.path);
            self.files.push(entry);
        }
        Ok(())
    }

    /// Close the parts, write `_table.json`, and rename the folder into place.
    /// `manifest.files`, `rows` and `arrow_schema` are filled in here.
    pub fn commit(
        mut self,
        mut manifest: TableManifest,
        schema: TableSchema,
    ) -> Result<TableRecord> {
        self.close_part()?;
        if self.files.is_empty() {
            // An empty table still gets one (empty) part, so its schema is on disk.
            let part = "part-00000.parquet".to_string();
            let w = PartWriter::create(
                &self.tmp_dir.join(&part),
                part,
                self.schema.clone(),
                &self.settings,
            )?;
            let mut entry = w.close()?;
            entry.path = format!("{}/{}", self.table, entry.path);
            self.files.push(entry);
        }
        manifest.rows = self.rows;
        manifest.files = std::mem::take(&mut self.files);
        manifest.arrow_schema = FieldInfo::from_schema(&self.schema);
        let record = TableRecord {
            format_version: FORMAT_VERSION,
            name: self.table.clone(),
            manifest,
            schema,
        };
        write_json_atomic(&self.tmp_dir.join(TABLE_RECORD), &record)?;
        if self.tmp_dir == self.final_dir {
            // Object storage: the record, written last, marks the table complete.
            self.committed = true;
            return Ok(record);
        }
        sync_dir(&self.tmp_dir)?;
        if self.final_dir.exists() {
            std::fs::remove_dir_all(&self.final_dir).map_err(|e| {
                Error::io("replace an earlier copy of the table", &self.final_dir, e)
            })?;
        }
        std::fs::rename(&self.tmp_dir, &self.final_dir)
            .map_err(|e| Error::io("rename the table into place", &self.final_dir, e))?;
        sync_dir(self.final_dir.parent().unwrap_or(Path::new(".")))?;
        self.committed = true;
        Ok(record)
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        if !self.committed {
            self.current = None;
            let _ = storage::remove_all(&self.tmp_dir);
        }
    }
}

/// A `Write` that counts bytes and hashes them with xxh3 as they pass.
struct HashingWriter {
    inner: BufWriter<Sink>,
    hasher: xxhash_rust::xxh3::Xxh3,
    bytes: u64,
    path: PathBuf,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One Parquet part file.
struct PartWriter {
    writer: ArrowWriter<HashingWriter>,
    name: String,
    path: PathBuf,
    rows: u64,
}

impl PartWriter {
    fn create(
        path: &Path,
        name: String,
        schema: SchemaRef,
        settings: &WriterSettings,
    ) -> Result<PartWriter> {
        let file = Sink::create(path)?;
        let sink = HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            bytes: 0,
            path: path.to_path_buf(),
        };
        let level = ZstdLevel::try_new(settings.zstd_level).map_err(|e| {
            Error::internal(format!("zstd level {}: {e}", settings.zstd_level)).with_source(e)
        })?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_size(settings.row_group_rows)
            .set_created_by(format!("snapdiff {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(sink, schema, Some(props))
            .map_err(|e| map_write_error(e, path))?;
        Ok(PartWriter {
            writer,
            name,
            path: path.to_path_buf(),
            rows: 0,
        })
    }

    fn write(&mut self, batch: &RecordBatch, row_group_bytes: usize) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|e| map_write_error(e, &self.path))?;
        self.rows += batch.num_rows() as u64;
        if self.writer.in_progress_size() > row_group_bytes {
            self.writer
                .flush()
                .map_err(|e| map_write_error(e, &self.path))?;
        }
        Ok(())
    }

    fn close(self) -> Result<FileEntry> {
        // `into_inner` writes the footer and flushes.
        let mut sink = self
            .writer
            .into_inner()
            .map_err(|e| map_write_error(e, &self.path))?;
        sink.flush()
            .map_err(|e| Error::io("write", &sink.path, e))?;
        // fsync a file; complete an upload (the object appears only now).
        sink.inner
            .get_mut()
            .finish()
            .map_err(|e| Error::io("write", &sink.path, e))?;
        Ok(FileEntry {
            path: self.name,
            rows: self.rows,
            bytes: sink.bytes,
            xxh3: format!("{:016x}", sink.hasher.digest()),
        })
    }
}

/// Parquet wraps I/O errors; dig them out so that "disk full" reads as such.
fn map_write_error(e: parquet::errors::ParquetError, path: &Path) -> Error {
    match e {
        parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => Error::io("write", path, *io),
                Err(other) => {
                    Error::snapshot(format!("cannot write Parquet: {other}")).with_file(path)
                }
            }
        }
        other => {
            let text = other.to_string();
            Error::snapshot(format!("cannot write Parquet: {text}")).with_file(path)
        }
    }
}
