//! The invalid check: values a rule cannot read (text no `parse` format matches, a
//! `bool` outside the vocabulary, text that is not JSON or not a number, a local time
//! `timezone` refuses). The views read such a value as NULL (the rules' `sd_try_*`
//! forms), so the rest of the row and every other row are verified as usual; this check
//! finds each one, by side, column and key, writes them all to
//! `diffs/<entity>/invalid.parquet` and fails beyond `max_invalid` (default 0). Where
//! the views are held (`entity/held.rs`), the values were caught in that one scan of
//! each side; otherwise each side and column is a scan of the source.

use std::time::Instant;

use crate::check::diff::DiffFiles;
use crate::check::entity::{side_rules, EntityRun};
use crate::engine::diff_files::DiffKind;
use crate::engine::templates::ident;
use crate::error::Result;
use crate::normalize::rules::lit;
use crate::normalize::OnInvalid;
use crate::report::{InvalidValue, InvalidValues, Status};
use crate::snapshot::Side;
use crate::spec::CheckKind;

impl EntityRun<'_> {
    /// Find the values of the compared and key columns that a rule cannot read.
    pub(crate) async fn check_invalid(&mut self, clock: Instant) -> Result<()> {
        // One query per side and column with a fallible rule, labelled `side column`.
        let (mut parts, mut labels) = (Vec::new(), Vec::new());
        let keys: String = self
            .key
            .iter()
            .map(|k| format!("sd_text({q}) AS {q}, ", q = ident(k)))
            .collect();
        for (c, rules) in &self.def.normalize {
            if !self.compared.contains(c) && !self.key.contains(c) {
                continue;
            }
            for (i, side) in Side::ALL.into_iter().enumerate() {
                let r = side_rules(rules, side);
                if !r.fallible() {
                    continue;
                }
                labels.push(format!("{side} {c}"));
                let held = self.held_invalid.as_ref().and_then(|h| {
                    Some((h.tables.get(&side)?, *h.columns.get(&(side, c.clone()))?))
                });
                parts.push(match held {
                    // Caught while the view was held: no scan of the source.
                    Some((table, j)) => format!(
                        "SELECT '{side}' AS __side, {} AS __column, {}\"__inv_{j}\" AS __value \
                         FROM {} WHERE \"__inv_{j}\" IS NOT NULL",
                        lit(c),
                        self.key
                            .iter()
                            .enumerate()
                            .map(|(i, k)| format!("sd_text(\"__rawkey_{i}\") AS {}, ", ident(k)))
                            .collect::<String>(),
                        ident(table),
                    ),
                    None => format!(
                        "SELECT '{side}' AS __side, {} AS __column, {keys}sd_text({q}) AS __value \
                         FROM ({}) AS s WHERE {} IS NOT NULL AND {} IS NULL",
                        lit(c),
                        self.sources[i].1,
                        r.apply_infallible(&ident(c)),
                        r.apply_with(&ident(c), OnInvalid::Null),
                        q = ident(c),
                    ),
                });
            }
        }
        if parts.is_empty() {
            return Ok(());
        }
        let mut files = DiffFiles::default();
        self.write_diff_in(self.ctx, &mut files, DiffKind::Invalid, &parts, true, Ok)
            .await?;
        let per_part = self
            .finish_files(files)?
            .remove(&DiffKind::Invalid)
            .unwrap_or_default();
        let mut invalid = InvalidValues {
            total: per_part.iter().sum(),
            by_column: labels
                .into_iter()
                .zip(per_part)
                .filter(|(_, n)| *n > 0)
                .collect(),
            ..InvalidValues::default()
        };
        let total = invalid.total;
        if total > 0 {
            let order: String = self.key.iter().map(|k| format!(", {}", ident(k))).collect();
            let sample = self
                .query_diff_file(
                    DiffKind::Invalid,
                    &format!(
                        "SELECT * FROM {{{{file}}}} ORDER BY __side, __column{order} LIMIT {}",
                        self.opts.sample_rows
                    ),
                )
                .await?;
            // `__side`, `__column` and `__value` included.
            for row in crate::engine::rows::rows(&sample, false) {
                let get = |name: &str| {
                    row.iter()
                        .find(|(c, _)| c == name)
                        .and_then(|(_, v)| v.clone())
                };
                invalid.rows.push(InvalidValue {
                    side: get("__side").unwrap_or_default(),
                    column: get("__column").unwrap_or_default(),
                    key: row
                        .iter()
                        .filter(|(c, _)| self.key.contains(c))
                        .cloned()
                        .collect(),
                    value: get("__value"),
                });
            }
        }
        let max = self.thresholds().max_invalid.unwrap_or(0);
        let status = if total > max {
            Status::Fail
        } else {
            Status::Pass
        };
        let summary = if total == 0 {
            "every value was read by its rules".to_string()
        } else {
            let per: Vec<String> = invalid
                .by_column
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            format!(
                "{total} values no rule could read ({}); they read as NULL",
                per.join(", ")
            )
        };
        self.push(CheckKind::Invalid, status, summary, clock);
        self.report.invalid = Some(invalid);
        Ok(())
    }
}
