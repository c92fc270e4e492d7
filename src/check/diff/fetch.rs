//! The candidate rows of the diff: the rows of differing keys, held by the first pass or
//! fetched again from both sides (in chunks when they do not fit), registered as memory
//! tables for the diff's rounds.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use datafusion::prelude::SessionContext;

use crate::check::diff::buckets;
use crate::check::diff::buckets::InBuckets;
use crate::check::diff::pass::{in_bitmap, plain_schema, BucketPass, Compactor, Held};
use crate::check::entity::EntityRun;
use crate::engine::templates::{self as sql, ident};
use crate::error::{Error, Result};
use crate::snapshot::Side;

/// The largest share of differing buckets for which the fetch of candidate rows pushes
/// its filter into the Parquet scan. At two buckets a row ([`buckets::choose_bits`]), 1%
/// of the buckets hold about 2.5% of the rows.
pub(crate) const PUSHDOWN_MAX_SHARE: f64 = 0.01;

/// On a cluster, the most differing key hashes the diff's views list literally
/// ([`EntityRun::differing_key_views`]); with more, each diff query finds them again.
pub(crate) const LISTED_KEY_HASHES: usize = 10_000;

impl EntityRun<'_> {
    /// Views over the two sides' rows whose key hash differs (differing_keys.sql);
    /// returns their quoted names. The differing key hashes are fetched once: up to
    /// [`LISTED_KEY_HASHES`] of them are written into the views as a list, which each
    /// scan filters by; beyond that, each diff query computes them again (the views are
    /// not materialised on the cluster).
    pub(crate) async fn differing_key_views(&self) -> Result<(String, String)> {
        let key_hash = format!("sd_row_hash({})", self.keys_list(""));
        let differing = sql::render(
            sql::DIFFERING_KEYS,
            &[
                ("legacy", &ident(&self.legacy_view)),
                ("target", &ident(&self.target_view)),
                ("key_hash", &key_hash),
                ("scope", &self.scope("")),
            ],
        )?;
        let listed = self
            .query(&format!(
                "SELECT kh FROM ({differing}) AS d LIMIT {}",
                LISTED_KEY_HASHES + 1
            ))
            .await?;
        let hashes: Vec<u64> = listed
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_primitive::<arrow::datatypes::UInt64Type>();
                a.iter().flatten().collect::<Vec<u64>>()
            })
            .collect();
        let filter = if hashes.is_empty() {
            "false".to_string()
        } else if hashes.len() <= LISTED_KEY_HASHES {
            let list: Vec<String> = hashes
                .iter()
                .map(|h| format!("arrow_cast({h}, 'UInt64')"))
                .collect();
            format!("{key_hash} IN ({})", list.join(", "))
        } else {
            format!("{key_hash} IN ({differing})")
        };
        self.debug(&format!(
            "-- {} differing key hashes{}",
            hashes.len().min(LISTED_KEY_HASHES + 1),
            if hashes.len() > LISTED_KEY_HASHES {
                " or more"
            } else {
                ""
            }
        ));
        let mut out = Vec::new();
        for view in [&self.legacy_view, &self.target_view] {
            let name = format!("{view}_differing");
            let q = format!(
                "CREATE OR REPLACE VIEW {} AS SELECT * FROM {} WHERE {filter}",
                ident(&name),
                ident(view)
            );
            self.frame(&q).await?;
            out.push(ident(&name));
        }
        Ok((out[0].clone(), out[1].clone()))
    }

    /// How many chunks the candidate rows of `pass` are fetched in, so that one chunk's
    /// rows (both sides) fit a quarter of the memory budget.
    pub(crate) fn chunks_for(&self, pass: &BucketPass, rows_in_scope: u64) -> u64 {
        // A differing bucket holds a differing key's row or two (a changed key has one a
        // side) and, like any bucket, rows_in_scope / buckets others.
        let per_bucket = 2.0 + rows_in_scope as f64 / pass.buckets() as f64;
        let rows = ((pass.differing_buckets as f64 * per_bucket).ceil() as u64).min(rows_in_scope);
        let bytes = rows.saturating_mul(self.row_bytes);
        bytes.div_ceil(self.budget.candidates().max(1)).max(1)
    }

    /// Fetch one chunk of candidate rows of both sides into memory tables; returns their
    /// names, the rows fetched (both sides) and the rows held once the rows equal on both
    /// sides are dropped ([`buckets::prune_equal`]).
    pub(crate) async fn fetch_candidates(
        &self,
        pass: &BucketPass,
        chunks: u64,
        chunk: u64,
        scope: &str,
    ) -> Result<(String, String, u64, u64)> {
        let share = pass.differing_buckets as f64 / pass.buckets() as f64;
        let test = InBuckets::new("__sd_in_differing_buckets", pass, chunks, chunk);
        let (schemas, sides) = self.fetch_sides(test, share, scope).await?;
        self.hold_candidates(schemas, sides)
    }

    /// The rows of the matching or streaming pass as candidate tables (see
    /// [`Self::fetch_candidates`]): the held rows, and (matching pass) the unpaired
    /// legacy rows read again by their key hashes. The buckets of key hashes that also
    /// paired are read again from both sides, their held rows dropped first.
    pub(crate) async fn take_held(
        &self,
        pass: &BucketPass,
        held: Held,
        scope: &str,
    ) -> Result<(String, String, u64, u64)> {
        let none = Arc::new(vec![0u64; pass.differing.len()]);
        let refetch = held.refetch.clone().unwrap_or(none);
        let drop_refetched = |parts: &mut Vec<Vec<RecordBatch>>| -> Result<()> {
            if held.refetch.is_none() {
                return Ok(());
            }
            for b in parts.iter_mut().flatten() {
                let kh =
                    b.column(b.schema().index_of("__sd_kh").map_err(|e| {
                        Error::internal(format!("held rows have no key hash: {e}"))
                    })?)
                    .as_primitive::<arrow::datatypes::UInt64Type>();
                let keep: arrow::array::BooleanArray = kh
                    .values()
                    .iter()
                    .map(|k| Some(!in_bitmap(&refetch, *k, pass.bits)))
                    .collect();
                *b = arrow::compute::filter_record_batch(b, &keep).map_err(|e| {
                    Error::internal(format!("cannot drop held rows: {e}")).with_source(e)
                })?;
            }
            Ok(())
        };
        let mut target = held.target;
        drop_refetched(&mut target)?;
        let again = || InBuckets::over("__sd_in_refetched", pass.bits, refetch.clone(), 1, 0);
        let (legacy_schema, legacy) = match held.legacy {
            Some((schema, mut legacy)) => {
                drop_refetched(&mut legacy)?;
                if held.refetch.is_some() {
                    let share = refetch.iter().map(|w| w.count_ones() as f64).sum::<f64>()
                        / pass.buckets() as f64;
                    legacy.extend(self.fetch_side(0, again(), share, scope).await?.1);
                }
                (schema, legacy)
            }
            None => {
                let share = (held.legacy_keys.len() as f64
                    + refetch.iter().map(|w| w.count_ones() as f64).sum::<f64>())
                    / pass.buckets() as f64;
                let unpaired =
                    InBuckets::over("__sd_in_unpaired", pass.bits, refetch.clone(), 1, 0)
                        .or_keys(held.legacy_keys);
                self.fetch_side(0, unpaired, share, scope).await?
            }
        };
        if held.refetch.is_some() {
            let share =
                refetch.iter().map(|w| w.count_ones() as f64).sum::<f64>() / pass.buckets() as f64;
            target.extend(self.fetch_side(1, again(), share, scope).await?.1);
        }
        self.hold_candidates(vec![legacy_schema, held.target_schema], [legacy, target])
    }

    /// Both sides' rows that `test` selects (see [`Self::fetch_side`]).
    pub(crate) async fn fetch_sides(
        &self,
        test: InBuckets,
        share: f64,
        scope: &str,
    ) -> Result<(Vec<arrow::datatypes::SchemaRef>, [Vec<Vec<RecordBatch>>; 2])> {
        let (ls, l) = self.fetch_side(0, test.clone(), share, scope).await?;
        let (ts, t) = self.fetch_side(1, test, share, scope).await?;
        Ok((vec![ls, ts], [l, t]))
    }

    /// The rows of side `side` (0 legacy, 1 target) that `test` selects (the key columns
    /// its arguments), with their key hash `__sd_kh`, text as plain arrays. While the
    /// share of buckets selected is small, the filter is pushed into the Parquet scan,
    /// which decodes the other columns only for rows whose key it selects.
    pub(crate) async fn fetch_side(
        &self,
        side: usize,
        test: InBuckets,
        share: f64,
        scope: &str,
    ) -> Result<(arrow::datatypes::SchemaRef, Vec<Vec<RecordBatch>>)> {
        use datafusion::execution::SessionStateBuilder;
        use datafusion::logical_expr::ScalarUDFImpl;
        let func = test.name().to_string();
        let nothing = test.selects_nothing();
        self.ctx
            .register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(test));
        let mut config = self.ctx.state().config().clone();
        // The bucket test runs inside the Parquet scan, which then decodes the other
        // columns only for the rows it selects, while few rows are selected; with many,
        // the scan's row selections cost more than decoding every row and filtering
        // after (measured on TPC-H SF10: pushdown 2-4 s faster with 1% of the rows
        // selected, 0.5 s slower with 3%, 4 s slower with 7%).
        config.options_mut().execution.parquet.pushdown_filters = share <= PUSHDOWN_MAX_SHARE;
        // The catalog is shared with the entity's session: never replace it.
        config
            .options_mut()
            .catalog
            .create_default_catalog_and_schema = false;
        let pushdown = SessionContext::new_with_state(
            SessionStateBuilder::new_from_existing(self.ctx.state())
                .with_config(config)
                .build(),
        );
        let keys = self.keys_list("");
        let view = if side == 0 {
            &self.legacy_view
        } else {
            &self.target_view
        };
        let sql = format!(
            "SELECT *, sd_row_hash({keys}) AS __sd_kh FROM {} WHERE {func}({keys}) AND {scope}",
            ident(view),
        );
        self.debug(&sql);
        let df = match crate::engine::sql::sql(&pushdown, &sql).await {
            Ok(df) => df,
            Err(e) => return Err(self.explain(e).await),
        };
        if nothing {
            return Ok((plain_schema(df.schema().as_arrow()), Vec::new()));
        }
        self.collect_plain(df).await
    }

    /// Drop the candidate rows equal on both sides ([`buckets::prune_equal`]) and hold
    /// the rest as the entity's two candidate tables; returns their names, the rows
    /// before pruning (both sides) and the rows held.
    pub(crate) fn hold_candidates(
        &self,
        schemas: Vec<arrow::datatypes::SchemaRef>,
        mut sides: [Vec<Vec<RecordBatch>>; 2],
    ) -> Result<(String, String, u64, u64)> {
        let fetched: usize = sides.iter().flatten().flatten().map(|b| b.num_rows()).sum();
        let prune_clock = Instant::now();
        buckets::prune_equal(&mut sides, "__sd_kh", "__h").map_err(|e| {
            Error::internal(format!("cannot prune the candidate rows: {e}")).with_source(e)
        })?;
        self.debug(&format!(
            "-- pruned in {:.2}s",
            prune_clock.elapsed().as_secs_f64()
        ));
        let (mut names, mut held) = (Vec::new(), 0);
        for ((side, parts), schema) in Side::ALL.into_iter().zip(sides).zip(schemas) {
            let kept: Vec<usize> = (0..schema.fields().len())
                .filter(|i| schema.field(*i).name() != "__sd_kh")
                .collect();
            let schema = schema.project(&kept).map_err(|e| {
                Error::internal(format!("cannot drop the key hash column: {e}")).with_source(e)
            })?;
            let name = format!("__sd_{}_{side}_candidates", self.def.name);
            held += self.register_held(&name, Arc::new(schema), parts)?;
            names.push(name);
        }
        Ok((names[0].clone(), names[1].clone(), fetched as u64, held))
    }

    /// Run `df` and hold its rows as the memory table `name` (through a [`Compactor`], text and
    /// binary as plain arrays), replacing any table of that name. Returns the rows held.
    pub(crate) async fn hold(&self, df: datafusion::prelude::DataFrame, name: &str) -> Result<u64> {
        let (schema, parts) = self.collect_plain(df).await?;
        self.register_held(name, schema, parts)
    }

    /// Run `df`, each partition's batches through a [`Compactor`] (text and binary as plain
    /// arrays, cast as they arrive).
    pub(crate) async fn collect_plain(
        &self,
        df: datafusion::prelude::DataFrame,
    ) -> Result<(arrow::datatypes::SchemaRef, Vec<Vec<RecordBatch>>)> {
        let schema = plain_schema(df.schema().as_arrow());
        let make = || Compactor::new(schema.clone());
        let plan = self.plan(df).await?;
        let sinks = self
            .drain(plan, make, |c: &mut Compactor, b: &RecordBatch| {
                c.push(b).map(|_| true)
            })
            .await?
            .unwrap_or_default();
        let parts = sinks
            .into_iter()
            .map(Compactor::finish)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("cannot hold rows: {e}")).with_source(e))?;
        Ok((schema, parts))
    }

    /// Views over the candidate tables `lc` and `tc` holding the rows whose key bucket
    /// is `round` modulo `rounds`; returns their quoted names.
    pub(crate) async fn round_views(
        &self,
        pass: &BucketPass,
        rounds: u64,
        round: u64,
        lc: &str,
        tc: &str,
    ) -> Result<(String, String)> {
        let func = "__sd_in_round";
        self.ctx
            .register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
                InBuckets::new(func, pass, rounds, round),
            ));
        let mut out = Vec::new();
        for table in [lc, tc] {
            let name = format!("{table}_round");
            let df = self
                .frame(&format!(
                    "SELECT * FROM {} WHERE {func}({})",
                    ident(table),
                    self.keys_list("")
                ))
                .await?;
            let _ = self.ctx.deregister_table(name.as_str());
            self.ctx
                .register_table(name.as_str(), df.into_view())
                .map_err(|e| {
                    Error::internal(format!("cannot register {name}: {e}")).with_source(e)
                })?;
            out.push(ident(&name));
        }
        Ok((out[0].clone(), out[1].clone()))
    }
}
