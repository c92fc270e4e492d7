//! What a verification found, as plain data: one [`EntityReport`] per entity or query
//! check, one [`InvariantReport`] per invariant, and the overall [`Outcome`]. The command
//! line prints a line per check from these; report files are rendered from them too.

use std::collections::BTreeMap;

use serde::Serialize;

/// Whether a check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything proven equal, or within thresholds.
    Pass,
    /// Differences beyond the thresholds.
    Fail,
    /// Not a verdict on its own (hash mismatches that the diff then examined).
    Info,
    /// Not run (disabled, or nothing to run on).
    Skipped,
}

/// One check of an entity.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    /// schema, count, hash, diff, aggregate, multiset.
    pub check: String,
    pub status: Status,
    pub summary: String,
    pub seconds: f64,
}

/// Row counts per partition and how many partition digests matched.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Partitions {
    pub total: usize,
    pub equal: usize,
    /// The partitions whose digests differ (all of them: a report lists each).
    pub differing: Vec<String>,
    /// Partitions whose row counts differ: (partition, legacy rows, target rows).
    pub count_differences: Vec<(String, u64, u64)>,
}

/// A row of a side, column by column (values as text, `None` for NULL).
pub type Row = Vec<(String, Option<String>)>;

/// A changed row: its key, and every compared column's values side by side.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChangedRow {
    pub key: Row,
    pub cells: Vec<Cell>,
}

/// One column of a changed row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cell {
    pub column: String,
    pub legacy: Option<String>,
    pub target: Option<String>,
    pub differs: bool,
}

/// A key that several rows of a side carry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DuplicateKey {
    pub side: String,
    pub key: Row,
    pub rows: u64,
}

/// What the row diff found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diff {
    pub missing: u64,
    pub extra: u64,
    pub changed: u64,
    /// Keys carried by more than one row, per side.
    pub duplicate_keys_legacy: u64,
    pub duplicate_keys_target: u64,
    /// Rows whose key has a NULL, per side.
    pub null_keys_legacy: u64,
    pub null_keys_target: u64,
    /// Changed rows per compared column.
    pub changed_by_column: BTreeMap<String, u64>,
    /// The first rows of each kind, ordered by key.
    pub missing_rows: Vec<Row>,
    pub extra_rows: Vec<Row>,
    pub changed_rows: Vec<ChangedRow>,
    pub duplicates: Vec<DuplicateKey>,
    pub null_key_rows: Vec<(String, Row)>,
}

/// A column statistic that differs between the sides.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AggregateDifference {
    pub column: String,
    pub statistic: String,
    pub legacy: Option<String>,
    pub target: Option<String>,
}

/// Everything about one entity (or query check).
#[derive(Debug, Clone, Serialize)]
pub struct EntityReport {
    pub name: String,
    /// `entity` or `query`.
    pub kind: String,
    pub key: Vec<String>,
    pub compared: Vec<String>,
    /// Columns of one side only, not compared.
    pub legacy_only: Vec<String>,
    pub target_only: Vec<String>,
    /// Columns compared within a tolerance (left out of row hashes).
    pub tolerance_columns: Vec<String>,
    pub status: Status,
    pub legacy_rows: u64,
    pub target_rows: u64,
    pub schema_findings: Vec<String>,
    pub partitions: Option<Partitions>,
    pub diff: Option<Diff>,
    pub aggregate_differences: Vec<AggregateDifference>,
    pub checks: Vec<CheckOutcome>,
}

/// What an invariant found.
#[derive(Debug, Clone, Serialize)]
pub struct InvariantReport {
    pub name: String,
    pub status: Status,
    pub violations: u64,
    pub rows: Vec<Row>,
    pub seconds: f64,
}

/// The whole verification.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub legacy_run: String,
    pub target_run: String,
    pub row_hash_version: u32,
    pub entities: Vec<EntityReport>,
    pub invariants: Vec<InvariantReport>,
}

impl Outcome {
    /// Whether every check passed (within its thresholds).
    pub fn passed(&self) -> bool {
        self.entities.iter().all(|e| e.status != Status::Fail)
            && self.invariants.iter().all(|i| i.status != Status::Fail)
    }

    /// One line per entity, query check and invariant: status and counts.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let width = self
            .entities
            .iter()
            .map(|e| e.name.len())
            .chain(self.invariants.iter().map(|i| i.name.len()))
            .max()
            .unwrap_or(0);
        for e in &self.entities {
            let mut parts = vec![
                format!("legacy {}", e.legacy_rows),
                format!("target {}", e.target_rows),
            ];
            if let Some(d) = &e.diff {
                parts.push(format!("missing {}", d.missing));
                parts.push(format!("extra {}", d.extra));
                parts.push(format!("changed {}", d.changed));
                let dups = d.duplicate_keys_legacy + d.duplicate_keys_target;
                if dups > 0 {
                    parts.push(format!("duplicate keys {dups}"));
                }
                let nulls = d.null_keys_legacy + d.null_keys_target;
                if nulls > 0 {
                    parts.push(format!("null keys {nulls}"));
                }
            }
            if let Some(p) = &e.partitions {
                if p.total > 1 {
                    parts.push(format!("partitions {}/{} equal", p.equal, p.total));
                }
            }
            if !e.schema_findings.is_empty() {
                parts.push(format!("schema findings {}", e.schema_findings.len()));
            }
            if !e.aggregate_differences.is_empty() {
                parts.push(format!(
                    "aggregate differences {}",
                    e.aggregate_differences.len()
                ));
            }
            lines.push(format!(
                "{:<width$}  {:<4}  {}",
                e.name,
                status_word(e.status),
                parts.join("  ")
            ));
        }
        for i in &self.invariants {
            lines.push(format!(
                "{:<width$}  {:<4}  invariant: {} rows break it",
                i.name,
                status_word(i.status),
                i.violations
            ));
        }
        lines
    }
}

/// `PASS`, `FAIL`, `INFO` or `SKIP`.
pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Info => "INFO",
        Status::Skipped => "SKIP",
    }
}
