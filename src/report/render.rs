//! What the human-readable renderers (`markdown.rs`, `html/`) share: the words and
//! figures they both print, so that the two reports say the same thing the same way.

use super::{Cell, ChangedRow, EntityReport, Outcome, Proven, Unsettled};

/// An entity's column lists that are shown only when they hold a column: of one side
/// only, and compared within a tolerance.
pub(super) fn optional_columns(e: &EntityReport) -> Vec<(&'static str, &[String])> {
    [
        ("Legacy only", &e.legacy_only),
        ("Target only", &e.target_only),
        ("Within a tolerance", &e.tolerance_columns),
    ]
    .into_iter()
    .filter(|(_, cols)| !cols.is_empty())
    .map(|(label, cols)| (label, cols.as_slice()))
    .collect()
}

/// The columns of changed rows, in the order they first appear.
pub(super) fn changed_columns(rows: &[ChangedRow]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for cell in rows.iter().flat_map(|r| &r.cells) {
        if !cols.contains(&cell.column) {
            cols.push(cell.column.clone());
        }
    }
    cols
}

/// A changed row's cell of `column`.
pub(super) fn find_cell<'a>(row: &'a ChangedRow, column: &str) -> Option<&'a Cell> {
    row.cells.iter().find(|c| c.column == column)
}

/// How many of a list's `total` rows a report shows.
pub(super) fn showing(shown: usize, total: u64) -> String {
    if (shown as u64) < total {
        format!(
            "Showing {} of {}, the first by key.",
            thousands(shown as u64),
            thousands(total)
        )
    } else {
        format!(
            "Showing {} of {}.",
            thousands(shown as u64),
            thousands(total)
        )
    }
}

/// A relative path as a link target: bytes outside the unreserved set percent-encoded.
pub(super) fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A duration in seconds, as the reports print it.
pub(super) fn seconds(s: f64) -> String {
    format!("{s:.2}")
}

pub(super) use crate::normalize::text::thousands;

/// The top of a report: how much each entity proved, and in total.
pub(super) struct Glance<'a> {
    /// Per entity or query check: it, and what it proved (`None`: nothing row by row).
    pub entities: Vec<(&'a EntityReport, Option<Proven>)>,
    /// The sum over the entities that proved something.
    pub total: Proven,
    /// Every finding: the entities', and the rows that break invariants.
    pub findings: u64,
}

impl Glance<'_> {
    pub fn of(o: &Outcome) -> Glance<'_> {
        let entities: Vec<_> = o.entities.iter().map(|e| (e, e.proven())).collect();
        let total = entities
            .iter()
            .filter_map(|(_, p)| *p)
            .fold(Proven::default(), Proven::plus);
        let findings = o.entities.iter().map(|e| e.findings()).sum::<u64>()
            + o.invariants.iter().map(|i| i.violations).sum::<u64>();
        Glance {
            entities,
            total,
            findings,
        }
    }

    /// `4,999,768 of 5,000,000 legacy rows proven equal (99.99%); 232 findings`.
    pub fn sentence(&self) -> String {
        let findings = match self.findings {
            1 => "1 finding".to_string(),
            n => format!("{} findings", thousands(n)),
        };
        format!(
            "{} of {} legacy rows proven equal ({}); {findings}",
            thousands(self.total.equal),
            thousands(self.total.compared),
            self.total.percent()
        )
    }
}

/// What `settle` left out: `legacy 3, target 2 rows left out, too young to judge: their
/// key has a row whose updated_at is after 2026-12-07 23:20:00 UTC`.
pub(super) fn unsettled(u: &Unsettled) -> String {
    format!(
        "legacy {}, target {} rows left out, too young to judge: their key has a row whose {} is after {}",
        thousands(u.legacy),
        thousands(u.target),
        u.column,
        u.after.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// What an entity that proved nothing row by row says instead.
pub(super) const NOT_PROVEN: &str = "not row by row (neither the digests nor the diff ran)";
