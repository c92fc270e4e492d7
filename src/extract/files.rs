//! Parquet, CSV and NDJSON files, read through DataFusion.
//!
//! A files source is a file, a glob (one table), or a folder: a table per data file
//! (`orders.parquet`) and per sub-folder of data files (`orders/part-0.parquet`, ...),
//! named after it. To read one folder of parts as a single table, name it with a glob
//! (`orders/*.parquet`). Files are streamed batch by batch, so
//! inputs of any size are copied with bounded memory. String and binary columns are
//! stored as `Utf8`/`Binary` whatever representation the reader chose (views, large),
//! so a snapshot's types do not depend on how the input was written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::options::{
    CsvReadOptions, NdJsonReadOptions, ParquetReadOptions,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;

use super::pipeline::TableOutput;
use super::types::{self, CastType, ConformStats, OutColumn};
use super::{ReadContext, Source, SourceReader, TableFrom, TableMeta, TableRequest};
use crate::error::{Error, Result};
use crate::snapshot::manifest::{ColumnSchema, TableSchema};

/// The data file formats a files source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Csv { tab: bool },
    NdJson,
}

/// A data file's format, read from its name: the format, the suffix exactly as written
/// (DataFusion lists a folder's files by it), and whether it is gzip-compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind {
    pub format: Format,
    pub suffix: String,
    pub gzip: bool,
}

impl Kind {
    /// The kind of a data file in a folder or glob, from its name (any letter case).
    pub fn of(name: &str) -> Option<Kind> {
        Self::of_with(name, false)
    }

    /// The kind of a file named on its own: `.json` is NDJSON here too (in a folder it is
    /// more likely metadata).
    pub fn of_file(name: &str) -> Option<Kind> {
        Self::of_with(name, true)
    }

    fn of_with(name: &str, json: bool) -> Option<Kind> {
        let lower = name.to_ascii_lowercase();
        let (base, gzip) = match lower.strip_suffix(".gz") {
            Some(b) => (b, true),
            None => (lower.as_str(), false),
        };
        let (format, ext) = [
            (Format::Parquet, ".parquet"),
            (Format::Parquet, ".pq"),
            (Format::Csv { tab: false }, ".csv"),
            (Format::Csv { tab: true }, ".tsv"),
            (Format::NdJson, ".ndjson"),
            (Format::NdJson, ".jsonl"),
            (Format::NdJson, ".json"),
        ]
        .into_iter()
        .find(|(_, e)| base.ends_with(e) && (json || *e != ".json"))?;
        if gzip && format == Format::Parquet {
            return None;
        }
        let len = ext.len() + if gzip { 3 } else { 0 };
        Some(Kind {
            format,
            suffix: name[name.len() - len..].to_string(),
            gzip,
        })
    }

    /// The name without its suffix: the table a file stands for.
    pub fn stem<'a>(&self, name: &'a str) -> &'a str {
        &name[..name.len() - self.suffix.len()]
    }
}

/// One table of a files source: a file, a folder of files of one kind, or a glob.
#[derive(Debug, Clone)]
struct Entry {
    location: String,
    kind: Kind,
}

pub struct FilesReader {
    path: PathBuf,
    /// Table name → entry; a single-file or glob source has one entry under "".
    entries: BTreeMap<String, Entry>,
    runtime: tokio::runtime::Runtime,
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn not_data(path: &Path) -> Error {
    Error::source("the file is not Parquet, CSV or NDJSON (by its extension)")
        .with_file(path)
        .with_hint("name data files *.parquet, *.csv, *.tsv, *.ndjson or *.jsonl (optionally .gz), or *.json given on its own")
}

/// The kind of the data files directly inside `dir`, if it holds any. They must share one
/// suffix exactly, or DataFusion would silently read only some of them.
fn folder_kind(dir: &Path) -> Result<Option<Kind>> {
    let mut found: Option<(Kind, String)> = None;
    for e in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let p = e.map_err(|e| Error::io("list", dir, e))?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !p.is_file() || name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if let Some(k) = Kind::of(name) {
            match &found {
                None => found = Some((k, name.to_string())),
                Some((g, _)) if *g == k => {}
                Some((_, other)) => {
                    return Err(Error::source(format!(
                        "the folder mixes data files of different kinds (`{other}` and `{name}`)"
                    ))
                    .with_file(dir)
                    .with_hint("keep one kind and one extension per folder, or name the files with a glob (dir/*.parquet)"))
                }
            }
        }
    }
    Ok(found.map(|(k, _)| k))
}

impl FilesReader {
    pub fn open(source: &Source) -> Result<FilesReader> {
        let path = source.local_path()?.to_path_buf();
        let text = path.to_string_lossy().to_string();
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        if is_glob(&text) {
            let kind = Kind::of(&text).ok_or_else(|| not_data(&path))?;
            let any = glob::glob(&text)
                .map_err(|e| {
                    Error::spec(format!("`{text}` is not a valid glob: {e}")).with_source(e)
                })?
                .filter_map(|p| p.ok())
                .next();
            if any.is_none() {
                return Err(Error::source("no file matches the pattern").with_file(&path));
            }
            entries.insert(
                String::new(),
                Entry {
                    location: text,
                    kind,
                },
            );
        } else if path.is_file() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let kind = Kind::of_file(name).ok_or_else(|| not_data(&path))?;
            entries.insert(
                String::new(),
                Entry {
                    location: text,
                    kind,
                },
            );
        } else if path.is_dir() {
            for e in std::fs::read_dir(&path).map_err(|e| Error::io("list", &path, e))? {
                let p = e.map_err(|e| Error::io("list", &path, e))?.path();
                let Some(file_name) = p.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if file_name.starts_with('.') || file_name.starts_with('_') {
                    continue;
                }
                let found = if p.is_file() {
                    Kind::of(file_name).map(|kind| {
                        (
                            kind.stem(file_name).to_string(),
                            Entry {
                                location: p.to_string_lossy().to_string(),
                                kind,
                            },
                        )
                    })
                } else if p.is_dir() {
                    folder_kind(&p)?.map(|kind| {
                        let mut loc = p.to_string_lossy().to_string();
                        loc.push('/');
                        (
                            file_name.to_string(),
                            Entry {
                                location: loc,
                                kind,
                            },
                        )
                    })
                } else {
                    None
                };
                if let Some((stem, entry)) = found {
                    // Keyed by the snapshot name: `sales.2023.csv` is `sales_2023`, and
                    // `Orders.csv` next to `orders/` is a clash, not a silent overwrite.
                    let table = snapshot_name_of_file(&stem);
                    if let Some(prev) = entries.get(&table) {
                        return Err(Error::source(format!(
                            "two sources for table `{table}`: {} and {}",
                            prev.location, entry.location
                        ))
                        .with_file(&path)
                        .with_hint("keep one file or folder per table name"));
                    }
                    entries.insert(table, entry);
                }
            }
            if entries.is_empty() {
                return Err(
                    Error::source("the folder holds no Parquet, CSV or NDJSON files")
                        .with_file(&path),
                );
            }
        } else {
            return Err(Error::connect("no such file or folder").with_file(&path));
        }
        let runtime = crate::engine::runtime::runtime(crate::engine::runtime::Flavor::Queries)?;
        Ok(FilesReader {
            path,
            entries,
            runtime,
        })
    }

    fn entry(&self, table: &str) -> Result<&Entry> {
        if let Some(e) = self.entries.get("") {
            return Ok(e);
        }
        let key = self
            .entries
            .get(table)
            .or_else(|| self.entries.get(&snapshot_name_of_file(table)));
        key.ok_or_else(|| {
            Error::source(format!("there is no file or folder for table `{table}`"))
                .with_file(&self.path)
                .with_hint(format!(
                    "the tables are: {}",
                    self.entries.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
        })
    }

    fn session() -> SessionContext {
        let mut config = SessionConfig::new();
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
        SessionContext::new_with_config(config)
    }

    async fn register(
        ctx: &SessionContext,
        name: &str,
        entry: &Entry,
        casts: &BTreeMap<String, CastType>,
    ) -> Result<()> {
        let ext = entry.kind.suffix.as_str();
        let loc = entry.location.as_str();
        let compression = if entry.kind.gzip {
            FileCompressionType::GZIP
        } else {
            FileCompressionType::UNCOMPRESSED
        };
        // Types are inferred from every record: a value late in a file must not be
        // truncated or dropped to fit a type guessed from the first rows.
        let res = match entry.kind.format {
            Format::Parquet => {
                ctx.register_parquet(name, loc, ParquetReadOptions::default().file_extension(ext))
                    .await
            }
            Format::NdJson => {
                let mut opts = NdJsonReadOptions::default()
                    .file_extension(ext)
                    .file_compression_type(compression);
                opts.schema_infer_max_records = usize::MAX;
                ctx.register_json(name, loc, opts).await
            }
            Format::Csv { tab } => {
                let opts = CsvReadOptions::new()
                    .has_header(true)
                    .delimiter(if tab { b'\t' } else { b',' })
                    .file_extension(ext)
                    .file_compression_type(compression)
                    .schema_infer_max_records(usize::MAX);
                // Columns cast to text (or never typed) are read as text from the start,
                // so `007` stays `007`.
                let inferred = ctx
                    .read_csv(loc, opts.clone())
                    .await
                    .map_err(|e| {
                        Error::source(format!("cannot read the CSV file: {e}")).with_file(loc)
                    })?
                    .schema()
                    .as_arrow()
                    .clone();
                let fields: Vec<Field> = inferred
                    .fields()
                    .iter()
                    .map(|f| {
                        let text = matches!(casts.get(f.name()), Some(CastType::Text))
                            || f.data_type() == &DataType::Null;
                        Field::new(
                            f.name(),
                            if text {
                                DataType::Utf8
                            } else {
                                f.data_type().clone()
                            },
                            true,
                        )
                    })
                    .collect();
                let schema = Schema::new(fields);
                ctx.register_csv(name, loc, opts.schema(&schema)).await
            }
        };
        res.map_err(|e| {
            Error::source(format!("cannot read the data: {e}"))
                .with_source(e)
                .with_file(loc)
        })
    }
}

/// The snapshot name of a file stem: lowercase, anything but letters and digits as `_`.
fn snapshot_name_of_file(stem: &str) -> String {
    super::snapshot_name(&stem.replace('.', "_"))
}

/// The type a file column is stored as.
fn stored_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, v) => stored_type(v),
        DataType::List(f) | DataType::LargeList(f) => DataType::List(Arc::new(Field::new(
            f.name(),
            stored_type(f.data_type()),
            true,
        ))),
        other => other.clone(),
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl SourceReader for FilesReader {
    fn list_tables(&mut self) -> Result<Vec<String>> {
        if let Some(e) = self.entries.get("") {
            // A single file is named after its stem; a glob after the folder it is in.
            let name = self
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let stem = if is_glob(name) {
                self.path
                    .parent()
                    .and_then(|p| p.file_name())
                    .and_then(|n| n.to_str())
                    .unwrap_or("data")
            } else {
                e.kind.stem(name)
            };
            return Ok(vec![snapshot_name_of_file(stem)]);
        }
        Ok(self.entries.keys().cloned().collect())
    }

    fn consistency(&self) -> String {
        "files as they were when each table was read".to_string()
    }

    fn read_table(
        &mut self,
        req: &TableRequest,
        out: &mut TableOutput,
        _ctx: &ReadContext<'_>,
    ) -> Result<TableMeta> {
        let ctx = Self::session();
        let entries = self.entries.clone();
        let (sql, source_object, registered) = match &req.from {
            TableFrom::Table(t) => {
                let e = self.entry(t)?.clone();
                (None, Some(e.location.clone()), vec![("t".to_string(), e)])
            }
            TableFrom::Query(q) => {
                let regs: Vec<(String, Entry)> = if let Some(e) = entries.get("") {
                    vec![(req.name.clone(), e.clone())]
                } else {
                    entries
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                (Some(q.clone()), None, regs)
            }
        };
        self.runtime.block_on(async {
            for (name, e) in &registered {
                Self::register(&ctx, name, e, &req.casts).await?;
            }
            let base = match &sql {
                Some(q) => crate::engine::sql::sql(&ctx, q)
                    .await
                    .map_err(|e| Error::source(format!("the query failed: {e}")).with_source(e))?,
                None => ctx
                    .table("t")
                    .await
                    .map_err(|e| Error::source(e.to_string()))?,
            };
            let in_schema = base.schema().as_arrow().clone();
            super::check_casts(req, in_schema.fields().iter().map(|f| f.name().as_str()))?;
            let mut out_cols = Vec::new();
            let mut cols = Vec::new();
            let mut select = Vec::new();
            for f in in_schema.fields() {
                // A cast reads the value's exact text and parses it strictly (DataFusion's
                // casts round decimals and truncate floats to integers).
                let (out, note) = match req.casts.get(f.name()) {
                    Some(c) => (
                        OutColumn::cast(f.name(), *c),
                        Some(format!("cast to {c} by the spec")),
                    ),
                    None => (OutColumn::exact(f.name(), stored_type(f.data_type())), None),
                };
                let t = out.data_type.clone();
                select.push(quote(f.name()));
                out_cols.push(out);
                cols.push(ColumnSchema {
                    name: f.name().clone(),
                    source_type: crate::snapshot::manifest::type_name(f.data_type()),
                    arrow_type: crate::snapshot::manifest::type_name(&t),
                    nullable: f.is_nullable(),
                    notes: note.into_iter().collect(),
                    ..Default::default()
                });
            }
            let projected = match &sql {
                Some(q) => format!("SELECT {} FROM ({q}) AS q", select.join(", ")),
                None => format!("SELECT {} FROM t", select.join(", ")),
            };
            let df = crate::engine::sql::sql(&ctx, &projected)
                .await
                .map_err(|e| Error::source(format!("cannot read the data: {e}")).with_source(e))?;
            let schema: SchemaRef = types::out_schema(&out_cols);
            let sender = out.start(schema.clone(), None)?;
            let mut stream = df
                .execute_stream()
                .await
                .map_err(|e| Error::source(format!("cannot read the data: {e}")).with_source(e))?;
            let mut stats = ConformStats::default();
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| {
                    Error::source(format!("cannot read the data: {e}")).with_source(e)
                })?;
                let b = types::conform(&batch, &out_cols, &schema, &mut stats)?;
                sender.send(b)?;
            }
            Ok(TableMeta {
                source_object: source_object.clone(),
                query: match &sql {
                    Some(q) => q.clone(),
                    None => projected.clone(),
                },
                partitioning: None,
                schema: TableSchema {
                    source_object,
                    columns: cols,
                    primary_key: Vec::new(),
                    indexes: Vec::new(),
                },
            })
        })
    }
}
