//! `settle`: on live systems, the rows too young to judge are left out of the comparison.
//!
//! The two sides are extracted minutes apart while both take writes, so a row written
//! in between differs for no fault of the migration. With `settle = { column =
//! "updated_at", within = "10m" }`, a key is *unsettled* when a row of it, on either side,
//! has its `column` (normalised) later than the earlier snapshot's start less `within`.
//! Unsettled keys are left out of both sides' views (by key, not by row: the target may
//! still hold the old version of a row the legacy side just changed) before any check
//! reads them, and the rows left out are counted per side into the report.

use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, Utc};

use super::harmonize::{wrap, Harmony};
use super::EntityRun;
use crate::engine::templates::ident;
use crate::error::Result;
use crate::report::Unsettled;
use crate::snapshot::Side;

impl EntityRun<'_> {
    /// With `settle`: hold the keys too young to judge as `__sd_<entity>_young`, count
    /// each side's rows under them into the report, and return the join that leaves
    /// them out of a side's view (`LEFT ANTI JOIN ...`); empty without `settle` (or
    /// before the runs are chosen, as `snapdiff plan` is).
    pub(crate) async fn settle_join(
        &mut self,
        all: &[String],
        harmony: &[Harmony],
        types: &[Vec<DataType>; 2],
        sources: [&String; 2],
    ) -> Result<String> {
        let def = self.def;
        let Some((settle, cutoff)) = def.settle.as_ref().and_then(|s| Some((s, s.cutoff?))) else {
            return Ok(String::new());
        };
        let c = &settle.column;
        let column_types = self.settle_types(c, sources).await.map_err(|e| {
            e.with_hint(
                "settle's column must be a column of both sides' SQL (by the name it has there)",
            )
        })?;
        // Each side's key, as its view has it, of the rows too young on that side.
        let mut young = Vec::new();
        for (s, (side, source)) in Side::ALL.into_iter().zip(sources).enumerate() {
            let later = later_than(&self.normalised(side, c), &column_types[s], cutoff)
                .ok_or_else(|| {
                    self.fail(format!(
                        "settle column {c} is {} on the {side} side: settle needs dates or timestamps (or text that reads as one)",
                        super::harmonize::type_words(&column_types[s])
                    ))
                    .with_column(c.clone())
                    .with_hint("give it a `parse` rule, or name a date or timestamp column")
                })?;
            let keys = self.key_exprs(side, s, all, harmony, types);
            young.push(format!("SELECT {keys} FROM ({source}) AS s WHERE {later}"));
        }
        let batches = self
            .query(&format!(
                "SELECT DISTINCT * FROM ({}\n) AS y",
                young.join("\nUNION ALL\n")
            ))
            .await?;
        let table = format!("__sd_{}_young", def.name);
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => {
                // No rows: the schema of the keys, planned.
                let df = crate::engine::sql::sql(self.ctx, &young[0])
                    .await
                    .map_err(|e| self.fail(format!("settle cannot be planned: {e}")))?;
                std::sync::Arc::new(df.schema().as_arrow().clone())
            }
        };
        self.register_held(&table, schema, vec![batches])?;
        let on = def
            .key
            .iter()
            .map(|k| format!("n.{q} = y.{q}", q = ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut rows = [0u64; 2];
        for (s, (side, source)) in Side::ALL.into_iter().zip(sources).enumerate() {
            let keys = self.key_exprs(side, s, all, harmony, types);
            rows[s] = self
                .count(&format!(
                    "SELECT 1 FROM (SELECT {keys} FROM ({source}) AS s) AS n LEFT SEMI JOIN {} AS y ON {on}",
                    ident(&table)
                ))
                .await?;
        }
        self.report.unsettled = Some(Unsettled {
            column: c.clone(),
            after: cutoff,
            legacy: rows[0],
            target: rows[1],
        });
        Ok(format!("LEFT ANTI JOIN {} AS y ON {on}", ident(&table)))
    }

    /// The settle column's type on each side, once normalised.
    async fn settle_types(&self, c: &str, sources: [&String; 2]) -> Result<[DataType; 2]> {
        let mut out = [DataType::Null, DataType::Null];
        for (s, (side, source)) in Side::ALL.into_iter().zip(sources).enumerate() {
            let sql = format!(
                "SELECT {} AS v FROM ({source}) AS s",
                self.normalised(side, c)
            );
            out[s] = crate::engine::sql::sql(self.ctx, &sql)
                .await
                .map_err(|e| {
                    self.fail(format!(
                        "settle column {c} cannot be read on the {side} side: {e}"
                    ))
                    .with_column(c.to_string())
                })?
                .schema()
                .field(0)
                .data_type()
                .clone();
        }
        Ok(out)
    }

    /// The key columns of side `s` as its view selects them (normalised, brought to the
    /// type both sides share).
    fn key_exprs(
        &self,
        side: Side,
        s: usize,
        all: &[String],
        harmony: &[Harmony],
        types: &[Vec<DataType>; 2],
    ) -> String {
        self.def
            .key
            .iter()
            .map(|k| {
                let i = all.iter().position(|c| c == k).unwrap_or(0);
                let e = wrap(&self.normalised(side, k), &harmony[i], &types[s][i]);
                format!("{e} AS {}", ident(k))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `expr > cutoff` for a column of type `t`, compared as the number it is stored as:
/// a timestamp's count of its unit since 1970 (UTC, or wall-clock time read as UTC),
/// a date's days (a row of the cutoff's own day counts as too young), text read as a
/// timestamp (text that does not read is never too young). `None` for other types.
fn later_than(expr: &str, t: &DataType, cutoff: DateTime<Utc>) -> Option<String> {
    let micros = cutoff.timestamp_micros();
    let stamp = |unit: &TimeUnit| match unit {
        TimeUnit::Second => micros.div_euclid(1_000_000),
        TimeUnit::Millisecond => micros.div_euclid(1_000),
        TimeUnit::Microsecond => micros,
        TimeUnit::Nanosecond => micros.saturating_mul(1_000),
    };
    let days = micros.div_euclid(86_400_000_000);
    Some(match t {
        DataType::Timestamp(unit, _) => format!("CAST({expr} AS BIGINT) > {}", stamp(unit)),
        DataType::Date32 => format!("CAST({expr} AS INT) >= {days}"),
        DataType::Date64 => format!("CAST({expr} AS BIGINT) >= {}", days * 86_400_000),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => format!(
            "CAST(TRY_CAST({expr} AS TIMESTAMP) AS BIGINT) > {}",
            stamp(&TimeUnit::Nanosecond)
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_than_compares_the_stored_number() {
        let cutoff = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let us = cutoff.timestamp_micros();
        assert_eq!(
            later_than(
                "x",
                &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                cutoff
            )
            .unwrap(),
            format!("CAST(x AS BIGINT) > {us}")
        );
        assert_eq!(
            later_than("x", &DataType::Timestamp(TimeUnit::Second, None), cutoff).unwrap(),
            format!("CAST(x AS BIGINT) > {}", us / 1_000_000)
        );
        assert_eq!(
            later_than("x", &DataType::Date32, cutoff).unwrap(),
            format!("CAST(x AS INT) >= {}", us / 86_400_000_000)
        );
        assert!(later_than("x", &DataType::Int64, cutoff).is_none());
    }
}
