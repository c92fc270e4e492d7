//! A recheck's findings by key, read from diff files and kept between rounds in Parquet.
//!
//! A finding is its key (as text, as the reports show keys), its kind (`missing`,
//! `extra`, `changed`, `duplicates`) and a signature: a hash of its rows in the diff file
//! (both sides' values of a changed row, the row of a missing one, each side's count of
//! a duplicated key), so two readings of a key compare as "the same difference" or not.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::prelude::SessionContext;

use crate::engine::diff_files::{DiffKind, DiffWriter};
use crate::engine::templates::ident;
use crate::error::{Error, Result};
use crate::report::Diff;

/// A key's values as text (`None`: NULL).
pub(super) type Key = Vec<Option<String>>;

/// One finding of a reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub key: Key,
    pub kind: String,
    pub sig: u64,
}

/// The query of every keyed finding in the diffs folder `dir` (one per key), with the
/// keyed files registered in `ctx`; `None` when there is none.
async fn query(ctx: &SessionContext, dir: &Path, key: &[String]) -> Result<Option<String>> {
    let mut parts = Vec::new();
    for kind in DiffKind::KEYED {
        let path = dir.join(kind.file_name());
        if !path.is_file() {
            continue;
        }
        let df = crate::engine::diff_files::read(ctx, &path).await?;
        let cols: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| n != "__partition" && n != "__differs")
            .collect();
        let table = format!("__recheck_{kind}");
        let _ = ctx.deregister_table(table.as_str());
        ctx.register_table(table.as_str(), df.into_view())
            .map_err(|e| Error::internal(format!("cannot register {table}: {e}")))?;
        let keys = key
            .iter()
            .map(|k| format!("sd_text({q}) AS {q}", q = ident(k)))
            .collect::<Vec<_>>()
            .join(", ");
        let sig = cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        parts.push(format!(
            "SELECT {keys}, '{kind}' AS __kind, sd_row_hash({sig}) AS __sig FROM {table}"
        ));
    }
    if parts.is_empty() {
        return Ok(None);
    }
    let keys = key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ");
    Ok(Some(format!(
        "SELECT {keys}, min(__kind) AS __kind, bit_xor(__sig) AS __sig FROM ({}) AS f GROUP BY {keys} ORDER BY {keys}",
        parts.join(" UNION ALL ")
    )))
}

/// Write every keyed finding of the diffs folder `dir` to the state file `out`; returns
/// how many.
pub(super) async fn collect(
    ctx: &SessionContext,
    dir: &Path,
    key: &[String],
    out: &Path,
) -> Result<u64> {
    let mut w = Writer::new(out, key)?;
    if let Some(q) = query(ctx, dir, key).await? {
        use futures::StreamExt;
        let fail = |e: datafusion::error::DataFusionError| {
            Error::snapshot(format!("cannot read the findings to recheck: {e}")).with_file(dir)
        };
        let mut stream = crate::engine::sql::sql(ctx, &q)
            .await
            .map_err(fail)?
            .execute_stream()
            .await
            .map_err(fail)?;
        while let Some(b) = stream.next().await {
            for f in from_batch(&b.map_err(fail)?, key.len()) {
                w.write(&f)?;
            }
        }
    }
    w.finish()
}

/// Every keyed finding of the diffs folder `dir`, by key (a batch's: few).
pub(super) async fn findings(
    ctx: &SessionContext,
    dir: &Path,
    key: &[String],
) -> Result<HashMap<Key, Finding>> {
    let mut out = HashMap::new();
    let Some(q) = query(ctx, dir, key).await? else {
        return Ok(out);
    };
    let batches = crate::engine::sql::sql(ctx, &q)
        .await
        .map_err(|e| Error::internal(format!("cannot read the recheck's findings: {e}")))?
        .collect()
        .await
        .map_err(|e| Error::internal(format!("cannot read the recheck's findings: {e}")))?;
    for b in &batches {
        for f in from_batch(b, key.len()) {
            out.insert(f.key.clone(), f);
        }
    }
    Ok(out)
}

/// Whether each key column is a number in the diffs folder `dir` (its values then go
/// into SQL bare, not quoted).
pub(super) async fn numeric_keys(
    ctx: &SessionContext,
    dir: &Path,
    key: &[String],
) -> Result<Vec<bool>> {
    for kind in DiffKind::KEYED {
        let path = dir.join(kind.file_name());
        if !path.is_file() {
            continue;
        }
        let df = crate::engine::diff_files::read(ctx, &path).await?;
        return Ok(key
            .iter()
            .map(|k| {
                df.schema()
                    .field_with_unqualified_name(k)
                    .is_ok_and(|f| f.data_type().is_numeric())
            })
            .collect());
    }
    Ok(vec![false; key.len()])
}

/// The findings of a state batch: the key columns, `__kind` and `__sig`.
fn from_batch(b: &RecordBatch, keys: usize) -> Vec<Finding> {
    let text = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8).ok();
    let cols: Vec<_> = (0..keys).map(text).collect();
    let kind = text(keys);
    let sig = arrow::compute::cast(b.column(keys + 1), &DataType::UInt64).ok();
    (0..b.num_rows())
        .map(|r| Finding {
            key: cols
                .iter()
                .map(|c| {
                    c.as_ref()
                        .filter(|c| c.is_valid(r))
                        .map(|c| c.as_string::<i32>().value(r).to_string())
                })
                .collect(),
            kind: kind
                .as_ref()
                .map(|k| k.as_string::<i32>().value(r).to_string())
                .unwrap_or_default(),
            sig: sig
                .as_ref()
                .filter(|s| s.is_valid(r))
                .map_or(0, |s| s.as_primitive::<UInt64Type>().value(r)),
        })
        .collect()
}

/// Findings written to a state file, a few thousand at a time.
pub(super) struct Writer {
    schema: SchemaRef,
    writer: DiffWriter,
    held: Vec<Finding>,
    rows: u64,
}

const FLUSH: usize = 8192;

impl Writer {
    pub fn new(path: &Path, key: &[String]) -> Result<Writer> {
        let mut fields: Vec<Field> = key
            .iter()
            .map(|k| Field::new(k, DataType::Utf8, true))
            .collect();
        fields.push(Field::new("__kind", DataType::Utf8, false));
        fields.push(Field::new("__sig", DataType::UInt64, false));
        let schema = Arc::new(Schema::new(fields));
        Ok(Writer {
            writer: DiffWriter::create(path, schema.clone())?,
            schema,
            held: Vec::new(),
            rows: 0,
        })
    }

    pub fn write(&mut self, f: &Finding) -> Result<()> {
        self.held.push(f.clone());
        if self.held.len() >= FLUSH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let keys = self.schema.fields().len() - 2;
        let mut cols: Vec<Arc<dyn Array>> = Vec::new();
        for i in 0..keys {
            let mut b = StringBuilder::new();
            for f in &self.held {
                b.append_option(f.key[i].as_deref());
            }
            cols.push(Arc::new(b.finish()));
        }
        let mut kind = StringBuilder::new();
        let mut sig = UInt64Builder::new();
        for f in &self.held {
            kind.append_value(&f.kind);
            sig.append_value(f.sig);
        }
        cols.push(Arc::new(kind.finish()));
        cols.push(Arc::new(sig.finish()));
        let batch = RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(|e| Error::internal(format!("cannot build a recheck state batch: {e}")))?;
        self.writer.write(&batch)?;
        self.rows += self.held.len() as u64;
        self.held.clear();
        Ok(())
    }

    /// Close the file; returns the findings written.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.writer.finish()?;
        Ok(self.rows)
    }
}

/// The findings of the state file `path`, `n` at a time.
pub(super) fn batches(path: &Path, n: usize) -> Result<impl Iterator<Item = Result<Vec<Finding>>>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::io_other("read Parquet", path, &e))?
        .with_batch_size(n)
        .build()
        .map_err(|e| Error::io_other("read Parquet", path, &e))?;
    let keys = arrow::array::RecordBatchReader::schema(&reader)
        .fields()
        .len()
        - 2;
    let path = path.to_path_buf();
    Ok(reader.map(move |b| {
        b.map(|b| from_batch(&b, keys))
            .map_err(|e| Error::io_other("read Parquet", &path, &e))
    }))
}

/// A keys file (CSV, header: the key columns) of a batch's keys.
pub(super) fn write_keys_csv(path: &Path, key: &[String], batch: &[Finding]) -> Result<()> {
    let field = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
    let mut text = key.iter().map(|k| field(k)).collect::<Vec<_>>().join(",");
    text.push('\n');
    for f in batch {
        let row: Vec<String> = f
            .key
            .iter()
            .map(|v| v.as_deref().map(field).unwrap_or_default())
            .collect();
        text.push_str(&row.join(","));
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io("write", path, e))
}

/// The diff files of the findings that did not move, gathered over a round's batches.
pub(super) struct Kept {
    dir: PathBuf,
    writers: HashMap<DiffKind, DiffWriter>,
}

impl Kept {
    pub fn new(dir: &Path) -> Kept {
        Kept {
            dir: dir.to_path_buf(),
            writers: HashMap::new(),
        }
    }

    /// Append the rows of the batch's diff files in `from` whose key is not in `moved`.
    pub fn append(&mut self, from: &Path, key: &[String], moved: &HashSet<Key>) -> Result<()> {
        for kind in DiffKind::KEYED {
            let path = from.join(kind.file_name());
            if !path.is_file() {
                continue;
            }
            let batches = crate::engine::diff_files::read_all(&path)?;
            for b in batches {
                let keys: Vec<Vec<Option<String>>> = {
                    let cols: Vec<_> = key
                        .iter()
                        .map(|k| {
                            b.column_by_name(k)
                                .map(|c| crate::normalize::text::Texts::new(c.as_ref()))
                        })
                        .collect();
                    (0..b.num_rows())
                        .map(|r| {
                            cols.iter()
                                .map(|c| c.as_ref().and_then(|c| c.get(r)))
                                .collect()
                        })
                        .collect()
                };
                let keep: arrow::array::BooleanArray =
                    keys.iter().map(|k| Some(!moved.contains(k))).collect();
                let b = arrow::compute::filter_record_batch(&b, &keep)
                    .map_err(|e| Error::io_other("filter", &path, &e))?;
                if b.num_rows() == 0 {
                    continue;
                }
                let w = match self.writers.entry(kind) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => v.insert(DiffWriter::create(
                        &self.dir.join(kind.file_name()),
                        b.schema(),
                    )?),
                };
                w.write(&b)?;
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        for (_, w) in self.writers {
            w.finish()?;
        }
        Ok(())
    }
}

/// The counts of `diff` from the diff files in `dir`: rows missing, extra and changed,
/// duplicated keys per side, and changed rows per column (counted by DataFusion, so the
/// files are never held whole).
pub(super) async fn count_files(ctx: &SessionContext, dir: &Path, diff: &mut Diff) -> Result<()> {
    let fail = |e: datafusion::error::DataFusionError| {
        Error::internal(format!("cannot count the recheck's findings: {e}"))
    };
    // (group, count) of `sql` over the kind's file, registered as `f`.
    let counts = |kind: DiffKind, sql: &'static str| async move {
        let path = dir.join(kind.file_name());
        if !path.is_file() {
            return Ok::<Vec<(String, u64)>, Error>(Vec::new());
        }
        let df = crate::engine::diff_files::read(ctx, &path).await?;
        let _ = ctx.deregister_table("f");
        ctx.register_table("f", df.into_view()).map_err(fail)?;
        let batches = crate::engine::sql::sql(ctx, sql)
            .await
            .map_err(fail)?
            .collect()
            .await
            .map_err(fail)?;
        let mut out = Vec::new();
        for b in &batches {
            let g = arrow::compute::cast(b.column(0), &DataType::Utf8).map_err(|e| {
                Error::internal(format!("cannot count the recheck's findings: {e}"))
            })?;
            let n = arrow::compute::cast(b.column(1), &DataType::UInt64).map_err(|e| {
                Error::internal(format!("cannot count the recheck's findings: {e}"))
            })?;
            for r in 0..b.num_rows() {
                out.push((
                    g.as_string::<i32>().value(r).to_string(),
                    n.as_primitive::<UInt64Type>().value(r),
                ));
            }
        }
        Ok(out)
    };
    let total = |v: &[(String, u64)]| v.iter().map(|(_, n)| n).sum::<u64>();
    let all = "SELECT 'all', count(*) FROM f";
    diff.missing = total(&counts(DiffKind::Missing, all).await?);
    diff.extra = total(&counts(DiffKind::Extra, all).await?);
    diff.changed = total(&counts(DiffKind::Changed, all).await?);
    diff.changed_by_column = counts(
        DiffKind::Changed,
        "SELECT c, count(*) FROM (SELECT unnest(__differs) AS c FROM f) AS d GROUP BY c",
    )
    .await?
    .into_iter()
    .collect();
    let dups = counts(
        DiffKind::Duplicates,
        "SELECT __side, count(*) FROM f GROUP BY __side",
    )
    .await?;
    let side = |s: &str| dups.iter().filter(|(g, _)| g == s).map(|(_, n)| n).sum();
    diff.duplicate_keys_legacy = side("legacy");
    diff.duplicate_keys_target = side("target");
    Ok(())
}

/// An empty diff file at `to` with the schema of the diff file `from`: a kind of finding
/// with none left still has its file, so the delta matches the findings that went, by key.
pub(super) fn empty_like(from: &Path, to: &Path) -> Result<()> {
    let file = std::fs::File::open(from).map_err(|e| Error::io("open", from, e))?;
    let schema = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::io_other("read Parquet", from, &e))?
        .schema()
        .clone();
    DiffWriter::create(to, schema)?.finish().map(|_| ())
}
