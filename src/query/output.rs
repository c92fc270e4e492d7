//! Query results out: an aligned table (with a row limit that says what it left out),
//! CSV, JSON, NDJSON or Parquet, to standard output or a file. Results stream batch by
//! batch: only the rows a table shows are held.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::prelude::DataFrame;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::normalize::text::visible;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
    Parquet,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        Ok(match s {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "parquet" => Format::Parquet,
            other => {
                return Err(Error::spec(format!("unknown output format `{other}`"))
                    .with_hint("choose table, csv, json, ndjson or parquet"))
            }
        })
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub rows: u64,
    /// Rows a table left out (beyond its limit).
    pub left_out: u64,
}

/// Run `df` and write its rows as `format` to `out` (standard output when `None`).
/// A table shows at most `limit` rows and counts the rest.
pub async fn write(
    df: DataFrame,
    format: Format,
    out: Option<&Path>,
    limit: usize,
) -> Result<Written> {
    let fail = |e: datafusion::error::DataFusionError| {
        Error::source(format!("the query fails: {}", e.to_string().trim()))
    };
    let schema = crate::engine::diff_files::plain(&Arc::new(df.schema().as_arrow().clone()));
    let mut stream = df.execute_stream().await.map_err(fail)?;
    let target = out.map(Path::to_path_buf);
    let sink: Box<dyn Write + Send> = match &target {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).map_err(|e| Error::io("create", p, e))?,
        )),
        None if format == Format::Parquet => {
            return Err(
                Error::spec("Parquet output needs a file").with_hint("give --out FILE.parquet")
            )
        }
        None => Box::new(BufWriter::new(std::io::stdout())),
    };
    let path = target.clone().unwrap_or_else(|| PathBuf::from("<stdout>"));
    let wfail =
        |e: &(dyn std::error::Error + 'static)| Error::io_other("write the result", &path, e);
    let mut written = Written {
        rows: 0,
        left_out: 0,
    };
    match format {
        Format::Table => {
            let mut shown: Vec<RecordBatch> = Vec::new();
            let mut held = 0usize;
            while let Some(b) = stream.next().await {
                let b = b.map_err(fail)?;
                written.rows += b.num_rows() as u64;
                let take = b.num_rows().min(limit - held.min(limit));
                if take > 0 {
                    shown.push(b.slice(0, take));
                    held += take;
                }
            }
            written.left_out = written.rows - held as u64;
            let mut sink = sink;
            // NULL written out, and text whose value could not be seen quoted.
            let opts = arrow::util::display::FormatOptions::default().with_null("NULL");
            let text = if shown.is_empty() {
                arrow::util::pretty::pretty_format_batches_with_options(
                    &[RecordBatch::new_empty(schema.clone())],
                    &opts,
                )
            } else {
                let shown = shown
                    .iter()
                    .map(visible_text)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| wfail(&e))?;
                arrow::util::pretty::pretty_format_batches_with_options(&shown, &opts)
            }
            .map_err(|e| wfail(&e))?;
            writeln!(sink, "{text}").map_err(|e| wfail(&e))?;
            let rows = if written.rows == 1 { "row" } else { "rows" };
            if written.left_out > 0 {
                writeln!(
                    sink,
                    "{} {rows}, {} shown, {} left out (--limit N shows more; --format csv --out FILE writes all)",
                    written.rows, held, written.left_out
                )
                .map_err(|e| wfail(&e))?;
            } else {
                writeln!(sink, "{} {rows}", written.rows).map_err(|e| wfail(&e))?;
            }
            sink.flush().map_err(|e| wfail(&e))?;
        }
        Format::Csv => {
            // CSV has no nested values: lists, structs and maps are written as text.
            let schema = text_for_nested(&schema);
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(sink);
            let mut any = false;
            while let Some(b) = stream.next().await {
                let b = plain(&schema, &b.map_err(fail)?)?;
                written.rows += b.num_rows() as u64;
                w.write(&b).map_err(|e| wfail(&e))?;
                any = true;
            }
            if !any {
                w.write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(|e| wfail(&e))?;
            }
            w.into_inner().flush().map_err(|e| wfail(&e))?;
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(sink);
            while let Some(b) = stream.next().await {
                let b = plain(&schema, &b.map_err(fail)?)?;
                written.rows += b.num_rows() as u64;
                w.write(&b).map_err(|e| wfail(&e))?;
            }
            w.finish().map_err(|e| wfail(&e))?;
            // The writer writes `[]` itself when there is no row.
            let mut sink = w.into_inner();
            sink.write_all(b"\n").map_err(|e| wfail(&e))?;
            sink.flush().map_err(|e| wfail(&e))?;
        }
        Format::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(sink);
            while let Some(b) = stream.next().await {
                let b = plain(&schema, &b.map_err(fail)?)?;
                written.rows += b.num_rows() as u64;
                w.write(&b).map_err(|e| wfail(&e))?;
            }
            w.finish().map_err(|e| wfail(&e))?;
            w.into_inner().flush().map_err(|e| wfail(&e))?;
        }
        Format::Parquet => {
            drop(sink);
            let file = File::create(&path).map_err(|e| Error::io("create", &path, e))?;
            let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)
                .map_err(|e| wfail(&e))?;
            while let Some(b) = stream.next().await {
                let b = plain(&schema, &b.map_err(fail)?)?;
                written.rows += b.num_rows() as u64;
                w.write(&b).map_err(|e| wfail(&e))?;
            }
            w.close().map_err(|e| wfail(&e))?;
        }
    }
    Ok(written)
}

/// `schema` with nested columns (lists, structs, maps) as text.
fn text_for_nested(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                if f.data_type().is_nested() {
                    f.as_ref().clone().with_data_type(DataType::Utf8)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect::<Vec<_>>(),
    ))
}

/// `b` cast to `schema` (view types to plain ones, nested ones to text where asked).
fn plain(schema: &SchemaRef, b: &RecordBatch) -> Result<RecordBatch> {
    crate::engine::diff_files::cast_to(schema, b)
        .map_err(|e| Error::internal(format!("cannot shape a result batch: {e}")).with_source(e))
}

/// `b` with its text columns as [`visible`] shows them (NULL kept NULL), for the table
/// a person reads: `''`, `' '` and `'a '` are told apart, a line break is `\n`.
fn visible_text(b: &RecordBatch) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{ArrayRef, AsArray, StringArray};
    let columns = b
        .columns()
        .iter()
        .map(
            |c| -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
                if !matches!(
                    c.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) {
                    return Ok(c.clone());
                }
                let text = arrow::compute::cast(c, &DataType::Utf8)?;
                let shown: StringArray = text
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(|s| visible(Some(s)).into_owned()))
                    .collect();
                Ok(Arc::new(shown) as ArrayRef)
            },
        )
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let fields: Vec<_> = b
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::Field;

    #[test]
    fn a_table_tells_null_empty_and_white_space_apart() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("city", DataType::Utf8, true),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![
                    Some(1),
                    Some(2),
                    Some(3),
                    Some(4),
                    None,
                ])),
                Arc::new(StringArray::from(vec![
                    None,
                    Some(""),
                    Some(" "),
                    Some("Edinburgh"),
                    Some("a\nb"),
                ])),
            ],
        )
        .unwrap();
        let opts = arrow::util::display::FormatOptions::default().with_null("NULL");
        let text = arrow::util::pretty::pretty_format_batches_with_options(
            &[visible_text(&b).unwrap()],
            &opts,
        )
        .unwrap()
        .to_string();
        assert_eq!(
            text,
            "+------+-----------+\n\
             | id   | city      |\n\
             +------+-----------+\n\
             | 1    | NULL      |\n\
             | 2    | \"\"        |\n\
             | 3    | \" \"       |\n\
             | 4    | Edinburgh |\n\
             | NULL | \"a\\nb\"    |\n\
             +------+-----------+"
        );
    }
}
