//! The hash check: digests per partition (count, wrapping sum and xor of row hashes);
//! a partition whose digests match is proven equal and left out of the diff.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema};

use crate::check::diff::pass::BucketPass;
use crate::check::entity::{cell, u64_cell, EntityRun};
use crate::engine::templates::{self as sql};
use crate::error::{Error, Result};
use crate::report::{PartitionRow, Status};
use crate::spec::CheckKind;

/// The digest rows (as digest.sql returns them) of one unpartitioned entity whose
/// digests the narrow pass computed.
pub(crate) fn digest_batch(pass: &BucketPass) -> Result<Vec<RecordBatch>> {
    use arrow::array::{BooleanArray, Int64Array, StringArray};
    use arrow::datatypes::Field;
    if pass.legacy.rows == 0 && pass.target.rows == 0 {
        return Ok(Vec::new());
    }
    let equal = pass.legacy == pass.target && pass.differing_buckets == 0;
    let schema = Arc::new(Schema::new(vec![
        Field::new("null_partition", DataType::Boolean, false),
        Field::new("partition", DataType::Utf8, true),
        Field::new("legacy_rows", DataType::Int64, true),
        Field::new("target_rows", DataType::Int64, true),
        Field::new("equal", DataType::Boolean, false),
    ]));
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(BooleanArray::from(vec![false])),
            Arc::new(StringArray::from(vec!["all"])),
            Arc::new(Int64Array::from(vec![pass.legacy.rows as i64])),
            Arc::new(Int64Array::from(vec![pass.target.rows as i64])),
            Arc::new(BooleanArray::from(vec![equal])),
        ],
    )
    .map_err(|e| Error::internal(format!("cannot build the digest row: {e}")).with_source(e))?;
    Ok(vec![b])
}

impl EntityRun<'_> {
    /// The per-partition digests (digest.sql), queried once per entity.
    pub(crate) async fn run_digests(&mut self) -> Result<Vec<RecordBatch>> {
        if let Some(d) = &self.digests {
            return Ok(d.clone());
        }
        // Unpartitioned, with a diff to follow: the narrow pass yields the digests too.
        let d = if self.narrow_pass_applies() && !self.partitioned() {
            let pass = self.bucket_pass("true").await?;
            let d = digest_batch(&pass)?;
            self.buckets = Some(pass);
            d
        } else {
            self.query(&self.render_views(sql::DIGEST)?).await?
        };
        self.digests = Some(d.clone());
        Ok(d)
    }

    /// The digest check. Returns whether any partition needs the row diff; the
    /// partitions it must cover are kept in `scope_parts`.
    pub(crate) async fn check_hash(&mut self, clock: Instant, diff_follows: bool) -> Result<bool> {
        let batches = self.run_digests().await?;
        let mut parts = self.report.partitions.take().unwrap_or_default();
        parts.total = 0;
        parts.equal = 0;
        parts.differing.clear();
        let mut differing: Vec<Option<String>> = Vec::new();
        let (mut l, mut t) = (0u64, 0u64);
        // The partitions the count check listed, by value.
        let index: std::collections::HashMap<Option<String>, usize> = parts
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.partition.clone(), i))
            .collect();
        for b in &batches {
            let eq = b
                .column_by_name("equal")
                .expect("digest.sql has `equal`")
                .as_boolean()
                .clone();
            let null_part = b
                .column_by_name("null_partition")
                .expect("digest.sql has `null_partition`")
                .as_boolean()
                .clone();
            for r in 0..b.num_rows() {
                let (ln, tn) = (u64_cell(b, "legacy_rows", r), u64_cell(b, "target_rows", r));
                l += ln;
                t += tn;
                parts.total += 1;
                let p = if null_part.value(r) {
                    None
                } else {
                    cell(b, 1, r)
                };
                let equal = eq.value(r);
                match index.get(&p) {
                    Some(&i) => parts.rows[i].digest_equal = Some(equal),
                    None => parts.rows.push(PartitionRow {
                        partition: p.clone(),
                        legacy_rows: ln,
                        target_rows: tn,
                        digest_equal: Some(equal),
                        ..Default::default()
                    }),
                }
                if equal {
                    parts.equal += 1;
                } else {
                    parts
                        .differing
                        .push(p.clone().unwrap_or_else(|| "NULL".into()));
                    differing.push(p);
                }
            }
        }
        if !self.totals_known {
            self.report.legacy_rows = l;
            self.report.target_rows = t;
            self.totals_known = true;
        }
        let n_diff = parts.differing.len();
        let total = parts.total;
        self.digests_equal = n_diff == 0;
        self.report.partitions = Some(parts);
        let tolerance = !self.tolerance.is_empty();
        let mut summary = format!("{n_diff} of {total} partition digests differ");
        if n_diff == 0 {
            summary = format!("all {total} partition digests are equal");
        }
        if tolerance {
            summary.push_str(
                "; columns with a tolerance are left out of digests and compared in the row diff",
            );
        }
        let status = match (n_diff, diff_follows) {
            (0, _) => Status::Pass,
            (_, true) => Status::Info,
            (_, false) => Status::Fail,
        };
        self.push(CheckKind::Hash, status, summary, clock);
        if tolerance {
            self.scope_parts = None;
            return Ok(true);
        }
        self.scope_parts = Some(differing);
        Ok(n_diff > 0)
    }
}
