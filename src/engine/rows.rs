//! Query results as text rows: what the samples of a report and of `snapdiff sql` show.

use arrow::array::RecordBatch;

use crate::normalize::text::Texts;

/// A row as (column, value as text) pairs; `None` is NULL.
pub type Row = Vec<(String, Option<String>)>;

/// Every row of `batches` as (column, value as text) pairs; `hide_internal` leaves out
/// the checks' own `__` columns.
pub fn rows(batches: &[RecordBatch], hide_internal: bool) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        let shown: Vec<(usize, &String)> = schema
            .fields()
            .iter()
            .map(|f| f.name())
            .enumerate()
            .filter(|(_, n)| !(hide_internal && n.starts_with("__")))
            .collect();
        // One formatter a column, for all of the batch's rows.
        let texts: Vec<(&String, Texts)> = shown
            .iter()
            .map(|(i, n)| (*n, Texts::new(b.column(*i).as_ref())))
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                texts
                    .iter()
                    .map(|(n, t)| ((*n).clone(), t.get(r)))
                    .collect(),
            );
        }
    }
    out
}
