//! The types the diff's first passes share: a side's digest, key hash buckets, what a
//! pass hands on to the diff ([`BucketPass`], [`Held`]), and the [`Compactor`] that
//! holds rows as plain arrays. Each pass (`buckets`, `matching`, `stream`) imports these
//! and none imports another pass.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema, SchemaRef};

use crate::engine::diff_files;

/// One side's digest: rows, wrapping sum and xor of row hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Digest {
    pub rows: u64,
    pub sum: u64,
    pub xor: u64,
}

impl Digest {
    pub(crate) fn merge(&mut self, o: &Digest) {
        self.rows += o.rows;
        self.sum = self.sum.wrapping_add(o.sum);
        self.xor ^= o.xor;
    }
}

/// The result of the pass.
pub(crate) struct BucketPass {
    /// log2 of the number of buckets.
    pub bits: u32,
    pub legacy: Digest,
    pub target: Digest,
    /// One bit per bucket: set where the sides differ.
    pub differing: Arc<Vec<u64>>,
    /// How many buckets differ.
    pub differing_buckets: u64,
    /// The differing rows, when the matching pass ([`super::matching`]) or the
    /// streaming pass ([`super::stream`]) found them.
    pub held: Option<Held>,
}

impl BucketPass {
    pub fn buckets(&self) -> u64 {
        1u64 << self.bits
    }
}

/// The bucket of a key hash: its top `bits` bits.
#[inline]
pub(crate) fn bucket(kh: u64, bits: u32) -> usize {
    (kh >> (64 - bits)) as usize
}

/// Whether key hash `kh`'s bucket (of `bits` bits) is set in `bitmap`.
#[inline]
pub(crate) fn in_bitmap(bitmap: &[u64], kh: u64, bits: u32) -> bool {
    let b = bucket(kh, bits);
    bitmap[b / 64] >> (b % 64) & 1 == 1
}

/// What the pass (or the streaming pass, [`super::stream`]) holds for the diff.
pub(crate) struct Held {
    /// The unpaired legacy rows with their schema, when the pass holds them (the
    /// streaming pass); else they are read again by `legacy_keys`.
    pub legacy: Option<(SchemaRef, Vec<Vec<RecordBatch>>)>,
    /// The schema of the held target rows: every column of the view, text and binary
    /// as plain arrays, and the key hash `__sd_kh`.
    pub target_schema: SchemaRef,
    /// The unpaired target rows, in partitions of batches.
    pub target: Vec<Vec<RecordBatch>>,
    /// The key hashes of the unpaired legacy rows, to be read again (those in
    /// `refetch` buckets left out: they are read with their buckets).
    pub legacy_keys: Arc<KeyHashes>,
    /// Buckets (of the pass's `bits`) whose rows must be read again from both sides:
    /// those of key hashes that both paired and kept unpaired rows. `None` when there
    /// are none.
    pub refetch: Option<Arc<Vec<u64>>>,
}

/// The pass's result.
pub(crate) struct Matched {
    pub legacy: Digest,
    pub target: Digest,
    /// One bit per bucket of `bits` bits: set where a key hash has unpaired rows.
    pub differing: Vec<u64>,
    pub differing_buckets: u64,
    /// The unpaired rows, unless the target's did not fit their budget.
    pub held: Option<Held>,
    /// Unpaired rows of each side.
    pub unpaired: [u64; 2],
}

impl Matched {
    /// The pass as the diff goes on from it, over buckets of `bits` bits.
    pub(crate) fn into_pass(self, bits: u32) -> BucketPass {
        BucketPass {
            bits,
            legacy: self.legacy,
            target: self.target,
            differing: Arc::new(self.differing),
            differing_buckets: self.differing_buckets,
            held: self.held,
        }
    }
}

/// A set of key hashes.
pub(crate) type KeyHashes = std::collections::HashSet<u64, BuildHasherDefault<KeyHashHasher>>;

/// A hasher for key hashes, which are already hashes: one multiply spreads them over
/// the hash table's bits (candidate keys share their top bits, their bucket's).
#[derive(Default)]
pub(crate) struct KeyHashHasher(u64);

impl Hasher for KeyHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The schema of candidate tables: text and binary views as plain arrays.
pub(crate) fn plain_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
                DataType::BinaryView => f.as_ref().clone().with_data_type(DataType::Binary),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// Batches of about 8192 rows, text and binary views copied out as plain arrays
/// (`schema`, from [`plain_schema`]), built as the batches arrive. A filter keeps a few
/// rows of each scanned batch, and their views would hold every buffer of the scan alive
/// (and be counted whole by the joins' memory accounting): each batch is cast to plain
/// arrays when it arrives, so only the rows kept stay in memory (collecting a whole
/// fetch first held 3.3 GB for 40,000 candidate rows of TPC-H SF10).
pub(crate) struct Compactor {
    schema: SchemaRef,
    group: Vec<RecordBatch>,
    rows: usize,
    out: Vec<RecordBatch>,
}

impl Compactor {
    pub(crate) fn new(schema: SchemaRef) -> Self {
        Compactor {
            schema,
            group: Vec::new(),
            rows: 0,
            out: Vec::new(),
        }
    }

    /// The schema of the batches it makes.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub(crate) fn push(
        &mut self,
        b: &RecordBatch,
    ) -> std::result::Result<(), arrow::error::ArrowError> {
        self.push_counted(b).map(|_| ())
    }

    /// [`Self::push`], returning the bytes the rows take once copied out.
    pub(crate) fn push_counted(
        &mut self,
        b: &RecordBatch,
    ) -> std::result::Result<usize, arrow::error::ArrowError> {
        if b.num_rows() == 0 {
            return Ok(0);
        }
        self.rows += b.num_rows();
        let plain = diff_files::cast_to(&self.schema, b)?;
        let bytes = plain.get_array_memory_size();
        self.group.push(plain);
        // Batches of about 8192 rows, each owning its buffers (never slices of a larger
        // one, which the memory accounting would count whole, once per slice).
        if self.rows >= 8192 {
            self.flush()?;
        }
        Ok(bytes)
    }

    fn flush(&mut self) -> std::result::Result<(), arrow::error::ArrowError> {
        if !self.group.is_empty() {
            self.out
                .push(arrow::compute::concat_batches(&self.schema, &self.group)?);
            self.group.clear();
            self.rows = 0;
        }
        Ok(())
    }

    pub(crate) fn finish(
        mut self,
    ) -> std::result::Result<Vec<RecordBatch>, arrow::error::ArrowError> {
        self.flush()?;
        Ok(self.out)
    }
}
