//! The streaming pass's held rows: batches kept as the scan gave them while any of
//! their rows waits, and the rows copied out of batches held too long.

use super::*;

/// A batch with waiting rows, as the scan gave it (its rows only while they fit the
/// budget), with its key and row hashes.
pub(super) struct Live {
    pub(super) batch: Option<RecordBatch>,
    pub(super) kh: ScalarBuffer<u64>,
    pub(super) h: ScalarBuffer<u64>,
    pub(super) waiting: Vec<bool>,
    pub(super) count: usize,
    pub(super) bytes: u64,
}

/// One side's batches held by one partition, by id: ids count up, batch `first` at the
/// front (`None` where a batch's rows have all paired).
#[derive(Default)]
pub(super) struct Lives {
    pub(super) first: u64,
    pub(super) next: u64,
    pub(super) batches: VecDeque<Option<Live>>,
    pub(super) held: usize,
    pub(super) bytes: u64,
}

impl Lives {
    pub(super) fn take_id(&mut self) -> u64 {
        self.next += 1;
        self.next - 1
    }

    pub(super) fn insert(&mut self, id: u64, live: Live) {
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

    pub(super) fn trim(&mut self) {
        while let Some(None) = self.batches.front() {
            self.batches.pop_front();
            self.first += 1;
        }
    }

    /// The row at `loc` (a live location of this side) paired: it no longer waits.
    pub(super) fn release(&mut self, loc: u64) -> u64 {
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
    pub(super) fn oldest(&mut self) -> Option<u64> {
        self.trim();
        (!self.batches.is_empty()).then_some(self.first)
    }

    pub(super) fn pop_oldest(&mut self) -> Option<(u64, Live)> {
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
    pub(super) fn drop_rows(&mut self) -> u64 {
        for l in self.batches.iter_mut().flatten() {
            l.batch = None;
            l.bytes = 0;
        }
        std::mem::take(&mut self.bytes)
    }
}

/// Which rows a partition copied out of one side's batches paired later.
#[derive(Default)]
pub(super) struct Dropped {
    pub(super) bits: Vec<u64>,
    pub(super) count: u64,
}

impl Dropped {
    /// The copied row `index` paired: it no longer waits.
    pub(super) fn set(&mut self, index: u64) {
        let w = (index / 64) as usize;
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
        }
        self.bits[w] |= 1 << (index % 64);
        self.count += 1;
    }

    /// `batches` (the rows copied, in order) without the rows that paired.
    pub(super) fn filter(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
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
