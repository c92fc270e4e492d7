//! Scans in key order, for the diff's streaming pass ([`super::stream`]).
//!
//! The streaming pass reads both sides at once and pairs each row with its equal on the
//! other side as they arrive; a row waits (in memory) until its pair comes. That only
//! stays cheap when both sides arrive in about the same key order, partition by
//! partition. DataFusion lists a table's files in text order (`lineitem.10` before
//! `lineitem.2`) and splits them over its partitions by count or bytes, so two sides
//! with the same rows in the same key order can still be read in different orders.
//!
//! This module rewrites a side's physical plan, when it is a plain scan of Parquet
//! files under order-keeping operators (projections, filters): its row groups are put
//! in the order of their smallest value of the first key column (from the footers'
//! statistics; without them, the files in natural order of their paths, `2` before
//! `10`, each file's row groups in file order), and dealt out to the partitions in
//! that order, each partition a contiguous run holding about the same number of
//! rows. (A file written by a tool that read `lineitem.1`, `lineitem.10`,
//! `lineitem.2`... in that order has its row groups in that order too.) Both sides get the same number of partitions, so partition `p` of
//! each side covers about the same share of the key space. Nothing here is needed
//! for correctness: rows in any order give the same findings, only more waiting.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::listing::{FileRange, PartitionedFile};
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_plan::ExecutionPlan;

/// One side's Parquet row groups, in key order.
pub(crate) struct Layout {
    config: FileScanConfig,
    files: Vec<(PartitionedFile, Arc<ParquetMetaData>)>,
    /// (file, row group, rows), in the order to read them.
    groups: Vec<(usize, usize, u64)>,
    /// Whether the row groups were ordered by their key statistics (else by path).
    pub by_statistics: bool,
}

impl Layout {
    /// Row groups with rows.
    pub(crate) fn row_groups(&self) -> usize {
        self.groups.len()
    }
}

/// The Parquet scan under `plan`, if `plan` is a chain of single-child operators that
/// keep their input's order down to one Parquet scan.
fn parquet_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<FileScanConfig> {
    let mut node = plan.clone();
    loop {
        if let Some(ds) = node.as_any().downcast_ref::<DataSourceExec>() {
            return ds
                .downcast_to_file_source::<ParquetSource>()
                .map(|(config, _)| config.clone());
        }
        let children = node.children();
        if children.len() != 1
            || !node
                .maintains_input_order()
                .first()
                .copied()
                .unwrap_or(false)
        {
            return None;
        }
        node = children[0].clone();
    }
}

/// Whether `plan` is a plain Parquet scan (what the streaming pass can read in key
/// order), projections and filters over it included.
pub(crate) fn is_plain_scan(plan: &Arc<dyn ExecutionPlan>) -> bool {
    parquet_scan(plan).is_some()
}

/// Compare paths so that runs of digits compare as numbers (`a.2` before `a.10`).
fn natural(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let i = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let j = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (m, n) = (&x[..i], &y[..j]);
                let trim = |s: &[u8]| -> usize { s.iter().take_while(|c| **c == b'0').count() };
                let (m2, n2) = (&m[trim(m)..], &n[trim(n)..]);
                let o = m2.len().cmp(&n2.len()).then(m2.cmp(n2)).then(i.cmp(&j));
                if o != Ordering::Equal {
                    return o;
                }
                x = &x[i..];
                y = &y[j..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// A row group: its file, its index there, its rows, and the smallest and largest
/// values of the first key column in it.
type Range = (usize, usize, u64, ScalarValue, ScalarValue);

/// The smallest and largest value of `column` in each row group with rows of file `f`,
/// from the row groups' statistics: `None` when the file has no such column, or a row
/// group lacks the statistics.
fn row_group_ranges(
    f: usize,
    column: &str,
    config: &FileScanConfig,
    md: &ParquetMetaData,
) -> Option<Vec<Range>> {
    let conv = StatisticsConverter::try_new(
        column,
        &config.file_schema,
        md.file_metadata().schema_descr(),
    )
    .ok()?;
    let mins = conv.row_group_mins(md.row_groups().iter()).ok()?;
    let maxes = conv.row_group_maxes(md.row_groups().iter()).ok()?;
    let mut out = Vec::new();
    for (i, rg) in md.row_groups().iter().enumerate() {
        if rg.num_rows() == 0 {
            continue;
        }
        let lo = ScalarValue::try_from_array(&mins, i).ok()?;
        let hi = ScalarValue::try_from_array(&maxes, i).ok()?;
        if lo.is_null() || hi.is_null() {
            return None;
        }
        out.push((f, i, rg.num_rows() as u64, lo, hi));
    }
    Some(out)
}

/// Row groups in key order: by their smallest key, except those whose range spans the
/// smallest keys of more than two others (rows appended out of order, as a table's
/// newest rows often are), which go last, by their largest key. `None` when the
/// statistics do not compare.
fn in_key_order(mut all: Vec<Range>) -> Option<Vec<(usize, usize, u64)>> {
    let mut comparable = true;
    let mut cmp = |a: &ScalarValue, b: &ScalarValue| {
        a.partial_cmp(b).unwrap_or_else(|| {
            comparable = false;
            Ordering::Equal
        })
    };
    all.sort_by(|a, b| cmp(&a.3, &b.3).then((a.0, a.1).cmp(&(b.0, b.1))));
    if !comparable {
        return None;
    }
    let mins: Vec<ScalarValue> = all.iter().map(|r| r.3.clone()).collect();
    let (mut narrow, mut wide) = (Vec::new(), Vec::new());
    for r in all {
        // The smallest keys of other row groups strictly inside (min, max).
        let above = mins.partition_point(|m| m <= &r.3);
        let below = mins.partition_point(|m| m < &r.4);
        if below.saturating_sub(above) > 2 {
            wide.push(r);
        } else {
            narrow.push(r);
        }
    }
    wide.sort_by(|a, b| a.4.partial_cmp(&b.4).unwrap_or(Ordering::Equal));
    Some(
        narrow
            .into_iter()
            .chain(wide)
            .map(|(f, g, rows, _, _)| (f, g, rows))
            .collect(),
    )
}

/// The layout of `plan`'s scan, in key order of `first_key`; `None` when `plan` is not
/// a plain Parquet scan (a join, a repartition, another format).
pub(crate) async fn layout(
    plan: &Arc<dyn ExecutionPlan>,
    first_key: &str,
    ctx: &TaskContext,
) -> Result<Option<Layout>> {
    let Some(config) = parquet_scan(plan) else {
        return Ok(None);
    };
    let store = ctx.runtime_env().object_store(&config.object_store_url)?;
    let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
    // A file may be split over partitions as byte ranges: each once, whole.
    let mut seen = std::collections::HashSet::new();
    let mut files = Vec::new();
    for f in config.file_groups.iter().flat_map(|g| g.iter()) {
        if !seen.insert(f.object_meta.location.clone()) {
            continue;
        }
        let md = DFParquetMetadata::new(store.as_ref(), &f.object_meta)
            .with_metadata_size_hint(f.metadata_size_hint)
            .with_file_metadata_cache(Some(cache.clone()))
            .fetch_metadata()
            .await?;
        let mut whole = f.clone();
        whole.range = None;
        whole.statistics = None;
        files.push((whole, md));
    }
    files.sort_by(|a, b| {
        natural(
            a.0.object_meta.location.as_ref(),
            b.0.object_meta.location.as_ref(),
        )
    });
    // Every row group by its smallest key, when every one has the statistics and they
    // compare (ties keep the files' order); else the files in order of their paths,
    // each file's row groups in file order.
    let ranges: Option<Vec<Vec<Range>>> = files
        .iter()
        .enumerate()
        .map(|(f, (_, md))| row_group_ranges(f, first_key, &config, md))
        .collect();
    let by_path = || -> Vec<(usize, usize, u64)> {
        files
            .iter()
            .enumerate()
            .flat_map(|(f, (_, md))| {
                md.row_groups()
                    .iter()
                    .enumerate()
                    .filter(|(_, rg)| rg.num_rows() > 0)
                    .map(move |(g, rg)| (f, g, rg.num_rows() as u64))
            })
            .collect()
    };
    let ordered = ranges.and_then(|r| in_key_order(r.into_iter().flatten().collect()));
    let by_statistics = ordered.is_some();
    let groups = ordered.unwrap_or_else(by_path);
    Ok(Some(Layout {
        config,
        files,
        groups,
        by_statistics,
    }))
}

/// The byte offset by which DataFusion assigns a row group to a file range: its first
/// column's first page (`RowGroupAccessPlanFilter::prune_by_range`).
fn start(md: &ParquetMetaData, g: usize) -> i64 {
    let col = md.row_group(g).column(0);
    col.dictionary_page_offset()
        .unwrap_or_else(|| col.data_page_offset())
}

/// A rewritten plan, and the rows each of its partitions reads.
type Rewritten = (Arc<dyn ExecutionPlan>, Vec<u64>);

/// `plan` with its scan replaced by one reading `layout`'s row groups in order over
/// `partitions` partitions of about equal rows; with the rows each partition reads.
/// `None` when some partition would get no row group.
pub(crate) fn rewrite(
    plan: &Arc<dyn ExecutionPlan>,
    layout: &Layout,
    partitions: usize,
) -> Result<Option<Rewritten>> {
    let total: u64 = layout.groups.iter().map(|g| g.2).sum();
    let n = partitions.max(1);
    let mut parts: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    let mut rows = vec![0u64; n];
    let mut before = 0u64;
    for (i, &(f, g, r)) in layout.groups.iter().enumerate() {
        // A row group goes where its first row falls; the last ones make sure that every
        // partition gets at least one.
        let by_rows = ((before as u128 * n as u128) / total.max(1) as u128) as usize;
        let left = layout.groups.len() - i;
        let p = by_rows.max(n.saturating_sub(left)).min(n - 1);
        parts[p].push((f, g));
        rows[p] += r;
        before += r;
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Ok(None);
    }
    let groups: Vec<FileGroup> = parts
        .iter()
        .map(|p| {
            // Runs of consecutive row groups of one file become one range.
            let mut files: Vec<PartitionedFile> = Vec::new();
            let mut i = 0;
            while i < p.len() {
                let (f, first) = p[i];
                let mut last = first;
                while i + 1 < p.len() && p[i + 1].0 == f && p[i + 1].1 == last + 1 {
                    i += 1;
                    last = p[i].1;
                }
                let (file, md) = &layout.files[f];
                let begin = start(md, first);
                let end = if last + 1 < md.num_row_groups() {
                    start(md, last + 1)
                } else {
                    file.object_meta.size as i64
                };
                let mut pf = file.clone();
                pf.range = Some(FileRange { start: begin, end });
                files.push(pf);
                i += 1;
            }
            FileGroup::new(files)
        })
        .collect();
    let config = FileScanConfigBuilder::from(layout.config.clone())
        .with_file_groups(groups)
        .build();
    let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
    let new = plan
        .clone()
        .transform_up(|node| {
            Ok(
                if node.as_any().downcast_ref::<DataSourceExec>().is_some() {
                    Transformed::yes(scan.clone())
                } else {
                    Transformed::no(node)
                },
            )
        })?
        .data;
    Ok(Some((new, rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_compare_with_their_numbers_as_numbers() {
        let mut v = vec![
            "t/lineitem.10.parquet",
            "t/lineitem.2.parquet",
            "t/lineitem.1.parquet",
            "t/part-007.parquet",
            "t/part-07.parquet",
            "t/part-8.parquet",
        ];
        v.sort_by(|a, b| natural(a, b));
        assert_eq!(
            v,
            vec![
                "t/lineitem.1.parquet",
                "t/lineitem.2.parquet",
                "t/lineitem.10.parquet",
                "t/part-07.parquet",
                "t/part-007.parquet",
                "t/part-8.parquet",
            ]
        );
    }

    /// Write files of row groups of `id`s (one row group a list) to a new folder.
    fn write(name: &str, files: &[(&str, Vec<Vec<i64>>)], statistics: bool) -> std::path::PathBuf {
        use arrow::array::{Int64Array, RecordBatch};
        use arrow::datatypes::{DataType, Field, Schema};
        use datafusion::parquet::arrow::ArrowWriter;
        use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
        let dir =
            std::env::temp_dir().join(format!("snapdiff-key-order-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let props = WriterProperties::builder()
            .set_statistics_enabled(if statistics {
                EnabledStatistics::Chunk
            } else {
                EnabledStatistics::None
            })
            .build();
        for (file, groups) in files {
            let f = std::fs::File::create(dir.join(file)).unwrap();
            let mut w = ArrowWriter::try_new(f, schema.clone(), Some(props.clone())).unwrap();
            for g in groups {
                let b = RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(Int64Array::from(g.clone()))],
                )
                .unwrap();
                w.write(&b).unwrap();
                w.flush().unwrap();
            }
            w.close().unwrap();
        }
        dir
    }

    /// The ids each partition of the rewritten scan of `dir` reads, in order.
    async fn read(dir: &std::path::Path, partitions: usize) -> (bool, Vec<Vec<i64>>, Vec<u64>) {
        use datafusion::prelude::{ParquetReadOptions, SessionContext};
        use futures::TryStreamExt;
        let ctx = SessionContext::new();
        ctx.register_parquet("t", dir.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
        let df = ctx.sql("SELECT id FROM t WHERE id >= 0").await.unwrap();
        let task_ctx = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await.unwrap();
        let layout = layout(&plan, "id", &task_ctx)
            .await
            .unwrap()
            .expect("a Parquet scan");
        let (plan, rows) = rewrite(&plan, &layout, partitions)
            .unwrap()
            .expect("enough row groups");
        let mut out = Vec::new();
        for p in 0..partitions {
            let batches: Vec<_> = plan
                .execute(p, task_ctx.clone())
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            out.push(
                batches
                    .iter()
                    .flat_map(|b| {
                        use arrow::array::AsArray;
                        b.column(0)
                            .as_primitive::<arrow::datatypes::Int64Type>()
                            .values()
                            .to_vec()
                    })
                    .collect(),
            );
        }
        (layout.by_statistics, out, rows)
    }

    fn files() -> Vec<(&'static str, Vec<Vec<i64>>)> {
        vec![
            ("t.1.parquet", vec![(30..40).collect(), (0..10).collect()]),
            ("t.10.parquet", vec![vec![5, 15, 25, 35, 100]]),
            ("t.2.parquet", vec![(10..20).collect(), (20..30).collect()]),
        ]
    }

    #[tokio::test]
    async fn row_groups_are_read_in_order_of_their_keys_and_split_by_rows() {
        let dir = write("stats", &files(), true);
        let (by_statistics, parts, rows) = read(&dir, 2).await;
        assert!(by_statistics);
        // The row group spanning the others' keys (rows appended) comes last.
        assert_eq!(parts[0], (0..30).collect::<Vec<_>>());
        let mut last: Vec<i64> = (30..40).collect();
        last.extend([5, 15, 25, 35, 100]);
        assert_eq!(parts[1], last);
        assert_eq!(rows, vec![30, 15]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn without_statistics_files_are_read_in_natural_order_of_their_paths() {
        let dir = write("paths", &files(), false);
        let (by_statistics, parts, rows) = read(&dir, 3).await;
        assert!(!by_statistics);
        let all: Vec<i64> = (30..40).chain(0..30).collect();
        // Each partition gets the row groups whose first row falls in its third.
        assert_eq!(parts[0], all[..20].to_vec());
        assert_eq!(parts[1], all[20..30].to_vec());
        let mut last = all[30..].to_vec();
        last.extend([5, 15, 25, 35, 100]);
        assert_eq!(parts[2], last);
        assert_eq!(rows, vec![20, 10, 15]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
