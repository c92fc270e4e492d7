//! Progress events the library reports while it works.
//!
//! The library never prints. It tells a [`Progress`] what it is doing; the command line
//! draws bars on a terminal, plain lines otherwise, or nothing with `--quiet`. Tests use
//! [`Recorder`] to check what was reported.

use std::sync::Mutex;

/// Receives progress events. Implementations must be cheap: `rows` is called for every
/// batch written.
pub trait Progress: Send + Sync {
    /// A table has started; `estimated_rows` is the source's estimate, if it has one.
    fn table_started(&self, side: &str, table: &str, estimated_rows: Option<u64>);
    /// `rows` rows of the table have been written so far.
    fn rows(&self, side: &str, table: &str, rows: u64);
    /// The table was read again from the start (a SQLite column needed a wider type).
    fn table_restarted(&self, side: &str, table: &str, reason: &str);
    /// The table is complete.
    fn table_finished(&self, side: &str, table: &str, rows: u64, seconds: f64);
    /// The table was already complete in the run being resumed.
    fn table_skipped(&self, side: &str, table: &str, reason: &str);
    /// Something the user should know that does not stop the run.
    fn warn(&self, message: &str);
    /// The nightly job reuses run `run_id` of `side` instead of extracting it.
    fn side_reused(&self, _side: &str, _run_id: &str) {}
    /// The nightly job extracted `side` into run `run_id`: `tables` tables, `rows` rows.
    fn side_extracted(&self, _side: &str, _run_id: &str, _tables: usize, _rows: u64) {}
    /// A recheck starts reading `keys` keys of `entity` again, in round `round` of at
    /// most `rounds`.
    fn recheck_round(&self, _entity: &str, _round: usize, _rounds: usize, _keys: u64) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn table_started(&self, _: &str, _: &str, _: Option<u64>) {}
    fn rows(&self, _: &str, _: &str, _: u64) {}
    fn table_restarted(&self, _: &str, _: &str, _: &str) {}
    fn table_finished(&self, _: &str, _: &str, _: u64, _: f64) {}
    fn table_skipped(&self, _: &str, _: &str, _: &str) {}
    fn warn(&self, _: &str) {}
}

/// Keeps the events (except per-batch row counts) as text lines, for tests.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn lines(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    fn push(&self, s: String) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(s);
    }
}

impl Progress for Recorder {
    fn table_started(&self, side: &str, table: &str, _: Option<u64>) {
        self.push(format!("start {side}.{table}"));
    }
    fn rows(&self, _: &str, _: &str, _: u64) {}
    fn table_restarted(&self, side: &str, table: &str, reason: &str) {
        self.push(format!("restart {side}.{table}: {reason}"));
    }
    fn table_finished(&self, side: &str, table: &str, rows: u64, _: f64) {
        self.push(format!("finish {side}.{table} {rows}"));
    }
    fn table_skipped(&self, side: &str, table: &str, reason: &str) {
        self.push(format!("skip {side}.{table}: {reason}"));
    }
    fn warn(&self, message: &str) {
        self.push(format!("warn {message}"));
    }
}
