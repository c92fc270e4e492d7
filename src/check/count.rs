//! The count check: rows per side and per partition.

use std::time::Instant;

use crate::check::entity::{cell, u64_cell, EntityRun};
use crate::engine::templates::{self as sql, ident};
use crate::error::Result;
use crate::report::{PartitionRow, Partitions, Status};
use crate::spec::CheckKind;

impl EntityRun<'_> {
    /// Row totals of both sides, when no check counted them.
    pub(crate) async fn count_totals(&mut self) -> Result<()> {
        self.report.legacy_rows = self
            .count(&format!("SELECT 1 FROM {}", ident(&self.legacy_view)))
            .await?;
        self.report.target_rows = self
            .count(&format!("SELECT 1 FROM {}", ident(&self.target_view)))
            .await?;
        self.totals_known = true;
        Ok(())
    }

    /// The count check. When the diff (or multiset comparison) follows and no
    /// `max_count_diff` is set, a difference is information: the rows are accounted for
    /// there, under their own thresholds.
    pub(crate) async fn check_count(
        &mut self,
        clock: Instant,
        explained_later: bool,
    ) -> Result<()> {
        let batches = match &self.digests {
            Some(d) => d.clone(),
            None => self.query(&self.render_views(sql::COUNT)?).await?,
        };
        let mut parts = Partitions::default();
        let (mut l, mut t, mut diff) = (0u64, 0u64, 0u64);
        for b in &batches {
            for r in 0..b.num_rows() {
                let (ln, tn) = (u64_cell(b, "legacy_rows", r), u64_cell(b, "target_rows", r));
                l += ln;
                t += tn;
                // Summed per partition: rows that moved between partitions count.
                diff += ln.abs_diff(tn);
                parts.total += 1;
                let part = b.schema().index_of("partition").ok();
                parts.rows.push(PartitionRow {
                    partition: part.and_then(|i| cell(b, i, r)),
                    legacy_rows: ln,
                    target_rows: tn,
                    ..Default::default()
                });
            }
        }
        let count_differences = parts
            .rows
            .iter()
            .filter(|p| p.legacy_rows != p.target_rows)
            .count();
        self.report.legacy_rows = l;
        self.report.target_rows = t;
        self.totals_known = true;
        let status = match self.thresholds().max_count_diff {
            Some(max) if diff > max => Status::Fail,
            Some(_) => Status::Pass,
            None if diff == 0 => Status::Pass,
            None if explained_later => Status::Info,
            None => Status::Fail,
        };
        let mut summary = format!("legacy {l} rows, target {t} rows");
        if count_differences > 0 && parts.total > 1 {
            summary.push_str(&format!(
                "; {count_differences} of {} partitions differ in count",
                parts.total
            ));
        }
        self.report.partitions = Some(parts);
        self.push(CheckKind::Count, status, summary, clock);
        Ok(())
    }
}
