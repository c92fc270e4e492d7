//! Splitting a table read into ranges, and reading ranges concurrently.
//!
//! A database table is read as range queries over an integer column (`partition_on`, the
//! integer primary key, SQLite's rowid, or PostgreSQL's `ctid` blocks). Each range is
//! small enough to hold in memory (`chunk_rows`), and `partitions` of them are read at
//! once. Ranges cover every value: the first is open below, the last open above, and
//! rows whose column is NULL get a range of their own.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::{Error, Result};

/// One range of a split read, as a predicate template over a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// The whole table: no predicate.
    All,
    /// `lo <= col < hi`; `None` is open on that side. i128 holds every signed and
    /// unsigned 64-bit key without wrapping.
    Range { lo: Option<i128>, hi: Option<i128> },
    /// `col IS NULL`.
    Null,
}

impl Chunk {
    /// The SQL predicate for this chunk over the (already quoted) column expression,
    /// or `None` for the whole table.
    pub fn predicate(&self, col: &str) -> Option<String> {
        match self {
            Chunk::All => None,
            Chunk::Null => Some(format!("{col} IS NULL")),
            Chunk::Range { lo: None, hi: None } => Some(format!("{col} IS NOT NULL")),
            Chunk::Range {
                lo: Some(lo),
                hi: None,
            } => Some(format!("{col} >= {lo}")),
            Chunk::Range {
                lo: None,
                hi: Some(hi),
            } => Some(format!("{col} < {hi}")),
            Chunk::Range {
                lo: Some(lo),
                hi: Some(hi),
            } => Some(format!("{col} >= {lo} AND {col} < {hi}")),
        }
    }
}

/// Split `[min, max]` into at most `parts` ranges of equal width; the first is open
/// below and the last open above, so every value is in exactly one range. With
/// `nullable`, a `Chunk::Null` is added.
pub fn split(min: i128, max: i128, parts: usize, nullable: bool) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let span = (max - min + 1).max(1);
    let width = (span + parts.max(1) as i128 - 1) / parts.max(1) as i128;
    // Only as many ranges as the width needs: no empty ranges past `max`.
    let parts = (span + width - 1) / width;
    if parts <= 1 {
        chunks.push(Chunk::Range { lo: None, hi: None });
    } else {
        for i in 0..parts {
            let lo = min + i * width;
            chunks.push(Chunk::Range {
                lo: if i == 0 { None } else { Some(lo) },
                hi: if i == parts - 1 {
                    None
                } else {
                    Some(lo + width)
                },
            });
        }
    }
    if nullable {
        chunks.push(Chunk::Null);
    }
    chunks
}

/// How many ranges to split into: enough that each holds about `chunk_rows` rows, and at
/// least `concurrency`.
pub fn range_count(estimated_rows: u64, chunk_rows: u64, concurrency: usize) -> usize {
    let by_size = estimated_rows.div_ceil(chunk_rows.max(1)) as usize;
    by_size.max(concurrency).max(1)
}

/// Run `work` on every item with at most `concurrency` threads; the first error stops
/// the others from taking new items and is returned.
pub fn run_concurrently<T: Sync>(
    items: &[T],
    concurrency: usize,
    work: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let threads = concurrency.clamp(1, items.len().max(1));
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        if stop.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return Ok(());
                        };
                        if let Err(e) = work(item) {
                            stop.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::internal("a reader thread panicked")))
            })
            .collect()
    });
    // Prefer a real error over "the writer stopped", which only echoes another failure.
    let mut errors: Vec<Error> = results.into_iter().filter_map(|r| r.err()).collect();
    errors.sort_by_key(|e| e.kind == crate::error::ErrorKind::Interrupted);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_everything() {
        assert_eq!(
            split(1, 10, 3, true),
            vec![
                Chunk::Range {
                    lo: None,
                    hi: Some(5)
                },
                Chunk::Range {
                    lo: Some(5),
                    hi: Some(9)
                },
                Chunk::Range {
                    lo: Some(9),
                    hi: None
                },
                Chunk::Null,
            ]
        );
        assert_eq!(
            split(5, 5, 4, false),
            vec![Chunk::Range { lo: None, hi: None }]
        );
        assert_eq!(split(i64::MIN.into(), i64::MAX.into(), 2, false).len(), 2);
        // Near the top of the range nothing wraps and nothing is read twice.
        let top = i64::MAX as i128;
        assert_eq!(
            split(top - 4, top, 4, false),
            vec![
                Chunk::Range {
                    lo: None,
                    hi: Some(top - 2)
                },
                Chunk::Range {
                    lo: Some(top - 2),
                    hi: Some(top)
                },
                Chunk::Range {
                    lo: Some(top),
                    hi: None
                },
            ]
        );
        // Unsigned 64-bit keys beyond i64::MAX.
        let chunks = split(0, u64::MAX as i128, 2, false);
        assert_eq!(
            chunks[1],
            Chunk::Range {
                lo: Some(1 << 63),
                hi: None
            }
        );
        assert_eq!(
            chunks[1].predicate("k").unwrap(),
            "k >= 9223372036854775808"
        );
        assert_eq!(
            Chunk::Range {
                lo: Some(5),
                hi: Some(9)
            }
            .predicate("\"id\"")
            .unwrap(),
            "\"id\" >= 5 AND \"id\" < 9"
        );
    }

    #[test]
    fn range_count_bounds_rows_per_range() {
        assert_eq!(range_count(10_000_000, 500_000, 2), 20);
        assert_eq!(range_count(10, 500_000, 4), 4);
        assert_eq!(range_count(0, 500_000, 1), 1);
    }

    #[test]
    fn first_error_stops_the_rest() {
        let items: Vec<u32> = (0..100).collect();
        let done = AtomicUsize::new(0);
        let r = run_concurrently(&items, 2, |i| {
            done.fetch_add(1, Ordering::Relaxed);
            if *i == 3 {
                Err(Error::source("range 3 failed"))
            } else {
                Ok(())
            }
        });
        assert_eq!(r.unwrap_err().message, "range 3 failed");
        assert!(done.load(Ordering::Relaxed) < 100);
    }
}
