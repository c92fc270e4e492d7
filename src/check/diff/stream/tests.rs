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
fn side(rows: &[(i64, u64)], batch: usize, cuts: &[usize]) -> (Arc<dyn ExecutionPlan>, Vec<u64>) {
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
