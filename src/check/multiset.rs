//! The multiset check of a query check without a key: both sides as multisets of rows.

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::DataType;

use crate::check::diff::DiffFiles;
use crate::check::entity::{u64_cell, EntityRun};
use crate::engine::diff_files::DiffKind;
use crate::engine::templates::{self as sql, ident};
use crate::error::{Error, Result};
use crate::report::{Diff, Status};
use crate::spec::CheckKind;

impl EntityRun<'_> {
    pub(crate) async fn check_multiset(&mut self, clock: Instant) -> Result<()> {
        let cols = self.compared.iter().map(|c| ident(c)).collect::<Vec<_>>();
        if cols.is_empty() {
            self.push(
                CheckKind::Multiset,
                Status::Fail,
                "no columns to compare".into(),
                clock,
            );
            return Ok(());
        }
        let q = sql::render(
            sql::MULTISET,
            &[
                ("legacy", &ident(&self.legacy_view)),
                ("target", &ident(&self.target_view)),
                ("cols", &cols.join(", ")),
            ],
        )?;
        let df = self.frame(&q).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = match df.collect().await {
            Ok(b) => b,
            Err(e) => return Err(self.explain(e).await),
        };
        // Every differing row to the diff files: the rows only in legacy (missing) and
        // only in target (extra), with how many copies one side has beyond the other.
        let table = format!("__sd_multiset_{}", self.def.name);
        let mem = datafusion::datasource::MemTable::try_new(schema.clone(), vec![batches])
            .map_err(|e| {
                Error::internal(format!("cannot hold the multiset result: {e}")).with_source(e)
            })?;
        // Held here, so queried here whatever the engine.
        self.local
            .register_table(&table, Arc::new(mem))
            .map_err(|e| Error::internal(format!("cannot register {table}: {e}")).with_source(e))?;
        // Deregistered whatever happens: the table holds the whole result in memory.
        let held = async {
            let mut files = DiffFiles::default();
            for (kind, more, less) in [
                (DiffKind::Missing, "__legacy_copies", "__target_copies"),
                (DiffKind::Extra, "__target_copies", "__legacy_copies"),
            ] {
                let q = format!(
                    "SELECT {}, {more} - {less} AS __copies FROM {} WHERE {more} > {less}",
                    cols.join(", "),
                    ident(&table)
                );
                self.write_diff_in(self.local, &mut files, kind, &[q], true, Ok)
                    .await?;
            }
            self.finish_files(files)?;
            // Samples in the order of the values, whatever order the rows arrived in. A column
            // of NULLs alone (type Null, or lists of it) has no order, and needs none.
            let order: Vec<String> = schema
                .fields()
                .iter()
                .take(cols.len())
                .enumerate()
                .filter(|(_, f)| !matches!(
                    f.data_type(),
                    DataType::Null
                ) && !matches!(
                    f.data_type(),
                    DataType::List(i) | DataType::LargeList(i) | DataType::ListView(i) | DataType::LargeListView(i) | DataType::FixedSizeList(i, _)
                        if i.data_type() == &DataType::Null
                ))
                .map(|(i, _)| (i + 1).to_string())
                .collect();
            let order = if order.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {}", order.join(", "))
            };
            let batches = self
                .query_in(
                    self.local,
                    &format!("SELECT * FROM {}{order}", ident(&table)),
                )
                .await?;
            Ok::<_, Error>(batches)
        }
        .await;
        let _ = self.local.deregister_table(&table);
        let batches = held?;
        let mut diff = Diff::default();
        for b in &batches {
            for (r, values) in Self::rows(std::slice::from_ref(b)).into_iter().enumerate() {
                let (lc, tc) = (
                    u64_cell(b, "__legacy_copies", r),
                    u64_cell(b, "__target_copies", r),
                );
                if lc > tc {
                    diff.missing += lc - tc;
                    if diff.missing_rows.len() < self.opts.sample_rows {
                        diff.missing_rows.push(values);
                    }
                } else {
                    diff.extra += tc - lc;
                    if diff.extra_rows.len() < self.opts.sample_rows {
                        diff.extra_rows.push(values);
                    }
                }
            }
        }
        let th = self.thresholds();
        let status = if diff.missing > th.max_missing.unwrap_or(0)
            || diff.extra > th.max_extra.unwrap_or(0)
        {
            Status::Fail
        } else {
            Status::Pass
        };
        let summary = format!(
            "rows only in legacy {}, rows only in target {}",
            diff.missing, diff.extra
        );
        self.report.diff = Some(diff);
        self.push(CheckKind::Multiset, status, summary, clock);
        Ok(())
    }
}
