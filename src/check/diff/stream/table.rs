//! The streaming pass's tables of waiting rows: a partition's small hot table and the
//! shared cold one, open addressing on key hash, row hash and where the row is.

use super::*;

/// An entry: key hash, row hash, where the row is ([`live_loc`], [`copied_loc`]).
/// `EMPTY` in the third word marks a free slot.
pub(super) type Entry = [u64; 3];
pub(super) const EMPTY: u64 = u64::MAX;
pub(super) const SIDE_BIT: u64 = 1 << 63;
pub(super) const COPIED_BIT: u64 = 1 << 62;
pub(super) const ROW_BITS: u32 = 24;

/// Where a waiting row is: row `row` of held batch `id` of `side`.
pub(super) fn live_loc(side: usize, id: u64, row: usize) -> u64 {
    (side as u64) << 63 | id << ROW_BITS | row as u64
}

/// Where a waiting row is once copied out: row `index` of `side`'s rows copied by
/// partition `part`.
pub(super) fn copied_loc(side: usize, part: usize, index: u64) -> u64 {
    (side as u64) << 63 | COPIED_BIT | (part as u64) << COPIED_INDEX_BITS | index
}

/// Bits of a copied row's index in its location (the partition above them).
pub(super) const COPIED_INDEX_BITS: u32 = 40;

pub(super) fn side_of(loc: u64) -> usize {
    (loc >> 63) as usize
}

/// A table's smallest size: 2^12 entries.
pub(super) const MIN_BITS: u32 = 12;

/// Open addressing with linear probing; removal shifts the entries after it back, so
/// probes never walk over deleted slots.
pub(super) struct Table {
    pub(super) slots: Vec<Entry>,
    pub(super) shift: u32,
    pub(super) len: usize,
}

/// A probe that walked more than [`MAX_PROBE`] entries.
pub(super) struct TooLong;

pub(super) enum Probe {
    /// Paired with the waiting row at this location (now removed).
    Paired(u64),
    Waiting,
}

impl Table {
    pub(super) fn new() -> Table {
        Table::with_capacity_bits(MIN_BITS)
    }

    pub(super) fn with_capacity_bits(bits: u32) -> Table {
        Table {
            slots: vec![[0, 0, EMPTY]; 1 << bits],
            shift: 64 - bits,
            len: 0,
        }
    }

    pub(super) fn bytes(&self) -> u64 {
        (self.slots.len() * std::mem::size_of::<Entry>()) as u64
    }

    #[inline]
    pub(super) fn home(&self, kh: u64) -> usize {
        (kh.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    #[inline]
    pub(super) fn next(&self, i: usize) -> usize {
        (i + 1) & (self.slots.len() - 1)
    }

    /// Room for `more` entries at a load of at most a half, within `max_bytes` (more
    /// bytes than `others` take); a table left mostly empty shrinks, so that its probes
    /// stay in the CPU's caches.
    pub(super) fn reserve(&mut self, more: usize, max_bytes: u64) -> bool {
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
    pub(super) fn pair_or_wait(
        &mut self,
        kh: u64,
        h: u64,
        loc: u64,
    ) -> std::result::Result<Probe, TooLong> {
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
    pub(super) fn take(&mut self, kh: u64, h: u64, loc: u64) {
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
    pub(super) fn remove(&mut self, mut i: usize) {
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

    pub(super) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().filter(|e| e[2] != EMPTY)
    }
}
