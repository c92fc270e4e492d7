//! Reading through connectorx, with bounded memory and errors instead of panics.
//!
//! connectorx's streaming destination fills an unbounded channel as fast as the database
//! sends, and reports a failed stream by panicking. So database tables are read as range
//! queries with [`fetch`] (one bounded result each, several at once), and only a query
//! that cannot be split falls back to [`stream`], whose panics are caught and turned into
//! errors here.

use std::cell::Cell;
use std::sync::Once;

use arrow::record_batch::RecordBatch;
use connectorx::prelude::{get_arrow, new_record_batch_iter, SourceConn};
use connectorx::sql::CXQuery;

use crate::error::{Error, Result};

thread_local! {
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
}

/// Let panics raised while a connectorx stream is read pass silently: they are caught
/// and reported as errors.
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
}

/// The connectorx connection for a URL (with its password; never printed).
pub fn source_conn(url: &str) -> Result<SourceConn> {
    SourceConn::try_from(url).map_err(|e| Error::connect(crate::secrets::scrub(&e.to_string())))
}

/// Run `sql` (after the `pre` statements, on the same connection) and return its whole
/// result. Callers keep `sql` to a bounded range.
pub fn fetch(conn: &SourceConn, sql: &str, pre: &[String]) -> Result<Vec<RecordBatch>> {
    let queries = [CXQuery::naked(sql)];
    let dest = get_arrow(conn, None, &queries, Some(pre)).map_err(|e| map_error(&full_text(&e)))?;
    dest.arrow().map_err(|e| map_error(&full_text(&e)))
}

/// Stream `sql`, calling `each` for every batch as it arrives.
pub fn stream(
    conn: &SourceConn,
    sql: &str,
    pre: &[String],
    batch_rows: usize,
    mut each: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    install_quiet_hook();
    let queries = [CXQuery::naked(sql)];
    let mut iter = new_record_batch_iter(conn, None, &queries, batch_rows, Some(pre))
        .map_err(|e| map_error(&full_text(&e)))?;
    iter.prepare();
    loop {
        QUIET_PANICS.with(|q| q.set(true));
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| iter.next_batch()));
        QUIET_PANICS.with(|q| q.set(false));
        match next {
            Ok(Some(batch)) => each(batch)?,
            Ok(None) => return Ok(()),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the reader failed".to_string());
                return Err(map_error(msg.trim_start_matches("cx writer failed: ")));
            }
        }
    }
}

/// An error's message followed by its causes': a driver error says only "db error", the
/// database's own message is its cause.
pub(crate) fn full_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}

/// A connectorx error as a snapdiff error, classified by what the database said.
pub fn map_error(text: &str) -> Error {
    let text = crate::secrets::scrub(text);
    let lower = text.to_ascii_lowercase();
    if lower.contains("read-only transaction") || lower.contains("read only transaction") {
        return Error::source(format!("the source refused a write: {text}"))
            .with_hint("snapdiff reads in read-only transactions; the query must not write");
    }
    if lost_connection(&lower) {
        return lost_error(&text);
    }
    if lower.contains("connection refused")
        || lower.contains("password authentication failed")
        || lower.contains("access denied")
        || lower.contains("does not exist") && lower.contains("database")
        || lower.contains("unknown database")
        || lower.contains("timed out")
        || lower.contains("could not translate host name")
        || lower.contains("failed to lookup address")
    {
        return Error::connect(text);
    }
    Error::source(text)
}

/// Whether a driver message (lower-cased) says the server dropped the connection:
/// terminated by an administrator, restarted, or gone away mid-read.
pub fn lost_connection(lower: &str) -> bool {
    [
        "terminating connection",
        "error communicating with the server",
        "server closed the connection",
        "connection closed",
        "connection reset",
        "broken pipe",
        "unexpected eof",
        "lost connection to mysql server",
        "server has gone away",
        "bytes remaining on stream",
        "server disconnected",
        "connection was killed",
    ]
    .iter()
    .any(|s| lower.contains(s))
}

/// The error for a connection the server dropped mid-read (`text` is scrubbed).
pub fn lost_error(text: &str) -> Error {
    Error::connect(format!(
        "the connection to the source was lost while reading: {text}"
    ))
    .with_hint(
        "nothing of the interrupted table was kept; run the extraction again (or finish \
         the run with --resume RUN) once the database is reachable",
    )
}
