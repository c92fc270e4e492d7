//! The diff's files: each kind of differing row (missing, extra, changed, duplicates)
//! written to Parquet as the rounds find them, read back for samples and per-partition
//! counts.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::check::diff::{DiffFiles, OpenDiff};
use crate::check::entity::{cell, u64_cell, EntityRun};
use crate::engine::diff_files;
use crate::engine::diff_files::{DiffError, DiffKind, DiffWriter};
use crate::engine::templates::ident;
use crate::error::{Error, Result};
use crate::report::PartitionRow;

impl EntityRun<'_> {
    /// The folder this entity's diff files go to.
    pub(crate) fn diff_dir(&self) -> std::path::PathBuf {
        self.opts
            .diffs_dir
            .as_ref()
            .expect("verify_entities sets a diffs folder")
            .join(&self.def.name)
    }

    pub(crate) fn partitioned(&self) -> bool {
        self.def.partition_by.is_some()
    }

    /// A query as a DataFrame (its errors explained as any check's).
    pub(crate) async fn frame(&self, sql: &str) -> Result<datafusion::prelude::DataFrame> {
        self.frame_in(self.ctx, sql).await
    }

    /// [`Self::frame`] in `ctx` (the checks' session, or the local one).
    pub(crate) async fn frame_in(
        &self,
        ctx: &SessionContext,
        sql: &str,
    ) -> Result<datafusion::prelude::DataFrame> {
        self.debug(sql);
        match crate::engine::sql::sql(ctx, sql).await {
            Ok(df) => Ok(df),
            Err(e) => Err(self.explain_in(ctx, e).await),
        }
    }

    /// Append every row of `sql` to `w` (see [`DiffWriter::append`]).
    pub(crate) async fn append(
        &self,
        ctx: &SessionContext,
        w: &mut DiffWriter,
        sql: &str,
        map: impl FnMut(RecordBatch) -> Result<RecordBatch>,
    ) -> Result<u64> {
        let df = self.frame_in(ctx, sql).await?;
        match w.append(df, map).await {
            Ok(r) => Ok(r),
            Err(DiffError::Query(e)) => Err(self.explain_in(ctx, e).await),
            Err(DiffError::Write(e)) => Err(e),
        }
    }

    /// Append the rows of each query in `sqls` to the diff file of `kind` (created, with
    /// the first query's schema after `map`, when first used), adding each query's rows
    /// to the file's counts. With `execute` false the file is created but nothing runs.
    pub(crate) async fn write_diff(
        &self,
        files: &mut DiffFiles,
        kind: DiffKind,
        sqls: &[String],
        execute: bool,
        map: impl FnMut(RecordBatch) -> Result<RecordBatch>,
    ) -> Result<()> {
        self.write_diff_in(self.ctx, files, kind, sqls, execute, map)
            .await
    }

    /// [`Self::write_diff`], the queries run in `ctx` (the checks' session, or the local
    /// one).
    pub(crate) async fn write_diff_in(
        &self,
        ctx: &SessionContext,
        files: &mut DiffFiles,
        kind: DiffKind,
        sqls: &[String],
        execute: bool,
        mut map: impl FnMut(RecordBatch) -> Result<RecordBatch>,
    ) -> Result<()> {
        let at = match files.writers.iter().position(|f| f.kind == kind) {
            Some(at) => at,
            None => {
                let path = self.diff_dir().join(kind.file_name());
                let first = self.frame_in(ctx, &sqls[0]).await?;
                let empty = RecordBatch::new_empty(Arc::new(first.schema().as_arrow().clone()));
                let writer = DiffWriter::create(&path, map(empty)?.schema())?;
                files.writers.push(OpenDiff {
                    kind,
                    writer,
                    rows: vec![0; sqls.len()],
                });
                files.writers.len() - 1
            }
        };
        if !execute {
            return Ok(());
        }
        for (i, q) in sqls.iter().enumerate() {
            let f = &mut files.writers[at];
            f.rows[i] += self.append(ctx, &mut f.writer, q, &mut map).await?;
        }
        Ok(())
    }

    /// Run `sql` over this entity's diff file of `kind`, which it names `{{file}}`.
    pub(crate) async fn query_diff_file(
        &self,
        kind: DiffKind,
        sql: &str,
    ) -> Result<Vec<RecordBatch>> {
        let path = self.diff_dir().join(kind.file_name());
        let table = format!("__sd_diff_{}_{kind}", self.def.name);
        let df = diff_files::read(self.local, &path).await?;
        self.local
            .register_table(&table, df.into_view())
            .map_err(|e| Error::internal(format!("cannot register {table}: {e}")).with_source(e))?;
        let out = self
            .query_in(self.local, &sql.replace("{{file}}", &ident(&table)))
            .await;
        let _ = self.local.deregister_table(&table);
        out
    }

    /// The first `n` rows of a diff file in key order (`filter`: an SQL predicate).
    pub(crate) async fn diff_sample(
        &self,
        kind: DiffKind,
        filter: &str,
        n: usize,
    ) -> Result<Vec<RecordBatch>> {
        let q = format!(
            "SELECT * FROM {{{{file}}}} WHERE {filter} ORDER BY {} LIMIT {n}",
            self.keys_list("")
        );
        self.query_diff_file(kind, &q).await
    }

    /// Rows per partition of a diff file (`__partition`), when the entity is partitioned.
    pub(crate) async fn per_partition(&self, kind: DiffKind) -> Result<Vec<(Option<String>, u64)>> {
        if !self.partitioned() {
            return Ok(Vec::new());
        }
        let batches = self
            .query_diff_file(
                kind,
                "SELECT __partition, count(*) AS n FROM {{file}} GROUP BY __partition",
            )
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            for r in 0..b.num_rows() {
                out.push((cell(b, 0, r), u64_cell(b, "n", r)));
            }
        }
        Ok(out)
    }

    /// Add a diff file's per-partition counts to the partition rows.
    pub(crate) async fn count_per_partition(&mut self, kind: DiffKind) -> Result<()> {
        let counts = self.per_partition(kind).await?;
        let Some(parts) = self.report.partitions.as_mut() else {
            return Ok(());
        };
        let mut index: std::collections::HashMap<Option<String>, usize> = parts
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.partition.clone(), i))
            .collect();
        for (p, n) in counts {
            let i = *index.entry(p.clone()).or_insert_with(|| {
                parts.rows.push(PartitionRow {
                    partition: p,
                    ..Default::default()
                });
                parts.rows.len() - 1
            });
            let row = &mut parts.rows[i];
            match kind {
                DiffKind::Missing => row.missing = n,
                DiffKind::Extra => row.extra = n,
                _ => row.changed = n,
            }
        }
        Ok(())
    }
}
