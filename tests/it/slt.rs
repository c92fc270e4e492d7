//! SQL semantics in sqllogictest files (`tests/slt/*.slt`): every normalisation function
//! and every check query of `queries/*.sql`, run in a DataFusion session with snapdiff's
//! functions registered.
//!
//! Besides plain SQL, a statement `RENDER <name>` followed by `param: value` lines runs
//! the check query `queries/<name>.sql` with those parameters, so the files test the
//! very SQL the checks run.

use std::path::Path;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

struct Db {
    ctx: SessionContext,
}

/// A `RENDER name` line, followed by `key: value` lines, replaced by the rendered check
/// query (anywhere in a statement, so it can be a subquery); other SQL unchanged.
fn expand(sql: &str) -> Result<String, DataFusionError> {
    let mut out = Vec::new();
    let mut lines = sql.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("RENDER ") else {
            out.push(line.to_string());
            continue;
        };
        let template = snapdiff::engine::templates::template(name.trim())
            .ok_or_else(|| DataFusionError::Plan(format!("no query template `{name}`")))?;
        let mut params: Vec<(String, String)> = Vec::new();
        while let Some(p) = lines.peek() {
            match p.split_once(": ") {
                Some((k, v)) if !k.contains(' ') => {
                    params.push((k.trim().to_string(), v.trim().to_string()));
                    lines.next();
                }
                _ => break,
            }
        }
        let refs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        out.push(
            snapdiff::engine::templates::render(template, &refs)
                .map_err(|e| DataFusionError::Plan(e.to_string()))?,
        );
    }
    Ok(out.join("\n"))
}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() || matches!(t, DataType::Decimal128(_, _)) {
        DefaultColumnType::FloatingPoint
    } else if matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
        DefaultColumnType::Text
    } else {
        DefaultColumnType::Any
    }
}

fn cell(b: &RecordBatch, col: usize, row: usize) -> String {
    let a = b.column(col);
    if a.is_null(row) {
        return "NULL".into();
    }
    let s = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
        .unwrap()
        .value(row)
        .to_string();
    if s.is_empty() {
        "(empty)".into()
    } else {
        s
    }
}

#[async_trait]
impl AsyncDB for Db {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let sql = expand(sql)?;
        let df = self.ctx.sql(&sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let mut rows = Vec::new();
        for b in &batches {
            for r in 0..b.num_rows() {
                rows.push((0..b.num_columns()).map(|c| cell(b, c, r)).collect());
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "snapdiff"
    }
}

fn run_file(path: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut runner = sqllogictest::Runner::new(|| async {
            Ok(Db {
                ctx: snapdiff::engine::new_session(),
            })
        });
        if let Err(e) = runner.run_file_async(path).await {
            panic!("{}: {e}", path.display());
        }
    });
}

#[test]
fn sqllogictest_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "slt"));
    files.sort();
    assert!(files.len() >= 2, "no .slt files in {}", dir.display());
    for f in &files {
        run_file(f);
    }
}
