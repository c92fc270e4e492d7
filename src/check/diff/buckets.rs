//! The diff's narrow first pass: key-bucket digests.
//!
//! Joining two large tables row by row is what makes a diff slow and memory-hungry. Most
//! rows are equal, so the diff first proves them equal without a join: every row of both
//! sides goes to a bucket chosen by the hash of its key, and each bucket keeps the
//! wrapping sum of its rows' hashes, legacy rows added and target rows taken away. A bucket whose cell ends at zero holds the same rows on both sides; only the
//! rows of the other buckets (their keys hash there, on both sides) are fetched whole and
//! diffed by key. The pass reads each side once, streams, and needs memory for the
//! cells alone (8 bytes each), whatever the number of rows; the same pass yields each
//! side's digest (rows, wrapping sum, xor), so the hash check costs no extra scan.
//!
//! A key always lands in the same bucket, so the rows fetched for a bucket hold every
//! row with those keys on both sides: key counts, duplicates, missing, extra and changed
//! rows computed over them are exact. A key duplicated identically on both sides lies in
//! a bucket that is equal, and is not a difference.

use std::any::Any;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, UInt64Type};
use arrow::error::ArrowError;
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::DataFrame;
use futures::StreamExt;

use super::pass::{bucket, in_bitmap, BucketPass, Digest, KeyHashHasher, KeyHashes};
use crate::normalize::row_hash::hash_rows;

/// Bytes one bucket takes.
pub(crate) const CELL_BYTES: u64 = 8;

/// The buckets are split in this many shards, each behind its own lock: a task sorts a
/// batch's rows by shard and applies each shard's share in one go. Plain (not atomic)
/// additions let the CPU overlap the cache misses of many updates; an atomic one waits
/// for each.
const SHARD_BITS: u32 = 6;

/// How many bucket bits to use for `rows` rows (the larger side) within `budget` bytes:
/// about two buckets a row, at least 2^10 buckets.
///
/// A differing bucket brings its equal rows into the fetch along with the differing
/// ones, which are then decoded, held and pruned for nothing. At two rows a bucket, a
/// diff of 1% of TPC-H SF10 fetched 8.5 million candidates for 2.4 million differing
/// rows; at two buckets a row, 4.0 million, and ran 2-4 s faster in 28 s at a third less
/// memory (the cells grow from 256 MiB to 1 GiB, but fewer candidates are held). The
/// pass itself took the same time: its updates miss the cache at either size.
pub(crate) fn choose_bits(rows: u64, budget: u64) -> u32 {
    let want = rows
        .max(1)
        .saturating_mul(2)
        .next_power_of_two()
        .trailing_zeros()
        .max(10);
    let afford = (budget / CELL_BYTES).max(1024);
    let cap = 63 - afford.leading_zeros();
    want.min(cap).clamp(10, 40)
}

/// Run the pass. `legacy` and `target` each yield two UInt64 columns: the key hash
/// and the row hash. A bucket holds the wrapping sum of its legacy rows' hashes minus
/// its target rows' hashes.
pub(crate) async fn run(legacy: DataFrame, target: DataFrame, bits: u32) -> Result<BucketPass> {
    let shard_bits = SHARD_BITS.min(bits);
    let shards = 1usize << shard_bits;
    let per_shard = 1usize << (bits - shard_bits);
    let cells: Arc<Vec<Mutex<Vec<u64>>>> = Arc::new(
        (0..shards)
            .map(|_| Mutex::new(vec![0u64; per_shard]))
            .collect(),
    );
    let mut tasks = Vec::new();
    for (side, df) in [(0usize, legacy), (1, target)] {
        for mut stream in df.execute_stream_partitioned().await? {
            let cells = cells.clone();
            tasks.push(tokio::spawn(async move {
                let mut d = Digest::default();
                // Each shard's pending (bucket within the shard, signed hash) pairs.
                let mut pending: Vec<Vec<(u32, u64)>> = vec![Vec::new(); shards];
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    let kh = batch.column(0).as_primitive::<UInt64Type>();
                    let h = batch.column(1).as_primitive::<UInt64Type>();
                    if kh.null_count() > 0 || h.null_count() > 0 {
                        return exec_err!("a key or row hash is NULL");
                    }
                    for (k, h) in kh.values().iter().zip(h.values()) {
                        let b = bucket(*k, bits);
                        let signed = if side == 0 { *h } else { h.wrapping_neg() };
                        pending[b >> (bits - shard_bits)]
                            .push(((b & (per_shard - 1)) as u32, signed));
                        d.sum = d.sum.wrapping_add(*h);
                        d.xor ^= *h;
                    }
                    d.rows += batch.num_rows() as u64;
                    for (shard, p) in pending.iter_mut().enumerate() {
                        if p.len() >= 4096 {
                            apply(&cells[shard], p);
                        }
                    }
                }
                for (shard, p) in pending.iter_mut().enumerate() {
                    apply(&cells[shard], p);
                }
                Ok::<_, DataFusionError>((side, d))
            }));
        }
    }
    let (mut legacy, mut target) = (Digest::default(), Digest::default());
    for t in tasks {
        let (side, d) = t
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))??;
        if side == 0 {
            legacy.merge(&d);
        } else {
            target.merge(&d);
        }
    }
    let n = 1usize << bits;
    let mut differing = vec![0u64; n.div_ceil(64)];
    let mut count = 0;
    for (shard, cells) in cells.iter().enumerate() {
        let cells = cells.lock().expect("no task panicked holding a shard");
        for (j, c) in cells.iter().enumerate() {
            if *c != 0 {
                let i = shard * per_shard + j;
                differing[i / 64] |= 1 << (i % 64);
                count += 1;
            }
        }
    }
    Ok(BucketPass {
        bits,
        legacy,
        target,
        differing: Arc::new(differing),
        differing_buckets: count,
        held: None,
    })
}

/// Add a shard's pending hashes to its cells, and clear them.
fn apply(cells: &Mutex<Vec<u64>>, pending: &mut Vec<(u32, u64)>) {
    if pending.is_empty() {
        return;
    }
    let mut cells = cells.lock().expect("no task panicked holding a shard");
    for (j, h) in pending.iter() {
        let c = &mut cells[*j as usize];
        *c = c.wrapping_add(*h);
    }
    pending.clear();
}

/// `<name>(key columns...)`: whether a row's key lies in a differing bucket of one chunk
/// (bucket % chunks = chunk), or its key hash is one of a set. The bitmap is the pass's;
/// the function is registered per entity under its own name and filters the fetch of
/// candidate rows.
#[derive(Debug, Clone)]
pub(crate) struct InBuckets {
    name: String,
    signature: Signature,
    bits: u32,
    bitmap: Arc<Vec<u64>>,
    chunks: u64,
    chunk: u64,
    keys: Option<Arc<KeyHashes>>,
}

impl InBuckets {
    pub fn new(name: &str, pass: &BucketPass, chunks: u64, chunk: u64) -> Self {
        Self::over(name, pass.bits, pass.differing.clone(), chunks, chunk)
    }

    /// The test over any bitmap of `bits`-bit buckets.
    pub fn over(name: &str, bits: u32, bitmap: Arc<Vec<u64>>, chunks: u64, chunk: u64) -> Self {
        InBuckets {
            name: name.to_string(),
            signature: Signature::variadic_any(Volatility::Immutable),
            bits,
            bitmap,
            chunks,
            chunk,
            keys: None,
        }
    }

    /// Select the rows whose key hash is in `keys` too.
    pub fn or_keys(mut self, keys: Arc<KeyHashes>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Whether the test selects no row at all.
    pub fn selects_nothing(&self) -> bool {
        self.keys.as_ref().is_none_or(|k| k.is_empty()) && self.bitmap.iter().all(|w| *w == 0)
    }
}

impl PartialEq for InBuckets {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
            && Arc::ptr_eq(&self.bitmap, &o.bitmap)
            && (self.bits, self.chunks, self.chunk) == (o.bits, o.chunks, o.chunk)
            && match (&self.keys, &o.keys) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}
impl Eq for InBuckets {}
impl Hash for InBuckets {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Never the bitmap's or the set's contents: plans hash their functions.
        (
            &self.name,
            Arc::as_ptr(&self.bitmap) as usize,
            self.keys.as_ref().map(|k| Arc::as_ptr(k) as usize),
            self.bits,
            self.chunks,
            self.chunk,
        )
            .hash(state)
    }
}

impl ScalarUDFImpl for InBuckets {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let columns: Vec<ArrayRef> = ColumnarValue::values_to_arrays(&args.args)?;
        let n = columns.first().map(|c| c.len()).unwrap_or(args.number_rows);
        let kh = hash_rows(&columns, n)?;
        let out: BooleanArray = kh
            .values()
            .iter()
            .map(|k| {
                let b = bucket(*k, self.bits);
                let set = in_bitmap(&self.bitmap, *k, self.bits);
                let listed = self.keys.as_ref().is_some_and(|s| s.contains(k));
                Some(listed || (set && b as u64 % self.chunks == self.chunk))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Drop the candidate rows that are equal on both sides, and the `kh` column.
///
/// A differing bucket holds a few rows besides those that differ: the rows of a key
/// hash `kh` whose row hashes `h` (which cover the key) are the same multiset on both
/// sides are the same rows on both sides. One such row a side is neither missing,
/// extra nor changed; several (a key duplicated identically on both sides) or a NULL
/// key held alike by both sides do not make the sides differ, and are not reported, as
/// in an equal bucket. They are removed before the diff joins. `sides` holds each
/// side's partitions of batches; returns the rows removed.
pub(crate) fn prune_equal(
    sides: &mut [Vec<Vec<RecordBatch>>; 2],
    kh: &str,
    h: &str,
) -> std::result::Result<u64, ArrowError> {
    // Per key hash and side: the rows, and two order-free sums of their row hashes (the
    // multiset's fingerprint, as the digests are).
    #[derive(Clone, Copy, Default, PartialEq)]
    struct Seen {
        rows: u32,
        sum: u64,
        mixed: u64,
    }
    // A batch's key hash and row hash columns.
    fn columns<'b>(
        b: &'b RecordBatch,
        kh: &str,
        h: &str,
    ) -> std::result::Result<(&'b UInt64Array, &'b UInt64Array), ArrowError> {
        let schema = b.schema();
        Ok((
            b.column(schema.index_of(kh)?).as_primitive::<UInt64Type>(),
            b.column(schema.index_of(h)?).as_primitive::<UInt64Type>(),
        ))
    }
    let mix = |h: u64| (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (h >> 32);
    let rows: usize = sides.iter().flatten().flatten().map(|b| b.num_rows()).sum();
    let mut seen: HashMap<u64, [Seen; 2], BuildHasherDefault<KeyHashHasher>> =
        HashMap::with_capacity_and_hasher(rows, Default::default());
    for (side, parts) in sides.iter().enumerate() {
        for b in parts.iter().flatten() {
            let (khs, hs) = columns(b, kh, h)?;
            // A row whose key hash or row hash is NULL is never pruned.
            for (k, h) in khs.iter().zip(hs.iter()) {
                if let (Some(k), Some(h)) = (k, h) {
                    let s = &mut seen.entry(k).or_default()[side];
                    s.rows = s.rows.saturating_add(1);
                    s.sum = s.sum.wrapping_add(h);
                    s.mixed = s.mixed.wrapping_add(mix(h));
                }
            }
        }
    }
    // What stays: the key hashes whose rows are the same multiset on both sides.
    seen.retain(|_, s| s[0] == s[1]);
    let equal = seen;
    let mut removed = 0u64;
    for parts in sides.iter_mut() {
        for batches in parts.iter_mut() {
            let mut kept = Vec::with_capacity(batches.len());
            for b in batches.drain(..) {
                let (khs, hs) = columns(&b, kh, h)?;
                let keep: BooleanArray = khs
                    .iter()
                    .zip(hs.iter())
                    .map(|pair| {
                        Some(match pair {
                            (Some(k), Some(_)) => !equal.contains_key(&k),
                            _ => true,
                        })
                    })
                    .collect();
                let mut b = arrow::compute::filter_record_batch(&b, &keep)?;
                removed += (keep.len() - b.num_rows()) as u64;
                b.remove_column(b.schema().index_of(kh)?);
                if b.num_rows() > 0 {
                    kept.push(b);
                }
            }
            *batches = kept;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_equal_on_both_sides_are_pruned_and_no_other() {
        use arrow::array::{Int64Array, UInt64Array};
        use arrow::datatypes::{Field, Schema};
        let batch = |ids: Vec<Option<i64>>, kh: Vec<u64>, h: Vec<u64>| {
            let schema = Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("__sd_kh", DataType::UInt64, false),
                Field::new("__h", DataType::UInt64, false),
            ]));
            RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(UInt64Array::from(kh)),
                    Arc::new(UInt64Array::from(h)),
                ],
            )
            .unwrap()
        };
        // Key 1 equal; key 2 changed; key 3 duplicated in legacy (one copy equal to the
        // target's row); key 4 missing; a NULL key equal on both sides; keys 6 and 7 share
        // a key hash (a collision) with equal row hashes; key 8 duplicated identically on
        // both sides; key 9 duplicated on both sides with one copy changed.
        let legacy = batch(
            vec![
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(4),
                None,
                Some(6),
                Some(8),
                Some(8),
                Some(9),
                Some(9),
            ],
            vec![1, 2, 3, 3, 4, 5, 6, 8, 8, 9, 9],
            vec![10, 20, 30, 30, 40, 50, 60, 80, 80, 90, 91],
        );
        let target = batch(
            vec![
                Some(3),
                Some(2),
                None,
                Some(8),
                Some(1),
                Some(7),
                Some(9),
                Some(8),
                Some(9),
            ],
            vec![3, 2, 5, 8, 1, 6, 9, 8, 9],
            vec![30, 21, 50, 80, 10, 60, 92, 80, 90],
        );
        let mut sides = [
            vec![vec![legacy.slice(0, 3)], vec![legacy.slice(3, 8)]],
            vec![vec![target]],
        ];
        let removed = prune_equal(&mut sides, "__sd_kh", "__h").unwrap();
        let ids = |parts: &Vec<Vec<RecordBatch>>| -> Vec<Option<i64>> {
            parts
                .iter()
                .flatten()
                .flat_map(|b| {
                    assert_eq!(b.num_columns(), 2, "the key hash column is dropped");
                    b.column(0)
                        .as_primitive::<arrow::datatypes::Int64Type>()
                        .iter()
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        // Keys 1 and 8 and the NULL key go: the same rows on both sides. Keys 6 and 7
        // look equal by their hashes: a collision of the 64-bit key hash with equal row
        // hashes is the one case the hash check would miss too, so they go as well.
        assert_eq!(removed, 10);
        assert_eq!(
            ids(&sides[0]),
            vec![Some(2), Some(3), Some(3), Some(4), Some(9), Some(9)]
        );
        assert_eq!(ids(&sides[1]), vec![Some(3), Some(2), Some(9), Some(9)]);
    }

    #[test]
    fn bucket_bits_follow_rows_and_budget() {
        assert_eq!(choose_bits(0, 1 << 30), 10);
        assert_eq!(choose_bits(1_000, 1 << 30), 11);
        assert_eq!(choose_bits(60_000_000, 8 << 30), 27);
        // 1 GiB of cells at most: 2^27 buckets of 8 bytes.
        assert_eq!(choose_bits(600_000_000, 1 << 30), 27);
        assert_eq!(choose_bits(600_000_000, 1), 10);
    }
}
