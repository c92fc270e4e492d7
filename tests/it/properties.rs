//! Properties of the verification engine, over generated tables:
//!
//! - a table verified against itself, shuffled and split into other batches, is equal;
//! - the missing rows of (a, b) are the extra rows of (b, a), and changed keys agree;
//! - partition digests depend neither on row order nor on how rows are split.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use proptest::prelude::*;

use snapdiff::report::{EntityReport, Status};
use snapdiff::spec::EntityDef;

type Rows = Vec<(i64, Option<i64>, Option<String>)>;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("a", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]))
}

/// The rows as batches cut after every index in `cuts` (each batch its own partition,
/// as separate files are).
fn table(rows: &Rows, cuts: &[usize]) -> MemTable {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (rows.len() + 1)).collect();
    bounds.push(0);
    bounds.push(rows.len());
    bounds.sort();
    bounds.dedup();
    let mut parts = Vec::new();
    for w in bounds.windows(2) {
        let chunk = &rows[w[0]..w[1]];
        let b = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(
                    chunk.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    chunk.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    chunk.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        parts.push(vec![b]);
    }
    if parts.is_empty() {
        parts.push(vec![RecordBatch::new_empty(schema())]);
    }
    MemTable::try_new(schema(), parts).unwrap()
}

fn def(partition_by: Option<&str>) -> EntityDef {
    crate::common::entity_def(&["k"], partition_by, "")
}

fn verify(legacy: MemTable, target: MemTable, partition_by: Option<&str>) -> EntityReport {
    crate::common::verify_tables(legacy, target, def(partition_by), 10_000).unwrap()
}

fn keys(rows: &[Vec<(String, Option<String>)>]) -> Vec<String> {
    let mut k: Vec<String> = rows.iter().map(|r| r[0].1.clone().unwrap()).collect();
    k.sort();
    k
}

fn value() -> impl Strategy<Value = (Option<i64>, Option<String>)> {
    (
        proptest::option::of(-5i64..5),
        proptest::option::of("[ab]{0,2}"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_table_equals_itself_shuffled_and_resplit(
        map in proptest::collection::btree_map(-1000i64..1000, value(), 0..40),
        seed in proptest::collection::vec(any::<usize>(), 0..5),
        cuts in proptest::collection::vec(any::<usize>(), 0..5),
        by_part in any::<bool>(),
    ) {
        let rows: Rows = map.into_iter().map(|(k, (a, s))| (k, a, s)).collect();
        // A deterministic shuffle driven by `seed`.
        let mut shuffled = rows.clone();
        for (i, s) in seed.iter().enumerate() {
            let n = shuffled.len();
            if n > 0 {
                shuffled.swap(i % n, s % n);
            }
        }
        shuffled.reverse();
        let part = if by_part { Some("k % 3") } else { None };
        let r = verify(table(&rows, &[]), table(&shuffled, &cuts), part);
        prop_assert_eq!(r.status, Status::Pass, "{:?}", r.checks);
        let p = r.partitions.clone().unwrap();
        prop_assert_eq!(p.equal, p.total);
        let d = r.diff.clone().unwrap();
        prop_assert_eq!((d.missing, d.extra, d.changed), (0, 0, 0));
        prop_assert!(r.aggregate_differences.is_empty(), "{:?}", r.aggregate_differences);
    }

    #[test]
    fn missing_of_a_b_is_extra_of_b_a(
        a in proptest::collection::btree_map(0i64..20, value(), 0..15),
        b in proptest::collection::btree_map(0i64..20, value(), 0..15),
        cuts in proptest::collection::vec(any::<usize>(), 0..3),
    ) {
        let ra: Rows = a.into_iter().map(|(k, (x, s))| (k, x, s)).collect();
        let rb: Rows = b.into_iter().map(|(k, (x, s))| (k, x, s)).collect();
        let ab = verify(table(&ra, &cuts), table(&rb, &[]), Some("k % 4"));
        let ba = verify(table(&rb, &[]), table(&ra, &cuts), None);
        let (dab, dba) = (ab.diff.clone().unwrap(), ba.diff.clone().unwrap());
        prop_assert_eq!(keys(&dab.missing_rows), keys(&dba.extra_rows));
        prop_assert_eq!(keys(&dab.extra_rows), keys(&dba.missing_rows));
        prop_assert_eq!((dab.missing, dab.extra, dab.changed), (dba.extra, dba.missing, dba.changed));
        let changed = |d: &snapdiff::report::Diff| {
            let mut k: Vec<String> = d.changed_rows.iter().map(|c| c.key[0].1.clone().unwrap()).collect();
            k.sort();
            k
        };
        prop_assert_eq!(changed(&dab), changed(&dba));
        // And against the generated maps themselves.
        let only = |x: &Rows, y: &Rows| {
            let mut k: Vec<String> = x.iter().filter(|r| !y.iter().any(|s| s.0 == r.0)).map(|r| r.0.to_string()).collect();
            k.sort();
            k
        };
        prop_assert_eq!(keys(&dab.missing_rows), only(&ra, &rb));
        prop_assert_eq!(keys(&dab.extra_rows), only(&rb, &ra));
    }

    #[test]
    fn digests_do_not_depend_on_order_or_split(
        rows in proptest::collection::vec((proptest::option::of(0i64..6), value()), 0..40),
        cuts_a in proptest::collection::vec(any::<usize>(), 0..6),
        cuts_b in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        // Duplicate and NULL keys included: digests cover every row.
        let rows: Rows = rows.into_iter().map(|(k, (a, s))| (k.unwrap_or(-1), a, s)).collect();
        let mut reversed = rows.clone();
        reversed.reverse();
        let r = verify(table(&rows, &cuts_a), table(&reversed, &cuts_b), Some("a"));
        let p = r.partitions.clone().unwrap();
        prop_assert_eq!(p.equal, p.total, "{:?}", p.differing);
    }
}

/// Float noise is equal in the digests and in the diff alike: NaN against -NaN, -0.0
/// against 0.0. A real difference (0.1 + 0.2 against 0.3) is one changed row.
#[test]
fn float_noise_is_equal_and_a_real_float_difference_is_not() {
    let float_table = |xs: Vec<Option<f64>>| {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
        ]));
        let ks: Vec<i64> = (1..=xs.len() as i64).collect();
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ks)),
                Arc::new(arrow::array::Float64Array::from(xs)),
            ],
        )
        .unwrap();
        MemTable::try_new(schema, vec![vec![b]]).unwrap()
    };
    let legacy = vec![Some(f64::NAN), Some(-0.0), Some(1.5), None, Some(0.1 + 0.2)];
    let target = vec![Some(-f64::NAN), Some(0.0), Some(1.5), None, Some(0.3)];
    // Partitioned by key, so each row's digest stands alone.
    let r = verify(
        float_table(legacy.clone()),
        float_table(target.clone()),
        Some("k"),
    );
    let p = r.partitions.as_ref().unwrap();
    assert_eq!((p.total, p.equal), (5, 4), "{p:?}");
    let d = r.diff.as_ref().unwrap();
    assert_eq!((d.missing, d.extra, d.changed), (0, 0, 1));
    assert_eq!(
        d.changed_rows[0].key,
        vec![("k".to_string(), Some("5".to_string()))]
    );
    // Unpartitioned: the diff covers every row and still sees one change.
    let r = verify(float_table(legacy), float_table(target), None);
    let d = r.diff.as_ref().unwrap();
    assert_eq!((d.missing, d.extra, d.changed), (0, 0, 1));
    assert_eq!(r.status, Status::Fail);
}
