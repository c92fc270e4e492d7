//! The spec's check sections: `[[entity]]`, `[[invariant]]`, `[[query]]` and
//! `[thresholds]`, as written, and their resolved forms.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::reports::{MaskKind, MaskPlan};
use crate::normalize::rules::{self, ColumnRules};

/// A list written as one string or as an array: `key = "id"` or `key = ["a", "b"]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a column name or a list of column names")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

fn opt_one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    one_or_many(d).map(Some)
}

/// Pass/fail limits. Unset limits are 0: any difference fails.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub max_missing: Option<u64>,
    pub max_extra: Option<u64>,
    pub max_changed: Option<u64>,
    pub max_duplicates: Option<u64>,
    pub max_null_keys: Option<u64>,
    pub max_missing_ratio: Option<f64>,
    pub max_extra_ratio: Option<f64>,
    pub max_changed_ratio: Option<f64>,
    /// Count check: the largest allowed difference between the two sides' row counts.
    pub max_count_diff: Option<u64>,
    /// Aggregate check: how many column statistics may differ.
    pub max_aggregate_diffs: Option<u64>,
    /// Invariants: how many rows the query may return.
    pub max_rows: Option<u64>,
    /// Values a rule cannot read (text no `parse` format matches, ...), counted per entity.
    #[serde(default)]
    pub max_invalid: Option<u64>,
}

impl Thresholds {
    /// `self` where set, else `under`. The absolute and ratio limits of one kind
    /// (`max_missing` and `max_missing_ratio`) go together: an entity that sets either
    /// replaces both defaults, so a default `max_missing = 0` does not undo an entity's
    /// `max_missing_ratio`.
    pub fn over(&self, under: &Thresholds) -> Thresholds {
        fn pair(
            a: (Option<u64>, Option<f64>),
            b: (Option<u64>, Option<f64>),
        ) -> (Option<u64>, Option<f64>) {
            if a.0.is_some() || a.1.is_some() {
                a
            } else {
                b
            }
        }
        let missing = pair(
            (self.max_missing, self.max_missing_ratio),
            (under.max_missing, under.max_missing_ratio),
        );
        let extra = pair(
            (self.max_extra, self.max_extra_ratio),
            (under.max_extra, under.max_extra_ratio),
        );
        let changed = pair(
            (self.max_changed, self.max_changed_ratio),
            (under.max_changed, under.max_changed_ratio),
        );
        Thresholds {
            max_missing: missing.0,
            max_extra: extra.0,
            max_changed: changed.0,
            max_duplicates: self.max_duplicates.or(under.max_duplicates),
            max_null_keys: self.max_null_keys.or(under.max_null_keys),
            max_missing_ratio: missing.1,
            max_extra_ratio: extra.1,
            max_changed_ratio: changed.1,
            max_count_diff: self.max_count_diff.or(under.max_count_diff),
            max_aggregate_diffs: self.max_aggregate_diffs.or(under.max_aggregate_diffs),
            max_rows: self.max_rows.or(under.max_rows),
            max_invalid: self.max_invalid.or(under.max_invalid),
        }
    }
}

/// What an [`EntityDef`] was written as: an `[[entity]]` or a `[[query]]` check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Entity,
    Query,
}

impl EntityKind {
    /// The word the spec and the reports use.
    pub fn as_str(&self) -> &'static str {
        match self {
            EntityKind::Entity => "entity",
            EntityKind::Query => "query",
        }
    }
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A check: the five an entity can run, `multiset`, which a query check without a key
/// runs instead of the diff, and `invalid`, which counts the values a rule cannot read
/// (it runs, like `schema`, whatever `checks` says, for every column with such a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Schema,
    Count,
    Hash,
    Diff,
    Aggregate,
    Multiset,
    Invalid,
}

impl CheckKind {
    /// The checks an entity can run, in the order they run (every one by default).
    pub const ENTITY: [CheckKind; 5] = [
        CheckKind::Schema,
        CheckKind::Count,
        CheckKind::Hash,
        CheckKind::Diff,
        CheckKind::Aggregate,
    ];

    /// The word the spec and the reports use.
    pub fn as_str(&self) -> &'static str {
        match self {
            CheckKind::Schema => "schema",
            CheckKind::Count => "count",
            CheckKind::Hash => "hash",
            CheckKind::Diff => "diff",
            CheckKind::Aggregate => "aggregate",
            CheckKind::Multiset => "multiset",
            CheckKind::Invalid => "invalid",
        }
    }

    /// The entity check named `name` (as a spec's `checks` or `--checks` writes it).
    pub fn entity_check(name: &str) -> Option<CheckKind> {
        CheckKind::ENTITY.into_iter().find(|c| c.as_str() == name)
    }

    /// The names of the entity checks, for messages.
    pub fn entity_names() -> Vec<String> {
        CheckKind::ENTITY
            .iter()
            .map(|c| c.as_str().to_string())
            .collect()
    }
}

impl std::fmt::Display for CheckKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[entity]]`: one logical entity, possibly rebuilt from split tables.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EntitySection {
    pub name: String,
    #[serde(deserialize_with = "one_or_many")]
    pub key: Vec<String>,
    /// Shortcut: the same snapshot table on both sides (`legacy.<table>`, `target.<table>`).
    pub table: Option<String>,
    /// SQL over the legacy snapshot tables.
    pub legacy: Option<String>,
    /// SQL over the target snapshot tables.
    pub target: Option<String>,
    /// The columns to compare (default: every non-key column present on both sides).
    #[serde(default, deserialize_with = "opt_one_or_many")]
    pub columns: Option<Vec<String>>,
    /// Columns left out of the default comparison.
    #[serde(default, deserialize_with = "one_or_many")]
    pub ignore: Vec<String>,
    /// An SQL expression over the entity's (normalised) columns that groups rows into
    /// partitions for per-partition counts and digests: a time bucket or any expression.
    pub partition_by: Option<String>,
    /// A predicate both sides must satisfy (over each side's own columns).
    pub filter: Option<String>,
    pub legacy_filter: Option<String>,
    pub target_filter: Option<String>,
    /// The fraction of keys to verify (0 < sample <= 1), picked by a hash of the
    /// normalised key so both sides pick the same keys.
    pub sample: Option<f64>,
    /// A CSV file of keys (header: the key columns): only these keys are verified.
    pub keys_file: Option<String>,
    /// The checks to run (default: all of schema, count, hash, diff, aggregate).
    #[serde(default, deserialize_with = "opt_one_or_many")]
    pub checks: Option<Vec<String>>,
    #[serde(default)]
    pub normalize: BTreeMap<String, toml::Value>,
    /// How the reports show columns' values (`email = "hash"`): see `[reports] mask`.
    #[serde(default)]
    pub mask: BTreeMap<String, MaskKind>,
    /// Rows too young to judge on a live system, left out of the comparison.
    pub settle: Option<SettleSection>,
    /// How `snapdiff recheck` reads the rows of differing keys again, per side.
    pub recheck: Option<RecheckSection>,
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// `settle = { column = "updated_at", within = "10m" }`: the keys of rows whose
/// `column` is later than the earlier snapshot's start less `within` are left out on
/// both sides, and counted.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SettleSection {
    pub column: String,
    pub within: String,
}

/// `[entity.recheck]`: per side, a query in the source's own SQL that returns the
/// entity's columns (before normalisation) for the keys `{keys}` stands for (`1, 2` or,
/// for a key of several columns, `(1, 'a'), (2, 'b')`; SQLite `VALUES (1, 'a'), ...`).
/// A side without one is read again from its one snapshot table, when the entity's SQL
/// reads one.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RecheckSection {
    pub legacy: Option<String>,
    pub target: Option<String>,
}

/// An entity's `settle`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Settle {
    /// A date, timestamp or timestamp text column of both sides (after normalisation).
    pub column: String,
    pub within: chrono::TimeDelta,
    /// The earlier snapshot's start less `within`: a row whose column is later is too
    /// young to judge. `None` until the runs are chosen (`snapdiff plan` has none).
    pub cutoff: Option<chrono::DateTime<chrono::Utc>>,
}

/// `[[invariant]]`: a business rule; its query must return no rows.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InvariantSection {
    pub name: String,
    pub sql: String,
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// `[[query]]`: two queries (or one run on both sides) that must return the same
/// multiset of rows.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuerySection {
    pub name: String,
    pub legacy: Option<String>,
    pub target: Option<String>,
    /// One query for both sides: `{side}` is replaced by `legacy` and by `target`.
    pub sql: Option<String>,
    /// With a key, rows are matched by key and compared column by column; without one,
    /// the two results are compared as multisets of whole rows.
    #[serde(default, deserialize_with = "opt_one_or_many")]
    pub key: Option<Vec<String>>,
    #[serde(default)]
    pub normalize: BTreeMap<String, toml::Value>,
    /// How the reports show columns' values: see `[reports] mask`.
    #[serde(default)]
    pub mask: BTreeMap<String, MaskKind>,
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// An entity or query resolved: both sides' SQL, the normalisation of each column.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityDef {
    pub name: String,
    pub kind: EntityKind,
    pub key: Vec<String>,
    pub legacy_sql: String,
    pub target_sql: String,
    pub columns: Option<Vec<String>>,
    pub ignore: Vec<String>,
    pub partition_by: Option<String>,
    pub legacy_filter: Option<String>,
    pub target_filter: Option<String>,
    pub sample: Option<f64>,
    pub keys_file: Option<std::path::PathBuf>,
    /// The checks to run, `schema` first (it runs whatever the list says).
    pub checks: Vec<CheckKind>,
    pub normalize: BTreeMap<String, ColumnRules>,
    pub thresholds: Thresholds,
    /// Which columns the reports mask (`[reports] mask`, the entity's `mask`): the
    /// checks' own messages (an error, a schema finding) leave their values out.
    pub masks: MaskPlan,
    /// Rows too young to judge, left out on both sides.
    pub settle: Option<Settle>,
}

impl EntityDef {
    /// Whether the reports mask the values of column `c`.
    pub fn masked(&self, c: &str) -> bool {
        self.masks.of(&self.name, c) != MaskKind::None
    }
}

/// Parse every column's rules; the error names the column.
pub fn parse_normalize(
    n: &BTreeMap<String, toml::Value>,
) -> Result<BTreeMap<String, ColumnRules>, (String, String)> {
    let mut out = BTreeMap::new();
    for (col, v) in n {
        let r = rules::parse_column(v).map_err(|e| (col.clone(), e))?;
        out.insert(col.clone(), r);
    }
    Ok(out)
}

/// `a AND b` of optional predicates.
pub fn and(a: Option<&str>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        // Each closing parenthesis on a line of its own: a `-- comment` cannot swallow it.
        (Some(a), Some(b)) => Some(format!("({a}\n) AND ({b}\n)")),
        (Some(a), None) | (None, Some(a)) => Some(a.to_string()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_override_by_kind() {
        let defaults = Thresholds {
            max_missing: Some(0),
            max_changed: Some(5),
            max_duplicates: Some(2),
            ..Thresholds::default()
        };
        let entity = Thresholds {
            max_missing_ratio: Some(0.01),
            max_duplicates: Some(0),
            ..Thresholds::default()
        };
        let t = entity.over(&defaults);
        // The entity's ratio replaces the default's absolute limit of the same kind.
        assert_eq!((t.max_missing, t.max_missing_ratio), (None, Some(0.01)));
        // Kinds the entity leaves alone keep the defaults.
        assert_eq!((t.max_changed, t.max_changed_ratio), (Some(5), None));
        assert_eq!(t.max_duplicates, Some(0));
    }

    #[test]
    fn predicates_join_safely() {
        assert_eq!(
            and(Some("x > 0 -- note"), Some("y")).unwrap(),
            "(x > 0 -- note\n) AND (y\n)"
        );
        assert_eq!(and(None, Some("y")).unwrap(), "y");
        assert_eq!(and(None, None), None);
    }
}
