//! The diff's matching pass: the target read once, the legacy side read again only for
//! its differing keys.
//!
//! The narrow pass ([`super::buckets`]) proves buckets of rows equal and then reads both
//! sides a second time for the rows of the buckets that differ. With few differences
//! that second read is a third of the diff's time, for a few thousand rows. This pass
//! halves it. It reads the legacy side's key and row hashes into a table (16 bytes a
//! row), then reads every column of the target and pairs each target row with a legacy
//! row of the same key hash and row hash. A target row left unpaired is known to differ
//! the moment it is read (the legacy side is all in the table), so it is held then; only
//! the legacy rows left unpaired are read again, by their exact key hashes, with the
//! filter in the Parquet scan. The order the rows arrive in does not matter.
//!
//! The findings are those of the narrow pass exactly. A key hash whose rows are the same
//! multiset on both sides pairs off completely, as its bucket would cancel. A key hash
//! with unpaired rows and no pair formed has all its rows held or read again, as a
//! fetch would bring them. A key hash with both (a key duplicated on one side, one copy
//! equal to the other side's row) lost its paired target rows: its buckets are read
//! again from both sides (`Held::refetch`), the held rows of those buckets dropped
//! first, and the rows equal on both sides pruned as after a fetch.
//!
//! The table must fit the budget (the caller checks [`table_bytes`]), and so must the
//! held rows ([`Limits`]): when they do not, the pass returns its differing buckets
//! without rows, and the diff fetches them in chunks as after the narrow pass. A full
//! shard or a probe longer than [`MAX_PROBE`] (a key hash on thousands of rows) makes
//! the pass give up (`None`), and the narrow pass runs instead.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{SchemaRef, UInt64Type};
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::prelude::DataFrame;
use futures::StreamExt;

use super::pass::{bucket, in_bitmap, Compactor, Digest, Held, KeyHashes, Matched};

/// The table is split in this many shards by the top bits of the key hash, each behind
/// its own lock; a task applies a batch's rows shard by shard.
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

/// Table entries per legacy row: a load of 0.8. Memory is what this pass costs most:
/// on this project's machines every page the process touches for the first time costs
/// about as much as decoding it (see [`Slots`]), so the table is kept small; linear
/// probing over 16-byte entries reads four a cache line.
const ENTRIES_PER_ROW: f64 = 1.25;

/// The longest probe the pass makes before it gives up: a key hash on very many rows
/// (a NULL key, a key repeated thousands of times) would make every probe walk them all.
const MAX_PROBE: usize = 4096;

/// A table entry: the key hash, its top bits (the shard's index, the same for every
/// entry of a shard) replaced by the entry's state, and the row hash. Zeros are an
/// empty entry, so that the table is allocated zeroed.
type Entry = [u64; 2];
const STATE_SHIFT: u32 = 64 - SHARD_BITS;
const KEY_BITS: u64 = (1 << STATE_SHIFT) - 1;
const EMPTY: u64 = 0;
/// A legacy row no target row has paired with (yet).
const WAITING: u64 = 1;
const PAIRED: u64 = 2;

/// The first word of an entry for key hash `kh` in state `state`.
#[inline]
fn tagged(kh: u64, state: u64) -> u64 {
    (kh & KEY_BITS) | (state << STATE_SHIFT)
}

#[inline]
fn state(e: &Entry) -> u64 {
    e[0] >> STATE_SHIFT
}

/// The key hash of an entry of shard `shard`.
#[inline]
fn key_hash(shard: usize, e: &Entry) -> u64 {
    ((shard as u64) << STATE_SHIFT) | (e[0] & KEY_BITS)
}

struct Shard {
    slots: Slots,
    used: usize,
    waiting: usize,
}

/// The bytes of the table for `rows` legacy rows.
pub(crate) fn table_bytes(rows: u64) -> u64 {
    slots_per_shard(rows) as u64 * SHARDS as u64 * std::mem::size_of::<Entry>() as u64
}

/// A shard's entries: 1.25 a row of its share, and room for the shards' uneven shares
/// (four standard deviations).
fn slots_per_shard(rows: u64) -> usize {
    let mean = rows as f64 / SHARDS as f64;
    (mean * ENTRIES_PER_ROW + 4.0 * mean.sqrt() + 64.0).ceil() as usize
}

/// How many rows ahead the table's slots are prefetched: each row's probe misses the
/// cache, and its branches keep the CPU from overlapping the misses by itself.
const PREFETCH: usize = 16;

/// Ask for `slots[i]`'s cache line ahead of its use.
#[inline]
fn prefetch(slots: &[Entry], i: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; the address lies within `slots`.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(slots.as_ptr().add(i) as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slots, i);
}

/// The slot after `i` in a shard of `n`: linear probing, wrapping around.
#[inline]
fn step(i: usize, n: usize) -> usize {
    if i + 1 == n {
        0
    } else {
        i + 1
    }
}

/// A key hash's shard and its first slot there.
#[inline]
fn slot(kh: u64, per_shard: usize) -> (usize, usize) {
    let shard = (kh >> (64 - SHARD_BITS)) as usize;
    let i = (((kh << SHARD_BITS) as u128 * per_shard as u128) >> 64) as usize;
    (shard, i)
}

/// One shard's slots: zeroed memory, aligned to 2 MiB so that it can be backed by huge
/// pages.
///
/// Every probe of the table misses the cache at a random place in it; with 4 KiB pages
/// each also misses the TLB (a gigabyte of table spans 300,000 pages), with 2 MiB pages
/// the whole table's translations fit it. The pages are asked for as huge before they
/// are first written, and written here (zeros) rather than on first use: a first read
/// of untouched memory maps the shared zero page, and the write after it copies the
/// page and makes the kernel flush every CPU's TLB (measured at SF10: 15.7 s of system
/// time against 2.4 s, before this).
struct Slots {
    ptr: std::ptr::NonNull<Entry>,
    len: usize,
    layout: std::alloc::Layout,
}

// SAFETY: `Slots` owns its allocation, as a `Vec` would.
unsafe impl Send for Slots {}
// SAFETY: shared access is read-only through `Deref`.
unsafe impl Sync for Slots {}

impl Slots {
    fn zeroed(len: usize) -> Slots {
        const HUGE: usize = 2 << 20;
        let layout = std::alloc::Layout::array::<Entry>(len.max(1))
            .and_then(|l| l.align_to(HUGE))
            .expect("the table's size fits a layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc(layout) } as *mut Entry;
        let Some(ptr) = std::ptr::NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        #[cfg(target_os = "linux")]
        // SAFETY: the range is the allocation's, 2 MiB aligned; MADV_HUGEPAGE only
        // changes how its pages are backed.
        unsafe {
            libc::madvise(
                ptr.as_ptr() as *mut libc::c_void,
                layout.size() / HUGE * HUGE,
                libc::MADV_HUGEPAGE,
            );
        }
        // SAFETY: the allocation holds `len` entries; zeros are a valid `Entry`.
        unsafe { std::ptr::write_bytes(ptr.as_ptr(), 0, len) };
        Slots { ptr, len, layout }
    }
}

impl std::ops::Deref for Slots {
    type Target = [Entry];
    fn deref(&self) -> &[Entry] {
        // SAFETY: `len` initialised entries.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut [Entry] {
        // SAFETY: `len` initialised entries, owned.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `zeroed`.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr() as *mut u8, self.layout) }
    }
}

/// The table's shards, allocated and zeroed on two threads.
fn allocate(per_shard: usize) -> Vec<Mutex<Shard>> {
    let make = || {
        Mutex::new(Shard {
            slots: Slots::zeroed(per_shard),
            used: 0,
            waiting: 0,
        })
    };
    let (mut first, second) = std::thread::scope(|s| {
        let a = s.spawn(|| (0..SHARDS / 2).map(|_| make()).collect::<Vec<_>>());
        let b = (SHARDS / 2..SHARDS).map(|_| make()).collect::<Vec<_>>();
        (a.join().expect("allocating does not panic"), b)
    });
    first.extend(second);
    first
}

/// Limits of one pass.
pub(crate) struct Limits {
    /// Rows of the legacy side (from the count): the table's size.
    pub legacy_rows: u64,
    /// Bytes the held target rows may take while the target streams, at `row_bytes` a
    /// row.
    pub hold_bytes: u64,
    /// Bytes all the rows held for the diff may take: the target's, the legacy rows read
    /// again and the rows of the buckets read again. Beyond it none are held, and the
    /// diff fetches the differing buckets in chunks.
    pub candidate_bytes: u64,
    pub row_bytes: u64,
    /// Bucket bits of the differing bitmap.
    pub bits: u32,
}

/// State the tasks share.
struct Shared {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    limits: Limits,
    /// Buckets of unpaired target rows.
    differing: Vec<AtomicU64>,
    unpaired_target: AtomicU64,
    /// Target rows held, times `row_bytes`.
    held: AtomicU64,
    /// The held target rows outgrew their budget: none are kept.
    overflow: AtomicBool,
    /// A shard filled up or a probe grew too long: the pass gives up.
    full: AtomicBool,
}

impl Shared {
    /// Run `f` over each shard with rows in `ops`, starting at shard `start`: shards
    /// another task holds are passed over and come back at the end, so that two tasks
    /// do not queue for the same locks in the same order. False if `f` is.
    fn each_shard(
        &self,
        ops: &mut [Vec<(u64, u64, u32)>],
        start: usize,
        mut f: impl FnMut(&mut Shard, &[(u64, u64, u32)]) -> bool,
    ) -> bool {
        let mut busy = Vec::new();
        for k in 0..SHARDS {
            let s = (start + k) % SHARDS;
            if ops[s].is_empty() {
                continue;
            }
            match self.shards[s].try_lock() {
                Ok(mut shard) => {
                    if !f(&mut shard, &ops[s]) {
                        return false;
                    }
                    ops[s].clear();
                }
                Err(std::sync::TryLockError::WouldBlock) => busy.push(s),
                Err(std::sync::TryLockError::Poisoned(_)) => {
                    panic!("no task panicked holding a shard")
                }
            }
        }
        for s in busy {
            let mut shard = self.shards[s]
                .lock()
                .expect("no task panicked holding a shard");
            if !f(&mut shard, &ops[s]) {
                return false;
            }
            ops[s].clear();
        }
        true
    }

    /// Enter a batch of legacy rows, shard by shard; `ops` holds (key hash, row hash,
    /// row in the batch). False when a shard is full or a probe too long.
    fn enter(&self, ops: &mut [Vec<(u64, u64, u32)>], start: usize) -> bool {
        self.each_shard(ops, start, |shard, ops| {
            let n = shard.slots.len();
            if shard.used + ops.len() >= n {
                return false;
            }
            for (j, &(kh, h, _)) in ops.iter().enumerate() {
                if let Some(ahead) = ops.get(j + PREFETCH) {
                    prefetch(&shard.slots, slot(ahead.0, self.per_shard).1);
                }
                let (_, mut i) = slot(kh, self.per_shard);
                let mut probes = 0;
                while state(&shard.slots[i]) != EMPTY {
                    probes += 1;
                    if probes > MAX_PROBE {
                        return false;
                    }
                    i = step(i, n);
                }
                shard.slots[i] = [tagged(kh, WAITING), h];
            }
            shard.used += ops.len();
            shard.waiting += ops.len();
            true
        })
    }

    /// Pair a batch of target rows with waiting legacy rows, shard by shard; a row that
    /// finds none is set in `unpaired`, and its bucket in the differing ones. False
    /// when a probe grew too long.
    fn pair(&self, ops: &mut [Vec<(u64, u64, u32)>], start: usize, unpaired: &mut [bool]) -> bool {
        let bits = self.limits.bits;
        self.each_shard(ops, start, |shard, ops| {
            let n = shard.slots.len();
            for (j, &(kh, h, row)) in ops.iter().enumerate() {
                if let Some(ahead) = ops.get(j + PREFETCH) {
                    prefetch(&shard.slots, slot(ahead.0, self.per_shard).1);
                }
                let want = [tagged(kh, WAITING), h];
                let (_, mut i) = slot(kh, self.per_shard);
                let mut probes = 0;
                loop {
                    let e = shard.slots[i];
                    if state(&e) == EMPTY {
                        unpaired[row as usize] = true;
                        let b = bucket(kh, bits);
                        self.differing[b / 64].fetch_or(1 << (b % 64), Ordering::Relaxed);
                        break;
                    }
                    if e == want {
                        shard.slots[i][0] = tagged(kh, PAIRED);
                        shard.waiting -= 1;
                        break;
                    }
                    probes += 1;
                    if probes > MAX_PROBE {
                        return false;
                    }
                    i = step(i, n);
                }
            }
            true
        })
    }

    /// How many pairs formed under key hash `kh`: its entries lie between its first
    /// slot and the next empty one, at most [`MAX_PROBE`] slots on (where [`Self::enter`]
    /// puts them).
    fn paired_under(&self, shard: &Shard, kh: u64) -> u64 {
        let paired = tagged(kh, PAIRED);
        let (_, mut i) = slot(kh, self.per_shard);
        let mut count = 0;
        for _ in 0..=MAX_PROBE {
            let e = shard.slots[i];
            if state(&e) == EMPTY {
                break;
            }
            if e[0] == paired {
                count += 1;
            }
            i = step(i, shard.slots.len());
        }
        count
    }
}

/// The pass's tasks, aborted if the pass returns early (an error), so that none keeps
/// streaming into the table.
struct Tasks<T>(Vec<tokio::task::JoinHandle<T>>);

impl<T> Drop for Tasks<T> {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Run the pass. `legacy` yields the key hash `__sd_kh` and the row hash `__h`;
/// `target` every column of its view, `__h` and `__sd_kh`. `None` when the pass gave
/// up (a shard filled up, the legacy side yielding more rows than counted, or a key
/// hash on thousands of rows): the caller falls back to the narrow pass.
pub(crate) async fn run(
    legacy: DataFrame,
    target: DataFrame,
    limits: Limits,
) -> Result<Option<Matched>> {
    let join = |e: tokio::task::JoinError| DataFusionError::External(Box::new(e));
    let plain = super::pass::plain_schema(target.schema().as_arrow());
    let per_shard = slots_per_shard(limits.legacy_rows);
    let words = (1usize << limits.bits).div_ceil(64);
    let shards = tokio::task::spawn_blocking(move || allocate(per_shard))
        .await
        .map_err(join)?;
    let shared = Arc::new(Shared {
        shards,
        per_shard,
        limits,
        differing: (0..words).map(|_| AtomicU64::new(0)).collect(),
        unpaired_target: AtomicU64::new(0),
        held: AtomicU64::new(0),
        overflow: AtomicBool::new(false),
        full: AtomicBool::new(false),
    });
    let mut sides = Vec::new();
    for (side, df) in [(0usize, legacy), (1, target)] {
        let (kh_col, h_col) = {
            let schema = df.schema().as_arrow();
            (schema.index_of("__sd_kh")?, schema.index_of("__h")?)
        };
        let mut tasks = Tasks(Vec::new());
        for (task, mut stream) in df
            .execute_stream_partitioned()
            .await?
            .into_iter()
            .enumerate()
        {
            let (shared, plain) = (shared.clone(), plain.clone());
            // Tasks start at different shards (see `each_shard`).
            let start = task * 29 % SHARDS;
            tasks.0.push(tokio::spawn(async move {
                let mut d = Digest::default();
                let mut kept = Compactor::new(plain.clone());
                let mut ops: Vec<Vec<(u64, u64, u32)>> = vec![Vec::new(); SHARDS];
                let mut unpaired = Vec::new();
                while let Some(batch) = stream.next().await {
                    if shared.full.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    let batch = batch?;
                    let n = batch.num_rows();
                    let kh = batch.column(kh_col).as_primitive::<UInt64Type>();
                    let h = batch.column(h_col).as_primitive::<UInt64Type>();
                    if kh.null_count() > 0 || h.null_count() > 0 {
                        return exec_err!("a key or row hash is NULL");
                    }
                    for (r, (k, h)) in kh.values().iter().zip(h.values()).enumerate() {
                        ops[(*k >> STATE_SHIFT) as usize].push((*k, *h, r as u32));
                        d.sum = d.sum.wrapping_add(*h);
                        d.xor ^= *h;
                    }
                    d.rows += n as u64;
                    if side == 0 {
                        if !shared.enter(&mut ops, start) {
                            shared.full.store(true, Ordering::Relaxed);
                            return Ok(None);
                        }
                        continue;
                    }
                    unpaired.clear();
                    unpaired.resize(n, false);
                    if !shared.pair(&mut ops, start, &mut unpaired) {
                        shared.full.store(true, Ordering::Relaxed);
                        return Ok(None);
                    }
                    let w = unpaired.iter().filter(|u| **u).count() as u64;
                    if w == 0 {
                        continue;
                    }
                    shared.unpaired_target.fetch_add(w, Ordering::Relaxed);
                    if shared.overflow.load(Ordering::Relaxed) {
                        kept = Compactor::new(plain.clone());
                        continue;
                    }
                    let bytes = w * shared.limits.row_bytes;
                    if shared.held.fetch_add(bytes, Ordering::Relaxed) + bytes
                        > shared.limits.hold_bytes
                    {
                        shared.overflow.store(true, Ordering::Relaxed);
                        kept = Compactor::new(plain.clone());
                        continue;
                    }
                    let mask: BooleanArray = unpaired.iter().map(|u| Some(*u)).collect();
                    kept.push(&arrow::compute::filter_record_batch(&batch, &mask)?)?;
                }
                Ok::<_, DataFusionError>(Some((d, kept)))
            }));
        }
        // The legacy side is all in the table before the target pairs with it.
        let mut digest = Digest::default();
        let mut parts = Vec::new();
        let mut gave_up = false;
        for t in tasks.0.iter_mut() {
            match t.await.map_err(join)?? {
                Some((d, kept)) => {
                    digest.merge(&d);
                    if !shared.overflow.load(Ordering::Relaxed) {
                        parts.push(kept.finish()?);
                    }
                }
                None => gave_up = true,
            }
        }
        if gave_up {
            return Ok(None);
        }
        sides.push((digest, parts));
    }
    let (target, target_rows) = sides.pop().expect("two sides");
    let (legacy, _) = sides.pop().expect("two sides");
    let s = shared.clone();
    tokio::task::spawn_blocking(move || finish(&s, legacy, target, target_rows, plain))
        .await
        .map_err(join)?
        .map(Some)
}

/// What the table says once both sides are in: the differing buckets, and the rows to
/// hold if they fit.
fn finish(
    shared: &Shared,
    legacy: Digest,
    target: Digest,
    target_rows: Vec<Vec<RecordBatch>>,
    plain: SchemaRef,
) -> Result<Matched> {
    let limits = &shared.limits;
    let unpaired_legacy: u64 = shared
        .shards
        .iter()
        .map(|s| s.lock().expect("no task panicked holding a shard").waiting as u64)
        .sum();
    let unpaired = [
        unpaired_legacy,
        shared.unpaired_target.load(Ordering::Relaxed),
    ];
    // Hold the rows only while they fit the candidates' budget (the legacy rows read
    // again with the target's held ones).
    let fits = |rows: u64| rows.saturating_mul(limits.row_bytes) <= limits.candidate_bytes;
    let hold = !shared.overflow.load(Ordering::Relaxed) && fits(unpaired[0] + unpaired[1]);
    let (mut differing, legacy_keys, mut refetch, mut paired_again) =
        unpaired_legacy_rows(shared, hold);
    for (w, t) in differing.iter_mut().zip(&shared.differing) {
        *w |= t.load(Ordering::Relaxed);
    }
    let differing_buckets = differing.iter().map(|w| w.count_ones() as u64).sum();
    let mut held = None;
    if hold {
        // A held target row whose key hash also paired: its bucket is read again.
        for b in target_rows.iter().flatten() {
            let kh = b
                .column(b.schema().index_of("__sd_kh")?)
                .as_primitive::<UInt64Type>();
            for k in kh.values() {
                let (s, _) = slot(*k, shared.per_shard);
                let shard = shared.shards[s]
                    .lock()
                    .expect("no task panicked holding a shard");
                let pairs = shared.paired_under(&shard, *k);
                if pairs > 0 {
                    paired_again += pairs;
                    let i = bucket(*k, limits.bits);
                    refetch.get_or_insert_with(|| vec![0u64; differing.len()])[i / 64] |=
                        1 << (i % 64);
                }
            }
        }
        // The buckets read again bring their keys' paired rows (counted, both sides: a
        // key repeated thousands of times brings them all) and about their share of
        // other rows.
        let again = refetch
            .as_ref()
            .map(|r| r.iter().map(|w| w.count_ones() as u64).sum::<u64>())
            .unwrap_or(0);
        let per_bucket = 2 + limits.legacy_rows / (1u64 << limits.bits);
        if fits(unpaired[0] + unpaired[1] + 2 * paired_again + again * per_bucket * 2) {
            let mut keys = legacy_keys;
            if let Some(r) = &refetch {
                keys.retain(|k| !in_bitmap(r, *k, limits.bits));
            }
            held = Some(Held {
                legacy: None,
                target_schema: plain,
                target: target_rows,
                legacy_keys: Arc::new(keys),
                refetch: refetch.map(Arc::new),
            });
        }
    }
    Ok(Matched {
        legacy,
        target,
        differing,
        differing_buckets,
        held,
        unpaired,
    })
}

/// The unpaired legacy rows: their buckets, and with `keys` their key hashes, the
/// buckets of those whose key hash also paired (to be read again) and how many pairs
/// those key hashes formed (counted once per unpaired row: an upper bound).
fn unpaired_legacy_rows(
    shared: &Shared,
    keys: bool,
) -> (Vec<u64>, KeyHashes, Option<Vec<u64>>, u64) {
    let bits = shared.limits.bits;
    let words = (1usize << bits).div_ceil(64);
    let scan = |first: usize, shards: &[Mutex<Shard>]| {
        let mut differing = vec![0u64; words];
        let mut listed = KeyHashes::default();
        let mut refetch: Option<Vec<u64>> = None;
        let mut pairs = 0u64;
        for (s, shard) in shards.iter().enumerate() {
            let shard = shard.lock().expect("no task panicked holding a shard");
            if shard.waiting == 0 {
                continue;
            }
            for e in shard.slots.iter().filter(|e| state(e) == WAITING) {
                let kh = key_hash(first + s, e);
                let b = bucket(kh, bits);
                differing[b / 64] |= 1 << (b % 64);
                if keys {
                    listed.insert(kh);
                    let p = shared.paired_under(&shard, kh);
                    if p > 0 {
                        pairs += p;
                        refetch.get_or_insert_with(|| vec![0u64; words])[b / 64] |= 1 << (b % 64);
                    }
                }
            }
        }
        (differing, listed, refetch, pairs)
    };
    let half = shared.shards.len() / 2;
    let ((mut differing, mut listed, mut refetch, pairs), (d2, k2, r2, p2)) =
        std::thread::scope(|s| {
            let first = s.spawn(|| scan(0, &shared.shards[..half]));
            let second = scan(half, &shared.shards[half..]);
            (first.join().expect("the scan does not panic"), second)
        });
    for (w, o) in differing.iter_mut().zip(d2) {
        *w |= o;
    }
    listed.extend(k2);
    if let Some(r2) = r2 {
        match &mut refetch {
            Some(r) => r.iter_mut().zip(r2).for_each(|(w, o)| *w |= o),
            None => refetch = Some(r2),
        }
    }
    (differing, listed, refetch, pairs + p2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::SessionContext;

    fn frame(ctx: &SessionContext, name: &str, ids: Vec<Option<i64>>, kh: Vec<u64>, h: Vec<u64>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("__h", DataType::UInt64, false),
            Field::new("__sd_kh", DataType::UInt64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(UInt64Array::from(h)),
                Arc::new(UInt64Array::from(kh)),
            ],
        )
        .unwrap();
        // Two partitions a side, as the scans give.
        let table = datafusion::datasource::MemTable::try_new(
            schema,
            vec![
                vec![batch.slice(0, 3)],
                vec![batch.slice(3, batch.num_rows() - 3)],
            ],
        )
        .unwrap();
        ctx.register_table(name, Arc::new(table)).unwrap();
    }

    /// Key hashes spread over the shards and buckets: the top bits pick both.
    fn kh(k: u64) -> u64 {
        k.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    async fn pass(hold_bytes: u64) -> Matched {
        let ctx = SessionContext::new();
        // Key 1 equal; key 2 changed; key 3 duplicated in legacy (one copy equal to the
        // target's row); key 4 missing; key 5 (a NULL key's hash) equal; key 8
        // duplicated identically on both sides; key 9 duplicated on both sides with one
        // copy changed; key 10 extra.
        frame(
            &ctx,
            "l",
            vec![
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(4),
                None,
                Some(8),
                Some(8),
                Some(9),
                Some(9),
            ],
            [1, 2, 3, 3, 4, 5, 8, 8, 9, 9].map(kh).to_vec(),
            vec![10, 20, 30, 30, 40, 50, 80, 80, 90, 91],
        );
        frame(
            &ctx,
            "t",
            vec![
                Some(3),
                Some(2),
                None,
                Some(8),
                Some(1),
                Some(9),
                Some(8),
                Some(9),
                Some(10),
            ],
            [3, 2, 5, 8, 1, 9, 8, 9, 10].map(kh).to_vec(),
            vec![30, 21, 50, 80, 10, 92, 80, 90, 100],
        );
        let l = ctx.sql("SELECT __sd_kh, __h FROM l").await.unwrap();
        let t = ctx.sql("SELECT * FROM t").await.unwrap();
        let limits = Limits {
            legacy_rows: 10,
            hold_bytes,
            candidate_bytes: 1 << 20,
            row_bytes: 100,
            bits: 12,
        };
        run(l, t, limits)
            .await
            .unwrap()
            .expect("the table has room")
    }

    fn set(bits: &[u64], k: u64) -> bool {
        let b = bucket(kh(k), 12);
        bits[b / 64] >> (b % 64) & 1 == 1
    }

    fn ids(parts: &[Vec<RecordBatch>]) -> Vec<Option<i64>> {
        let mut v: Vec<Option<i64>> = parts
            .iter()
            .flatten()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn unpaired_target_rows_are_held_and_unpaired_legacy_keys_listed() {
        let m = pass(1 << 20).await;
        assert_eq!((m.legacy.rows, m.target.rows), (10, 9));
        assert_eq!(
            m.legacy.sum,
            10 + 20 + 30 + 30 + 40 + 50 + 80 + 80 + 90 + 91
        );
        assert_eq!(m.target.sum, 30 + 21 + 50 + 80 + 10 + 92 + 80 + 90 + 100);
        // Unpaired: legacy 2, the second 3, 4 and 9's 91; target 2, 9's 92 and 10.
        assert_eq!(m.unpaired, [4, 3]);
        for k in [2, 3, 4, 9, 10] {
            assert!(set(&m.differing, k), "key {k}'s bucket differs");
        }
        for k in [1, 5, 8] {
            assert!(!set(&m.differing, k), "key {k}'s bucket is equal");
        }
        assert_eq!(m.differing_buckets, 5);
        let held = m.held.expect("the target's rows fit");
        assert_eq!(ids(&held.target), vec![Some(2), Some(9), Some(10)]);
        assert!(held.target_schema.index_of("__sd_kh").is_ok());
        // Keys 3 and 9 paired a row and kept one: their buckets are read again from
        // both sides, so their legacy key hashes are not listed.
        let refetch = held.refetch.expect("buckets to read again");
        let again: Vec<u64> = (1..=10).filter(|k| set(&refetch, *k)).collect();
        assert_eq!(again, vec![3, 9]);
        let mut listed: Vec<u64> = (1..=10)
            .filter(|k| held.legacy_keys.contains(&kh(*k)))
            .collect();
        listed.sort();
        assert_eq!(listed, vec![2, 4]);
        assert_eq!(held.legacy_keys.len(), 2);
    }

    #[tokio::test]
    async fn target_rows_beyond_their_budget_are_not_held() {
        // Two rows of 100 bytes may be held, and three are unpaired: none is kept, and
        // the differing buckets are still known.
        let m = pass(200).await;
        assert!(m.held.is_none());
        assert_eq!(m.unpaired, [4, 3]);
        assert_eq!(m.differing_buckets, 5);
    }

    #[tokio::test]
    async fn a_key_hash_on_thousands_of_rows_makes_the_pass_give_up() {
        // 5,000 legacy rows under one key hash (a NULL key, say): entering them would
        // walk ever longer probes, so the pass gives up for the narrow pass.
        let ctx = SessionContext::new();
        let n = 5_000;
        frame(
            &ctx,
            "l",
            vec![None; n],
            vec![kh(5); n],
            (0..n as u64).collect(),
        );
        frame(
            &ctx,
            "t",
            vec![Some(1); 4],
            vec![kh(1); 4],
            vec![1, 2, 3, 4],
        );
        let l = ctx.sql("SELECT __sd_kh, __h FROM l").await.unwrap();
        let t = ctx.sql("SELECT * FROM t").await.unwrap();
        let limits = Limits {
            legacy_rows: n as u64,
            hold_bytes: 1 << 20,
            candidate_bytes: 1 << 20,
            row_bytes: 100,
            bits: 12,
        };
        assert!(run(l, t, limits).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn rows_read_again_for_a_repeated_key_count_against_the_budget() {
        // A key on 3,000 identical legacy rows and 2,999 target ones: one legacy row is
        // unpaired, and its bucket must be read again from both sides, bringing the
        // 2,999 pairs along. They do not fit 1,000 rows of budget: nothing is held.
        let ctx = SessionContext::new();
        frame(
            &ctx,
            "l",
            vec![Some(7); 3000],
            vec![kh(7); 3000],
            vec![70; 3000],
        );
        frame(
            &ctx,
            "t",
            vec![Some(7); 2999],
            vec![kh(7); 2999],
            vec![70; 2999],
        );
        let l = ctx.sql("SELECT __sd_kh, __h FROM l").await.unwrap();
        let t = ctx.sql("SELECT * FROM t").await.unwrap();
        let limits = Limits {
            // A table large enough for one shard to take every row.
            legacy_rows: 200_000,
            hold_bytes: 1 << 20,
            candidate_bytes: 100_000,
            row_bytes: 100,
            bits: 12,
        };
        let m = run(l, t, limits)
            .await
            .unwrap()
            .expect("the table has room");
        assert_eq!(m.unpaired, [1, 0]);
        assert_eq!(m.differing_buckets, 1);
        assert!(m.held.is_none());
    }
}
