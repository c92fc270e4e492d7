//! Drawing the library's progress events: bars on a terminal, plain lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use snapdiff::normalize::text::thousands;
use snapdiff::progress::Progress;
use snapdiff::secrets::scrub;

/// Seconds between plain progress lines for one table when not on a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

pub struct TermProgress {
    quiet: bool,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    plain: Mutex<HashMap<String, (Instant, Instant)>>,
}

impl TermProgress {
    pub fn new(quiet: bool) -> TermProgress {
        let multi = (!quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8)));
        TermProgress {
            quiet,
            multi,
            bars: Mutex::new(HashMap::new()),
            plain: Mutex::new(HashMap::new()),
        }
    }

    /// A line on standard output (a summary), kept clear of the bars.
    pub fn println(&self, line: &str) {
        let line = scrub(line);
        match &self.multi {
            Some(m) => m.suspend(|| out!("{line}")),
            None => out!("{line}"),
        }
    }

    fn eprint(&self, line: &str) {
        let line = scrub(line);
        match &self.multi {
            Some(m) => m.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

fn rate(rows: u64, seconds: f64) -> String {
    if seconds <= 0.0 {
        return String::new();
    }
    format!(" ({} rows/s)", thousands((rows as f64 / seconds) as u64))
}

/// A bar style with a `{rate}` key: whole rows per second.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("valid template")
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{} rows/s", thousands(state.per_sec() as u64));
            },
        )
}

impl Progress for TermProgress {
    fn table_started(&self, side: &str, table: &str, estimated_rows: Option<u64>) {
        if self.quiet {
            return;
        }
        let key = format!("{side}.{table}");
        match &self.multi {
            Some(m) => {
                let bar = match estimated_rows {
                    Some(n) if n > 0 => {
                        let b = m.add(ProgressBar::new(n));
                        b.set_style(
                            style("{prefix:<24} [{bar:30}] {human_pos:>11}/~{human_len} rows  {rate:>16}  {elapsed}")
                                .progress_chars("=> "),
                        );
                        b
                    }
                    _ => {
                        let b = m.add(ProgressBar::new_spinner());
                        b.set_style(style(
                            "{prefix:<24} {spinner} {human_pos:>11} rows  {rate:>16}  {elapsed}",
                        ));
                        b
                    }
                };
                bar.set_prefix(key.clone());
                bar.enable_steady_tick(Duration::from_millis(250));
                self.bars
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, bar);
            }
            None => {
                let now = Instant::now();
                self.plain
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), (now, now));
                match estimated_rows {
                    Some(n) => {
                        self.eprint(&format!("{key}: reading (about {} rows)", thousands(n)))
                    }
                    None => self.eprint(&format!("{key}: reading")),
                }
            }
        }
    }

    fn rows(&self, side: &str, table: &str, rows: u64) {
        if self.quiet {
            return;
        }
        let key = format!("{side}.{table}");
        if self.multi.is_some() {
            if let Some(b) = self
                .bars
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
            {
                if b.length().is_some_and(|l| rows > l) {
                    b.set_length(rows);
                }
                b.set_position(rows);
            }
            return;
        }
        let mut plain = self.plain.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((start, last)) = plain.get_mut(&key) {
            if last.elapsed() >= PLAIN_EVERY {
                *last = Instant::now();
                let secs = start.elapsed().as_secs_f64();
                drop(plain);
                self.eprint(&format!(
                    "{key}: {} rows{}",
                    thousands(rows),
                    rate(rows, secs)
                ));
            }
        }
    }

    fn table_restarted(&self, side: &str, table: &str, reason: &str) {
        if !self.quiet {
            self.eprint(&format!("{side}.{table}: reading again: {reason}"));
        }
        if let Some(b) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&format!("{side}.{table}"))
        {
            b.set_position(0);
        }
    }

    fn table_finished(&self, side: &str, table: &str, rows: u64, seconds: f64) {
        if self.quiet {
            return;
        }
        let key = format!("{side}.{table}");
        if let Some(b) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key)
        {
            b.finish_and_clear();
        }
        self.eprint(&format!(
            "{key}: {} rows in {seconds:.1} s{}",
            thousands(rows),
            rate(rows, seconds)
        ));
    }

    fn table_skipped(&self, side: &str, table: &str, reason: &str) {
        if !self.quiet {
            self.eprint(&format!("{side}.{table}: skipped, {reason}"));
        }
    }

    fn warn(&self, message: &str) {
        self.eprint(&format!("warning: {message}"));
    }

    fn side_reused(&self, side: &str, run_id: &str) {
        self.println(&format!("reusing {side:<7} {run_id}"));
    }

    fn side_extracted(&self, side: &str, run_id: &str, tables: usize, rows: u64) {
        self.println(&format!(
            "extracted {side:<7} {run_id}  {tables} {}  {rows} rows",
            if tables == 1 { "table" } else { "tables" },
        ));
    }

    fn recheck_round(&self, entity: &str, round: usize, rounds: usize, keys: u64) {
        if !self.quiet {
            self.eprint(&format!(
                "recheck {entity}: round {round} of at most {rounds}, {} keys",
                thousands(keys)
            ));
        }
    }
}
