//! Every type the extractors produce goes through every check: a table with one column
//! of each type, whose row `n` differs in column `n` only, compared by the library (the
//! exact Arrow representations, in memory) and by `snapdiff diff` and `snapdiff run`
//! (through Parquet files).

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::{i256, DataType, Field, Int32Type, Schema};
use arrow::record_batch::RecordBatch;

use crate::common::*;

/// The typed columns, in the order of the rows that differ in them.
const COLUMNS: [&str; 19] = [
    "bin", "lbin", "vbin", "fbin", "list", "dec128", "dec256", "f32", "f64", "d32", "d64", "t32",
    "t64", "u8", "u16", "u32", "u64", "flag", "doc",
];

/// Rows 1..=19: in `target`, row `n` has a different value in column `n` only. Text
/// and binary values are long enough to be cut in the reports.
fn table(target: bool) -> RecordBatch {
    let n = COLUMNS.len();
    let differs = |col: usize, row: usize| target && col == row;
    let ids: Vec<i64> = (1..=n as i64).collect();
    let bytes = |c: usize| -> Vec<Vec<u8>> {
        (0..n)
            .map(|r| {
                let mut v = vec![0xab_u8; 150];
                v[0] = r as u8;
                if differs(c, r) {
                    v[149] = 0xff;
                }
                v
            })
            .collect()
    };
    let (b0, b1, b2) = (bytes(0), bytes(1), bytes(2));
    let b3: Vec<Vec<u8>> = (0..n)
        .map(|r| vec![r as u8, 1, 2, if differs(3, r) { 9 } else { 3 }])
        .collect();
    let num = |c: usize, r: usize| -> i64 { r as i64 * 10 + if differs(c, r) { 1 } else { 0 } };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(BinaryArray::from_iter_values(b0.iter())),
        Arc::new(LargeBinaryArray::from_iter_values(b1.iter())),
        Arc::new(BinaryViewArray::from_iter_values(b2.iter())),
        Arc::new(FixedSizeBinaryArray::try_from_iter(b3.iter()).unwrap()),
        Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(
            (0..n).map(|r| {
                Some(vec![
                    Some(r as i32),
                    Some(if differs(4, r) { 7 } else { 5 }),
                ])
            }),
        )),
        Arc::new(
            Decimal128Array::from_iter_values((0..n).map(|r| num(5, r) as i128 * 100 + 25))
                .with_precision_and_scale(38, 2)
                .unwrap(),
        ),
        Arc::new(
            Decimal256Array::from_iter_values(
                (0..n).map(|r| i256::from_i128(num(6, r) as i128 * 10_i128.pow(30) + 5)),
            )
            .with_precision_and_scale(60, 4)
            .unwrap(),
        ),
        Arc::new(Float32Array::from_iter_values(
            (0..n).map(|r| num(7, r) as f32 + 0.5),
        )),
        Arc::new(Float64Array::from_iter_values(
            (0..n).map(|r| num(8, r) as f64 + 0.25),
        )),
        Arc::new(Date32Array::from_iter_values(
            (0..n).map(|r| 19_000 + num(9, r) as i32),
        )),
        Arc::new(Date64Array::from_iter_values(
            (0..n).map(|r| (19_000 + num(10, r)) * 86_400_000),
        )),
        Arc::new(Time32MillisecondArray::from_iter_values(
            (0..n).map(|r| 3_600_000 + num(11, r) as i32 * 1000),
        )),
        Arc::new(Time64MicrosecondArray::from_iter_values(
            (0..n).map(|r| 7_200_000_000 + num(12, r) * 1_000_000),
        )),
        Arc::new(UInt8Array::from_iter_values(
            (0..n).map(|r| num(13, r) as u8),
        )),
        Arc::new(UInt16Array::from_iter_values(
            (0..n).map(|r| 60_000 + num(14, r) as u16),
        )),
        Arc::new(UInt32Array::from_iter_values(
            (0..n).map(|r| 4_000_000_000 + num(15, r) as u32),
        )),
        Arc::new(UInt64Array::from_iter_values(
            (0..n).map(|r| u64::MAX - 1000 + num(16, r) as u64),
        )),
        Arc::new(BooleanArray::from_iter(
            (0..n).map(|r| Some((r % 2 == 0) != differs(17, r))),
        )),
        Arc::new(StringArray::from_iter_values((0..n).map(|r| {
            format!(
                "{{\"id\": {r}, \"tags\": [\"a\", \"b\"], \"v\": {}}}",
                if differs(18, r) { 2 } else { 1 }
            )
        }))),
    ];
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    for (c, a) in COLUMNS.iter().zip(&columns[1..]) {
        fields.push(Field::new(*c, a.data_type().clone(), true));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// `snapdiff diff A B --key id` with more `flags`.
fn diff_by_id(a: &std::path::Path, b: &std::path::Path, flags: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--key",
        "id",
    ];
    args.extend(flags);
    run(&args)
}

fn mem(b: RecordBatch) -> datafusion::datasource::MemTable {
    datafusion::datasource::MemTable::try_new(b.schema(), vec![vec![b]]).unwrap()
}

fn write_parquet(path: &std::path::Path, b: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), None).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
}

#[test]
fn every_type_through_every_check_in_the_library() {
    let def = entity_def(&["id"], None, "");
    let r = verify_tables(mem(table(false)), mem(table(true)), def, 100).unwrap();
    assert_eq!(r.error, None, "{:?}", r.checks);
    assert_eq!(r.compared, COLUMNS.map(String::from).to_vec());
    let d = r.diff.as_ref().unwrap();
    assert_eq!(
        (d.missing, d.extra, d.changed),
        (0, 0, COLUMNS.len() as u64)
    );
    let by_column: Vec<(&str, u64)> = d
        .changed_by_column
        .iter()
        .map(|(c, n)| (c.as_str(), *n))
        .collect();
    let mut want: Vec<(&str, u64)> = COLUMNS.iter().map(|c| (*c, 1)).collect();
    want.sort();
    assert_eq!(by_column, want);
    // Each changed row differs exactly in its column.
    for row in &d.changed_rows {
        let id: usize = row.key[0].1.as_deref().unwrap().parse().unwrap();
        let differing: Vec<&str> = row
            .cells
            .iter()
            .filter(|c| c.differs)
            .map(|c| c.column.as_str())
            .collect();
        assert_eq!(differing, [COLUMNS[id - 1]], "row {id}");
    }
    let checks: Vec<(String, snapdiff::report::Status)> = r
        .checks
        .iter()
        .map(|c| (c.check.to_string(), c.status))
        .collect();
    use snapdiff::report::Status::*;
    assert_eq!(
        checks,
        [
            ("schema".to_string(), Pass),
            ("count".to_string(), Pass),
            ("hash".to_string(), Info),
            ("diff".to_string(), Fail),
            // Its differences are the changed rows' own: decided by the diff.
            ("aggregate".to_string(), Info),
        ]
    );
}

/// Without the row diff, the aggregate check profiles every type on both sides. Each
/// column's one changed value moves a statistic where it changes a sum (numbers) or is
/// the minimum (row 1's `bin`); elsewhere (a changed value in the middle of the range,
/// no sum) the profiles are equal.
#[test]
fn every_type_through_the_aggregate_check_without_the_diff() {
    use snapdiff::spec::CheckKind;
    let mut def = entity_def(&["id"], None, "");
    def.checks = vec![CheckKind::Schema, CheckKind::Count, CheckKind::Aggregate];
    let r = verify_tables(mem(table(false)), mem(table(true)), def, 100).unwrap();
    assert_eq!(r.error, None, "{:?}", r.checks);
    let stats: Vec<[&str; 4]> = r
        .aggregate_differences
        .iter()
        .map(|a| {
            // The binary minimum by its last byte (hex, 300 digits).
            fn v(s: &Option<String>) -> &str {
                match s.as_deref().unwrap_or("NULL") {
                    b if b.len() > 100 => &b[b.len() - 2..],
                    b => b,
                }
            }
            [
                a.column.as_str(),
                a.statistic.as_str(),
                v(&a.legacy),
                v(&a.target),
            ]
        })
        .collect();
    assert_eq!(
        stats,
        [
            ["bin", "min", "ab", "ff"],
            ["dec128", "sum", "1714.75", "1715.75"],
            [
                "dec256",
                "sum",
                "171000000000000000000000000000.0095",
                "171100000000000000000000000000.0095"
            ],
            ["f32", "sum", "1719.5", "1720.5"],
            ["f64", "sum", "1714.75", "1715.75"],
            ["u8", "sum", "1710", "1711"],
            ["u16", "sum", "1141710", "1141711"],
            ["u32", "sum", "76000001710", "76000001711"],
            ["u64", "sum", "18446744073709534307", "18446744073709534308"],
        ]
    );
    assert_eq!(r.status, snapdiff::report::Status::Fail);
}

#[test]
fn every_type_through_diff_and_run() {
    let dir = tempdir();
    let (a, b) = (
        dir.path().join("a/t.parquet"),
        dir.path().join("b/t.parquet"),
    );
    write_parquet(&a, &table(false));
    write_parquet(&b, &table(true));
    let (code, out, err) = diff_by_id(&a, &b, &["--quiet"]);
    assert_eq!(code, 1, "{out}{err}");
    let line = out.lines().nth(1).unwrap();
    assert!(
        line.starts_with("diff  FAIL  legacy 19  target 19  missing 0  extra 0  changed 19"),
        "{out}"
    );

    // The same through a spec: two folders of Parquet files as the sources.
    let spec = dir.path().join("verify.toml");
    std::fs::write(
        &spec,
        "[sources.legacy]\nurl = \"a\"\n[sources.target]\nurl = \"b\"\n\n[[entity]]\nname = \"t\"\nkey = \"id\"\ntable = \"t\"\n",
    )
    .unwrap();
    let (code, out, err) = run(&["run", spec.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 1, "{out}{err}");
    let report = only_report(&dir.path().join("reports"));
    let e = report_entity(&report, "t");
    assert_eq!(e["status"], "fail");
    assert_eq!(e["diff"]["changed"], 19);
    let checks: Vec<(&str, &str)> = e["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("schema", "pass"),
            ("count", "pass"),
            ("hash", "info"),
            ("diff", "fail"),
            ("aggregate", "info")
        ]
    );
    // Binary samples read as a hex prefix and a size; a changed one from 8 bytes before
    // its first difference.
    let row = e["diff"]["changed_rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"][0][1] == "1")
        .unwrap();
    let bin = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "bin")
        .unwrap();
    assert_eq!(bin["differs"], true);
    let legacy = format!("0x(+141 bytes)…{} (150 bytes)", "ab".repeat(9));
    let target = format!("0x(+141 bytes)…{}ff (150 bytes)", "ab".repeat(8));
    assert_eq!(bin["legacy"], legacy.as_str());
    assert_eq!(bin["target"], target.as_str());
    // An unchanged one: its first 16 bytes and its size.
    let bin2 = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "lbin")
        .unwrap();
    assert_eq!(
        bin2["legacy"],
        format!("0x00{}… (150 bytes)", "ab".repeat(15)).as_str()
    );
    let folder = only_report_dir(&dir.path().join("reports"));
    let md = read(&folder.join("report.md"));
    assert!(
        md.contains(&format!("| **{legacy}** → **{target}** |")),
        "{md}"
    );
    let html = read(&folder.join("report.html"));
    let marked = |m: &str| {
        format!(
            "<td class=\"diff\">0x(+141 bytes)…{}<mark>{m}</mark> (150 bytes)</td>",
            "ab".repeat(8)
        )
    };
    assert!(
        html.contains(&format!("{}{}", marked("ab"), marked("ff"))),
        "{html}"
    );
}

/// The repro of the issue: two SQLite files with one BLOB column that differs.
#[test]
fn a_differing_blob_is_one_changed_row() {
    let dir = tempdir();
    for (name, blob) in [("legacy.db", "x'0001'"), ("target.db", "x'0002'")] {
        let c = rusqlite::Connection::open(dir.path().join(name)).unwrap();
        c.execute_batch(&format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, pic BLOB); INSERT INTO t VALUES (1, {blob});"
        ))
        .unwrap();
    }
    let snaps = dir.path().join("snapshots");
    for (side, name) in [("legacy", "legacy.db"), ("target", "target.db")] {
        let url = format!("sqlite://{}", dir.path().join(name).display());
        let (code, out, err) = extract(
            &url,
            snaps.to_str().unwrap(),
            &["--table", "t", "--side", side, "--quiet"],
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, err) = run(&[
        "diff",
        "legacy.t",
        "target.t",
        "--key",
        "id",
        "--snapshots",
        snaps.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[1],
        "diff  FAIL  legacy 1  target 1  missing 0  extra 0  changed 1"
    );
    assert!(out.contains("changed 1 (pic 1)"), "{out}");
    assert!(out.contains("0001") && out.contains("0002"), "{out}");
}

/// Values whose difference cannot be seen are shown so that it can, and a column whose
/// every difference is white space, case or Unicode form is named with its rule.
#[test]
fn invisible_differences_are_shown_and_named() {
    let dir = tempdir();
    let d = dir.path();
    let table = |city: [&str; 2], name: [&str; 2], note: [&str; 2], mixed: [&str; 2]| {
        format!(
            "SELECT * FROM (VALUES (1, '{}', '{}', '{}', '{}'), (2, '{}', '{}', '{}', '{}')) AS t(id, city, name, note, mixed)",
            city[0], name[0], note[0], mixed[0], city[1], name[1], note[1], mixed[1]
        )
    };
    write_parquet_sql(
        &d.join("a.parquet"),
        &table(
            ["Edinburgh ", "Oslo"],
            ["ADA", "Bo"],
            ["Cafe\u{301}", "x"],
            ["a b", "c d"],
        ),
    );
    write_parquet_sql(
        &d.join("b.parquet"),
        &table(
            ["Edinburgh", "Oslo\t"],
            ["Ada", "bo"],
            ["Café", "x"],
            ["a\nb", "c\u{a0}d"],
        ),
    );
    let (a, b) = (d.join("a.parquet"), d.join("b.parquet"));
    let (code, out, err) = diff_by_id(&a, &b, &[]);
    assert_eq!(code, 1, "{out}{err}");
    for line in [
        "    changed id=1: city: \"Edinburgh \" -> Edinburgh, name: ADA -> Ada, note: \"Cafe\\u{301}\" -> Café, mixed: a b -> \"a\\nb\"",
        "    changed id=2: city: Oslo -> \"Oslo\\t\", name: Bo -> bo, mixed: c d -> \"c\\u{a0}d\"",
        "    note: every difference in city is only white space at either end: add the `trim` rule to it",
        "    note: every difference in name is only letter case: add the `lower` rule to it",
        "    note: every difference in note is only Unicode normalisation form (the same letters, composed differently): add the `nfc` rule to it",
    ] {
        assert!(out.lines().any(|l| l == line), "{out}\nwanted: {line}");
    }
    assert!(!out.contains("in mixed is only"), "{out}");

    let reports = d.join("reports");
    let (code, out, err) = diff_by_id(&a, &b, &["--report", reports.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let report = only_report(&reports);
    assert_eq!(
        report["entities"][0]["diff"]["invisible"],
        serde_json::json!([
            {"column": "city", "kind": "white_space"},
            {"column": "name", "kind": "letter_case"},
            {"column": "note", "kind": "unicode_form"}
        ])
    );
    let folder = only_report_dir(&reports);
    let md = read(&folder.join("report.md"));
    assert!(
        md.contains("| 1 | **\"Edinburgh \"** → **Edinburgh** |"),
        "{md}"
    );
    assert!(
        md.contains("Note: every difference in `city` is only white space at either end: add the `trim` rule to it."),
        "{md}"
    );
    let html = read(&folder.join("report.html"));
    assert!(
        html.contains("<td class=\"diff\">&quot;Edinburgh<mark> </mark>&quot;</td><td class=\"diff\">Edinburgh</td>"),
        "{html}"
    );
}

/// Floats against decimals: differences below the decimals' precision are named with
/// the `round` rule that makes them go away.
#[test]
fn float_noise_against_decimals_is_named_with_its_round_rule() {
    let dir = tempdir();
    let d = dir.path();
    write_parquet_sql(
        &d.join("a.parquet"),
        "SELECT * FROM (VALUES (1, arrow_cast(1.0000001, 'Float64')), (2, arrow_cast(2.4999996, 'Float64')), (3, arrow_cast(3.0, 'Float64'))) AS t(id, amount)",
    );
    write_parquet_sql(
        &d.join("b.parquet"),
        "SELECT * FROM (VALUES (1, arrow_cast(1.00, 'Decimal128(10, 2)')), (2, arrow_cast(2.50, 'Decimal128(10, 2)')), (3, arrow_cast(3.00, 'Decimal128(10, 2)'))) AS t(id, amount)",
    );
    let (a, b) = (d.join("a.parquet"), d.join("b.parquet"));
    let (code, out, err) = diff_by_id(&a, &b, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines().any(|l| l == "    note: every difference in amount goes away rounded to 6 decimals: add round = 6 to it"),
        "{out}"
    );
    // With the rule, the sides are equal.
    let (code, out, err) = diff_by_id(
        &a,
        &b,
        &["--round", "amount=6", "--checks", "count,hash,diff"],
    );
    assert_eq!(code, 0, "{out}{err}");
}
