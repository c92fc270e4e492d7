//! The extract half of the flow: sources in, snapshot runs out.
//!
//! [`extract`] opens one source read-only, reads each requested table (or query) through
//! the reader for its kind, and writes a snapshot run with the layout of
//! [`crate::snapshot`]. Every reader plans the Arrow type of each column from the
//! source's own catalog, so a snapshot's types do not depend on the data's first rows.
//!
//! | source | reader | how it is split |
//! |---|---|---|
//! | `sqlite://` | [`sqlite`]: rusqlite, read-only, one read transaction | `partition_on`/rowid ranges when `partitions > 1` |
//! | `postgresql://` | [`postgres`]: connectorx, one exported snapshot for every connection | `ctid` block ranges, or `partition_on` ranges |
//! | `mysql://` | [`mysql`]: connectorx, read-only sessions | integer primary key or `partition_on` ranges |
//! | files | [`files`]: DataFusion (Parquet, CSV, NDJSON) | streamed |
//! | `files://` | [`blobs`]: path, size, SHA-256, xxh3 per file | hashed on every core |

pub mod blobs;
pub mod cast;
pub mod cx;
pub mod files;
pub mod mysql;
pub mod pipeline;
pub mod postgres;
pub mod ranges;
pub mod source;
pub mod sqlite;
pub mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::snapshot::manifest::{
    Partitioning, SourceInfo, TableManifest, TableSchema, FORMAT_VERSION,
};
use crate::snapshot::names::Names;
use crate::snapshot::{self, Manifest, RunPlan, RunWriter, WriterSettings};
use pipeline::TableOutput;
pub use source::{Source, SourceKind};
pub use types::CastType;

/// What to read for one snapshot table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFrom {
    /// A table (or view) of the source, as the source names it (`public.orders`).
    Table(String),
    /// A query in the source's own SQL dialect.
    Query(String),
}

/// One table to extract.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRequest {
    /// The snapshot table name (`orders`): lowercase letters, digits and `_`.
    pub name: String,
    pub from: TableFrom,
    /// An integer column to split the read into ranges over.
    pub partition_on: Option<String>,
    /// How many ranges to read at once.
    pub partitions: Option<usize>,
    /// Explicit casts, applied in the source before reading.
    pub casts: BTreeMap<String, CastType>,
}

impl TableRequest {
    /// The whole table `table`, under a snapshot name derived from it.
    pub fn whole(table: &str) -> TableRequest {
        TableRequest::whole_named(table, Names::AsIs)
    }

    /// The whole table `table`, its snapshot name derived with `names` (`snake_case`:
    /// `InvoiceLine` is `invoice_line`).
    pub fn whole_named(table: &str, names: Names) -> TableRequest {
        TableRequest {
            name: snapshot_name_with(table, names),
            from: TableFrom::Table(table.to_string()),
            partition_on: None,
            partitions: None,
            casts: BTreeMap::new(),
        }
    }

    /// A one-line description stored in the run plan; a resumed run must match it.
    pub fn describe(&self) -> String {
        let mut s = match &self.from {
            TableFrom::Table(t) => format!("table {t}"),
            TableFrom::Query(q) => format!("query {q}"),
        };
        if let Some(p) = &self.partition_on {
            s.push_str(&format!(" partition_on={p}"));
        }
        if let Some(n) = self.partitions {
            s.push_str(&format!(" partitions={n}"));
        }
        for (c, t) in &self.casts {
            s.push_str(&format!(" cast {c}={t}"));
        }
        s
    }
}

/// Every column a request casts must exist: a typo in a cast is an error that lists the
/// columns, not a cast that silently does nothing.
pub fn check_casts<'a>(
    req: &TableRequest,
    columns: impl Iterator<Item = &'a str> + Clone,
) -> Result<()> {
    for cname in req.casts.keys() {
        if !columns.clone().any(|c| c == cname) {
            return Err(Error::spec(format!(
                "`cast` names column `{cname}`, which the table does not have"
            ))
            .with_hint(format!(
                "the columns are: {}",
                columns.collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(())
}

/// A snapshot table name derived from a source name: the part after the last `.`,
/// lowercased, with anything but letters, digits and `_` replaced by `_`.
pub fn snapshot_name(source_name: &str) -> String {
    snapshot_name_with(source_name, Names::AsIs)
}

/// [`snapshot_name`], words parted first when `names` is `snake_case`.
pub fn snapshot_name_with(source_name: &str, names: Names) -> String {
    let base = source_name.rsplit('.').next().unwrap_or(source_name);
    let base = base.trim_matches(|c| c == '"' || c == '`');
    let parted = match names {
        Names::SnakeCase => crate::snapshot::names::snake_case(base),
        Names::AsIs | Names::Lower => base.to_string(),
    };
    let base = parted.as_str();
    let mut s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// Check a snapshot table name: it becomes `legacy.<name>` in SQL, so it must be a plain
/// lowercase identifier.
pub fn check_table_name(name: &str) -> Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::spec(format!(
            "snapshot table name `{name}` must be lowercase letters, digits and `_`, starting with a letter or `_`"
        ))
        .with_hint(format!("use name = \"{}\"", snapshot_name(name))))
    }
}

/// One side's extraction: a source and the tables to read from it.
#[derive(Debug, Clone)]
pub struct ExtractRequest {
    /// `legacy`, `target`, or any other side name.
    pub side: String,
    pub source: Source,
    /// The tables to read; empty means every table of the source.
    pub tables: Vec<TableRequest>,
    /// How the snapshot names the columns (and the tables read whole): as the source
    /// does, lower case, or snake_case. schema.json keeps the source's names beside.
    pub names: Names,
}

/// How to extract, independent of the source.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// The snapshot root; runs go to `<root>/<side>/<run-id>/`.
    pub snapshot_root: PathBuf,
    /// The run id to create, or (with `resume`) to finish.
    pub run_id: String,
    /// Finish the interrupted run `run_id` instead of starting one.
    pub resume: bool,
    /// Rows per range query: bounds the memory one reader holds (database sources).
    pub chunk_rows: u64,
    /// Readers at once per table when the spec does not say (`partitions`).
    pub default_concurrency: usize,
    pub writer: WriterSettings,
}

impl ExtractOptions {
    pub fn new(snapshot_root: impl Into<PathBuf>, run_id: impl Into<String>) -> Self {
        ExtractOptions {
            snapshot_root: snapshot_root.into(),
            run_id: run_id.into(),
            resume: false,
            chunk_rows: 500_000,
            default_concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .min(4),
            writer: WriterSettings::default(),
        }
    }
}

/// What a reader tells about a table it read.
#[derive(Debug, Clone)]
pub struct TableMeta {
    pub source_object: Option<String>,
    pub query: String,
    pub partitioning: Option<Partitioning>,
    pub schema: TableSchema,
}

/// A source opened for reading.
pub trait SourceReader {
    /// The tables of the source, as the source names them, for "extract everything".
    fn list_tables(&mut self) -> Result<Vec<String>>;
    /// Read one table into `out`, starting it with the planned schema.
    fn read_table(
        &mut self,
        req: &TableRequest,
        out: &mut TableOutput,
        ctx: &ReadContext<'_>,
    ) -> Result<TableMeta>;
    /// How consistent the tables of one run are with each other, for the manifest.
    fn consistency(&self) -> String;
}

/// What a reader may need beyond the request.
pub struct ReadContext<'a> {
    pub side: &'a str,
    pub options: &'a ExtractOptions,
    pub progress: &'a dyn Progress,
}

/// The result of extracting one side.
#[derive(Debug, Clone)]
pub struct ExtractOutcome {
    pub side: String,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub manifest: Manifest,
    /// Tables that an earlier attempt of a resumed run had completed.
    pub reused: Vec<String>,
}

/// Open the reader for a source.
pub fn open_reader(source: &Source) -> Result<Box<dyn SourceReader>> {
    Ok(match source.kind {
        SourceKind::Sqlite => Box::new(sqlite::SqliteReader::open(source)?),
        SourceKind::Postgres => Box::new(postgres::PgReader::open(source)?),
        SourceKind::Mysql => Box::new(mysql::MySqlReader::open(source)?),
        SourceKind::Files => Box::new(files::FilesReader::open(source)?),
        SourceKind::Blobs => Box::new(blobs::BlobsReader::open(source)?),
    })
}

/// Read one table into the run and commit it, its columns named as `names` says (the
/// reader reads the source's names; the pipeline renames).
fn extract_table(
    run: &RunWriter,
    reader: &mut dyn SourceReader,
    t: &TableRequest,
    names: Names,
    ctx: &ReadContext<'_>,
) -> Result<()> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let (mut meta, writer) =
        pipeline::write_table(run, ctx.side, &t.name, names, ctx.progress, |out| {
            reader.read_table(t, out, ctx)
        })?;
    rename_schema(&mut meta.schema, names);
    let manifest = TableManifest {
        source_object: meta.source_object,
        // A secret `${VAR}` could sit in a query: the stored text never holds one.
        query: crate::secrets::scrub(&meta.query),
        partitioning: meta.partitioning,
        rows: 0,
        arrow_schema: Vec::new(),
        files: Vec::new(),
        started_at,
        finished_at: Utc::now(),
    };
    let record = writer.commit(manifest, meta.schema)?;
    ctx.progress.table_finished(
        ctx.side,
        &t.name,
        record.manifest.rows,
        clock.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// The source's description of a table with its columns as the snapshot names them:
/// each renamed column keeps the source's name in `source_name`, and the key and index
/// columns follow.
fn rename_schema(schema: &mut TableSchema, names: Names) {
    if names == Names::AsIs {
        return;
    }
    for c in &mut schema.columns {
        let new = names.apply(&c.name);
        if new != c.name {
            c.source_name = Some(std::mem::replace(&mut c.name, new));
        }
    }
    for k in schema
        .primary_key
        .iter_mut()
        .chain(schema.indexes.iter_mut().flat_map(|i| i.columns.iter_mut()))
    {
        *k = names.apply(k);
    }
}

/// Extract one side into a new (or resumed) snapshot run.
pub fn extract(
    req: &ExtractRequest,
    opts: &ExtractOptions,
    progress: &dyn Progress,
) -> Result<ExtractOutcome> {
    snapshot::check_name("run id", &opts.run_id)?;
    snapshot::check_name("side", &req.side)?;
    let reader = open_reader(&req.source).map_err(|e| e.with_source_url(req.source.redacted()))?;
    extract_with_reader(reader, req, opts, progress)
}

/// Extract one side with a reader that is already open. A reader fixes its view of the
/// source when it opens (one snapshot, one read transaction), so everything it extracts
/// shows the source as it was at that moment.
pub fn extract_with_reader(
    mut reader: Box<dyn SourceReader>,
    req: &ExtractRequest,
    opts: &ExtractOptions,
    progress: &dyn Progress,
) -> Result<ExtractOutcome> {
    snapshot::check_name("run id", &opts.run_id)?;
    snapshot::check_name("side", &req.side)?;
    let redacted = req.source.redacted().to_string();
    let tables = if req.tables.is_empty() {
        let names = reader
            .list_tables()
            .map_err(|e| e.with_source_url(&redacted))?;
        if names.is_empty() {
            return Err(
                Error::source("the source has no tables to extract").with_source_url(&redacted)
            );
        }
        names
            .iter()
            .map(|t| TableRequest::whole_named(t, req.names))
            .collect::<Vec<_>>()
    } else {
        req.tables.clone()
    };
    let mut seen = BTreeSet::new();
    for t in &tables {
        check_table_name(&t.name)?;
        if !seen.insert(t.name.clone()) {
            return Err(Error::spec(format!(
                "two tables of side {} would both be stored as `{}`",
                req.side, t.name
            ))
            .with_hint("give one of them another name = \"...\""));
        }
    }
    let plan = RunPlan {
        format_version: FORMAT_VERSION,
        run_id: opts.run_id.clone(),
        side: req.side.clone(),
        source: SourceInfo {
            kind: req.source.kind,
            url: redacted.clone(),
        },
        tables: tables
            .iter()
            .map(|t| (t.name.clone(), crate::secrets::scrub(&t.describe())))
            .collect(),
        started_at: Utc::now(),
        resumed_at: Vec::new(),
    };
    let run = if opts.resume {
        RunWriter::resume(&opts.snapshot_root, plan, opts.writer.clone())?
    } else {
        RunWriter::create(&opts.snapshot_root, plan, opts.writer.clone())?
    };
    let ctx = ReadContext {
        side: &req.side,
        options: opts,
        progress,
    };
    let mut reused = Vec::new();
    let mut done = 0usize;
    for t in &tables {
        if run.is_table_complete(&t.name)? {
            progress.table_skipped(&req.side, &t.name, "complete in the run being resumed");
            reused.push(t.name.clone());
            done += 1;
            continue;
        }
        let result = extract_table(&run, reader.as_mut(), t, req.names, &ctx)
            .map_err(|e| e.with_table(&t.name).with_source_url(&redacted));
        match result {
            Ok(()) => done += 1,
            Err(e) if done == 0 && !opts.resume => {
                // Nothing worth resuming: leave no trace of the run.
                run.abandon();
                return Err(e);
            }
            Err(mut e) => {
                let hint = format!(
                    "{done} of {} tables are complete; finish the run with `snapdiff extract ... --resume {}`",
                    tables.len(),
                    opts.run_id
                );
                let hint = match e.hint.take() {
                    Some(h) => format!("{h}\n  then: {hint}"),
                    None => hint,
                };
                return Err(e.with_hint(hint));
            }
        }
    }
    let run_dir = run.dir().to_path_buf();
    let consistency = if run.plan().resumed_at.is_empty() {
        reader.consistency()
    } else {
        format!(
            "{}; resumed: tables from different attempts show the source at different times",
            reader.consistency()
        )
    };
    let manifest = run.finish(&consistency)?;
    Ok(ExtractOutcome {
        side: req.side.clone(),
        run_id: opts.run_id.clone(),
        run_dir,
        manifest,
        reused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_are_plain_identifiers() {
        assert_eq!(snapshot_name("public.Submissions"), "submissions");
        assert_eq!(snapshot_name("order-items"), "order_items");
        assert_eq!(snapshot_name("2024_sales"), "_2024_sales");
        assert_eq!(snapshot_name("\"Users\""), "users");
        assert!(check_table_name("order_items").is_ok());
        assert!(check_table_name("Orders").is_err());
        assert!(check_table_name("a.b").is_err());
    }
}
