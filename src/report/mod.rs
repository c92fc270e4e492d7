//! What a verification found, as plain data: one [`EntityReport`] per entity or query
//! check, one [`InvariantReport`] per invariant, and the overall [`Outcome`]. The command
//! line prints a line per entity from these, and the report files are rendered from them:
//! [`Report`] (`report.json`, the machine contract documented in docs/report.md),
//! [`markdown`], [`html`] and [`junit`]. [`store`] owns the reports folder (atomic
//! writes, ids, the run lock, retention) and [`delta`] what changed since the previous
//! report of the same spec.

pub mod delta;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod mask;
pub mod publish;
mod render;
pub mod store;
pub mod trend;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::spec::{CheckKind, EntityKind, Thresholds};

/// Whether a check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Could not be done (a missing column, a function that failed, a type a check
    /// cannot handle): [`Failure`] says why; the run's other entities go on.
    Error,
}

impl Status {
    /// A failed check, or one that could not be done: it has details to show.
    pub fn failed_or_errored(self) -> bool {
        matches!(self, Status::Fail | Status::Error)
    }
}

/// Why an entity, query check or invariant could not be verified.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    /// What went wrong, with where (entity, column, file), secrets scrubbed.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Failure {
    /// The hint as a console line under the failure's own (`    hint: ...`).
    pub fn hint_line(&self) -> Option<String> {
        self.hint.as_ref().map(|h| format!("    hint: {h}"))
    }

    /// The failure `e` describes.
    pub fn of(e: &crate::error::Error) -> Failure {
        Failure {
            message: e.headline(),
            hint: e.hint.as_deref().map(crate::secrets::scrub),
        }
    }
}

/// One check of an entity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// schema, count, hash, diff, aggregate, multiset.
    pub check: CheckKind,
    pub status: Status,
    pub summary: String,
    pub seconds: f64,
}

/// Row counts per partition and how many partition digests matched.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Partitions {
    pub total: usize,
    pub equal: usize,
    /// The partitions whose digests differ (all of them: a report lists each).
    pub differing: Vec<String>,
    /// Every partition, in order: its counts, whether its digest matched, and the
    /// differences the row diff found in it.
    pub rows: Vec<PartitionRow>,
}

/// One partition of an entity.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PartitionRow {
    /// The partition's value as text (`None`: rows whose partition expression is NULL).
    pub partition: Option<String>,
    pub legacy_rows: u64,
    pub target_rows: u64,
    /// Whether the partition's digests are equal (`None` when the hash check did not run).
    pub digest_equal: Option<bool>,
    /// Rows the diff found missing, extra and changed in this partition.
    pub missing: u64,
    pub extra: u64,
    pub changed: u64,
}

/// A row of a side, column by column (values as text, `None` for NULL).
pub use crate::engine::rows::Row;

/// A changed row: its key, and every compared column's values side by side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangedRow {
    pub key: Row,
    pub cells: Vec<Cell>,
}

/// One column of a changed row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cell {
    pub column: String,
    pub legacy: Option<String>,
    pub target: Option<String>,
    pub differs: bool,
}

/// A key that several rows of a side carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DuplicateKey {
    pub side: String,
    pub key: Row,
    pub rows: u64,
}

/// What the row diff found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Diff {
    pub missing: u64,
    pub extra: u64,
    pub changed: u64,
    /// Keys carried by more than one row, per side.
    pub duplicate_keys_legacy: u64,
    pub duplicate_keys_target: u64,
    /// The legacy rows under those keys (none of them is proven equal).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicate_rows_legacy: u64,
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
    /// Text columns whose every difference is of one kind a person cannot see (white
    /// space at either end, letter case, Unicode normalisation form), with the rule
    /// that takes it away.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invisible: Vec<InvisibleDifference>,
    /// Number columns whose every difference goes away rounded to `places` decimals
    /// (a float against a decimal, say), with the `round` rule that does it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounding: Vec<RoundingNote>,
}

impl Diff {
    /// Whether these differences go beyond `th` for sides of `legacy_rows` and
    /// `target_rows` rows. An absolute and a ratio limit of one kind both apply when both
    /// are set; with neither, the limit is 0.
    pub fn exceeds(&self, th: &Thresholds, legacy_rows: u64, target_rows: u64) -> bool {
        let over = |n: u64, base: u64, max: Option<u64>, ratio: Option<f64>| match (max, ratio) {
            (None, None) => n > 0,
            (Some(m), None) => n > m,
            (None, Some(r)) => n as f64 > r * base as f64,
            (Some(m), Some(r)) => n > m || n as f64 > r * base as f64,
        };
        over(
            self.missing,
            legacy_rows,
            th.max_missing,
            th.max_missing_ratio,
        ) || over(self.extra, target_rows, th.max_extra, th.max_extra_ratio)
            || over(
                self.changed,
                legacy_rows,
                th.max_changed,
                th.max_changed_ratio,
            )
            || self.duplicate_keys_legacy + self.duplicate_keys_target
                > th.max_duplicates.unwrap_or(0)
            || self.null_keys_legacy + self.null_keys_target > th.max_null_keys.unwrap_or(0)
    }
}

/// A number column whose every difference goes away rounded to `places` decimals.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoundingNote {
    pub column: String,
    pub places: u32,
}

impl RoundingNote {
    /// `every difference in amount goes away rounded to 2 decimals: add round = 2 to it`.
    pub fn sentence(&self) -> String {
        format!(
            "every difference in {} goes away rounded to {} decimals: add round = {} to it",
            self.column, self.places, self.places
        )
    }
}

/// The values of an entity that a rule could not read. Such a value reads as NULL in the
/// digests and the diff; every one is in `diffs/<entity>/invalid.parquet`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InvalidValues {
    pub total: u64,
    /// Per `side column` (`legacy placed`).
    pub by_column: BTreeMap<String, u64>,
    /// The first ones, by side, column and key.
    pub rows: Vec<InvalidValue>,
}

/// One value a rule could not read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InvalidValue {
    pub side: String,
    pub column: String,
    pub key: Row,
    /// As the source holds it (before any rule).
    pub value: Option<String>,
}

/// A text column whose every difference is of one kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InvisibleDifference {
    pub column: String,
    pub kind: InvisibleKind,
}

/// What the values of a column differ in, when nothing else differs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InvisibleKind {
    /// White space at either end (`'Edinburgh '`).
    WhiteSpace,
    /// Letter case (`'EDINBURGH'`).
    LetterCase,
    /// Unicode normalisation form (`e` and a combining accent against `é`).
    UnicodeForm,
}

impl InvisibleKind {
    /// In the order they are tested: the first that explains every difference is said.
    pub const ALL: [InvisibleKind; 3] = [
        InvisibleKind::WhiteSpace,
        InvisibleKind::LetterCase,
        InvisibleKind::UnicodeForm,
    ];

    /// The rule that takes the difference away.
    pub fn rule(&self) -> &'static str {
        match self {
            InvisibleKind::WhiteSpace => "trim",
            InvisibleKind::LetterCase => "lower",
            InvisibleKind::UnicodeForm => "nfc",
        }
    }

    /// What the values differ in, in words.
    pub fn words(&self) -> &'static str {
        match self {
            InvisibleKind::WhiteSpace => "white space at either end",
            InvisibleKind::LetterCase => "letter case",
            InvisibleKind::UnicodeForm => {
                "Unicode normalisation form (the same letters, composed differently)"
            }
        }
    }
}

impl InvisibleDifference {
    /// `every difference in city is only white space at either end: add the `trim` rule`.
    pub fn sentence(&self) -> String {
        format!(
            "every difference in {} is only {}: add the `{}` rule to it",
            self.column,
            self.kind.words(),
            self.kind.rule()
        )
    }
}

/// A column statistic that differs between the sides.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AggregateDifference {
    pub column: String,
    pub statistic: String,
    pub legacy: Option<String>,
    pub target: Option<String>,
}

/// Everything about one entity (or query check).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntityReport {
    pub name: String,
    /// `entity` or `query`.
    pub kind: EntityKind,
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
    /// The limits the checks were judged by (the spec's defaults under the entity's own).
    pub thresholds: Thresholds,
    /// The files that hold every differing row, relative to the diffs folder
    /// (`<entity>/missing.parquet`, ...); empty when none were written.
    pub diff_files: Vec<String>,
    /// Values a rule could not read (text no `parse` format matches, ...), when the
    /// entity has such rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid: Option<InvalidValues>,
    /// With `settle`: the rows left out as too young to judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsettled: Option<Unsettled>,
    /// In a recheck's report: what became of the entity's findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck: Option<RecheckCounts>,
    /// Why the entity could not be verified (status `error`); the checks before the one
    /// that failed keep their outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How many rows of an entity were proven equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Proven {
    /// Legacy rows proven equal to their target row: by an equal digest, or matched by
    /// key with equal values by the row diff.
    pub equal: u64,
    /// The legacy rows compared.
    pub compared: u64,
}

impl Proven {
    /// `equal` of `compared` as a percentage rounded down to two decimals (`99.99%`),
    /// so that 100% means every row; `-` of none.
    pub fn percent(&self) -> String {
        if self.compared == 0 {
            return "-".into();
        }
        let hundredths = (self.equal as u128 * 10_000) / self.compared as u128;
        format!("{}.{:02}%", hundredths / 100, hundredths % 100)
    }

    /// The sum of two.
    pub fn plus(self, other: Proven) -> Proven {
        Proven {
            equal: self.equal + other.equal,
            compared: self.compared + other.compared,
        }
    }
}

impl EntityReport {
    /// The legacy rows proven equal: where the row diff ran, all but the missing,
    /// changed and NULL-key rows, the rows under a key duplicated on the legacy side, and
    /// one row for each key duplicated on the target side only as far as can be told
    /// (a key duplicated in the target proves no legacy row; counting one for each such
    /// key never claims too much); else the rows of the partitions whose digests are
    /// equal. `None` when neither the diff nor the digests ran, or the entity could not
    /// be verified.
    pub fn proven(&self) -> Option<Proven> {
        if self.error.is_some() {
            return None;
        }
        let compared = self.legacy_rows;
        if let Some(d) = &self.diff {
            let unequal = d.missing
                + d.changed
                + d.null_keys_legacy
                + d.duplicate_rows_legacy
                + d.duplicate_keys_target;
            return Some(Proven {
                equal: compared.saturating_sub(unequal),
                compared,
            });
        }
        let parts = self.partitions.as_ref()?;
        if parts.rows.iter().all(|r| r.digest_equal.is_none()) {
            return None;
        }
        let equal = parts
            .rows
            .iter()
            .filter(|r| r.digest_equal == Some(true))
            .map(|r| r.legacy_rows)
            .sum();
        Some(Proven { equal, compared })
    }

    /// The key columns of `row` (a sample row of this entity), in the row's order.
    pub fn key_of(&self, row: &Row) -> Row {
        row.iter()
            .filter(|(c, _)| self.key.contains(c))
            .cloned()
            .collect()
    }

    /// How many findings the entity has: differing rows, duplicate and NULL keys, schema
    /// findings and aggregate differences.
    pub fn findings(&self) -> u64 {
        let d = self.diff.as_ref().map_or(0, |d| {
            d.missing
                + d.extra
                + d.changed
                + d.duplicate_keys_legacy
                + d.duplicate_keys_target
                + d.null_keys_legacy
                + d.null_keys_target
        });
        d + self.schema_findings.len() as u64
            + self.aggregate_differences.len() as u64
            + self.invalid.as_ref().map_or(0, |i| i.total)
    }
}

/// The rows an entity's `settle` left out: their key has a row, on either side, whose
/// `column` is later than `after` (the earlier snapshot's start less the window).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Unsettled {
    pub column: String,
    pub after: DateTime<Utc>,
    pub legacy: u64,
    pub target: u64,
}

/// What a recheck made of an entity's findings: each one read again from the live
/// sources, round after round.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecheckCounts {
    /// The sides agree now: the finding was in flight.
    pub converged: u64,
    /// It differed the same way in the last two readings: counted against the thresholds.
    pub persistent: u64,
    /// It still changed between the last two readings.
    pub moving: u64,
    /// Why the findings were not read again (they then count as they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_rechecked: Option<String>,
}

/// What a recheck's report rechecked, and how.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecheckInfo {
    /// The id of the report whose findings were read again.
    pub rechecks: String,
    pub rounds: usize,
    pub wait_seconds: f64,
    /// The snapshot runs of the point reads, relative to the report's folder: each has
    /// its manifest, as an extraction's.
    pub runs: Vec<String>,
}

/// What an invariant found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvariantReport {
    pub name: String,
    pub status: Status,
    pub violations: u64,
    pub rows: Vec<Row>,
    pub seconds: f64,
    /// Why the invariant could not be checked (status `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

/// A snapshot run as a report names it: a summary of its manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunSummary {
    pub run_id: String,
    /// The source kind and its URL (never with a password).
    pub source_kind: String,
    pub source_url: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub consistency: String,
    pub tables: Vec<TableSummary>,
}

/// A table of a snapshot run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableSummary {
    pub name: String,
    pub rows: u64,
    pub files: usize,
    pub bytes: u64,
}

impl RunSummary {
    /// The summary of a run's manifest.
    pub fn of(m: &crate::snapshot::Manifest) -> RunSummary {
        RunSummary {
            run_id: m.run_id.clone(),
            source_kind: m.source.kind.to_string(),
            source_url: m.source.url.clone(),
            started_at: m.started_at,
            finished_at: m.finished_at,
            consistency: m.consistency.clone(),
            tables: m
                .tables
                .iter()
                .map(|(name, t)| TableSummary {
                    name: name.clone(),
                    rows: t.rows,
                    files: t.files.len(),
                    bytes: t.files.iter().map(|f| f.bytes).sum(),
                })
                .collect(),
        }
    }
}

/// The whole verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub legacy: RunSummary,
    pub target: RunSummary,
    pub row_hash_version: u32,
    pub entities: Vec<EntityReport>,
    pub invariants: Vec<InvariantReport>,
    /// Seconds the verification took.
    pub seconds: f64,
}

/// The version of `report.json`'s layout (docs/report.md, docs/report.schema.json).
pub const REPORT_FORMAT_VERSION: u32 = 2;

/// `report.json`: one verification, with what identifies it and what changed since the
/// previous report of the same spec. Every other report file is rendered from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Always `snapdiff-report`.
    pub format: String,
    pub format_version: u32,
    /// The report's id: its folder's name under the reports root.
    pub id: String,
    pub tool_version: String,
    pub created_at: DateTime<Utc>,
    /// `pass`, `fail`, or `error` when an entity, query check or invariant could not be
    /// verified (its findings may be incomplete).
    pub status: Status,
    pub spec: SpecInfo,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What changed since the previous report of the same spec (`None` for the first).
    pub delta: Option<delta::Delta>,
    /// A recheck's report: the report it rechecked, and how (`snapdiff recheck`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck: Option<RecheckInfo>,
    /// The files written, relative to the report's folder.
    pub files: Vec<String>,
}

/// Which spec a report verified.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpecInfo {
    /// The spec file's name without `.toml`.
    pub name: String,
    /// The spec file's absolute path: the reports of one spec share name and path.
    pub path: String,
    /// SHA-256 of the spec file's bytes (before `${VAR}` expansion).
    pub sha256: String,
}

impl SpecInfo {
    /// What identifies `spec` in its reports: its name and its absolute path.
    pub fn of(spec: &crate::spec::Spec) -> SpecInfo {
        let path = std::fs::canonicalize(&spec.path).unwrap_or_else(|_| spec.path.clone());
        SpecInfo {
            name: spec.name(),
            path: path.display().to_string(),
            sha256: spec.sha256(),
        }
    }

    /// Whether two reports verified the same spec file, by name and path: two specs
    /// named `verify.toml` that share a reports root stay apart, and an edited spec
    /// stays the same spec.
    pub fn same_spec(&self, other: &SpecInfo) -> bool {
        self.name == other.name && self.path == other.path
    }
}

impl Report {
    /// A report of `outcome`.
    pub fn new(id: &str, spec: SpecInfo, outcome: Outcome) -> Report {
        Report {
            format: "snapdiff-report".into(),
            format_version: REPORT_FORMAT_VERSION,
            id: id.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: Utc::now(),
            status: outcome.status(),
            spec,
            outcome,
            delta: None,
            recheck: None,
            files: Vec::new(),
        }
    }
}

/// A grid cell: `None` is a column the row lacks (an empty cell), not a NULL.
pub(crate) type GridCell<'a> = Option<Option<&'a str>>;

/// The columns of `rows` and each row's values under them. Rows that all have the same
/// columns are read by position (a query may repeat a column name); otherwise columns
/// are matched by name, in the order they first appear.
pub(crate) fn grid<'a>(rows: &[&'a Row]) -> (Vec<String>, Vec<Vec<GridCell<'a>>>) {
    let first: Vec<&str> = rows
        .first()
        .map(|r| r.iter().map(|(c, _)| c.as_str()).collect())
        .unwrap_or_default();
    let same = rows.iter().all(|r| {
        r.len() == first.len() && r.iter().zip(&first).all(|((c, _), f)| c.as_str() == *f)
    });
    if same {
        let head = first.iter().map(|c| c.to_string()).collect();
        let body = rows
            .iter()
            .map(|&r| r.iter().map(|(_, v)| Some(v.as_deref())).collect())
            .collect();
        return (head, body);
    }
    let mut head: Vec<String> = Vec::new();
    for &r in rows {
        for (c, _) in r {
            if !head.contains(c) {
                head.push(c.clone());
            }
        }
    }
    let body = rows
        .iter()
        .map(|&r| {
            head.iter()
                .map(|h| r.iter().find(|(c, _)| c == h).map(|(_, v)| v.as_deref()))
                .collect()
        })
        .collect();
    (head, body)
}

/// A key as `id=5` (`col=value,...`; NULL for a missing value).
pub fn key_text(key: &Row) -> String {
    key.iter()
        .map(|(c, v)| format!("{c}={}", v.as_deref().unwrap_or("NULL")))
        .collect::<Vec<_>>()
        .join(",")
}

impl Outcome {
    /// Whether every check passed (within its thresholds) and none failed to run.
    pub fn passed(&self) -> bool {
        self.status() == Status::Pass
    }

    /// `error` when something could not be verified, else `fail` when differences go
    /// beyond the thresholds, else `pass`.
    pub fn status(&self) -> Status {
        let all = || {
            self.entities
                .iter()
                .map(|e| e.status)
                .chain(self.invariants.iter().map(|i| i.status))
        };
        if all().any(|s| s == Status::Error) {
            Status::Error
        } else if all().any(|s| s == Status::Fail) {
            Status::Fail
        } else {
            Status::Pass
        }
    }

    /// One line per entity, query check and invariant: status and counts, or the error
    /// that stopped it (its hint is the [`Failure`]'s).
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
            if let Some(f) = &e.error {
                lines.push(format!("{:<width$}  ERROR  {}", e.name, f.message));
                continue;
            }
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
            if let Some(i) = e.invalid.as_ref().filter(|i| i.total > 0) {
                parts.push(format!("invalid {}", i.total));
            }
            if let Some(u) = &e.unsettled {
                parts.push(format!("unsettled {}", u.legacy + u.target));
            }
            if let Some(r) = &e.recheck {
                match &r.not_rechecked {
                    Some(why) => parts.push(format!("not rechecked: {why}")),
                    None => parts.push(format!(
                        "converged {}  persistent {}  moving {}",
                        r.converged, r.persistent, r.moving
                    )),
                }
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
            if let Some(f) = &i.error {
                lines.push(format!(
                    "{:<width$}  ERROR  invariant: {}",
                    i.name, f.message
                ));
                continue;
            }
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

/// `PASS`, `FAIL`, `INFO`, `SKIP` or `ERROR`.
pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Info => "INFO",
        Status::Skipped => "SKIP",
        Status::Error => "ERROR",
    }
}

/// Fixtures the renderers' tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{DateTime, Utc};

    use super::{
        CheckOutcome, Diff, EntityReport, InvariantReport, Outcome, PartitionRow, Report,
        RunSummary, SpecInfo, Status,
    };
    use crate::report::delta::Delta;
    use crate::spec::{CheckKind, EntityKind, Thresholds};

    /// An entity keyed by `id` comparing `amount` and `note`, 10 rows a side, whose diff
    /// check ended with `status`.
    pub fn entity(name: &str, status: Status, diff: Option<Diff>) -> EntityReport {
        EntityReport {
            name: name.into(),
            kind: EntityKind::Entity,
            key: vec!["id".into()],
            compared: vec!["amount".into(), "note".into()],
            legacy_only: Vec::new(),
            target_only: Vec::new(),
            tolerance_columns: Vec::new(),
            status,
            legacy_rows: 10,
            target_rows: 10,
            schema_findings: Vec::new(),
            partitions: None,
            diff,
            aggregate_differences: Vec::new(),
            checks: vec![CheckOutcome {
                check: CheckKind::Diff,
                status,
                summary: "2 changed".into(),
                seconds: 0.25,
            }],
            thresholds: Thresholds::default(),
            diff_files: Vec::new(),
            invalid: None,
            unsettled: None,
            recheck: None,
            error: None,
        }
    }

    /// One partition's row: `missing` and `changed` rows, no extra.
    pub fn partition(
        p: Option<&str>,
        (legacy_rows, target_rows): (u64, u64),
        digest_equal: Option<bool>,
        missing: u64,
        changed: u64,
    ) -> PartitionRow {
        PartitionRow {
            partition: p.map(str::to_string),
            legacy_rows,
            target_rows,
            digest_equal,
            missing,
            extra: 0,
            changed,
        }
    }

    /// The report `r2` of spec `spec_name` (shop.toml), postgres legacy against sqlite
    /// target, made at [`at`].
    pub fn report(
        spec_name: &str,
        entities: Vec<EntityReport>,
        invariants: Vec<InvariantReport>,
        delta: Option<Delta>,
    ) -> Report {
        let outcome = Outcome {
            legacy: run("L1", "postgres", "postgres://u@db/legacy"),
            target: run("T1", "sqlite", "target.db"),
            row_hash_version: 1,
            entities,
            invariants,
            seconds: 1.5,
        };
        let spec = SpecInfo {
            name: spec_name.into(),
            path: "shop.toml".into(),
            sha256: "abc".into(),
        };
        let mut r = Report::new("r2", spec, outcome);
        r.created_at = at();
        r.delta = delta;
        r
    }

    /// A fixed instant.
    pub fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A run summary of no tables.
    pub fn run(id: &str, kind: &str, url: &str) -> RunSummary {
        RunSummary {
            run_id: id.into(),
            source_kind: kind.into(),
            source_url: url.into(),
            started_at: at(),
            finished_at: at(),
            consistency: "snapshot".into(),
            tables: Vec::new(),
        }
    }

    pub fn v(s: &str) -> Option<String> {
        Some(s.to_string())
    }
}
