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

use super::buckets::{bucket, Digest, KeyHashes};
use super::entity::{plain_schema, Compactor};
use super::matching::{Held, Matched};

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

// ---- the tables of waiting rows -------------------------------------------------------

/// An entry: key hash, row hash, where the row is ([`live_loc`], [`copied_loc`]).
/// `EMPTY` in the third word marks a free slot.
type Entry = [u64; 3];
const EMPTY: u64 = u64::MAX;
const SIDE_BIT: u64 = 1 << 63;
const COPIED_BIT: u64 = 1 << 62;
const ROW_BITS: u32 = 24;

/// Where a waiting row is: row `row` of held batch `id` of `side`.
fn live_loc(side: usize, id: u64, row: usize) -> u64 {
    (side as u64) << 63 | id << ROW_BITS | row as u64
}

/// Where a waiting row is once copied out: row `index` of `side`'s rows copied by
/// partition `part`.
fn copied_loc(side: usize, part: usize, index: u64) -> u64 {
    (side as u64) << 63 | COPIED_BIT | (part as u64) << COPIED_INDEX_BITS | index
}

/// Bits of a copied row's index in its location (the partition above them).
const COPIED_INDEX_BITS: u32 = 40;

fn side_of(loc: u64) -> usize {
    (loc >> 63) as usize
}

/// A table's smallest size: 2^12 entries.
const MIN_BITS: u32 = 12;

/// Open addressing with linear probing; removal shifts the entries after it back, so
/// probes never walk over deleted slots.
struct Table {
    slots: Vec<Entry>,
    shift: u32,
    len: usize,
}

/// A probe that walked more than [`MAX_PROBE`] entries.
struct TooLong;

enum Probe {
    /// Paired with the waiting row at this location (now removed).
    Paired(u64),
    Waiting,
}

impl Table {
    fn new() -> Table {
        Table::with_capacity_bits(MIN_BITS)
    }

    fn with_capacity_bits(bits: u32) -> Table {
        Table {
            slots: vec![[0, 0, EMPTY]; 1 << bits],
            shift: 64 - bits,
            len: 0,
        }
    }

    fn bytes(&self) -> u64 {
        (self.slots.len() * std::mem::size_of::<Entry>()) as u64
    }

    #[inline]
    fn home(&self, kh: u64) -> usize {
        (kh.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        (i + 1) & (self.slots.len() - 1)
    }

    /// Room for `more` entries at a load of at most a half, within `max_bytes` (more
    /// bytes than `others` take); a table left mostly empty shrinks, so that its probes
    /// stay in the CPU's caches.
    fn reserve(&mut self, more: usize, max_bytes: u64) -> bool {
        let now = 64 - self.shift;
        let mut bits = now;
        while (self.len + more) * 2 > 1 << bits {
            bits += 1;
        }
        if bits == now && (self.len + more) * 16 < 1 << now {
            while bits > MIN_BITS && (self.len + more) * 4 < 1 << bits {
                bits -= 1;
            }
        }
        if bits == now {
            return true;
        }
        if bits > now && (1u64 << bits) * std::mem::size_of::<Entry>() as u64 > max_bytes {
            return false;
        }
        let old = std::mem::replace(self, Table::with_capacity_bits(bits));
        for e in old.slots.into_iter().filter(|e| e[2] != EMPTY) {
            let mut i = self.home(e[0]);
            while self.slots[i][2] != EMPTY {
                i = self.next(i);
            }
            self.slots[i] = e;
            self.len += 1;
        }
        true
    }

    /// Pair the row (`kh`, `h`) of the side in `loc` with a waiting row of the other
    /// side, or enter it as waiting at `loc`. The table must have room ([`Self::reserve`]).
    #[inline]
    fn pair_or_wait(&mut self, kh: u64, h: u64, loc: u64) -> std::result::Result<Probe, TooLong> {
        let side = side_of(loc);
        let mut i = self.home(kh);
        for _ in 0..MAX_PROBE {
            let e = self.slots[i];
            if e[2] == EMPTY {
                self.slots[i] = [kh, h, loc];
                self.len += 1;
                return Ok(Probe::Waiting);
            }
            if e[0] == kh && e[1] == h && side_of(e[2]) != side {
                self.remove(i);
                return Ok(Probe::Paired(e[2]));
            }
            i = self.next(i);
        }
        Err(TooLong)
    }

    /// Remove the entry of the row (`kh`, `h`) at `loc`.
    fn take(&mut self, kh: u64, h: u64, loc: u64) {
        let mut i = self.home(kh);
        loop {
            let e = self.slots[i];
            assert!(e[2] != EMPTY, "a held row waits in the table");
            if e[0] == kh && e[1] == h && e[2] == loc {
                self.remove(i);
                return;
            }
            i = self.next(i);
        }
    }

    /// Empty slot `i`, shifting back the entries after it that would no longer be found.
    fn remove(&mut self, mut i: usize) {
        let mut j = i;
        loop {
            j = self.next(j);
            if self.slots[j][2] == EMPTY {
                break;
            }
            let k = self.home(self.slots[j][0]);
            // The entry at j stays when its home lies cyclically within (i, j].
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.slots[i] = self.slots[j];
                i = j;
            }
        }
        self.slots[i][2] = EMPTY;
        self.len -= 1;
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().filter(|e| e[2] != EMPTY)
    }
}

// ---- the held rows --------------------------------------------------------------------

/// A batch with waiting rows, as the scan gave it (its rows only while they fit the
/// budget), with its key and row hashes.
struct Live {
    batch: Option<RecordBatch>,
    kh: ScalarBuffer<u64>,
    h: ScalarBuffer<u64>,
    waiting: Vec<bool>,
    count: usize,
    bytes: u64,
}

/// One side's batches held by one partition, by id: ids count up, batch `first` at the
/// front (`None` where a batch's rows have all paired).
#[derive(Default)]
struct Lives {
    first: u64,
    next: u64,
    batches: VecDeque<Option<Live>>,
    held: usize,
    bytes: u64,
}

impl Lives {
    fn take_id(&mut self) -> u64 {
        self.next += 1;
        self.next - 1
    }

    fn insert(&mut self, id: u64, live: Live) {
        if self.batches.is_empty() {
            self.first = id;
        }
        while self.first + (self.batches.len() as u64) < id {
            self.batches.push_back(None);
        }
        self.bytes += live.bytes;
        self.held += 1;
        self.batches.push_back(Some(live));
    }

    fn trim(&mut self) {
        while let Some(None) = self.batches.front() {
            self.batches.pop_front();
            self.first += 1;
        }
    }

    /// The row at `loc` (a live location of this side) paired: it no longer waits.
    fn release(&mut self, loc: u64) -> u64 {
        let id = (loc & !SIDE_BIT) >> ROW_BITS;
        let row = (loc & ((1 << ROW_BITS) - 1)) as usize;
        let slot = &mut self.batches[(id - self.first) as usize];
        let l = slot.as_mut().expect("a waiting row's batch is held");
        l.waiting[row] = false;
        l.count -= 1;
        if l.count > 0 {
            return 0;
        }
        let freed = l.bytes;
        *slot = None;
        self.held -= 1;
        self.bytes -= freed;
        self.trim();
        freed
    }

    /// The id of the oldest batch held.
    fn oldest(&mut self) -> Option<u64> {
        self.trim();
        (!self.batches.is_empty()).then_some(self.first)
    }

    fn pop_oldest(&mut self) -> Option<(u64, Live)> {
        self.trim();
        let l = self.batches.pop_front()??;
        let id = self.first;
        self.first += 1;
        self.held -= 1;
        self.bytes -= l.bytes;
        Some((id, l))
    }

    /// Forget the rows of the batches held (they outgrew their budget); returns the
    /// bytes freed.
    fn drop_rows(&mut self) -> u64 {
        for l in self.batches.iter_mut().flatten() {
            l.batch = None;
            l.bytes = 0;
        }
        std::mem::take(&mut self.bytes)
    }
}

/// Which rows a partition copied out of one side's batches paired later.
#[derive(Default)]
struct Dropped {
    bits: Vec<u64>,
    count: u64,
}

impl Dropped {
    /// The copied row `index` paired: it no longer waits.
    fn set(&mut self, index: u64) {
        let w = (index / 64) as usize;
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
        }
        self.bits[w] |= 1 << (index % 64);
        self.count += 1;
    }

    /// `batches` (the rows copied, in order) without the rows that paired.
    fn filter(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        if self.count == 0 {
            return Ok(batches);
        }
        let mut offset = 0u64;
        let mut out = Vec::with_capacity(batches.len());
        for b in batches {
            let keep: BooleanArray = (0..b.num_rows() as u64)
                .map(|r| {
                    let i = offset + r;
                    let w = (i / 64) as usize;
                    Some(self.bits.get(w).is_none_or(|d| d >> (i % 64) & 1 == 0))
                })
                .collect();
            offset += b.num_rows() as u64;
            out.push(arrow::compute::filter_record_batch(&b, &keep)?);
        }
        Ok(out)
    }
}

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
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use datafusion::datasource::memory::MemorySourceConfig;

    /// Key hashes spread over the buckets: the top bits pick them.
    fn kh(k: i64) -> u64 {
        (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("__h", DataType::UInt64, false),
            Field::new("__sd_kh", DataType::UInt64, false),
        ]))
    }

    /// A side of (key, row hash) rows, in batches of `batch` rows, cut into partitions
    /// before the keys in `cuts`.
    fn side(
        rows: &[(i64, u64)],
        batch: usize,
        cuts: &[usize],
    ) -> (Arc<dyn ExecutionPlan>, Vec<u64>) {
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(rows.len());
        let mut parts = Vec::new();
        let mut expected = Vec::new();
        for w in bounds.windows(2) {
            let part: Vec<RecordBatch> = rows[w[0]..w[1]]
                .chunks(batch)
                .map(|c| {
                    RecordBatch::try_new(
                        schema(),
                        vec![
                            Arc::new(Int64Array::from_iter_values(c.iter().map(|r| r.0))),
                            Arc::new(UInt64Array::from_iter_values(c.iter().map(|r| r.1))),
                            Arc::new(UInt64Array::from_iter_values(c.iter().map(|r| kh(r.0)))),
                        ],
                    )
                    .unwrap()
                })
                .collect();
            expected.push((w[1] - w[0]) as u64);
            parts.push(part);
        }
        let plan: Arc<dyn ExecutionPlan> =
            MemorySourceConfig::try_new_exec(&parts, schema(), None).unwrap();
        (plan, expected)
    }

    fn limits(hold_bytes: u64) -> Limits {
        Limits {
            table_bytes: 1 << 30,
            hold_bytes,
            candidate_bytes: 1 << 30,
            row_bytes: 100,
            bits: 12,
        }
    }

    async fn pass(
        legacy: (Arc<dyn ExecutionPlan>, Vec<u64>),
        target: (Arc<dyn ExecutionPlan>, Vec<u64>),
        limits: Limits,
    ) -> Outcome {
        run(
            [legacy.0, target.0],
            [legacy.1, target.1],
            "id",
            Arc::new(TaskContext::default()),
            limits,
        )
        .await
        .unwrap()
    }

    fn done(o: Outcome) -> (Matched, Stats) {
        match o {
            Outcome::Done(m, s) => (m, s),
            Outcome::GaveUp(why) => panic!("the pass gave up: {why}"),
        }
    }

    /// The ids of held rows, sorted.
    fn ids(parts: &[Vec<RecordBatch>]) -> Vec<i64> {
        let mut v: Vec<i64> = parts
            .iter()
            .flatten()
            .flat_map(|b| {
                let i = b.schema().index_of("id").unwrap();
                b.column(i)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        v.sort();
        v
    }

    fn buckets_of(keys: &[i64]) -> Vec<u64> {
        let mut bits = vec![0u64; (1usize << 12) / 64];
        for k in keys {
            let b = bucket(kh(*k), 12);
            bits[b / 64] |= 1 << (b % 64);
        }
        bits
    }

    fn rows(keys: impl Iterator<Item = i64>) -> Vec<(i64, u64)> {
        keys.map(|k| (k, k as u64 * 7 + 1)).collect()
    }

    #[tokio::test]
    async fn rows_in_the_same_order_pair_and_the_differing_ones_are_held() {
        let legacy = rows(0..10_000);
        // Key 5000 missing, key 7000 changed, key 20000 extra.
        let mut target: Vec<(i64, u64)> = legacy.iter().copied().filter(|r| r.0 != 5000).collect();
        target.iter_mut().find(|r| r.0 == 7000).unwrap().1 = 1;
        target.push((20_000, 3));
        let (m, stats) = done(
            pass(
                side(&legacy, 1000, &[4000]),
                side(&target, 700, &[4000]),
                limits(1 << 30),
            )
            .await,
        );
        assert_eq!(m.unpaired, [2, 2]);
        assert_eq!(m.differing, buckets_of(&[5000, 7000, 20_000]));
        assert_eq!(m.differing_buckets, 3);
        assert_eq!((m.legacy.rows, m.target.rows), (10_000, 10_000));
        let held = m.held.expect("two rows a side fit");
        assert_eq!(ids(&held.legacy.unwrap().1), vec![5000, 7000]);
        assert_eq!(ids(&held.target), vec![7000, 20_000]);
        assert!(held.refetch.is_none());
        assert_eq!(stats.copied_paired, 0);
    }

    #[tokio::test]
    async fn rows_in_another_order_pair_when_their_batches_are_let_go() {
        // The target in the opposite order, in batches of 10 rows: more batches than a
        // partition holds, so rows pair in the cold table.
        let legacy = rows(0..10_000);
        let mut target = legacy.clone();
        target.reverse();
        let (m, stats) = done(
            pass(
                side(&legacy, 10, &[]),
                side(&target, 10, &[]),
                limits(1 << 30),
            )
            .await,
        );
        assert_eq!(m.unpaired, [0, 0]);
        assert_eq!(m.differing_buckets, 0);
        let held = m.held.unwrap();
        assert!(ids(&held.legacy.unwrap().1).is_empty());
        assert!(ids(&held.target).is_empty());
        assert!(stats.copied_paired > 0, "{stats:?}");
        // Every row copied out paired later.
        assert_eq!(stats.copied, stats.copied_paired);
    }

    #[tokio::test]
    async fn rows_pair_across_partitions_cut_at_other_keys() {
        let legacy = rows(0..10_000);
        let mut target = legacy.clone();
        target[9_999].1 = 0;
        let (m, _) = done(
            pass(
                side(&legacy, 100, &[5000]),
                side(&target, 100, &[4000]),
                limits(1 << 30),
            )
            .await,
        );
        assert_eq!(m.unpaired, [1, 1]);
        assert_eq!(m.differing, buckets_of(&[9_999]));
        let held = m.held.unwrap();
        assert_eq!(ids(&held.legacy.unwrap().1), vec![9_999]);
        assert_eq!(ids(&held.target), vec![9_999]);
    }

    #[tokio::test]
    async fn many_differing_rows_in_a_small_budget() {
        // Every tenth row missing, every even row changed, 100 rows extra.
        let legacy = rows(0..200_000);
        let mut target: Vec<(i64, u64)> = legacy
            .iter()
            .filter(|r| r.0 % 10 != 3)
            .map(|&(k, h)| (k, if k % 2 == 0 { h + 1 } else { h }))
            .collect();
        target.extend(rows(200_000..200_100));
        for hold in [1 << 30, 8 << 20] {
            let (m, _) = done(
                pass(
                    side(&legacy, 8192, &[100_000]),
                    side(&target, 8192, &[90_000]),
                    limits(hold),
                )
                .await,
            );
            assert_eq!(m.unpaired, [120_000, 100_100]);
        }
    }

    #[tokio::test]
    async fn a_key_that_paired_and_waits_is_read_again() {
        // Key 3 twice in legacy, once in the target: one pair, one row waiting.
        let legacy = vec![(1, 10), (2, 20), (3, 30), (3, 30), (4, 40)];
        let target = vec![(1, 10), (2, 20), (3, 30), (4, 40)];
        let (m, _) = done(
            pass(
                side(&legacy, 2, &[]),
                side(&target, 2, &[]),
                limits(1 << 30),
            )
            .await,
        );
        assert_eq!(m.unpaired, [1, 0]);
        assert_eq!(m.differing, buckets_of(&[3]));
        let held = m.held.unwrap();
        assert_eq!(held.refetch.as_deref(), Some(&buckets_of(&[3])));
        assert_eq!(ids(&held.legacy.unwrap().1), vec![3]);
    }

    #[tokio::test]
    async fn held_rows_beyond_their_budget_are_dropped() {
        let legacy = rows(0..1000);
        let target = rows(500..1500);
        let (m, _) = done(pass(side(&legacy, 100, &[]), side(&target, 100, &[]), limits(0)).await);
        assert_eq!(m.unpaired, [500, 500]);
        let keys: Vec<i64> = (0..500).chain(1000..1500).collect();
        assert_eq!(m.differing, buckets_of(&keys));
        assert!(m.held.is_none());
    }

    #[tokio::test]
    async fn a_key_hash_on_thousands_of_rows_gives_up() {
        let legacy: Vec<(i64, u64)> = (0..5000).map(|i| (1, i)).collect();
        let target: Vec<(i64, u64)> = (0..5000).map(|i| (1, 100_000 + i)).collect();
        match pass(
            side(&legacy, 100, &[]),
            side(&target, 100, &[]),
            limits(1 << 30),
        )
        .await
        {
            Outcome::GaveUp(why) => {
                assert_eq!(why, "a key hash is on more than 4096 waiting rows")
            }
            Outcome::Done(..) => panic!("the pass should give up"),
        }
    }

    #[test]
    fn sides_out_of_order_are_told_from_sides_in_order() {
        // 60 million rows read over 2 partitions: the differing rows and the lag wait.
        assert!(!misaligned(20_000 + 2 * LAG, 60_000_000, 2));
        assert!(misaligned(20_000_000, 60_000_000, 2));
        assert!(misaligned(2_000_000, 1_000_000, 2));
    }

    #[test]
    fn the_table_finds_every_entry_after_removals() {
        let mut t = Table::new();
        let n = 1800u64;
        assert!(t.reserve(20_000, u64::MAX));
        assert_eq!(t.slots.len(), 1 << 16);
        // Key hashes that share homes, so that removals shift entries back.
        let key = |i: u64| kh((i % 600) as i64);
        for i in 0..n {
            assert!(matches!(
                t.pair_or_wait(key(i), i, live_loc(0, 0, i as usize)),
                Ok(Probe::Waiting)
            ));
        }
        for i in (0..n).step_by(3) {
            t.take(key(i), i, live_loc(0, 0, i as usize));
        }
        assert_eq!(t.len, 1200);
        // Every other entry is still found, and pairs with the other side's equal row.
        for i in (0..n).filter(|i| i % 3 != 0) {
            match t.pair_or_wait(key(i), i, live_loc(1, 0, 0)) {
                Ok(Probe::Paired(loc)) => assert_eq!(loc, live_loc(0, 0, i as usize)),
                _ => panic!("entry {i} was lost"),
            }
        }
        assert_eq!(t.len, 0);
        assert_eq!(t.entries().count(), 0);
        // An empty table shrinks back to its smallest size.
        assert!(t.reserve(1, u64::MAX));
        assert_eq!(t.slots.len(), 1 << MIN_BITS);
        // Growing past the bytes allowed fails.
        assert!(!t.reserve(1 << 20, 1 << 20));
    }
}
