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

impl Format {
    /// The format of a file named on its own, by its extension (`.json` is read as
    /// NDJSON here, but not when found in a folder, where it is more likely metadata).
    pub fn of_file(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".json") {
            return Some(Format::NdJson);
        }
        Self::of(path)
    }

    /// The format of a data file in a folder or glob, by its extension.
    pub fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.trim_end_matches(".gz");
        if name.ends_with(".parquet") || name.ends_with(".pq") {
            Some(Format::Parquet)
        } else if name.ends_with(".csv") {
            Some(Format::Csv { tab: false })
        } else if name.ends_with(".tsv") {
            Some(Format::Csv { tab: true })
        } else if name.ends_with(".ndjson") || name.ends_with(".jsonl") {
            Some(Format::NdJson)
        } else {
            None
        }
    }

    fn extension(&self, path: &str) -> String {
        // The listing filters files by this suffix; keep the file's own (".csv", ".jsonl").
        let lower = path.to_ascii_lowercase();
        for ext in [
            ".parquet", ".pq", ".csv.gz", ".csv", ".tsv", ".ndjson", ".jsonl", ".json",
        ] {
            if lower.ends_with(ext) {
                return ext.to_string();
            }
        }
        match self {
            Format::Parquet => ".parquet".into(),
            Format::Csv { tab: false } => ".csv".into(),
            Format::Csv { tab: true } => ".tsv".into(),
            Format::NdJson => ".ndjson".into(),
        }
    }
}

/// One table of a files source: a file, a folder of files of one format, or a glob.
#[derive(Debug, Clone)]
struct Entry {
    location: String,
    format: Format,
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
        .with_hint("name data files *.parquet, *.csv, *.tsv, *.ndjson or *.jsonl (or *.json, given on its own)")
}

/// The format of the data files directly inside `dir`, if it holds any.
fn folder_format(dir: &Path) -> Result<Option<Format>> {
    let mut found: Option<Format> = None;
    for e in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let p = e.map_err(|e| Error::io("list", dir, e))?.path();
        if p.is_file() {
            if let Some(f) = Format::of(&p) {
                match found {
                    None => found = Some(f),
                    Some(g) if g == f => {}
                    Some(_) => {
                        return Err(Error::source("the folder mixes data file formats").with_file(dir).with_hint(
                            "keep one format per folder, or name the files with a glob (dir/*.parquet)",
                        ))
                    }
                }
            }
        }
    }
    Ok(found)
}

impl FilesReader {
    pub fn open(source: &Source) -> Result<FilesReader> {
        let path = source.local_path()?.to_path_buf();
        let text = path.to_string_lossy().to_string();
        let mut entries = BTreeMap::new();
        if is_glob(&text) {
            let format = Format::of(Path::new(&text)).ok_or_else(|| not_data(&path))?;
            let any = glob::glob(&text)
                .map_err(|e| Error::spec(format!("`{text}` is not a valid glob: {e}")))?
                .filter_map(|p| p.ok())
                .next();
            if any.is_none() {
                return Err(Error::source("no file matches the pattern").with_file(&path));
            }
            entries.insert(
                String::new(),
                Entry {
                    location: text,
                    format,
                },
            );
        } else if path.is_file() {
            let format = Format::of_file(&path).ok_or_else(|| not_data(&path))?;
            entries.insert(
                String::new(),
                Entry {
                    location: text,
                    format,
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
                if p.is_file() {
                    if let Some(format) = Format::of(&p) {
                        let stem = file_name.split('.').next().unwrap_or(file_name);
                        entries.insert(
                            stem.to_string(),
                            Entry {
                                location: p.to_string_lossy().to_string(),
                                format,
                            },
                        );
                    }
                } else if p.is_dir() {
                    if let Some(format) = folder_format(&p)? {
                        let mut loc = p.to_string_lossy().to_string();
                        loc.push('/');
                        entries.insert(
                            file_name.to_string(),
                            Entry {
                                location: loc,
                                format,
                            },
                        );
                    }
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
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
        self.entries.get(table).ok_or_else(|| {
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
        let ext = entry.format.extension(&entry.location);
        let loc = entry.location.as_str();
        let res = match entry.format {
            Format::Parquet => {
                ctx.register_parquet(
                    name,
                    loc,
                    ParquetReadOptions::default().file_extension(&ext),
                )
                .await
            }
            Format::NdJson => {
                ctx.register_json(name, loc, NdJsonReadOptions::default().file_extension(&ext))
                    .await
            }
            Format::Csv { tab } => {
                let delimiter = if tab { b'\t' } else { b',' };
                let opts = CsvReadOptions::new()
                    .has_header(true)
                    .delimiter(delimiter)
                    .file_extension(&ext)
                    .schema_infer_max_records(100_000);
                // Infer, then keep columns cast to text (or never typed) as text, so a
                // value late in the file cannot fail a type the first rows suggested.
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
                        let t = if text {
                            DataType::Utf8
                        } else {
                            f.data_type().clone()
                        };
                        Field::new(f.name(), t, true)
                    })
                    .collect();
                let schema = Schema::new(fields);
                ctx.register_csv(name, loc, opts.schema(&schema)).await
            }
        };
        res.map_err(|e| Error::source(format!("cannot read the data: {e}")).with_file(loc))
    }
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
        if self.entries.contains_key("") {
            let stem = self
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .map(|n| n.split('.').next().unwrap_or(n).to_string())
                .filter(|s| !is_glob(s))
                .unwrap_or_else(|| "data".to_string());
            return Ok(vec![stem]);
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
                Some(q) => ctx
                    .sql(q)
                    .await
                    .map_err(|e| Error::source(format!("the query failed: {e}")))?,
                None => ctx
                    .table("t")
                    .await
                    .map_err(|e| Error::source(e.to_string()))?,
            };
            let in_schema = base.schema().as_arrow().clone();
            for cname in req.casts.keys() {
                if in_schema.field_with_name(cname).is_err() {
                    return Err(Error::spec(format!(
                        "`cast` names column `{cname}`, which the data does not have"
                    )));
                }
            }
            let mut out_cols = Vec::new();
            let mut cols = Vec::new();
            let mut select = Vec::new();
            for f in in_schema.fields() {
                let (expr, t, note) = match req.casts.get(f.name()) {
                    Some(c) => (
                        format!(
                            "arrow_cast({}, '{}') AS {}",
                            quote(f.name()),
                            arrow_cast_name(*c),
                            quote(f.name())
                        ),
                        c.arrow_type(),
                        Some(format!("cast to {c} by the spec")),
                    ),
                    None => (quote(f.name()), stored_type(f.data_type()), None),
                };
                select.push(expr);
                out_cols.push(OutColumn::exact(f.name(), t.clone()));
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
            let df = ctx
                .sql(&projected)
                .await
                .map_err(|e| Error::source(format!("cannot read the data: {e}")))?;
            let schema: SchemaRef = types::out_schema(&out_cols);
            let sender = out.start(schema.clone(), None)?;
            let mut stream = df
                .execute_stream()
                .await
                .map_err(|e| Error::source(format!("cannot read the data: {e}")))?;
            let mut stats = ConformStats::default();
            while let Some(batch) = stream.next().await {
                let batch =
                    batch.map_err(|e| Error::source(format!("cannot read the data: {e}")))?;
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

/// The `arrow_cast` name of a cast's Arrow type.
fn arrow_cast_name(c: CastType) -> String {
    match c {
        CastType::Text => "Utf8".into(),
        CastType::Integer => "Int64".into(),
        CastType::Float => "Float64".into(),
        CastType::Decimal(p, s) => format!("Decimal128({p}, {s})"),
        CastType::Boolean => "Boolean".into(),
        CastType::Date => "Date32".into(),
        CastType::Timestamp => "Timestamp(Microsecond, None)".into(),
        CastType::TimestampTz => "Timestamp(Microsecond, Some(\"UTC\"))".into(),
        CastType::Binary => "Binary".into(),
    }
}
