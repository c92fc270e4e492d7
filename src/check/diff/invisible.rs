//! Differences a person cannot see, or that one rule takes away: a text column whose
//! every changed value differs from the other side's only in white space at either end,
//! only in letter case, or only in Unicode normalisation form; a number column whose
//! every difference goes away rounded to some decimals. Read from the changed rows'
//! diff file in one query once the diff is done, and reported with the rule to add.

use crate::check::entity::harmonize::{is_number, is_text};
use crate::check::entity::{u64_cell, EntityRun};
use crate::engine::diff_files::DiffKind;
use crate::engine::templates::ident;
use crate::normalize::rules::lit;
use crate::report::{Diff, InvisibleDifference, InvisibleKind, RoundingNote};

/// The most decimals a rounding note suggests.
const ROUNDING_PLACES: u32 = 6;

/// What a changed column is looked at for.
enum Look {
    Text,
    Number,
}

impl EntityRun<'_> {
    /// Find the columns of `diff.changed_by_column` whose every difference is of one
    /// [`InvisibleKind`], or goes away rounded. This is information: a query that cannot
    /// run says nothing, and never fails the entity.
    pub(crate) async fn find_invisible(&self, diff: &mut Diff) {
        let path = self.diff_dir().join(DiffKind::Changed.file_name());
        let Ok(file) = crate::engine::diff_files::read(self.local, &path).await else {
            return;
        };
        let schema = file.schema().as_arrow().clone();
        let both = |column: &str, f: fn(&arrow::datatypes::DataType) -> bool| {
            ["legacy", "target"].iter().all(|side| {
                schema
                    .field_with_name(&format!("{side}__{column}"))
                    .is_ok_and(|field| f(field.data_type()))
            })
        };
        let mut looked: Vec<(&String, Look)> = Vec::new();
        // For column i: `n{i}` differing rows, and how many of them each rule equalises.
        let mut sums = Vec::new();
        for column in diff.changed_by_column.keys() {
            let look = if both(column, is_number) {
                Look::Number
            } else if both(column, is_text) {
                Look::Text
            } else {
                continue;
            };
            let i = looked.len();
            let (l, t) = (
                ident(&format!("legacy__{column}")),
                ident(&format!("target__{column}")),
            );
            let differs = format!("array_has(__differs, {})", lit(column));
            let count = |same: &str, name: String| {
                format!("sum(CASE WHEN {differs}{same} THEN 1 ELSE 0 END) AS {name}")
            };
            sums.push(count("", format!("n{i}")));
            let equal = |f: &str| format!(" AND {f}({l}) IS NOT DISTINCT FROM {f}({t})");
            match look {
                Look::Text => {
                    for (k, kind) in InvisibleKind::ALL.iter().enumerate() {
                        let f = match kind {
                            InvisibleKind::WhiteSpace => "sd_trim",
                            InvisibleKind::LetterCase => "lower",
                            InvisibleKind::UnicodeForm => "sd_nfc",
                        };
                        sums.push(count(&equal(f), format!("e{i}_{k}")));
                    }
                }
                Look::Number => {
                    for k in 0..=ROUNDING_PLACES {
                        let same = format!(
                            " AND sd_try_round({l}, {k}) IS NOT DISTINCT FROM sd_try_round({t}, {k})"
                        );
                        sums.push(count(&same, format!("r{i}_{k}")));
                    }
                }
            }
            looked.push((column, look));
        }
        if looked.is_empty() {
            return;
        }
        let sql = format!("SELECT {} FROM {{{{file}}}}", sums.join(", "));
        let Ok(batches) = self.query_diff_file(DiffKind::Changed, &sql).await else {
            return;
        };
        let Some(b) = batches.first() else { return };
        for (i, (column, look)) in looked.into_iter().enumerate() {
            let n = u64_cell(b, &format!("n{i}"), 0);
            if n == 0 {
                continue;
            }
            match look {
                Look::Text => {
                    if let Some(kind) = InvisibleKind::ALL
                        .into_iter()
                        .enumerate()
                        .find(|(k, _)| u64_cell(b, &format!("e{i}_{k}"), 0) == n)
                        .map(|(_, kind)| kind)
                    {
                        diff.invisible.push(InvisibleDifference {
                            column: column.clone(),
                            kind,
                        });
                    }
                }
                Look::Number => {
                    if let Some(places) = (0..=ROUNDING_PLACES)
                        .rev()
                        .find(|k| u64_cell(b, &format!("r{i}_{k}"), 0) == n)
                    {
                        diff.rounding.push(RoundingNote {
                            column: column.clone(),
                            places,
                        });
                    }
                }
            }
        }
    }
}
