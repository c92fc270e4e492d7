//! The diff's streaming pass: both sides read once, side by side, each row paired with
//! its equal on the other side as they arrive.
//!
//! The matching pass ([`super::matching`]) puts every legacy row's hashes in a table
//! before the target streams, then reads the legacy side a second time for the rows
//! left unpaired: three reads, and a table of the whole legacy side probed at random.
//! When both sides come in about the same key order (extracts by key range, files
//! written in key order; [`super::key_order`] puts the files and row groups in that
//! order), a row's pair arrives soon after it, and only the rows in between need to
//! wait. This pass reads partition `p` of both sides at once, keeping them abreast (a
//! side more than [`LAG`] rows ahead waits for the other). The rows of the side ahead
//! wait in a queue, in order, and each row of the other side compares with the queue's
//! front ([`Part`]): in the same order, pairing is a sequential compare. Rows that find
//! no pair there (differing rows, rows out of order) go to a small hash table of the
//! partition, and pair there by hash. A batch is held while any of its rows waits; a
//! batch whose rows have all paired is dropped, and beyond a budget the oldest one still
//! holding waiting rows has them copied out (cast to plain arrays, [`Compactor`]) into a
//! table the partitions share, and is dropped. What waits at the end are the differing
//! rows of both sides, already in memory: no second read.
//!
//! The findings are those of the other passes exactly. Pairs form between rows of equal
//! key hash and row hash, one to one, so a key hash whose rows are the same multiset on
//! both sides pairs off completely. A key hash that both paired and kept waiting rows
//! (a key duplicated on one side) must be diffed with all its rows, as after a fetch of
//! its bucket: every pair's key hash is logged (8 bytes a pair, written in order), and
//! at the end the log is searched for the waiting key hashes; their buckets are read
//! again from both sides (`Held::refetch`), their held rows dropped first.
//!
//! The pass gives up (`Outcome::GaveUp`, and the matching pass runs) when the sides are
//! not in the same order after all (more rows wait than [`misaligned`] allows), when
//! the waiting rows' table outgrows its budget, or when a key hash is on thousands of
//! rows. Held rows beyond their budget are dropped and the pass goes on: the diff then
//! fetches the differing buckets, as after the narrow pass.

mod held;
mod table;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::UInt64Type;
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use futures::StreamExt;

use super::pass::{bucket, plain_schema, Compactor, Digest, Held, KeyHashes, Matched};

/// How many rows one side's partition may read ahead of the other's (in proportion to
/// their rows) before it waits: the rows of this window are what wait for their pair.
pub(crate) const LAG: u64 = 1 << 14;

/// The longest probe the pass makes before it gives up (a key hash on thousands of
/// rows: many NULL keys, a key repeated thousands of times).
const MAX_PROBE: usize = 4096;

/// Bytes of batches held as the scan gave them (their arrays' size, which counts a
/// buffer shared by several batches in each): beyond it the oldest have their waiting
/// rows copied out. A batch holds its scan's decoded buffers, which the allocator could
/// otherwise reuse for the next ones.
const LIVE_BYTES: u64 = 64 << 20;

/// Batches held as the scan gave them, at most (their waiting rows are in the hot
/// table, which this keeps small).
const MAX_LIVE: usize = 256;

/// Bytes of the log a pair takes.
pub(crate) const LOG_BYTES_PER_ROW: u64 = 8;

/// Whether `waiting` rows waiting after `read` rows read (both sides) means that the
/// sides do not come in the same key order: in the same order, the rows within the
/// lag and the differing rows wait; in another order, most rows read.
fn misaligned(waiting: u64, read: u64, partitions: u64) -> bool {
    waiting > (1 << 20) + 4 * LAG * partitions + read / 4
}

/// What the pass ended with (once a pass: the size of `Done` does not matter).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outcome {
    Done(Matched, Stats),
    /// Why the pass gave up; the caller runs the matching pass instead.
    GaveUp(String),
}

/// Figures of a pass, for `SNAPDIFF_DEBUG_SQL`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// The hot table's largest size, in entries.
    pub hot_slots: usize,
    /// Rows copied out of batches held too long (both sides), and of those the ones
    /// that paired later.
    pub copied: u64,
    pub copied_paired: u64,
    /// Time spent pairing (under the lock), over all tasks, and of that probing the
    /// hot table.
    pub pairing: std::time::Duration,
    pub probing: std::time::Duration,
}

/// Limits of one pass.
pub(crate) struct Limits {
    /// Bytes the tables of waiting rows may take.
    pub table_bytes: u64,
    /// Bytes the held rows may take while the sides stream, at `row_bytes` a row copied
    /// out; batches still held count their arrays' size. Beyond it none are held, and
    /// the diff fetches the differing buckets.
    pub hold_bytes: u64,
    /// Bytes all the rows handed to the diff may take (the buckets read again included).
    pub candidate_bytes: u64,
    pub row_bytes: u64,
    /// Bucket bits of the differing bitmap.
    pub bits: u32,
}

use held::*;
use table::*;

// ---- the pass -------------------------------------------------------------------------

/// One partition's state: the rows of its two sides waiting for their pair, and the
/// batches they are in. Both sides of a partition run on one thread (see [`run`]).
///
/// Rows in the same order on both sides pair in that order: the rows of the side that
/// is ahead wait in `queue`, in the order they came, and each row of the other side is
/// compared with the front of the queue, a sequential walk. A row found a little further
/// on ([`LOOKAHEAD`]) pairs there, the rows before it leaving the queue for `hot` (rows
/// missing on this side, or changed); a row not found goes to `hot` too. In `hot` rows
/// pair by hash, whatever their order. So only the differing rows, and rows out of
/// order, ever touch the hash table, which stays small and in the CPU's caches.
struct Part {
    /// Its index.
    index: usize,
    queue: VecDeque<Entry>,
    /// Rows of the side behind that found no pair in the queue, in a row.
    misses: u32,
    hot: Table,
    lives: [Lives; 2],
    /// Rows copied out of batches let go, per side (plain arrays), and how many.
    copied: [Compactor; 2],
    copied_count: [u64; 2],
    /// The held rows outgrew their budget and this partition has dropped its own.
    overflowed: bool,
    /// The hot table's largest size; time spent pairing, and of that probing.
    hot_slots: usize,
    pairing: std::time::Duration,
    probing: std::time::Duration,
}

/// How far into the queue a row looks for its pair before it goes to the hot table.
const LOOKAHEAD: usize = 16;

/// After this many rows in a row found no pair in the queue, the rows at its front go to
/// the hot table.
const MISS_STREAK: u32 = 4;

/// A row of batch `id` of side `side` being paired: its rows' waiting flags, before the
/// batch is held.
struct Current<'a> {
    side: usize,
    id: u64,
    waiting: &'a mut [bool],
    count: usize,
}

impl Part {
    /// Row `e` pairs (true) or waits. `released` gets the location of each row of an
    /// earlier batch that paired, `log` the key hash of each pair.
    fn offer(
        &mut self,
        e: Entry,
        cur: &mut Current,
        released: &mut Vec<u64>,
        log: &mut Vec<u64>,
    ) -> std::result::Result<bool, TooLong> {
        let side = side_of(e[2]);
        let theirs = self.queue.front().is_some_and(|f| side_of(f[2]) != side);
        if !theirs {
            self.queue.push_back(e);
            return Ok(false);
        }
        loop {
            let look = self.queue.len().min(LOOKAHEAD);
            if let Some(k) = (0..look).find(|k| {
                let q = &self.queue[*k];
                q[0] == e[0] && q[1] == e[1]
            }) {
                for _ in 0..k {
                    let s = self.queue.pop_front().expect("k rows before it");
                    self.move_to_hot(s, cur, released, log)?;
                }
                let q = self.queue.pop_front().expect("the row found");
                released.push(q[2]);
                log.push(e[0]);
                self.misses = 0;
                return Ok(true);
            }
            // Rows at the front of the queue that several rows in a row passed over
            // have no pair coming soon (the other side's partition starts or ends at
            // other keys, a run of rows missing): they move to the hot table.
            self.misses += 1;
            if self.misses < MISS_STREAK || look == 0 {
                break;
            }
            self.misses = 0;
            for _ in 0..look {
                let s = self.queue.pop_front().expect("look rows");
                self.move_to_hot(s, cur, released, log)?;
            }
            if self.queue.front().is_none_or(|f| side_of(f[2]) == side) {
                break;
            }
        }
        self.hot.reserve(1, u64::MAX);
        match self.hot.pair_or_wait(e[0], e[1], e[2])? {
            Probe::Paired(loc) => {
                released.push(loc);
                log.push(e[0]);
                Ok(true)
            }
            Probe::Waiting => Ok(false),
        }
    }

    /// Row `e` leaves the queue for the hot table, pairing there if it can.
    fn move_to_hot(
        &mut self,
        e: Entry,
        cur: &mut Current,
        released: &mut Vec<u64>,
        log: &mut Vec<u64>,
    ) -> std::result::Result<(), TooLong> {
        self.hot.reserve(1, u64::MAX);
        if let Probe::Paired(loc) = self.hot.pair_or_wait(e[0], e[1], e[2])? {
            log.push(e[0]);
            // Both rows are done; one of them may be of the batch being paired.
            for l in [e[2], loc] {
                let id = (l & !SIDE_BIT) >> ROW_BITS;
                if side_of(l) == cur.side && id == cur.id {
                    cur.waiting[(l & ((1 << ROW_BITS) - 1)) as usize] = false;
                    cur.count -= 1;
                } else {
                    released.push(l);
                }
            }
        }
        Ok(())
    }

    /// Move side `side`'s queued rows of batches up to `id` to the hot table (before
    /// those batches are let go).
    fn unqueue(
        &mut self,
        side: usize,
        id: u64,
        released: &mut Vec<u64>,
        log: &mut Vec<u64>,
    ) -> std::result::Result<(), TooLong> {
        let mut none = Current {
            side: 2,
            id: u64::MAX,
            waiting: &mut [],
            count: 0,
        };
        while let Some(f) = self.queue.front() {
            if side_of(f[2]) != side || (f[2] & !SIDE_BIT) >> ROW_BITS > id {
                break;
            }
            let f = self.queue.pop_front().expect("a front");
            self.move_to_hot(f, &mut none, released, log)?;
        }
        Ok(())
    }
}

/// What the partitions share, behind one lock: the rows let go.
///
/// When a partition lets go of a batch (the oldest, beyond the budget of batches
/// held), its waiting rows leave the partition's table for `cold`: each first looks
/// there for a pair (a row of the other side let go earlier, by any partition), and is
/// copied out only if it finds none. A row's pair is thus found in its partition's
/// table when the two arrive within the lag of each other, and in `cold` otherwise,
/// when the later of the two is let go.
struct Common {
    cold: Table,
    /// Per side and partition, the rows copied out that paired later.
    dropped: [Vec<Dropped>; 2],
    /// Key hashes of the pairs formed in `cold`.
    log: Vec<u64>,
    stats: Stats,
}

/// How far a side's partition has got: the first key column's value in the last row
/// it read, in a form both sides compare in (integers of any width and dates as
/// integers, text and binary as bytes).
#[derive(Clone, PartialEq)]
enum Pos {
    Int(i128),
    Bytes(Vec<u8>),
}

impl PartialOrd for Pos {
    fn partial_cmp(&self, o: &Pos) -> Option<std::cmp::Ordering> {
        match (self, o) {
            (Pos::Int(a), Pos::Int(b)) => a.partial_cmp(b),
            (Pos::Bytes(a), Pos::Bytes(b)) => a.partial_cmp(b),
            _ => None,
        }
    }
}

impl Pos {
    /// The value in `col`'s last row, if it is not NULL and of a kind that compares.
    fn of(col: &dyn Array) -> Option<Pos> {
        use arrow::datatypes::*;
        let i = col.len().checked_sub(1)?;
        if col.is_null(i) {
            return None;
        }
        macro_rules! int {
            ($t:ty) => {
                Some(Pos::Int(col.as_primitive::<$t>().value(i) as i128))
            };
        }
        match col.data_type() {
            DataType::Int8 => int!(Int8Type),
            DataType::Int16 => int!(Int16Type),
            DataType::Int32 => int!(Int32Type),
            DataType::Int64 => int!(Int64Type),
            DataType::UInt8 => int!(UInt8Type),
            DataType::UInt16 => int!(UInt16Type),
            DataType::UInt32 => int!(UInt32Type),
            DataType::UInt64 => int!(UInt64Type),
            DataType::Date32 => int!(Date32Type),
            DataType::Date64 => int!(Date64Type),
            DataType::Utf8 => Some(Pos::Bytes(col.as_string::<i32>().value(i).into())),
            DataType::LargeUtf8 => Some(Pos::Bytes(col.as_string::<i64>().value(i).into())),
            DataType::Utf8View => Some(Pos::Bytes(col.as_string_view().value(i).into())),
            DataType::Binary => Some(Pos::Bytes(col.as_binary::<i32>().value(i).into())),
            DataType::BinaryView => Some(Pos::Bytes(col.as_binary_view().value(i).into())),
            _ => None,
        }
    }
}

/// Where one side's partition stands against the other's.
enum Lead {
    Behind,
    Ahead,
    /// The keys do not compare (types without an order here, or of two kinds).
    Unknown,
}

struct Shared {
    parts: Vec<Mutex<Part>>,
    common: Mutex<Common>,
    limits: Limits,
    /// The held rows outgrew their budget: none are kept.
    overflow: AtomicBool,
    /// Bytes of batches held, over all partitions; rows copied out (they stay in
    /// memory to the end, those that pair later too).
    live_bytes: AtomicU64,
    copied_rows: AtomicU64,
    /// Rows waiting: in each partition's queue and table, and in the cold table.
    part_waiting: Vec<AtomicU64>,
    cold_waiting: AtomicU64,
    /// Rows read, and expected, per side and partition.
    read: [Vec<AtomicU64>; 2],
    expected: [Vec<u64>; 2],
    done: [Vec<AtomicBool>; 2],
    /// The first key column's value in the last row read, per side and partition.
    at: [Vec<Mutex<Option<Pos>>>; 2],
    abreast: Vec<tokio::sync::Notify>,
    read_total: AtomicU64,
    stop: AtomicBool,
    why: Mutex<Option<String>>,
    /// Column indices of `__sd_kh` and `__h`, per side.
    hash_cols: [(usize, usize); 2],
}

impl Shared {
    fn give_up(&self, why: String) {
        let mut w = self
            .why
            .lock()
            .expect("no task panicked holding the reason");
        w.get_or_insert(why);
        self.stop.store(true, Ordering::Relaxed);
        for n in &self.abreast {
            n.notify_waiters();
        }
    }

    /// Where side `s`'s partition `p` stands against the other side's, by the key each
    /// last read.
    fn lead(&self, s: usize, p: usize) -> Lead {
        let o = 1 - s;
        if self.stop.load(Ordering::Relaxed) || self.done[o][p].load(Ordering::Acquire) {
            return Lead::Behind;
        }
        let mine = self.at[s][p].lock().expect("no task panicked").clone();
        let theirs = self.at[o][p].lock().expect("no task panicked").clone();
        match (mine, theirs) {
            (None, _) => Lead::Behind,
            (Some(_), None) => Lead::Ahead,
            (Some(m), Some(t)) => match m.partial_cmp(&t) {
                Some(std::cmp::Ordering::Greater) => Lead::Ahead,
                Some(_) => Lead::Behind,
                None => Lead::Unknown,
            },
        }
    }

    /// Whether side `s`'s partition `p` is more than [`LAG`] rows ahead of the other
    /// side's, in proportion to the rows each is to read (for keys that do not compare).
    fn ahead_by_rows(&self, s: usize, p: usize) -> bool {
        let o = 1 - s;
        let mine = self.read[s][p].load(Ordering::Acquire) as f64;
        let theirs = self.read[o][p].load(Ordering::Acquire) as f64;
        let (em, et) = (
            self.expected[s][p].max(1) as f64,
            self.expected[o][p].max(1) as f64,
        );
        mine > theirs * em / et + LAG as f64
    }

    /// Bytes a partition's table may take; the cold table may take half of the budget.
    fn hot_bytes(&self) -> u64 {
        self.limits.table_bytes / 2 / self.parts.len().max(1) as u64
    }

    /// Let go of side `side`'s oldest batch held by `part`: its waiting rows pair in
    /// the cold table or are copied out and wait there.
    fn let_go(&self, part: &mut Part, side: usize) -> std::result::Result<(), String> {
        let too_long = || format!("a key hash is on more than {MAX_PROBE} waiting rows");
        // Its rows still queued go to the hot table first, where they may pair (and if
        // that leaves the batch with no waiting row, the next one is the oldest).
        let mut log = Vec::new();
        while let Some(oldest) = part.lives[side].oldest() {
            let mut released = Vec::new();
            part.unqueue(side, oldest, &mut released, &mut log)
                .map_err(|_| too_long())?;
            for loc in released {
                let freed = part.lives[side_of(loc)].release(loc);
                self.live_bytes.fetch_sub(freed, Ordering::Relaxed);
            }
            if part.lives[side].oldest() == Some(oldest) {
                break;
            }
        }
        let Some((id, l)) = part.lives[side].pop_oldest() else {
            self.common
                .lock()
                .expect("no task panicked")
                .log
                .extend(log);
            return Ok(());
        };
        self.live_bytes.fetch_sub(l.bytes, Ordering::Relaxed);
        let mut keep = vec![false; l.waiting.len()];
        let mut kept = 0u64;
        {
            // Only the pairing is done under the shared lock; the rows are copied after.
            let mut guard = self
                .common
                .lock()
                .expect("no task panicked holding the rows let go");
            let c = &mut *guard;
            c.log.extend(log);
            if !c.cold.reserve(l.count, self.limits.table_bytes / 2) {
                return Err(format!(
                    "the waiting rows' tables outgrew their {} bytes",
                    self.limits.table_bytes
                ));
            }
            for (row, _) in l.waiting.iter().enumerate().filter(|(_, w)| **w) {
                let (kh, h) = (l.kh[row], l.h[row]);
                part.hot.take(kh, h, live_loc(side, id, row));
                let loc = copied_loc(side, part.index, part.copied_count[side]);
                match c.cold.pair_or_wait(kh, h, loc) {
                    Ok(Probe::Waiting) => {
                        keep[row] = true;
                        kept += 1;
                        part.copied_count[side] += 1;
                        c.stats.copied += 1;
                    }
                    Ok(Probe::Paired(loc)) => {
                        c.log.push(kh);
                        let p = ((loc & !(SIDE_BIT | COPIED_BIT)) >> COPIED_INDEX_BITS) as usize;
                        c.dropped[1 - side][p].set(loc & ((1 << COPIED_INDEX_BITS) - 1));
                        c.stats.copied_paired += 1;
                    }
                    Err(TooLong) => return Err(too_long()),
                }
            }
            self.cold_waiting
                .store(c.cold.len as u64, Ordering::Relaxed);
        }
        self.copied_rows.fetch_add(kept, Ordering::Relaxed);
        if let (Some(b), false) = (&l.batch, part.overflowed || kept == 0) {
            let rows = arrow::compute::filter_record_batch(b, &BooleanArray::from(keep))
                .map_err(|e| e.to_string())?;
            part.copied[side].push(&rows).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Pair and hold one batch of side `side` in partition `p`; `log` gets the key hash
    /// of each pair. `Some(why)` when the pass must give up.
    fn apply(
        &self,
        p: usize,
        side: usize,
        batch: &RecordBatch,
        log: &mut Vec<u64>,
    ) -> Result<Option<String>> {
        let n = batch.num_rows();
        if n >= 1 << ROW_BITS {
            return Ok(Some(format!("a batch of {n} rows")));
        }
        let (kh_col, h_col) = self.hash_cols[side];
        let kh = batch.column(kh_col).as_primitive::<UInt64Type>();
        let h = batch.column(h_col).as_primitive::<UInt64Type>();
        if kh.null_count() > 0 || h.null_count() > 0 {
            return exec_err!("a key or row hash is NULL");
        }
        let limits = &self.limits;
        let mut guard = self.parts[p]
            .lock()
            .expect("no task panicked holding a partition");
        // A batch that gave up may have left its partition half paired: nothing more is
        // paired once the pass stops.
        if self.stop.load(Ordering::Relaxed) {
            return Ok(Some("stopped".into()));
        }
        let clock = std::time::Instant::now();
        let part = &mut *guard;
        let (khv, hv) = (kh.values(), h.values());
        let id = part.lives[side].take_id();
        let mut waiting = vec![false; n];
        let mut released = Vec::new();
        let mut cur = Current {
            side,
            id,
            waiting: &mut waiting,
            count: 0,
        };
        for r in 0..n {
            let e = [khv[r], hv[r], live_loc(side, id, r)];
            match part.offer(e, &mut cur, &mut released, log) {
                Ok(true) => {}
                Ok(false) => {
                    cur.waiting[r] = true;
                    cur.count += 1;
                }
                Err(TooLong) => {
                    return Ok(Some(format!(
                        "a key hash is on more than {MAX_PROBE} waiting rows"
                    )))
                }
            }
        }
        let count = cur.count;
        for loc in released.drain(..) {
            let freed = part.lives[side_of(loc)].release(loc);
            self.live_bytes.fetch_sub(freed, Ordering::Relaxed);
        }
        if part.hot.bytes() > self.hot_bytes() {
            return Ok(Some(format!(
                "the waiting rows' tables outgrew their {} bytes",
                limits.table_bytes
            )));
        }
        let hot_slots = part.hot.slots.len();
        let probing = clock.elapsed();
        let overflow = self.overflow.load(Ordering::Relaxed);
        if overflow && !part.overflowed {
            part.overflowed = true;
            for l in part.lives.iter_mut() {
                self.live_bytes.fetch_sub(l.drop_rows(), Ordering::Relaxed);
            }
            for c in part.copied.iter_mut() {
                *c = Compactor::new(c.schema().clone());
            }
        }
        if count > 0 {
            let data = (!overflow).then(|| batch.clone());
            let bytes = data
                .as_ref()
                .map_or(0, |b| b.get_array_memory_size() as u64);
            part.lives[side].insert(
                id,
                Live {
                    batch: data,
                    kh: kh.values().clone(),
                    h: h.values().clone(),
                    waiting,
                    count,
                    bytes,
                },
            );
            self.live_bytes.fetch_add(bytes, Ordering::Relaxed);
            // Let go of the oldest batches beyond the budget of batches held; those
            // whose rows are still queued (the side ahead's, waiting for the other side
            // to catch up) only beyond a larger one.
            let n = self.parts.len().max(1) as u64;
            let budget = (limits.hold_bytes / 4).clamp(1 << 20, LIVE_BYTES) / n;
            let hard = (limits.hold_bytes / 4 / n).max(budget);
            loop {
                let lives = &mut part.lives[side];
                if lives.held <= 1 {
                    break;
                }
                let over = lives.bytes > budget || lives.held > MAX_LIVE;
                let queued = match (lives.oldest(), part.queue.front()) {
                    (Some(id), Some(f)) => {
                        side_of(f[2]) == side && (f[2] & !SIDE_BIT) >> ROW_BITS <= id
                    }
                    _ => false,
                };
                if !over || (queued && lives.bytes <= hard) {
                    break;
                }
                if let Err(why) = self.let_go(part, side) {
                    return Ok(Some(why));
                }
            }
        }
        self.part_waiting[p].store((part.queue.len() + part.hot.len) as u64, Ordering::Relaxed);
        let waiting_rows = self.cold_waiting.load(Ordering::Relaxed)
            + self
                .part_waiting
                .iter()
                .map(|w| w.load(Ordering::Relaxed))
                .sum::<u64>();
        let spent = clock.elapsed();
        drop(guard);
        if !overflow {
            let copied = self.copied_rows.load(Ordering::Relaxed);
            if copied * limits.row_bytes + self.live_bytes.load(Ordering::Relaxed)
                > limits.hold_bytes
            {
                // Every partition drops its rows when it next pairs a batch.
                self.overflow.store(true, Ordering::Relaxed);
            }
        }
        {
            let mut part = self.parts[p]
                .lock()
                .expect("no task panicked holding a partition");
            part.hot_slots = part.hot_slots.max(hot_slots);
            part.pairing += spent;
            part.probing += probing;
        }
        let read = self.read_total.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if misaligned(waiting_rows, read, self.parts.len() as u64) {
            return Ok(Some(format!(
                "the sides do not come in the same key order ({waiting_rows} of {read} rows read wait for their pair)"
            )));
        }
        Ok(None)
    }
}

/// Marks a side's partition read when its loop ends, however it ends, so that the
/// other side never waits for it.
struct DoneGuard<'a>(&'a Shared, usize, usize);

impl Drop for DoneGuard<'_> {
    fn drop(&mut self) {
        self.0.done[self.1][self.2].store(true, Ordering::Release);
        self.0.abreast[self.2].notify_waiters();
    }
}

/// Stops the pass's threads when the pass returns early or is dropped.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
        for n in &self.0.abreast {
            n.notify_waiters();
        }
    }
}

/// One side of one partition: read its batches, keeping abreast of the other side,
/// and pair them. `None` when the pass gave up.
async fn side_loop(
    shared: &Shared,
    side: usize,
    p: usize,
    plan: Arc<dyn ExecutionPlan>,
    key_col: Option<usize>,
    task_ctx: Arc<TaskContext>,
) -> Result<Option<(Digest, Vec<u64>)>> {
    let _done = DoneGuard(shared, side, p);
    let mut stream = plan.execute(p, task_ctx)?;
    let mut d = Digest::default();
    let mut log: Vec<u64> = Vec::new();
    // Rows read, and rows read when this side last got ahead of the other.
    let (mut read, mut lead_from) = (0u64, None::<u64>);
    loop {
        // Keep abreast of the other side's partition: at most `LAG` rows past the key
        // it last read.
        loop {
            let wake = shared.abreast[p].notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            let ahead = match shared.lead(side, p) {
                Lead::Behind => {
                    lead_from = None;
                    false
                }
                Lead::Ahead => read - *lead_from.get_or_insert(read) > LAG,
                Lead::Unknown => shared.ahead_by_rows(side, p),
            };
            if !ahead {
                break;
            }
            wake.await;
        }
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let Some(batch) = stream.next().await else {
            break;
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                shared.give_up(e.to_string());
                return Err(e);
            }
        };
        let h = batch
            .column(shared.hash_cols[side].1)
            .as_primitive::<UInt64Type>();
        for v in h.values() {
            d.sum = d.sum.wrapping_add(*v);
            d.xor ^= *v;
        }
        d.rows += batch.num_rows() as u64;
        if let Some(why) = shared.apply(p, side, &batch, &mut log)? {
            shared.give_up(why);
            return Ok(None);
        }
        read += batch.num_rows() as u64;
        if let Some(k) = key_col {
            if let Some(pos) = Pos::of(batch.column(k).as_ref()) {
                *shared.at[side][p].lock().expect("no task panicked") = Some(pos);
            }
        }
        shared.read[side][p].fetch_add(batch.num_rows() as u64, Ordering::Release);
        shared.abreast[p].notify_waiters();
    }
    Ok(Some((d, log)))
}

/// Run the pass over two plans of the same number of partitions, each yielding every
/// column of its view, `__h` and `__sd_kh`. Partition `p` of both sides runs on a
/// thread of its own; the two are kept abreast by the value of column `first_key` each
/// last read, or where it does not compare, by the share of `expected` rows each has
/// read.
pub(crate) async fn run(
    plans: [Arc<dyn ExecutionPlan>; 2],
    expected: [Vec<u64>; 2],
    first_key: &str,
    task_ctx: Arc<TaskContext>,
    limits: Limits,
) -> Result<Outcome> {
    let partitions = plans[0].output_partitioning().partition_count();
    if plans[1].output_partitioning().partition_count() != partitions {
        return Ok(Outcome::GaveUp(
            "the sides have different partitions".into(),
        ));
    }
    let schemas = [plans[0].schema(), plans[1].schema()];
    let cols = |s: usize| -> Result<(usize, usize)> {
        Ok((schemas[s].index_of("__sd_kh")?, schemas[s].index_of("__h")?))
    };
    let shared = Arc::new(Shared {
        parts: (0..partitions)
            .map(|p| {
                Mutex::new(Part {
                    index: p,
                    queue: VecDeque::new(),
                    misses: 0,
                    hot: Table::new(),
                    lives: Default::default(),
                    copied: [0, 1].map(|s| Compactor::new(plain_schema(&schemas[s]))),
                    copied_count: [0; 2],
                    overflowed: false,
                    hot_slots: 0,
                    pairing: Default::default(),
                    probing: Default::default(),
                })
            })
            .collect(),
        common: Mutex::new(Common {
            cold: Table::new(),
            dropped: [0, 1].map(|_| (0..partitions).map(|_| Dropped::default()).collect()),
            log: Vec::new(),
            stats: Stats::default(),
        }),
        limits,
        overflow: AtomicBool::new(false),
        live_bytes: AtomicU64::new(0),
        copied_rows: AtomicU64::new(0),
        part_waiting: (0..partitions).map(|_| AtomicU64::new(0)).collect(),
        cold_waiting: AtomicU64::new(0),
        read: [0, 1].map(|_| (0..partitions).map(|_| AtomicU64::new(0)).collect()),
        expected,
        done: [0, 1].map(|_| (0..partitions).map(|_| AtomicBool::new(false)).collect()),
        at: [0, 1].map(|_| (0..partitions).map(|_| Mutex::new(None)).collect()),
        abreast: (0..partitions)
            .map(|_| tokio::sync::Notify::new())
            .collect(),
        read_total: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        why: Mutex::new(None),
        hash_cols: [cols(0)?, cols(1)?],
    });
    let stop = StopGuard(shared.clone());
    let key_cols = [0, 1].map(|s| schemas[s].index_of(first_key).ok());
    let mut threads = Vec::new();
    for p in 0..partitions {
        let (shared, plans, task_ctx) = (shared.clone(), plans.clone(), task_ctx.clone());
        let thread = std::thread::Builder::new()
            .name(format!("snapdiff-pair-{p}"))
            .spawn(move || {
                let rt = crate::engine::runtime::runtime(crate::engine::runtime::Flavor::OneCall)
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                rt.block_on(async {
                    let [l, t] = plans;
                    let (a, b) = futures::join!(
                        side_loop(&shared, 0, p, l, key_cols[0], task_ctx.clone()),
                        side_loop(&shared, 1, p, t, key_cols[1], task_ctx),
                    );
                    Ok::<_, DataFusionError>([a?, b?])
                })
            })
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        threads.push(thread);
    }
    let results = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| exec_err!("a pairing thread panicked"))
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut digests = [Digest::default(), Digest::default()];
    let mut logs = Vec::new();
    let mut gave_up = false;
    for r in results {
        for (side, r) in r?.into_iter().enumerate() {
            match r {
                Some((d, log)) => {
                    digests[side].merge(&d);
                    logs.push(log);
                }
                None => gave_up = true,
            }
        }
    }
    if gave_up {
        let why = shared.why.lock().expect("no task panicked").clone();
        return Ok(Outcome::GaveUp(why.unwrap_or_else(|| "stopped".into())));
    }
    drop(stop);
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| DataFusionError::Internal("the pass's threads have ended".into()))?;
    tokio::task::spawn_blocking(move || finish(shared, digests, logs))
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?
}

/// What waits once both sides are read (every batch let go): the differing buckets, the
/// buckets to read again, and the rows to hold if they fit.
fn finish(shared: Shared, digests: [Digest; 2], mut logs: Vec<Vec<u64>>) -> Result<Outcome> {
    for part in &shared.parts {
        let mut part = part.lock().expect("no task panicked holding a partition");
        for side in 0..2 {
            // (Letting go of a side's batches first moves its queued rows to the hot
            // table.)
            while part.lives[side].held > 0 {
                if let Err(why) = shared.let_go(&mut part, side) {
                    return Ok(Outcome::GaveUp(why));
                }
            }
        }
        debug_assert_eq!(part.hot.len, 0);
        debug_assert!(part.queue.is_empty());
    }
    let limits = &shared.limits;
    let overflow = shared.overflow.load(Ordering::Relaxed);
    let mut common = shared
        .common
        .into_inner()
        .expect("no task panicked holding the rows let go");
    let parts: Vec<Part> = shared
        .parts
        .into_iter()
        .map(|p| {
            p.into_inner()
                .expect("no task panicked holding a partition")
        })
        .collect();
    for part in &parts {
        common.stats.hot_slots = common.stats.hot_slots.max(part.hot_slots);
        common.stats.pairing += part.pairing;
        common.stats.probing += part.probing;
    }
    logs.push(std::mem::take(&mut common.log));
    let words = (1usize << limits.bits).div_ceil(64);
    let mut differing = vec![0u64; words];
    let mut unpaired = [0u64; 2];
    let mut waiting = KeyHashes::default();
    for e in common.cold.entries() {
        unpaired[side_of(e[2])] += 1;
        let b = bucket(e[0], limits.bits);
        differing[b / 64] |= 1 << (b % 64);
        waiting.insert(e[0]);
    }
    let differing_buckets = differing.iter().map(|w| w.count_ones() as u64).sum();
    // Key hashes that both paired and wait: their buckets are read again.
    let mut refetch: Option<Vec<u64>> = None;
    let mut paired_again = 0u64;
    if !waiting.is_empty() {
        for kh in logs.iter().flatten() {
            if waiting.contains(kh) {
                paired_again += 1;
                let b = bucket(*kh, limits.bits);
                refetch.get_or_insert_with(|| vec![0u64; words])[b / 64] |= 1 << (b % 64);
            }
        }
    }
    drop(logs);
    let again = refetch
        .as_ref()
        .map(|r| r.iter().map(|w| w.count_ones() as u64).sum::<u64>())
        .unwrap_or(0);
    let rows = digests[0].rows.max(digests[1].rows);
    let per_bucket = 2 + rows / (1u64 << limits.bits);
    let fits = (unpaired[0] + unpaired[1] + 2 * paired_again + again * per_bucket * 2)
        .saturating_mul(limits.row_bytes)
        <= limits.candidate_bytes;
    let mut held = None;
    if !overflow && fits && !parts.is_empty() {
        // Each partition's rows copied out, without those that paired later.
        let mut sides: [Vec<Vec<RecordBatch>>; 2] = [Vec::new(), Vec::new()];
        let schemas = [0, 1].map(|s| parts[0].copied[s].schema().clone());
        for (p, part) in parts.into_iter().enumerate() {
            for (side, rows) in part.copied.into_iter().enumerate() {
                sides[side].push(common.dropped[side][p].filter(rows.finish()?)?);
            }
        }
        let [l, t] = sides;
        let [ls, ts] = schemas;
        held = Some(Held {
            legacy: Some((ls, l)),
            target_schema: ts,
            target: t,
            legacy_keys: Arc::new(KeyHashes::default()),
            refetch: refetch.map(Arc::new),
        });
    }
    Ok(Outcome::Done(
        Matched {
            legacy: digests[0],
            target: digests[1],
            differing,
            differing_buckets,
            held,
            unpaired,
        },
        common.stats,
    ))
}
