//! Every differing row, written to Parquet as the diff finds it.
//!
//! The diff's queries (missing, extra, changed, duplicate and NULL keys) run once each:
//! their rows stream into `<diffs>/<entity>/<kind>.parquet`, and the counts, samples and
//! per-partition figures of the report are read back from those files, which are small
//! next to the join that produced them. The files are what users query afterwards with
//! `snapdiff sql`, DuckDB or Polars (their layout is in docs/report.md).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// The kinds of differing row, each in a file of its own: `<entity>/<kind>.parquet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiffKind {
    /// Rows of a legacy key the target does not have.
    Missing,
    /// Rows of a target key the legacy side does not have.
    Extra,
    /// Rows of a key on both sides whose compared columns differ.
    Changed,
    /// Keys held by more than one row of a side.
    Duplicates,
    /// Rows whose key has a NULL.
    NullKeys,
    /// Values a rule cannot read: side, column, key and the value as the source holds it.
    Invalid,
}

impl DiffKind {
    /// The kinds a report's delta matches by key, between two reports' files.
    pub const KEYED: [DiffKind; 4] = [
        DiffKind::Missing,
        DiffKind::Extra,
        DiffKind::Changed,
        DiffKind::Duplicates,
    ];

    /// The word the files and the reports use.
    pub fn as_str(&self) -> &'static str {
        match self {
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Changed => "changed",
            DiffKind::Duplicates => "duplicates",
            DiffKind::NullKeys => "null_keys",
            DiffKind::Invalid => "invalid",
        }
    }

    /// The file's name in an entity's folder of diffs: `<kind>.parquet`.
    pub fn file_name(&self) -> String {
        format!("{self}.parquet")
    }
}

impl std::fmt::Display for DiffKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Parquet file being written from one or more query results of one schema.
pub(crate) struct DiffWriter {
    path: PathBuf,
    writer: Option<ArrowWriter<File>>,
    /// The file's schema: the batches' with view types (`Utf8View`) as plain ones, which
    /// every Parquet reader knows.
    schema: SchemaRef,
    rows: u64,
}

impl DiffWriter {
    /// Start `path`; every batch appended must have `schema`.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<DiffWriter> {
        let schema = plain(&schema);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
        }
        let file = File::create(path).map_err(|e| Error::io("create", path, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("level 3")))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| Error::io_other("start Parquet file", path, &e))?;
        Ok(DiffWriter {
            path: path.to_path_buf(),
            writer: Some(writer),
            schema,
            rows: 0,
        })
    }

    /// Append one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let columns = cast_to(&self.schema, batch)
            .map_err(|e| Error::io_other("shape a diff batch", &self.path, &e))?;
        let w = self.writer.as_mut().expect("writer is open until finish");
        w.write(&columns)
            .map_err(|e| Error::io_other("write Parquet", &self.path, &e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Run `df` and append every row, each batch passed through `map` first. Returns
    /// the rows appended.
    pub async fn append(
        &mut self,
        df: DataFrame,
        mut map: impl FnMut(RecordBatch) -> Result<RecordBatch>,
    ) -> std::result::Result<u64, DiffError> {
        let mut stream = df.execute_stream().await.map_err(DiffError::Query)?;
        let mut rows = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = map(batch.map_err(DiffError::Query)?).map_err(DiffError::Write)?;
            self.write(&batch).map_err(DiffError::Write)?;
            rows += batch.num_rows() as u64;
        }
        Ok(rows)
    }

    /// Close the file. Returns the rows written.
    pub fn finish(mut self) -> Result<u64> {
        if let Some(w) = self.writer.take() {
            let file = w
                .into_inner()
                .map_err(|e| Error::io_other("close Parquet file", &self.path, &e))?;
            file.sync_all()
                .map_err(|e| Error::io("sync", &self.path, e))?;
        }
        Ok(self.rows)
    }
}

/// A failure while writing a query's rows: the query's own (explained by the entity, as
/// any check's error) or the file's.
pub(crate) enum DiffError {
    Query(datafusion::error::DataFusionError),
    Write(Error),
}

/// Read a diff file back as a DataFrame.
pub(crate) async fn read(ctx: &SessionContext, path: &Path) -> Result<DataFrame> {
    crate::storage::register_with(ctx, path)?;
    ctx.read_parquet(
        path.to_string_lossy().to_string(),
        ParquetReadOptions::default(),
    )
    .await
    .map_err(|e| {
        Error::snapshot(format!("cannot read a diff file back: {e}"))
            .with_source(e)
            .with_file(path)
    })
}

/// Every batch of a diff file (small: the differing rows of one kind of one entity).
pub fn read_all(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| Error::io_other("read Parquet", path, &e))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::io_other("read Parquet", path, &e))
}

/// Whether the diff file `path` carries the metadata `key` = `true` (a mark the report
/// layer sets); `false` when it cannot be read.
pub fn is_masked(path: &Path, key: &str) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .is_ok_and(|b| b.schema().metadata().get(key).is_some_and(|v| v == "true"))
}

/// Write `batches` as the diff file `path`: aside first, then renamed over it.
pub fn write_all(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let aside = path.with_extension("parquet.tmp");
    let mut w = DiffWriter::create(&aside, schema)?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    std::fs::rename(&aside, path).map_err(|e| Error::io("rename into place", path, e))
}

/// `schema` with top-level view types as their plain forms (`Utf8View` as `Utf8`,
/// `BinaryView` as `Binary`), every field nullable, its metadata kept.
pub(crate) fn plain(schema: &SchemaRef) -> SchemaRef {
    use arrow::datatypes::DataType;
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                DataType::Utf8View => DataType::Utf8,
                DataType::BinaryView => DataType::Binary,
                t => t.clone(),
            };
            // Nullable: the sides' queries may disagree (a literal or COALESCE is
            // non-nullable on one side, a plain column nullable on the other).
            f.as_ref().clone().with_data_type(t).with_nullable(true)
        })
        .collect();
    std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ))
}

/// `batch` with each column cast to `schema`'s type where it differs (view types to
/// plain ones, nested ones to text, ...).
pub(crate) fn cast_to(
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                arrow::compute::cast(c, f.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}
