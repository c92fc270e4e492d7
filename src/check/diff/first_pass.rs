//! The diff's first pass: which one runs (streaming, matching or narrow), and running it.

use std::sync::Arc;
use std::time::Instant;

use crate::check::diff::pass::BucketPass;
use crate::check::diff::{buckets, key_order, matching, stream};
use crate::check::entity::EntityRun;
use crate::engine::templates::ident;
use crate::engine::Budget;
use crate::error::{Error, Result};

/// The diff's first passes ([`FirstPass::choose`] says which are tried, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstPass {
    /// Both sides read once, side by side in key order ([`stream`]).
    Stream,
    /// The legacy side's hashes in a table, the target paired against it ([`matching`]).
    Matching,
    /// Key buckets digested on both sides, the differing ones fetched ([`buckets`]).
    Narrow,
}

impl FirstPass {
    /// `stream`, `table` (or `matching`) or `narrow`, as `SNAPDIFF_FIRST_PASS` names them.
    pub fn parse(text: &str) -> Result<FirstPass> {
        match text.trim() {
            "stream" => Ok(FirstPass::Stream),
            "table" | "matching" => Ok(FirstPass::Matching),
            "narrow" => Ok(FirstPass::Narrow),
            other => Err(Error::spec(format!(
                "first pass `{other}` is not one of the diff's passes"
            ))
            .with_hint("give stream, table or narrow")),
        }
    }

    /// The passes to try, in order, on sides of `legacy_rows` and `target_rows` rows
    /// within `budget`: the streaming pass where its pair log fits, the matching pass
    /// where its table fits, and the narrow pass last, which always fits. `start` (from
    /// `SNAPDIFF_FIRST_PASS`, to compare the passes) leaves out the passes before it.
    /// A pass that gives up at run time hands over to the next.
    pub fn choose(
        legacy_rows: u64,
        target_rows: u64,
        budget: &Budget,
        start: Option<FirstPass>,
    ) -> Vec<FirstPass> {
        let pairs = legacy_rows.min(target_rows);
        let fits = |p: FirstPass| match p {
            FirstPass::Stream => {
                pairs.saturating_mul(stream::LOG_BYTES_PER_ROW) <= budget.pair_log()
            }
            FirstPass::Matching => matching::table_bytes(legacy_rows) <= budget.matching_table(),
            FirstPass::Narrow => true,
        };
        let start = start.unwrap_or(FirstPass::Stream);
        [FirstPass::Stream, FirstPass::Matching, FirstPass::Narrow]
            .into_iter()
            .filter(|p| *p >= start && fits(*p))
            .collect()
    }
}

impl PartialOrd for FirstPass {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FirstPass {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

impl EntityRun<'_> {
    /// The diff's first pass over the rows `scope` selects: both sides' digests, and
    /// which key buckets differ. The matching pass ([`matching`]) runs where its table
    /// fits the budget: it also holds the differing target rows and lists the differing
    /// legacy keys, so that only those are read again. Otherwise, or when it gives up,
    /// the narrow pass ([`buckets`]) runs.
    pub(crate) async fn bucket_pass(&mut self, scope: &str) -> Result<BucketPass> {
        if !self.totals_known {
            self.count_totals().await?;
        }
        let rows = self.report.legacy_rows.max(self.report.target_rows);
        let bits = buckets::choose_bits(rows, self.budget.buckets());
        let keys = self.keys_list("");
        let passes = FirstPass::choose(
            self.report.legacy_rows,
            self.report.target_rows,
            &self.budget,
            self.opts.first_pass,
        );
        if passes.contains(&FirstPass::Stream) {
            if let Some(pass) = self.streaming_pass(scope, bits).await? {
                return Ok(pass);
            }
        }
        let clock = Instant::now();
        if passes.contains(&FirstPass::Matching) {
            let l = self
                .frame(&format!(
                    "SELECT sd_row_hash({keys}) AS __sd_kh, __h FROM {} WHERE {scope}",
                    ident(&self.legacy_view)
                ))
                .await?;
            let t = self
                .frame(&format!(
                    "SELECT *, sd_row_hash({keys}) AS __sd_kh FROM {} WHERE {scope}",
                    ident(&self.target_view)
                ))
                .await?;
            let limits = matching::Limits {
                legacy_rows: self.report.legacy_rows,
                hold_bytes: self.budget.matching_held(),
                candidate_bytes: self.budget.candidates(),
                row_bytes: self.row_bytes,
                bits,
            };
            match matching::run(l, t, limits).await {
                Ok(Some(m)) => {
                    self.debug(&format!(
                        "-- matching pass: {} of {} key buckets differ, {} legacy and {} target rows unpaired, {} ({:.2}s)",
                        m.differing_buckets,
                        1u64 << bits,
                        m.unpaired[0],
                        m.unpaired[1],
                        if m.held.is_some() {
                            "the target's held"
                        } else {
                            "too many to hold"
                        },
                        clock.elapsed().as_secs_f64()
                    ));
                    return Ok(m.into_pass(bits));
                }
                Ok(None) => self.debug(&format!(
                    "-- matching pass gave up: a shard of its table filled up, or a key hash is on thousands of rows ({:.2}s)",
                    clock.elapsed().as_secs_f64()
                )),
                Err(e) => return Err(self.explain(e).await),
            }
        }
        let q = |v: &str| {
            format!(
                "SELECT sd_row_hash({keys}) AS __kh, __h FROM {} WHERE {scope}",
                ident(v)
            )
        };
        let l = self.frame(&q(&self.legacy_view)).await?;
        let t = self.frame(&q(&self.target_view)).await?;
        let clock = Instant::now();
        let pass = match buckets::run(l, t, bits).await {
            Ok(p) => p,
            Err(e) => return Err(self.explain(e).await),
        };
        self.debug(&format!(
            "-- narrow pass: {} of {} key buckets differ ({:.2}s)",
            pass.differing_buckets,
            pass.buckets(),
            clock.elapsed().as_secs_f64()
        ));
        Ok(pass)
    }

    /// The streaming pass ([`stream`]) over both views, each scan in key order
    /// ([`key_order`]); `None` when a view is not a plain Parquet scan or the pass gave
    /// up (then the matching pass runs).
    pub(crate) async fn streaming_pass(
        &self,
        scope: &str,
        bits: u32,
    ) -> Result<Option<BucketPass>> {
        let keys = self.keys_list("");
        let clock = Instant::now();
        let mut sides = Vec::new();
        for view in [&self.legacy_view, &self.target_view] {
            let df = self
                .frame(&format!(
                    "SELECT *, sd_row_hash({keys}) AS __sd_kh FROM {} WHERE {scope}",
                    ident(view)
                ))
                .await?;
            let task_ctx = Arc::new(df.task_ctx());
            let plan = match df.create_physical_plan().await {
                Ok(p) => p,
                Err(e) => return Err(self.explain(e).await),
            };
            let layout = match key_order::layout(&plan, &self.key[0], &task_ctx).await {
                Ok(Some(l)) => l,
                Ok(None) => {
                    self.debug(
                        "-- streaming pass skipped: a side is not a plain scan of Parquet files",
                    );
                    return Ok(None);
                }
                Err(e) => return Err(self.explain(e).await),
            };
            sides.push((plan, layout, task_ctx));
        }
        let partitions = self
            .ctx
            .state()
            .config()
            .target_partitions()
            .min(sides[0].1.row_groups())
            .min(sides[1].1.row_groups());
        if partitions == 0 {
            return Ok(None);
        }
        let mut plans = Vec::new();
        let mut expected = Vec::new();
        for (plan, layout, _) in &sides {
            match key_order::rewrite(plan, layout, partitions) {
                Ok(Some((p, rows))) => {
                    plans.push(p);
                    expected.push(rows);
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.explain(e).await),
            }
        }
        let limits = stream::Limits {
            table_bytes: self.budget.stream_tables(),
            hold_bytes: self.budget.stream_held(),
            candidate_bytes: self.budget.candidates(),
            row_bytes: self.row_bytes,
            bits,
        };
        let ordered = if sides.iter().all(|s| s.1.by_statistics) {
            "by key statistics"
        } else {
            "by path"
        };
        let [pl, pt]: [_; 2] = plans.try_into().expect("two sides");
        let [el, et]: [_; 2] = expected.try_into().expect("two sides");
        let task_ctx = sides[1].2.clone();
        match stream::run([pl, pt], [el, et], &self.key[0], task_ctx, limits).await {
            Ok(stream::Outcome::Done(m, stats)) => {
                self.debug(&format!(
                    "-- streaming pass: {} of {} key buckets differ, {} legacy and {} target rows unpaired, {}, {partitions} partition(s) ordered {ordered}; hot table up to {} entries, {} rows copied out of batches held too long, {} paired when let go, pairing {:.2}s (probing {:.2}s) ({:.2}s)",
                    m.differing_buckets,
                    1u64 << bits,
                    m.unpaired[0],
                    m.unpaired[1],
                    if m.held.is_some() { "held" } else { "too many to hold" },
                    stats.hot_slots,
                    stats.copied,
                    stats.copied_paired,
                    stats.pairing.as_secs_f64(),
                    stats.probing.as_secs_f64(),
                    clock.elapsed().as_secs_f64()
                ));
                Ok(Some(m.into_pass(bits)))
            }
            Ok(stream::Outcome::GaveUp(why)) => {
                self.debug(&format!(
                    "-- streaming pass gave up: {why} ({:.2}s)",
                    clock.elapsed().as_secs_f64()
                ));
                Ok(None)
            }
            Err(e) => Err(self.explain(e).await),
        }
    }

    /// Whether the diff starts with the narrow pass: it needs a key, digests that cover
    /// every compared column (a tolerance column is left out of them), and the checks
    /// running in this process.
    pub(crate) fn narrow_pass_applies(&self) -> bool {
        // On a cluster, its bucket test and candidate tables would have to leave this
        // process: the diff is the plain SQL one there, with the same findings.
        self.diff_follows
            && !self.key.is_empty()
            && self.tolerance.is_empty()
            && !self.opts.engine.is_distributed()
    }

    /// Whether the diff leaves out, in SQL, the key hashes whose rows are equal on both
    /// sides, as the narrow pass does in one process: on a cluster, where the narrow
    /// pass does not apply but would otherwise.
    pub(crate) fn prunes_in_sql(&self) -> bool {
        self.diff_follows
            && !self.key.is_empty()
            && self.tolerance.is_empty()
            && self.opts.engine.is_distributed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_first_pass_is_the_first_that_fits() {
        let b = Budget::new(8 * GIB);
        use FirstPass::*;
        // 60 M rows a side: the pair log (480 MB) fits an eighth, so every pass is tried.
        assert_eq!(
            FirstPass::choose(60_000_000, 60_000_000, &b, None),
            [Stream, Matching, Narrow]
        );
        // 600 M rows: neither the pair log nor the matching table fits.
        assert_eq!(
            FirstPass::choose(600_000_000, 600_000_000, &b, None),
            [Narrow]
        );
        // The pair log counts the pairs there can be: the smaller side.
        assert_eq!(
            FirstPass::choose(200_000_000, 100, &b, None),
            [Stream, Narrow]
        );
        // A start leaves out the passes before it, never one that does not fit.
        assert_eq!(
            FirstPass::choose(60_000_000, 60_000_000, &b, Some(Matching)),
            [Matching, Narrow]
        );
        assert_eq!(
            FirstPass::choose(60_000_000, 60_000_000, &b, Some(Narrow)),
            [Narrow]
        );
        assert_eq!(
            FirstPass::choose(600_000_000, 600_000_000, &b, Some(Matching)),
            [Narrow]
        );
    }

    #[test]
    fn passes_parse_by_their_names() {
        assert_eq!(FirstPass::parse("stream").unwrap(), FirstPass::Stream);
        assert_eq!(FirstPass::parse("table").unwrap(), FirstPass::Matching);
        assert_eq!(FirstPass::parse("matching").unwrap(), FirstPass::Matching);
        assert_eq!(FirstPass::parse(" narrow ").unwrap(), FirstPass::Narrow);
        let e = FirstPass::parse("fast").unwrap_err();
        assert_eq!(
            e.message,
            "first pass `fast` is not one of the diff's passes"
        );
        assert_eq!(e.hint.as_deref(), Some("give stream, table or narrow"));
    }
}
