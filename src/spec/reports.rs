//! `[reports]`: where reports go, which columns they mask, and where their results are
//! published; and each entity's own `mask`, resolved into a [`MaskPlan`].
//!
//! Reports leave the engineers' machines (tickets, mails, audit evidence), so the values
//! of personal columns can be masked in every human-facing output. The plan here is only
//! which column gets which [`MaskKind`]; the report layer (`report::mask`) does the
//! masking, with a key the plan never holds.

use std::collections::BTreeMap;

use serde::Deserialize;

/// How a column's values are shown in the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskKind {
    /// Shown as they are (an entity's way to unmask a column a `[reports] mask` pattern
    /// caught, `email_verified` under `*email*`).
    None,
    /// A documented part kept (`a***@example.com`, `J***th`).
    Partial,
    /// A keyed hash (HMAC-SHA-256): one value masks alike in every report, so the
    /// delta between nights still matches it, and no dictionary of likely values
    /// reverses it without the key.
    Hash,
    /// Nothing but NULL or not, and the length.
    Redact,
}

impl MaskKind {
    /// The word the spec uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            MaskKind::None => "none",
            MaskKind::Partial => "partial",
            MaskKind::Hash => "hash",
            MaskKind::Redact => "redact",
        }
    }
}

/// `[reports]`.
#[derive(Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportsSection {
    /// The reports root, relative to the spec's folder (default `reports`).
    pub root: Option<String>,
    /// Masks by column name pattern (`"*email*" = "hash"`, case-insensitive), for every
    /// entity, query check and invariant.
    #[serde(default)]
    pub mask: BTreeMap<String, MaskKind>,
    /// The key of `hash` masks (default: the environment's `SNAPDIFF_MASK_KEY`); write it
    /// as `${VAR}`. It is never written anywhere.
    pub mask_key: Option<String>,
    /// Mask the diff Parquet files too (default: they keep real values, for engineers
    /// with access to the data).
    #[serde(default)]
    pub mask_diffs: bool,
    /// A PostgreSQL URL to publish each report's results to.
    pub publish: Option<String>,
}

impl std::fmt::Debug for ReportsSection {
    /// Everything but the mask key's value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportsSection")
            .field("root", &self.root)
            .field("mask", &self.mask)
            .field("mask_key", &self.mask_key.as_ref().map(|_| "***"))
            .field("mask_diffs", &self.mask_diffs)
            .field(
                "publish",
                &self.publish.as_deref().map(crate::secrets::redact_url),
            )
            .finish()
    }
}

/// The environment variable `hash` masks take their key from by default.
pub const MASK_KEY_VAR: &str = "SNAPDIFF_MASK_KEY";

/// Which column of which entity gets which mask: an entity's own `mask` first, then the
/// `[reports] mask` patterns (the strongest of those that match).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaskPlan {
    /// `[reports] mask`: (pattern, kind), as written.
    patterns: Vec<(glob::Pattern, MaskKind)>,
    /// Per entity or query check: its own `mask`.
    entities: BTreeMap<String, BTreeMap<String, MaskKind>>,
    /// Per entity: its `partition_by` expression (a partition is named by its value).
    partitions: BTreeMap<String, String>,
    /// `[reports] mask_diffs`.
    pub diffs: bool,
}

impl MaskPlan {
    /// The plan of `[reports] mask` (patterns checked by the spec) and each entity's
    /// own `mask`.
    pub fn new(
        patterns: &BTreeMap<String, MaskKind>,
        entities: BTreeMap<String, BTreeMap<String, MaskKind>>,
        diffs: bool,
    ) -> Result<MaskPlan, String> {
        let patterns = patterns
            .iter()
            .map(|(p, k)| {
                glob::Pattern::new(&p.to_lowercase())
                    .map(|g| (g, *k))
                    .map_err(|e| format!("mask pattern `{p}` does not parse: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(MaskPlan {
            patterns,
            entities,
            partitions: BTreeMap::new(),
            diffs,
        })
    }

    /// The plan with each entity's `partition_by` expression.
    pub fn with_partitions(mut self, partitions: BTreeMap<String, String>) -> MaskPlan {
        self.partitions = partitions;
        self
    }

    /// The mask of entity `entity`'s partition values: the strongest mask of the names
    /// its `partition_by` expression holds (`date_trunc('month', email)` is masked as
    /// `email`).
    pub fn of_expression(&self, entity: &str) -> MaskKind {
        let Some(expr) = self.partitions.get(entity) else {
            return MaskKind::None;
        };
        expr.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(|w| self.of(entity, w))
            .max()
            .unwrap_or(MaskKind::None)
    }

    /// Whether nothing is masked.
    pub fn is_empty(&self) -> bool {
        self.kinds().all(|k| k == MaskKind::None)
    }

    /// Every kind the plan uses.
    pub fn kinds(&self) -> impl Iterator<Item = MaskKind> + '_ {
        self.patterns
            .iter()
            .map(|(_, k)| *k)
            .chain(self.entities.values().flat_map(|m| m.values().copied()))
    }

    /// The mask of `column` of entity (or query check) `entity`.
    pub fn of(&self, entity: &str, column: &str) -> MaskKind {
        if let Some(k) = self.entities.get(entity).and_then(|m| m.get(column)) {
            return *k;
        }
        self.by_pattern(column)
    }

    /// The mask of `column` of an invariant's rows, which may come from any entity: the
    /// strongest of the patterns' and of every entity's own mask of a column so named.
    pub fn of_any(&self, column: &str) -> MaskKind {
        self.entities
            .values()
            .filter_map(|m| m.get(column).copied())
            .chain([self.by_pattern(column)])
            .max()
            .unwrap_or(MaskKind::None)
    }

    /// The strongest pattern mask that matches `column` (case-insensitive).
    fn by_pattern(&self, column: &str) -> MaskKind {
        let lower = column.to_lowercase();
        self.patterns
            .iter()
            .filter(|(p, _)| p.matches(&lower))
            .map(|(_, k)| *k)
            .max()
            .unwrap_or(MaskKind::None)
    }

    /// The columns an entity's own `mask` names (to warn about names it does not have).
    pub fn named(&self, entity: &str) -> impl Iterator<Item = &String> {
        self.entities.get(entity).into_iter().flat_map(|m| m.keys())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> MaskPlan {
        let patterns = BTreeMap::from([
            ("*email*".to_string(), MaskKind::Hash),
            ("*name*".to_string(), MaskKind::Partial),
            ("last_name".to_string(), MaskKind::Redact),
        ]);
        let entities = BTreeMap::from([(
            "student".to_string(),
            BTreeMap::from([
                ("email_verified".to_string(), MaskKind::None),
                ("phone".to_string(), MaskKind::Redact),
            ]),
        )]);
        MaskPlan::new(&patterns, entities, false).unwrap()
    }

    #[test]
    fn an_entity_wins_over_patterns_and_the_strongest_pattern_wins() {
        let p = plan();
        assert_eq!(p.of("student", "Email"), MaskKind::Hash);
        assert_eq!(p.of("student", "email_verified"), MaskKind::None);
        assert_eq!(p.of("other", "email_verified"), MaskKind::Hash);
        assert_eq!(p.of("student", "phone"), MaskKind::Redact);
        assert_eq!(p.of("other", "phone"), MaskKind::None);
        // `last_name` matches `*name*` (partial) and itself (redact).
        assert_eq!(p.of("student", "last_name"), MaskKind::Redact);
        assert_eq!(p.of("student", "first_name"), MaskKind::Partial);
        // An invariant's column takes the strongest of every entity's.
        assert_eq!(p.of_any("phone"), MaskKind::Redact);
        assert_eq!(p.of_any("email_verified"), MaskKind::Hash);
        assert_eq!(p.of_any("id"), MaskKind::None);
        assert!(!p.is_empty());
        assert!(MaskPlan::default().is_empty());
        let p = p.with_partitions(BTreeMap::from([
            (
                "student".to_string(),
                "date_trunc('month', \"Email\")".to_string(),
            ),
            ("other".to_string(), "year".to_string()),
        ]));
        assert_eq!(p.of_expression("student"), MaskKind::Hash);
        assert_eq!(p.of_expression("other"), MaskKind::None);
        assert_eq!(p.of_expression("third"), MaskKind::None);
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let bad = BTreeMap::from([("[email".to_string(), MaskKind::Hash)]);
        let e = MaskPlan::new(&bad, BTreeMap::new(), false).unwrap_err();
        assert!(e.starts_with("mask pattern `[email` does not parse"), "{e}");
    }
}
