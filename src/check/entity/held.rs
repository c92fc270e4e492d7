//! Each side's view evaluated once and held in memory.
//!
//! An entity's views rebuild it from its SQL (joins of split tables, key maps) and
//! normalise it (the rules, one type per column, the row hash). Left as views, that work
//! is done again by every scan: the invalid check's (one per column with a rule that
//! can fail), the digests, the diff's first pass and its fetch, the aggregate check's
//! profiles. Where a side is more than a plain Parquet scan, or has rules, and both
//! sides fit [`Budget::held_views`], each view runs once: its rows are held in memory
//! under the view's name, and the values a rule cannot read are caught in the same scan
//! for the invalid check. The diff's shares of the budget then come out of what is left
//! ([`Budget::less`]). A plain scan without rules is not held: the streaming pass reads
//! it once anyway, in key order, which a held table would lose.
//!
//! The tables are let go when the entity ends ([`EntityRun::let_go`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use datafusion::common::stats::Precision;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::DataFrame;

use crate::check::diff::key_order;
use crate::check::diff::pass::{plain_schema, Compactor};
use crate::check::entity::EntityRun;
use crate::engine::templates::ident;
use crate::error::{Error, Result};
use crate::snapshot::Side;

/// A physical plan and the context it runs in.
pub(crate) type Planned = (Arc<dyn ExecutionPlan>, Arc<TaskContext>);

/// A table's rows as held: its schema and each partition's batches.
type Rows = (SchemaRef, Vec<Vec<RecordBatch>>);

/// The values a rule could not read, caught while a side's view was held: the table
/// of each side (its fallible columns' values as text, `__inv_<j>`, and the source's
/// key columns, `__rawkey_<i>`, of the rows with at least one), and each column's `j`.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeldInvalid {
    pub(crate) tables: BTreeMap<Side, String>,
    pub(crate) columns: BTreeMap<(Side, String), usize>,
}

/// What holding a side's view runs: the view's columns first, then the fallible
/// columns' unreadable values and the raw key columns (see [`HeldInvalid`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct HoldSql {
    pub(crate) sql: String,
    /// The fallible columns, `j` by position.
    pub(crate) fallible: Vec<String>,
}

/// Where a partition's batches go while a view is held: the view's columns, and the
/// rows with an unreadable value; `false` once the shared byte count passes the cap.
struct Sink {
    view_columns: usize,
    view: Compactor,
    invalid: Option<Compactor>,
    bytes: Arc<AtomicU64>,
    cap: u64,
}

impl Sink {
    fn push(&mut self, b: &RecordBatch) -> std::result::Result<bool, ArrowError> {
        let n = b.num_columns();
        let view = b.project(&(0..self.view_columns).collect::<Vec<_>>())?;
        let mut added = self.view.push_counted(&view)?;
        if let Some(inv) = &mut self.invalid {
            // Rows with at least one unreadable value (`__inv_j` not NULL).
            let mut any = vec![false; b.num_rows()];
            for j in self.view_columns..n {
                let c = b.column(j);
                if b.schema().field(j).name().starts_with("__inv_") && c.null_count() < c.len() {
                    for (row, flag) in any.iter_mut().enumerate() {
                        *flag |= c.is_valid(row);
                    }
                }
            }
            if any.iter().any(|f| *f) {
                let rest = b.project(&(self.view_columns..n).collect::<Vec<_>>())?;
                let kept = arrow::compute::filter_record_batch(&rest, &BooleanArray::from(any))?;
                added += inv.push_counted(&kept)?;
            }
        }
        let total = self.bytes.fetch_add(added as u64, Ordering::Relaxed) + added as u64;
        Ok(total <= self.cap)
    }
}

impl EntityRun<'_> {
    /// Run each side's view once and hold its rows (module docs), where that applies
    /// and fits; otherwise leave the views as they are.
    pub(crate) async fn hold_views(&mut self) -> Result<()> {
        if self.plan_only || self.opts.engine.is_distributed() {
            return Ok(());
        }
        let cap = self.opts.budget.held_views();
        let mut plans = Vec::new();
        let mut plain = self.def.normalize.is_empty();
        for side in Side::ALL {
            let df = self.frame(&self.hold_sql[side.index()].sql).await?;
            let (plan, task) = self.plan(df).await?;
            plain &= key_order::is_plain_scan(&plan);
            // A side whose rows are known exactly (a scan's footers) and do not fit is not
            // tried; an estimate (a join's) is not trusted: the rows are read until they
            // pass the cap.
            let rows = match plan.partition_statistics(None).map(|s| s.num_rows) {
                Ok(Precision::Exact(n)) => n as u64,
                _ => 0,
            };
            if rows.saturating_mul(self.row_bytes) > cap {
                self.debug(&format!(
                    "-- views not held: the {side} side's {rows} rows would pass {cap} bytes"
                ));
                return Ok(());
            }
            plans.push((plan, task));
        }
        if plain {
            return Ok(());
        }
        let clock = std::time::Instant::now();
        let bytes = Arc::new(AtomicU64::new(0));
        let mut held = Vec::new();
        for (side, plan) in Side::ALL.into_iter().zip(plans) {
            match self.collect_side(side, plan, bytes.clone(), cap).await? {
                Some(h) => held.push(h),
                None => {
                    self.debug(&format!(
                        "-- views not held: they passed {cap} bytes ({:.2}s)",
                        clock.elapsed().as_secs_f64()
                    ));
                    return Ok(());
                }
            }
        }
        let total = bytes.load(Ordering::Relaxed);
        let mut rows = 0;
        let views = [self.legacy_view.clone(), self.target_view.clone()];
        let mut invalid = HeldInvalid::default();
        for ((side, ((schema, parts), inv)), view) in Side::ALL.into_iter().zip(held).zip(&views) {
            rows += self.register_held(view, schema, parts)?;
            if let Some((schema, parts)) = inv {
                let table = format!("__sd_{}_{side}_invalid", self.def.name);
                self.register_held(&table, schema, parts)?;
                invalid.tables.insert(side, table);
                for (j, c) in self.hold_sql[side.index()].fallible.iter().enumerate() {
                    invalid.columns.insert((side, c.clone()), j);
                }
            }
        }
        self.held_invalid = Some(invalid);
        self.budget = self.opts.budget.less(total);
        if let Some(per_row) = total.checked_div(rows) {
            self.row_bytes = per_row.max(16);
        }
        self.debug(&format!(
            "-- views held: {rows} rows, {total} bytes ({:.2}s)",
            clock.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// Run one side's hold query; its view's rows and its rows with unreadable values,
    /// or `None` once the rows held pass `cap` bytes.
    async fn collect_side(
        &self,
        side: Side,
        (plan, task): Planned,
        bytes: Arc<AtomicU64>,
        cap: u64,
    ) -> Result<Option<(Rows, Option<Rows>)>> {
        let schema = plan.schema();
        let fallible = self.hold_sql[side.index()].fallible.len();
        let extra = if fallible == 0 {
            0
        } else {
            fallible + self.key.len()
        };
        let width = schema.fields().len();
        let view_columns = width - extra;
        let view_schema = plain_schema(&schema.project(&(0..view_columns).collect::<Vec<_>>())?);
        let inv_schema = if extra > 0 {
            Some(plain_schema(
                &schema.project(&(view_columns..width).collect::<Vec<_>>())?,
            ))
        } else {
            None
        };
        let make = || Sink {
            view_columns,
            view: Compactor::new(view_schema.clone()),
            invalid: inv_schema.clone().map(Compactor::new),
            bytes: bytes.clone(),
            cap,
        };
        let sinks = match self.drain((plan, task), make, Sink::push).await? {
            Some(s) => s,
            None => return Ok(None),
        };
        let (mut view, mut inv) = (Vec::new(), Vec::new());
        for s in sinks {
            view.push(s.view.finish()?);
            if let Some(i) = s.invalid {
                inv.push(i.finish()?);
            }
        }
        Ok(Some(((view_schema, view), inv_schema.map(|s| (s, inv)))))
    }

    /// `df`'s physical plan and the context to run it in; a planning error is explained
    /// as any check's.
    pub(crate) async fn plan(&self, df: DataFrame) -> Result<Planned> {
        let task = Arc::new(df.task_ctx());
        match df.create_physical_plan().await {
            Ok(p) => Ok((p, task)),
            Err(e) => Err(self.explain(e).await),
        }
    }

    /// Run every partition of a plan on a task of its own, each feeding its batches to a
    /// sink made by `make` through `push`; `None` when a push returned `false` (the rest
    /// of that partition is not read, and the others stop at their next batch).
    pub(crate) async fn drain<S, M, P>(
        &self,
        (plan, task): Planned,
        make: M,
        push: P,
    ) -> Result<Option<Vec<S>>>
    where
        S: Send + 'static,
        M: Fn() -> S,
        P: Fn(&mut S, &RecordBatch) -> std::result::Result<bool, ArrowError>
            + Copy
            + Send
            + 'static,
    {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let run = async {
            let tasks: Vec<_> = datafusion::physical_plan::execute_stream_partitioned(plan, task)?
                .into_iter()
                .map(|mut stream| {
                    let mut sink = make();
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        while let Some(b) = futures::StreamExt::next(&mut stream).await {
                            if stop.load(Ordering::Relaxed) || !push(&mut sink, &b?)? {
                                stop.store(true, Ordering::Relaxed);
                                return Ok(None);
                            }
                        }
                        Ok::<_, datafusion::error::DataFusionError>(Some(sink))
                    })
                })
                .collect();
            let mut sinks = Vec::with_capacity(tasks.len());
            for t in tasks {
                let s = t
                    .await
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))??;
                sinks.push(s);
            }
            Ok::<_, datafusion::error::DataFusionError>(
                sinks.into_iter().collect::<Option<Vec<S>>>(),
            )
        };
        match run.await {
            Ok(s) => Ok(s),
            Err(e) => Err(self.explain(e).await),
        }
    }

    /// Register `parts` as the memory table `name`, replacing any table of that name.
    /// Returns its rows.
    pub(crate) fn register_held(
        &self,
        name: &str,
        schema: arrow::datatypes::SchemaRef,
        parts: Vec<Vec<RecordBatch>>,
    ) -> Result<u64> {
        let rows: usize = parts.iter().flatten().map(|b| b.num_rows()).sum();
        // A memory table needs a partition, if an empty one.
        let parts = if parts.is_empty() {
            vec![Vec::new()]
        } else {
            parts
        };
        let table = datafusion::datasource::MemTable::try_new(schema, parts)
            .map_err(|e| Error::internal(format!("cannot hold {name}: {e}")).with_source(e))?;
        let _ = self.ctx.deregister_table(name);
        self.ctx
            .register_table(name, Arc::new(table))
            .map_err(|e| Error::internal(format!("cannot register {name}: {e}")).with_source(e))?;
        Ok(rows as u64)
    }

    /// Let go of the views' rows held for this entity, and its tables of unreadable
    /// values.
    pub(crate) fn let_go(&mut self) {
        if self.held_invalid.is_none() {
            return;
        }
        for view in [&self.legacy_view, &self.target_view] {
            let _ = self.ctx.deregister_table(view.as_str());
        }
        if let Some(inv) = self.held_invalid.take() {
            for t in inv.tables.values() {
                let _ = self.ctx.deregister_table(t.as_str());
            }
        }
        crate::engine::memory::release_freed();
    }
}

/// `SELECT` list items for holding a side: each of `fallible` (column, rules applied
/// without the fallible ones, rules applied leniently) as `__inv_<j>`, its source text
/// where the rules could not read it; then the key columns as the source holds them.
pub(crate) fn invalid_columns(
    fallible: &[(String, String, String)],
    key: &[String],
) -> (Vec<String>, Vec<String>) {
    if fallible.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let inner = fallible
        .iter()
        .enumerate()
        .map(|(j, (c, infallible, lenient))| {
            format!(
                "CASE WHEN {infallible} IS NOT NULL AND {lenient} IS NULL THEN sd_text({}) END AS \"__inv_{j}\"",
                ident(c)
            )
        })
        .chain(
            key.iter()
                .enumerate()
                .map(|(i, k)| format!("s.{} AS \"__rawkey_{i}\"", ident(k))),
        )
        .collect();
    let outer = (0..fallible.len())
        .map(|j| format!("n.\"__inv_{j}\""))
        .chain((0..key.len()).map(|i| format!("n.\"__rawkey_{i}\"")))
        .collect();
    (inner, outer)
}
