//! The memory budget every check keeps to (`--memory-limit`), and its shares.
//!
//! One figure is shared out, and [`Budget`] is the one place that says how: half to
//! DataFusion's memory pool (sorts and aggregations spill to disk when it is full), and
//! half to the diff's first pass and its candidate rows. The streaming pass takes an
//! eighth for its pair log and an eighth for its tables of waiting rows, and holds the
//! rows it hands to the diff within a quarter. The matching pass takes up to three
//! eighths for its table (16 bytes a legacy row, run only where it fits) and an eighth
//! for the target rows it holds while it runs; once its table is freed, the rows it
//! hands to the diff fit a quarter. The narrow pass, which runs otherwise, takes a
//! quarter for its bucket digests and a quarter for the candidate rows it fetches at a
//! time; a round of the diff's joins takes an eighth. An entity's views held in memory
//! (`check/entity/held.rs`) take up to a quarter, and the passes' shares then come out
//! of their half less what is held ([`Budget::less`]). More rows than fit means more
//! chunks, never more memory.

use crate::error::{Error, Result};

/// Hands the memory freed so far back to the system. The allocator keeps freed memory
/// for reuse (up to 1 GiB, `main.rs`), in the arena of the thread that freed it; after
/// an entity lets its held views go, the next entity's threads may allocate from other
/// arenas, and the kept memory would add to the process's peak instead of being reused.
/// Costs a walk of the free lists (milliseconds).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns whole free pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The default: half of the machine's memory (4 GiB when it cannot be read).
pub fn default_limit() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024 / 2)
        .unwrap_or(4 << 30)
}

/// A size such as `8G`, `512M`, `1.5GiB`, `2000000000` or `50%` (of the machine's memory).
pub fn parse_limit(text: &str) -> Result<u64> {
    let bad = || {
        Error::spec(format!("memory limit `{text}` is not a size"))
            .with_hint("give a size such as 8G, 512M, 1.5GiB, or a share of RAM such as 50%")
    };
    let t = text.trim();
    if let Some(p) = t.strip_suffix('%') {
        let p: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(p > 0.0 && p <= 100.0) {
            return Err(bad());
        }
        return Ok((default_limit() as f64 * 2.0 * p / 100.0) as u64);
    }
    let lower = t.to_ascii_lowercase();
    let num_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = (n * mult as f64) as u64;
    if bytes < 64 << 20 {
        return Err(Error::spec(format!(
            "memory limit `{text}` is below the 64 MiB snapdiff needs"
        ))
        .with_hint("give at least 64M"));
    }
    Ok(bytes)
}

/// `--memory-limit` and its shares, computed once and handed down to every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    limit: u64,
}

impl Budget {
    /// The budget of `limit` bytes.
    pub fn new(limit: u64) -> Budget {
        Budget { limit }
    }

    /// The whole limit, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// DataFusion's memory pool (sorts, aggregations, joins): a half.
    pub fn pool(&self) -> u64 {
        self.limit / 2
    }

    /// The narrow pass's bucket digests: a quarter.
    pub fn buckets(&self) -> u64 {
        self.limit / 4
    }

    /// The streaming pass's log of pairs (8 bytes a pair): an eighth.
    pub fn pair_log(&self) -> u64 {
        self.limit / 8
    }

    /// The streaming pass's tables of waiting rows: an eighth.
    pub fn stream_tables(&self) -> u64 {
        self.limit / 8
    }

    /// The rows the streaming pass holds while both sides stream: a quarter.
    pub fn stream_held(&self) -> u64 {
        self.limit / 4
    }

    /// The matching pass's table of the legacy side: three eighths.
    pub fn matching_table(&self) -> u64 {
        self.limit / 8 * 3
    }

    /// The target rows the matching pass holds while the target streams: an eighth.
    pub fn matching_held(&self) -> u64 {
        self.limit / 8
    }

    /// The rows handed to the diff at a time (held by a pass, or fetched as a chunk of
    /// candidates): a quarter.
    pub fn candidates(&self) -> u64 {
        self.limit / 4
    }

    /// One round of the diff's joins: an eighth (at least a byte).
    pub fn round(&self) -> u64 {
        (self.limit / 8).max(1)
    }

    /// An entity's two views held in memory: a quarter.
    pub fn held_views(&self) -> u64 {
        self.limit / 4
    }

    /// The budget left for the diff's passes once `held` bytes of views are held: what
    /// the passes take (half of the limit) less `held`, so that the pool, the views and
    /// the passes still add up to the limit.
    pub fn less(&self, held: u64) -> Budget {
        Budget::new(self.limit.saturating_sub(held.saturating_mul(2)))
    }
}

impl Default for Budget {
    /// The default limit ([`default_limit`]).
    fn default() -> Budget {
        Budget::new(default_limit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_their_units() {
        assert_eq!(parse_limit("8G").unwrap(), 8 << 30);
        assert_eq!(parse_limit("512M").unwrap(), 512 << 20);
        assert_eq!(parse_limit("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_limit("2000000000").unwrap(), 2_000_000_000);
        assert_eq!(parse_limit("100%").unwrap(), default_limit() * 2);
        for bad in ["", "8X", "-1G", "0%", "150%", "1M", "G"] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_budget_shares_out_the_limit_once() {
        let b = Budget::new(8 << 30);
        assert_eq!(b.limit(), 8 << 30);
        assert_eq!(b.pool(), 4 << 30);
        assert_eq!(b.buckets(), 2 << 30);
        assert_eq!(b.candidates(), 2 << 30);
        assert_eq!(b.stream_held(), 2 << 30);
        assert_eq!(b.pair_log(), 1 << 30);
        assert_eq!(b.stream_tables(), 1 << 30);
        assert_eq!(b.matching_held(), 1 << 30);
        assert_eq!(b.round(), 1 << 30);
        assert_eq!(b.matching_table(), 3 << 30);
        assert_eq!(Budget::new(7).round(), 1);
        assert_eq!(b.held_views(), 2 << 30);
        // 1 GiB of views held: the passes' half shrinks from 4 GiB to 3 GiB.
        assert_eq!(b.less(1 << 30).candidates(), 3 << 29);
        assert_eq!(b.less(1 << 30).matching_table(), (6 << 30) / 8 * 3);
        assert_eq!(b.less(8 << 30).limit(), 0);
    }
}
