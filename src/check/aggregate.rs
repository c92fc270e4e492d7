//! The aggregate check: per column statistics (counts, sums, minimum, maximum, distinct
//! values) compared across the sides.

use std::time::Instant;

use crate::check::entity::EntityRun;
use crate::engine::templates::{self as sql, ident};
use crate::error::Result;
use crate::report::{AggregateDifference, Status};
use crate::spec::CheckKind;

impl EntityRun<'_> {
    pub(crate) async fn check_aggregate(&mut self, clock: Instant) -> Result<()> {
        // The row diff compared every row the digests did not prove equal: each column's
        // profile is then decided without computing it (see `decided_by_the_diff`).
        if let Some((status, summary)) = self.decided_by_the_diff() {
            self.push(CheckKind::Aggregate, status, summary, clock);
            return Ok(());
        }
        let n = self.compared.len();
        // Equal digests prove the two sides hold the same rows, so their profiles are
        // equal too. (A column with a tolerance is left out of the digests, but it
        // needs the diff, which decided above.)
        if self.digests_equal {
            let summary = format!("{} equal ({n} proven by the equal digests)", profiles(n));
            self.push(CheckKind::Aggregate, Status::Pass, summary, clock);
            return Ok(());
        }
        let stats = self.profile_sides(&self.compared).await?;
        let rows = self.report.legacy_rows.max(self.report.target_rows).max(1) as f64;
        let number = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<f64>().ok());
        let mut diffs = Vec::new();
        for (i, c) in self.compared.iter().enumerate() {
            let float = self.floats.contains(c);
            let stats = [&stats[0][i], &stats[1][i]];
            let stat_of = |side: usize, name: &str| {
                stats[side]
                    .iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| number(v))
            };
            // Recursive summation errs by at most (n-1)·ε·Σ|x| on each side.
            let drift = match (stat_of(0, "sum_abs"), stat_of(1, "sum_abs")) {
                (Some(a), Some(b)) => 2.0 * rows * f64::EPSILON * a.max(b),
                _ => 0.0,
            };
            for ((stat, lv), (_, tv)) in stats[0].iter().zip(stats[1].iter()) {
                // sum_abs only bounds the drift.
                if stat == "sum_abs" {
                    continue;
                }
                let equal = lv == tv
                    || float
                        && stat == "sum"
                        && match (number(lv), number(tv)) {
                            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                                let slack = 8.0 * f64::EPSILON * x.abs().max(y.abs());
                                (x - y).abs() <= drift + slack
                            }
                            _ => false,
                        };
                if !equal {
                    diffs.push(AggregateDifference {
                        column: c.clone(),
                        statistic: stat.clone(),
                        legacy: lv.clone(),
                        target: tv.clone(),
                    });
                }
            }
        }
        let max = self.thresholds().max_aggregate_diffs.unwrap_or(0);
        let status = if diffs.len() as u64 <= max {
            Status::Pass
        } else {
            Status::Fail
        };
        let summary = if diffs.is_empty() {
            format!("{} equal", profiles(n))
        } else {
            let mut cols: Vec<&str> = diffs.iter().map(|d| d.column.as_str()).collect();
            cols.dedup();
            format!(
                "{} statistics differ (columns: {})",
                diffs.len(),
                cols.join(", ")
            )
        };
        self.report.aggregate_differences = diffs;
        self.push(CheckKind::Aggregate, status, summary, clock);
        Ok(())
    }

    /// The outcome of the aggregate check where the row diff ran, without profiling a
    /// column: the diff compared every row of every partition the digests did not prove
    /// equal, exactly (within its tolerance for a tolerance column). A column's
    /// statistics can then differ only through rows the diff found: missing, extra,
    /// under a duplicate or NULL key (these move every column's statistics), or rows
    /// whose value of that column changed. So where the diff found none of these, the
    /// profiles are proven equal (pass); where it did, the differences are the diff's
    /// findings seen from another side, reported once, by the diff (info). `None` where
    /// the diff did not run: the profiles are computed and compared.
    fn decided_by_the_diff(&self) -> Option<(Status, String)> {
        let d = self.report.diff.as_ref()?;
        let n = profiles(self.compared.len());
        let whole_rows = [
            (d.missing, "missing"),
            (d.extra, "extra"),
            (
                d.duplicate_keys_legacy + d.duplicate_keys_target,
                "duplicate-key",
            ),
            (d.null_keys_legacy + d.null_keys_target, "NULL-key"),
        ];
        let found: Vec<String> = whole_rows
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|(count, what)| format!("{count} {what}"))
            .collect();
        let changed: Vec<&str> = d
            .changed_by_column
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(c, _)| c.as_str())
            .collect();
        if found.is_empty() && changed.is_empty() {
            return Some((
                Status::Pass,
                format!("{n} equal (proven by the digests and the row diff)"),
            ));
        }
        let why = if found.is_empty() {
            format!(
                "the row diff found changed values only in {}, which account for their \
                 differences; the other columns' profiles are proven equal",
                changed.join(", ")
            )
        } else {
            format!(
                "the {} rows the row diff found account for their differences",
                found.join(", ")
            )
        };
        Some((Status::Info, format!("{n} not computed: {why}")))
    }

    /// The statistics of every column of `profiled` on each side (`[legacy, target]`, a
    /// list of `(statistic, value as text)` per column), from one scan of each side (one
    /// per column where the views are held in memory).
    async fn profile_sides(&self, profiled: &[String]) -> Result<[Vec<Profile>; 2]> {
        let mut sides: [Vec<Profile>; 2] = Default::default();
        if profiled.is_empty() {
            return Ok(sides);
        }
        let mut columns = Vec::new();
        for (n, c) in profiled.iter().enumerate() {
            let q = ident(c);
            let as_text = |agg: &str| {
                if self.binary.contains(c) {
                    format!("encode(arrow_cast({agg}({q}), 'Binary'), 'hex')")
                } else if self.temporal.contains(c) || self.nested.contains(c) {
                    format!("sd_text({agg}({q}))")
                } else {
                    format!("CAST({agg}({q}) AS VARCHAR)")
                }
            };
            let null = "CAST(NULL AS VARCHAR)".to_string();
            let sum = if self.numeric.contains(c) {
                format!("CAST(sum({q}) AS VARCHAR)")
            } else {
                null.clone()
            };
            // A float sum depends on the order of the additions; the sum of magnitudes
            // bounds how far two orders can drift apart.
            let sum_abs = if self.floats.contains(c) {
                format!("CAST(sum(abs({q})) AS VARCHAR)")
            } else {
                null
            };
            columns.push(sql::render(
                sql::AGGREGATE_COLUMN,
                &[
                    ("col", &q),
                    ("n", &n.to_string()),
                    ("min", &as_text("min")),
                    ("max", &as_text("max")),
                    ("sum", &sum),
                    ("sum_abs", &sum_abs),
                ],
            )?);
        }
        // Read from the sources, every column is profiled in one scan of each side.
        // Held in memory, a scan costs little, while each column's distinct values take
        // a set of their own: one column at a time keeps one set in memory, not all.
        let per_query = if self.held_invalid.is_some() {
            1
        } else {
            columns.len()
        };
        for (side, view) in [&self.legacy_view, &self.target_view]
            .into_iter()
            .enumerate()
        {
            let mut row = Vec::new();
            for group in columns.chunks(per_query) {
                let profiles = group
                    .iter()
                    .map(|c| c.trim_end())
                    .collect::<Vec<_>>()
                    .join(",\n");
                let sql = sql::render(
                    sql::AGGREGATE,
                    &[("side", &ident(view)), ("profiles", &profiles)],
                )?;
                let b = self.query(&sql).await?;
                row.extend(Self::rows(&b).into_iter().next().unwrap_or_default());
            }
            // `nulls_0, distinct_values_0, ..., sum_abs_0, nulls_1, ...`: the statistic's
            // name is the alias up to the column's number.
            sides[side] = (0..profiled.len())
                .map(|n| {
                    let suffix = format!("_{n}");
                    row.iter()
                        .filter_map(|(k, v)| {
                            k.strip_suffix(&suffix)
                                .filter(|s| STATISTICS.contains(s))
                                .map(|s| (s.to_string(), v.clone()))
                        })
                        .collect()
                })
                .collect();
        }
        Ok(sides)
    }
}

/// `1 column profile`, `4 column profiles`.
fn profiles(n: usize) -> String {
    format!("{n} column profile{}", if n == 1 { "" } else { "s" })
}

/// One column's profile on one side: each statistic and its value as text.
type Profile = Vec<(String, Option<String>)>;

/// The statistics aggregate_column.sql computes, in its order.
const STATISTICS: [&str; 6] = ["nulls", "distinct_values", "min", "max", "sum", "sum_abs"];
