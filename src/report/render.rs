//! What the human-readable renderers (`markdown.rs`, `html/`) share: the words and
//! figures they both print, so that the two reports say the same thing the same way.

use super::{Cell, ChangedRow, EntityReport};

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
        format!("Showing {shown} of {total}, the first by key.")
    } else {
        format!("Showing {shown} of {total}.")
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

pub(super) use crate::normalize::text::{cut, SHOWN_CHARS};
