//! Differences a person cannot see: a text column whose every changed value differs
//! from the other side's only in white space at either end, only in letter case, or
//! only in Unicode normalisation form. Read from the changed rows' diff file once the
//! diff is done, and reported with the rule that takes the difference away.

use arrow::datatypes::DataType;

use crate::check::entity::EntityRun;
use crate::engine::diff_files::DiffKind;
use crate::engine::templates::ident;
use crate::normalize::rules::lit;
use crate::report::{Diff, InvisibleDifference, InvisibleKind, RoundingNote};

impl EntityRun<'_> {
    /// Find the text columns of `diff.changed_by_column` whose every difference is of
    /// one [`InvisibleKind`]. This is information: a query that cannot run (a column
    /// that is not text) says nothing, and never fails the entity.
    pub(crate) async fn find_invisible(&self, diff: &mut Diff) {
        let path = self.diff_dir().join(DiffKind::Changed.file_name());
        let Ok(file) = crate::engine::diff_files::read(self.local, &path).await else {
            return;
        };
        let schema = file.schema().as_arrow().clone();
        let text = |name: &str| {
            schema.field_with_name(name).is_ok_and(|f| {
                matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            })
        };
        let number = |name: &str| {
            schema.field_with_name(name).is_ok_and(|f| {
                let t = f.data_type();
                t.is_integer()
                    || t.is_floating()
                    || matches!(t, DataType::Decimal128(_, _) | DataType::Decimal256(_, _))
            })
        };
        for column in diff.changed_by_column.keys() {
            if number(&format!("legacy__{column}")) && number(&format!("target__{column}")) {
                if let Some(places) = self.rounding_that_equalises(column).await {
                    diff.rounding.push(RoundingNote {
                        column: column.clone(),
                        places,
                    });
                }
                continue;
            }
            if !text(&format!("legacy__{column}")) || !text(&format!("target__{column}")) {
                continue;
            }
            let (l, t) = (
                ident(&format!("legacy__{column}")),
                ident(&format!("target__{column}")),
            );
            let same = |f: &str| {
                format!("sum(CASE WHEN {f}({l}) IS NOT DISTINCT FROM {f}({t}) THEN 1 ELSE 0 END)")
            };
            let sql = format!(
                "SELECT count(*) AS n, {} AS white_space, {} AS letter_case, {} AS unicode_form \
                 FROM {{{{file}}}} WHERE array_has(__differs, {})",
                same("sd_trim"),
                same("lower"),
                same("sd_nfc"),
                lit(column)
            );
            let Ok(batches) = self.query_diff_file(DiffKind::Changed, &sql).await else {
                continue;
            };
            let Some(b) = batches.first() else { continue };
            let n = crate::check::entity::u64_cell(b, "n", 0);
            let kind = InvisibleKind::ALL.into_iter().find(|k| {
                let name = match k {
                    InvisibleKind::WhiteSpace => "white_space",
                    InvisibleKind::LetterCase => "letter_case",
                    InvisibleKind::UnicodeForm => "unicode_form",
                };
                n > 0 && crate::check::entity::u64_cell(b, name, 0) == n
            });
            if let Some(kind) = kind {
                diff.invisible.push(InvisibleDifference {
                    column: column.clone(),
                    kind,
                });
            }
        }
    }

    /// The most decimals (at most [`ROUNDING_PLACES`]) to which rounding both sides
    /// makes every difference in number column `column` go away, if any.
    async fn rounding_that_equalises(&self, column: &str) -> Option<u32> {
        let (l, t) = (
            ident(&format!("legacy__{column}")),
            ident(&format!("target__{column}")),
        );
        let counts: Vec<String> = (0..=ROUNDING_PLACES)
            .map(|k| {
                format!(
                    "sum(CASE WHEN sd_try_round({l}, {k}) IS NOT DISTINCT FROM sd_try_round({t}, {k}) THEN 1 ELSE 0 END) AS r{k}"
                )
            })
            .collect();
        let sql = format!(
            "SELECT count(*) AS n, {} FROM {{{{file}}}} WHERE array_has(__differs, {})",
            counts.join(", "),
            lit(column)
        );
        let batches = self.query_diff_file(DiffKind::Changed, &sql).await.ok()?;
        let b = batches.first()?;
        let n = crate::check::entity::u64_cell(b, "n", 0);
        (0..=ROUNDING_PLACES)
            .rev()
            .find(|k| n > 0 && crate::check::entity::u64_cell(b, &format!("r{k}"), 0) == n)
    }
}

/// The most decimals a rounding note suggests.
const ROUNDING_PLACES: u32 = 6;
