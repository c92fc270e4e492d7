//! What "equal" means in the row diff and the aggregate check, on in-memory tables: the
//! tolerance arithmetic (no integer wrap-around, NaN and infinities, float rounding),
//! floats of different widths, nested values, float sums in another order, and output
//! names that cannot collide with user columns.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float32Array, Float64Array, Int64Array, Int8Array, ListArray, RecordBatch,
    StringArray, UInt32Array,
};
use arrow::datatypes::Float64Type;
use datafusion::datasource::MemTable;

use snapdiff::report::{EntityReport, Status};
use snapdiff::spec::{EntityDef, Thresholds};

/// A table of the named columns, each batch of `parts` its own partition (file).
fn table(parts: Vec<Vec<(&str, ArrayRef)>>) -> MemTable {
    let batches: Vec<RecordBatch> = parts
        .into_iter()
        .map(|cols| RecordBatch::try_from_iter(cols).unwrap())
        .collect();
    let schema = batches[0].schema();
    MemTable::try_new(schema, batches.into_iter().map(|b| vec![b]).collect()).unwrap()
}

fn ints(v: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

fn floats(v: &[Option<f64>]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

/// Verify `legacy.t` against `target.t` keyed by `id`, with the given `[entity.normalize]`
/// table (TOML) and checks.
fn verify(
    legacy: MemTable,
    target: MemTable,
    normalize: &str,
    checks: &[&str],
) -> snapdiff::error::Result<EntityReport> {
    let rules: BTreeMap<String, toml::Value> = toml::from_str(normalize).unwrap();
    let def = EntityDef {
        name: "t".into(),
        kind: snapdiff::spec::EntityKind::Entity,
        key: vec!["id".into()],
        legacy_sql: "SELECT * FROM legacy.t".into(),
        target_sql: "SELECT * FROM target.t".into(),
        columns: None,
        ignore: Vec::new(),
        partition_by: None,
        legacy_filter: None,
        target_filter: None,
        sample: None,
        keys_file: None,
        checks: checks
            .iter()
            .map(|s| snapdiff::spec::CheckKind::entity_check(s).expect("an entity check"))
            .collect(),
        normalize: snapdiff::spec::checks::parse_normalize(&rules).unwrap(),
        thresholds: Thresholds::default(),
        masks: Default::default(),
        settle: None,
    };
    crate::common::verify_tables(legacy, target, def, snapdiff::check::DEFAULT_SAMPLE_ROWS)
}

const ALL: [&str; 5] = ["schema", "count", "hash", "diff", "aggregate"];

/// The keys of the changed rows, in order.
fn changed_keys(r: &EntityReport) -> Vec<String> {
    r.diff
        .as_ref()
        .unwrap()
        .changed_rows
        .iter()
        .map(|c| c.key[0].1.clone().unwrap())
        .collect()
}

#[test]
fn tolerance_never_wraps_integers() {
    // Unsigned 5 against 6 is within 1 (5 - 6 must not wrap to 4294967295); tinyint 100
    // against -100 is 200 apart, not within 100 (200 must not wrap to -56).
    let side = |u: &[u32], i: &[i8]| {
        table(vec![vec![
            ("id", ints(&[1, 2])),
            ("u", Arc::new(UInt32Array::from(u.to_vec())) as ArrayRef),
            ("i", Arc::new(Int8Array::from(i.to_vec())) as ArrayRef),
        ]])
    };
    let r = verify(
        side(&[5, 7], &[100, 1]),
        side(&[6, 7], &[-100, 1]),
        "u = { tolerance = { abs = 1 } }\ni = { tolerance = { abs = 100 } }",
        &ALL,
    )
    .unwrap();
    assert_eq!(changed_keys(&r), ["1"]);
    let d = r.diff.unwrap();
    assert_eq!(
        d.changed_by_column.into_iter().collect::<Vec<_>>(),
        [("i".to_string(), 1)]
    );
}

#[test]
fn tolerance_sees_nan_and_infinity_and_forgives_float_rounding() {
    let inf = f64::INFINITY;
    let nan = f64::NAN;
    let legacy = table(vec![vec![
        ("id", ints(&[1, 2, 3, 4, 5, 6, 7])),
        (
            "x",
            floats(&[
                Some(inf),
                Some(nan),
                Some(nan),
                Some(inf),
                Some(1.01),
                None,
                Some(2.0),
            ]),
        ),
    ]]);
    let target = table(vec![vec![
        ("id", ints(&[1, 2, 3, 4, 5, 6, 7])),
        (
            "x",
            floats(&[
                Some(5.0),
                Some(5.0),
                Some(nan),
                Some(inf),
                Some(1.00),
                None,
                Some(2.0),
            ]),
        ),
    ]]);
    let r = verify(
        legacy,
        target,
        "x = { tolerance = { abs = 0.01, rel = 0.001 } }",
        &ALL,
    )
    .unwrap();
    // inf against 5 and NaN against 5 differ; NaN against NaN, inf against inf, NULL
    // against NULL are equal; 1.01 against 1.00 is within 0.01 (their difference in
    // binary is 0.010000000000000009).
    assert_eq!(changed_keys(&r), ["1", "2"]);
}

#[test]
fn a_float32_equals_the_float64_of_its_text() {
    let legacy = table(vec![vec![
        ("id", ints(&[1, 2])),
        (
            "x",
            Arc::new(Float32Array::from(vec![0.1f32, 2.5])) as ArrayRef,
        ),
    ]]);
    let target = table(vec![vec![
        ("id", ints(&[1, 2])),
        ("x", floats(&[Some(0.1), Some(2.25)])),
    ]]);
    let r = verify(legacy, target, "", &ALL).unwrap();
    assert_eq!(changed_keys(&r), ["2"]);
    assert!(r.schema_findings.is_empty(), "{:?}", r.schema_findings);
}

#[test]
fn float_sums_added_in_another_order_are_equal() {
    // The same four values, split into files differently: 1e16 + 1 loses the 1 (the
    // spacing of floats there is 2), so one order sums to 0 and the other to 2.
    let side = |parts: &[&[usize]]| {
        let all = [1e16, 1.0, -1e16, 1.0];
        table(
            parts
                .iter()
                .map(|p| {
                    let ids: Vec<i64> = p.iter().map(|i| *i as i64).collect();
                    let xs: Vec<Option<f64>> = p.iter().map(|i| Some(all[*i])).collect();
                    vec![("id", ints(&ids)), ("x", floats(&xs))]
                })
                .collect(),
        )
    };
    let checks = ["schema", "aggregate"];
    let r = verify(
        side(&[&[0, 1], &[2, 3]]),
        side(&[&[0, 2], &[1, 3]]),
        "",
        &checks,
    )
    .unwrap();
    assert!(
        r.aggregate_differences.is_empty(),
        "{:?}",
        r.aggregate_differences
    );
    assert_eq!(r.status, Status::Pass);
    // A difference beyond what summation order can explain (2·n·ε·Σ|x|, about 36 here)
    // is still one; smaller ones are left to the row diff, which compares every value.
    let other = table(vec![vec![
        ("id", ints(&[0, 1, 2, 3])),
        (
            "x",
            floats(&[Some(1e16), Some(1.0), Some(-1e16), Some(101.0)]),
        ),
    ]]);
    let r = verify(side(&[&[0, 2], &[1, 3]]), other, "", &checks).unwrap();
    let stats: Vec<&str> = r
        .aggregate_differences
        .iter()
        .map(|d| d.statistic.as_str())
        .collect();
    assert_eq!(stats, ["distinct_values", "sum"]);
}

#[test]
fn nested_values_compare_as_the_digests_do() {
    // A list holding -0.0 against one holding 0.0 is equal (as in the row hash); a
    // list holding 1.0 against 2.0 is not. Row 3 differs, so the diff runs over all.
    let list = |v: Vec<Option<Vec<Option<f64>>>>| -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(v))
    };
    let legacy = table(vec![vec![
        ("id", ints(&[1, 2, 3])),
        (
            "l",
            list(vec![
                Some(vec![Some(-0.0)]),
                Some(vec![Some(f64::NAN)]),
                Some(vec![Some(1.0)]),
            ]),
        ),
    ]]);
    let target = table(vec![vec![
        ("id", ints(&[1, 2, 3])),
        (
            "l",
            list(vec![
                Some(vec![Some(0.0)]),
                Some(vec![Some(-f64::NAN)]),
                Some(vec![Some(2.0)]),
            ]),
        ),
    ]]);
    let r = verify(legacy, target, "", &["schema", "count", "hash", "diff"]).unwrap();
    assert_eq!(changed_keys(&r), ["3"]);
}

#[test]
fn user_columns_cannot_collide_with_output_names() {
    // `x__legacy` and `x__target` were once the diff's own output names for `x`.
    let side = |x: &str| {
        table(vec![vec![
            ("id", ints(&[1])),
            ("x", Arc::new(StringArray::from(vec![x])) as ArrayRef),
            (
                "x__legacy",
                Arc::new(StringArray::from(vec!["same"])) as ArrayRef,
            ),
            (
                "x__target",
                Arc::new(StringArray::from(vec!["same"])) as ArrayRef,
            ),
        ]])
    };
    let r = verify(side("a"), side("b"), "", &ALL).unwrap();
    let d = r.diff.unwrap();
    assert_eq!(
        d.changed_by_column.into_iter().collect::<Vec<_>>(),
        [("x".to_string(), 1)]
    );
    let cells: Vec<(String, Option<String>, Option<String>, bool)> = d.changed_rows[0]
        .cells
        .iter()
        .map(|c| {
            (
                c.column.clone(),
                c.legacy.clone(),
                c.target.clone(),
                c.differs,
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            ("x".into(), Some("a".into()), Some("b".into()), true),
            (
                "x__legacy".into(),
                Some("same".into()),
                Some("same".into()),
                false
            ),
            (
                "x__target".into(),
                Some("same".into()),
                Some("same".into()),
                false
            ),
        ]
    );
}

#[test]
fn a_tolerance_without_the_diff_is_refused_and_schema_always_runs() {
    let side = || table(vec![vec![("id", ints(&[1])), ("x", floats(&[Some(1.0)]))]]);
    let r = verify(
        side(),
        side(),
        "x = { tolerance = { abs = 1 } }",
        &["count", "hash"],
    )
    .unwrap();
    assert_eq!(r.status, snapdiff::report::Status::Error);
    assert_eq!(
        r.error,
        Some(snapdiff::report::Failure {
            message: "entity t: columns x have a tolerance, which only the diff check applies (they are left out of the digests), but `checks` leaves the diff out".into(),
            hint: Some("add \"diff\" to the entity's checks, or drop the tolerance".into()),
        })
    );
    // The error is the schema check's (the step it was in), listed once.
    let checks: Vec<_> = r.checks.iter().map(|c| (c.check, c.status)).collect();
    assert_eq!(
        checks,
        [(
            snapdiff::spec::CheckKind::Schema,
            snapdiff::report::Status::Error
        )]
    );
    // A column that cannot be compared fails the entity even when `checks` omits schema.
    let legacy = table(vec![vec![("id", ints(&[1])), ("x", floats(&[Some(1.0)]))]]);
    let target = table(vec![vec![
        ("id", ints(&[1])),
        ("x", Arc::new(StringArray::from(vec!["1.0"])) as ArrayRef),
    ]]);
    let r = verify(legacy, target, "", &["count"]).unwrap();
    assert_eq!(r.status, Status::Fail);
    assert_eq!(
        r.schema_findings,
        ["column x is not compared: legacy holds floating-point numbers and target text: give both sides the `numeric` rule to compare them as numbers"]
    );
}

#[test]
fn rows_with_null_keys_are_written_whatever_each_side_says_of_nullability() {
    use arrow::datatypes::{DataType, Field, Schema};
    // Legacy declares `c` NOT NULL (a literal or COALESCE would); the target has a row
    // with a NULL key and a NULL `c`. Both go to one null_keys file.
    let legacy_schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("c", DataType::Utf8, false),
    ]));
    let legacy = RecordBatch::try_new(
        legacy_schema.clone(),
        vec![ints(&[1, 2]), Arc::new(StringArray::from(vec!["a", "b"]))],
    )
    .unwrap();
    let target_schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("c", DataType::Utf8, true),
    ]));
    let target = RecordBatch::try_new(
        target_schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![Some(1), Some(2), None])),
            Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])),
        ],
    )
    .unwrap();
    let r = verify(
        MemTable::try_new(legacy_schema, vec![vec![legacy]]).unwrap(),
        MemTable::try_new(target_schema, vec![vec![target]]).unwrap(),
        "",
        &ALL,
    )
    .unwrap();
    let d = r.diff.as_ref().unwrap();
    assert_eq!((d.null_keys_legacy, d.null_keys_target), (0, 1));
    assert_eq!(
        d.null_key_rows,
        vec![(
            "target".to_string(),
            vec![("id".to_string(), None), ("c".to_string(), None)]
        )]
    );
}

/// A keyless query check compares multisets of whole rows; its samples come in the order
/// of the values, and a column of NULLs alone (type Null) neither fails nor orders them.
#[test]
fn multiset_samples_are_in_value_order_even_with_a_column_of_nulls() {
    let table = |tags: &[&str]| {
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("tag", arrow::datatypes::DataType::Utf8, false),
            arrow::datatypes::Field::new("note", arrow::datatypes::DataType::Null, true),
        ]));
        let batch = arrow::array::RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(arrow::array::StringArray::from(tags.to_vec())),
                Arc::new(arrow::array::NullArray::new(tags.len())),
            ],
        )
        .unwrap();
        MemTable::try_new(schema, vec![vec![batch]]).unwrap()
    };
    let mut def = crate::common::entity_def(&[], None, "");
    def.kind = snapdiff::spec::EntityKind::Query;
    def.checks = vec![snapdiff::spec::CheckKind::Count];
    let r = crate::common::verify_tables(
        table(&["d", "a", "b", "a"]),
        table(&["c", "a"]),
        def,
        snapdiff::check::DEFAULT_SAMPLE_ROWS,
    )
    .unwrap();
    let d = r.diff.expect("the multiset check ran");
    let tags = |rows: &[snapdiff::report::Row]| -> Vec<String> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .find(|(k, _)| k == "tag")
                    .and_then(|(_, v)| v.clone())
                    .unwrap()
            })
            .collect()
    };
    assert_eq!((d.missing, d.extra), (3, 1));
    assert_eq!(tags(&d.missing_rows), ["a", "b", "d"]);
    assert_eq!(tags(&d.extra_rows), ["c"]);
}
