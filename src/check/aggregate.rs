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
        // Equal digests prove the two sides hold the same rows of every hashed column,
        // so those columns' profiles are equal too: only tolerance columns (not hashed)
        // are profiled then. This spares a full scan per column and side.
        let profiled: Vec<String> = self
            .compared
            .iter()
            .filter(|c| !self.digests_equal || self.tolerance.iter().any(|(t, _)| t == *c))
            .cloned()
            .collect();
        let mut diffs = Vec::new();
        for c in profiled.clone() {
            let q = ident(&c);
            let as_text = |agg: &str| {
                if self.binary.contains(&c) {
                    format!("encode(arrow_cast({agg}({q}), 'Binary'), 'hex')")
                } else if self.temporal.contains(&c) || self.nested.contains(&c) {
                    format!("sd_text({agg}({q}))")
                } else {
                    format!("CAST({agg}({q}) AS VARCHAR)")
                }
            };
            let sum = if self.numeric.contains(&c) {
                format!("CAST(sum({q}) AS VARCHAR)")
            } else {
                "CAST(NULL AS VARCHAR)".to_string()
            };
            // A float sum depends on the order of the additions; the sum of magnitudes
            // bounds how far two orders can drift apart.
            let float = self.floats.contains(&c);
            let sum_abs = if float {
                format!("CAST(sum(abs({q})) AS VARCHAR)")
            } else {
                "CAST(NULL AS VARCHAR)".to_string()
            };
            let mut stats = Vec::new();
            for view in [&self.legacy_view, &self.target_view] {
                let sql = sql::render(
                    sql::AGGREGATE,
                    &[
                        ("side", &ident(view)),
                        ("col", &q),
                        ("min", &as_text("min")),
                        ("max", &as_text("max")),
                        ("sum", &sum),
                        ("sum_abs", &sum_abs),
                    ],
                )?;
                let b = self.query(&sql).await?;
                stats.push(Self::rows(&b).into_iter().next().unwrap_or_default());
            }
            let tol = self
                .tolerance
                .iter()
                .find(|(t, _)| *t == c)
                .map(|(_, t)| *t);
            let rows = self.report.legacy_rows.max(self.report.target_rows).max(1) as f64;
            let number = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<f64>().ok());
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
                // sum_abs only bounds the drift; values within a tolerance may be more
                // or fewer distinct ones.
                if stat == "sum_abs" || (tol.is_some() && stat == "distinct_values") {
                    continue;
                }
                let equal = lv == tv
                    || match (number(lv), number(tv)) {
                        (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                            let d = (x - y).abs();
                            let slack = 8.0 * f64::EPSILON * x.abs().max(y.abs());
                            let float_sum = float && stat == "sum" && d <= drift + slack;
                            // A sum may differ by the tolerance of every row.
                            let scale = if stat == "sum" { rows } else { 1.0 };
                            let within = matches!(stat.as_str(), "min" | "max" | "sum")
                                && tol.is_some_and(|t| {
                                    t.abs.is_some_and(|m| d <= m * scale + slack)
                                        || t.rel
                                            .is_some_and(|r| d <= r * x.abs().max(y.abs()) + slack)
                                });
                            float_sum || within
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
        let proven = self.compared.len() - profiled.len();
        let summary = if diffs.is_empty() && proven > 0 {
            format!(
                "{} column profiles equal ({proven} proven by the equal digests)",
                self.compared.len()
            )
        } else if diffs.is_empty() {
            format!("{} column profiles equal", self.compared.len())
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
}
