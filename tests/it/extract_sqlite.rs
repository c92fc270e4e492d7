//! SQLite extraction: type fidelity, NULL-first and untyped columns, mixed storage
//! classes, splitting, and the guarantee that the database file is never written.

use std::path::Path;

use arrow::datatypes::DataType;
use rusqlite::Connection;

use crate::common::*;

fn db(dir: &Path, sql: &str) -> std::path::PathBuf {
    let p = dir.join("legacy.db");
    let c = Connection::open(&p).unwrap();
    c.execute_batch(sql).unwrap();
    p
}

fn schema_json(run: &Path) -> serde_json::Value {
    serde_json::from_str(&read(&run.join("schema.json"))).unwrap()
}

#[test]
fn every_declared_type_round_trips_value_by_value() {
    let dir = tempdir();
    let path = db(
        dir.path(),
        "CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, tx TEXT, bl BLOB, b BOOLEAN, vc VARCHAR(20), dt DATETIME);
         INSERT INTO t VALUES (1, 9223372036854775807, 0.1, 'héllo wörld', x'00ff10', 1, '', '2024-03-31 02:30:00');
         INSERT INTO t VALUES (2, -9223372036854775808, 1e300, 'e' || char(769), x'', 0, 'x', '2024-03-31');
         INSERT INTO t VALUES (3, 0, -0.0, '', NULL, NULL, NULL, NULL);
         INSERT INTO t VALUES (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
    );
    let out = dir.path().join("snaps");
    let (code, stdout, stderr) = extract(
        &format!("sqlite://{}", path.display()),
        out.to_str().unwrap(),
        &["--table", "t", "--quiet"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let run_dir = only_run(&out, "legacy");
    let b = read_table(&run_dir, "t");
    let types: Vec<DataType> = ["id", "i", "r", "tx", "bl", "b", "vc", "dt"]
        .iter()
        .map(|c| column_type(&b, c))
        .collect();
    assert_eq!(
        types,
        vec![
            DataType::Int64,
            DataType::Int64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Binary,
            DataType::Boolean,
            DataType::Utf8,
            DataType::Utf8
        ]
    );
    // Compare every value with what SQLite itself returns for the same cell.
    let src = Connection::open(&path).unwrap();
    let rows = rows_by(&b, "id");
    let mut stmt = src
        .prepare("SELECT id, i, r, tx, bl, b, vc, dt FROM t ORDER BY id")
        .unwrap();
    let mut q = stmt.query([]).unwrap();
    let mut n = 0;
    while let Some(row) = q.next().unwrap() {
        for (c, got) in rows[n].iter().enumerate() {
            use rusqlite::types::ValueRef as R;
            let want = match (row.get_ref(c).unwrap(), c) {
                (R::Null, _) => V::Null,
                (R::Integer(x), 5) => V::Bool(x == 1),
                (R::Integer(x), _) => V::Int(x as i128),
                (R::Real(x), _) => V::Float(x.to_bits()),
                (R::Text(t), _) => V::Str(String::from_utf8(t.to_vec()).unwrap()),
                (R::Blob(x), _) => V::Bytes(x.to_vec()),
            };
            assert_eq!(got, &want, "row {n} column {c}");
        }
        n += 1;
    }
    assert_eq!(n, 4);
    // The combining accent is not normalised away.
    assert_eq!(rows[1][3], s("e\u{301}"));
    let sj = schema_json(&run_dir);
    assert_eq!(sj["tables"]["t"]["primary_key"], serde_json::json!(["id"]));
    assert_eq!(sj["tables"]["t"]["columns"][7]["source_type"], "DATETIME");
}

#[test]
fn null_first_rows_and_untyped_columns_take_their_type_from_the_data() {
    let dir = tempdir();
    let mut sql = String::from(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, declared INTEGER, untyped, num NUMERIC);",
    );
    for k in 1..=1500 {
        sql.push_str(&format!("INSERT INTO t VALUES ({k}, NULL, NULL, NULL);"));
    }
    sql.push_str("INSERT INTO t VALUES (1501, 42, 'late text', 2.5);");
    let path = db(dir.path(), &sql);
    let out = dir.path().join("snaps");
    let (code, _, stderr) = extract(
        &format!("sqlite://{}", path.display()),
        out.to_str().unwrap(),
        &["--table", "t"],
    );
    assert_eq!(code, 0, "{stderr}");
    let b = read_table(&only_run(&out, "legacy"), "t");
    assert_eq!(column_type(&b, "declared"), DataType::Int64);
    assert_eq!(column_type(&b, "untyped"), DataType::Utf8);
    assert_eq!(column_type(&b, "num"), DataType::Float64);
    let rows = rows_by(&b, "id");
    assert_eq!(rows.len(), 1501);
    assert!(rows[..1500]
        .iter()
        .all(|r| r[1..] == [V::Null, V::Null, V::Null]));
    assert_eq!(rows[1500], vec![i(1501), i(42), s("late text"), f(2.5)]);
}

#[test]
fn mixed_storage_classes_widen_and_are_recorded() {
    let dir = tempdir();
    let path = db(
        dir.path(),
        "CREATE TABLE t (id INTEGER PRIMARY KEY, qty INTEGER, price NUMERIC, big NUMERIC, flag BOOLEAN);
         INSERT INTO t VALUES (1, 5, 3, 1, 1);
         INSERT INTO t VALUES (2, 'N/A', 2.5, 9007199254740993, 0);
         INSERT INTO t VALUES (3, 7, NULL, 0.5, 2);",
    );
    let out = dir.path().join("snaps");
    let (code, _, stderr) = extract(
        &format!("sqlite://{}", path.display()),
        out.to_str().unwrap(),
        &["--table", "t"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("legacy.t: reading again: column qty holds text values"),
        "{stderr}"
    );
    let run_dir = only_run(&out, "legacy");
    let b = read_table(&run_dir, "t");
    let rows = rows_by(&b, "id");
    // qty: integers and text → text; price: integer and real → float;
    // big: an integer beyond 2^53 and a real → text (a float would change it); flag: 2 → integer.
    assert_eq!(rows[0], vec![i(1), s("5"), f(3.0), s("1"), i(1)]);
    assert_eq!(
        rows[1],
        vec![i(2), s("N/A"), f(2.5), s("9007199254740993"), i(0)]
    );
    assert_eq!(rows[2], vec![i(3), s("7"), V::Null, s("0.5"), i(2)]);
    let sj = schema_json(&run_dir);
    let cols = &sj["tables"]["t"]["columns"];
    assert_eq!(
        cols[1]["notes"],
        serde_json::json!(["mixed storage classes (integer, text): stored as Utf8"])
    );
    assert_eq!(
        cols[2]["notes"],
        serde_json::json!(["mixed storage classes (integer, real): stored as Float64"])
    );
    assert_eq!(
        cols[3]["notes"],
        serde_json::json!(["mixed storage classes (integer, real): stored as Utf8"])
    );
    assert_eq!(cols[4]["arrow_type"], "Int64");
}

#[test]
fn blobs_mixed_with_text_are_an_error_naming_the_column_until_cast() {
    let dir = tempdir();
    let path = db(
        dir.path(),
        "CREATE TABLE t (id INTEGER PRIMARY KEY, data);
         INSERT INTO t VALUES (1, 'text'), (2, x'cafe');",
    );
    let out = dir.path().join("snaps");
    let url = format!("sqlite://{}", path.display());
    let (code, _, stderr) = extract(&url, out.to_str().unwrap(), &["--table", "t"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "table t, column data: the column holds BLOBs mixed with other values, which no one Arrow type keeps faithfully\n  hint: cast it explicitly: cast = { data = \"binary\" }"
        ),
        "{stderr}"
    );
    assert!(
        !out.join("legacy").read_dir().unwrap().any(|_| true),
        "a failed first table leaves no run behind"
    );
    let (code, _, stderr) = extract(
        &url,
        out.to_str().unwrap(),
        &["--table", "t", "--cast", "data=binary"],
    );
    assert_eq!(code, 0, "{stderr}");
    let rows = rows_by(&read_table(&only_run(&out, "legacy"), "t"), "id");
    assert_eq!(rows[0][1], V::Bytes(b"text".to_vec()));
    assert_eq!(rows[1][1], V::Bytes(vec![0xca, 0xfe]));
}

#[test]
fn a_query_with_casts_and_null_first_rows_extracts() {
    let dir = tempdir();
    let path = db(
        dir.path(),
        "CREATE TABLE s (id INTEGER PRIMARY KEY, score REAL, at TEXT);
         INSERT INTO s VALUES (1, NULL, NULL), (2, 12.5, '2024-01-02 03:04:05.25'), (3, 7, '2024-02-29');",
    );
    let out = dir.path().join("snaps");
    let (code, _, stderr) = extract(
        &format!("sqlite://{}", path.display()),
        out.to_str().unwrap(),
        &[
            "--query",
            "SELECT id, score * 2 AS doubled, at FROM s",
            "--name",
            "scores",
            "--cast",
            "doubled=decimal(6,2)",
            "--cast",
            "at=timestamp",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let b = read_table(&only_run(&out, "legacy"), "scores");
    assert_eq!(column_type(&b, "doubled"), DataType::Decimal128(6, 2));
    let rows = rows_by(&b, "id");
    assert_eq!(rows[0], vec![i(1), V::Null, V::Null]);
    assert_eq!(
        rows[1],
        vec![
            i(2),
            V::Dec(2500, 2),
            V::Ts(micros("2024-01-02 03:04:05.25"), None)
        ]
    );
    assert_eq!(
        rows[2],
        vec![
            i(3),
            V::Dec(1400, 2),
            V::Ts(micros("2024-02-29 00:00:00"), None)
        ]
    );
}

#[test]
fn partitioned_reads_give_the_same_rows_and_keep_null_keys() {
    let dir = tempdir();
    let mut sql = String::from("CREATE TABLE t (id INTEGER PRIMARY KEY, grp INTEGER, v TEXT);");
    sql.push_str("WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 10000) INSERT INTO t SELECT k, CASE WHEN k % 100 = 0 THEN NULL ELSE k % 37 END, 'v' || k FROM n;");
    let path = db(dir.path(), &sql);
    let out = dir.path().join("snaps");
    let url = format!("sqlite://{}", path.display());
    let (code, _, stderr) = extract(
        &url,
        out.to_str().unwrap(),
        &[
            "--table",
            "t",
            "--partition-on",
            "grp",
            "--partitions",
            "3",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let run_dir = only_run(&out, "legacy");
    let manifest = snapdiff::snapshot::read_manifest(&run_dir).unwrap();
    let p = manifest.tables["t"].partitioning.clone().unwrap();
    assert_eq!((p.column.as_str(), p.ranges, p.concurrency), ("grp", 4, 3));
    let rows = rows_by(&read_table(&run_dir, "t"), "id");
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows[99], vec![i(100), V::Null, s("v100")]);
    assert_eq!(rows[9_999], vec![i(10_000), V::Null, s("v10000")]);
    assert_eq!(rows[36], vec![i(37), i(0), s("v37")]);
}

#[test]
fn the_database_file_is_never_written() {
    let dir = tempdir();
    let path = db(
        dir.path(),
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    let before = sha256_file(&path);
    let files_before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = dir.path().join("snaps");
    let url = format!("sqlite://{}", path.display());
    let (code, _, stderr) = extract(&url, out.to_str().unwrap(), &["--quiet"]);
    assert_eq!(code, 0, "{stderr}");
    // A query that would write is refused before it runs.
    let (code, _, stderr) = extract(
        &url,
        out.to_str().unwrap(),
        &["--query", "DELETE FROM t RETURNING id", "--name", "gone"],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("the query would write to the database; only reads are allowed"),
        "{stderr}"
    );
    assert_eq!(sha256_file(&path), before);
    let mut files_after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files_after.retain(|f| f != "snaps");
    assert_eq!(
        files_after, files_before,
        "no journal or WAL file was created next to the database"
    );
    // The connection snapdiff reads with refuses writes outright.
    let conn = snapdiff::extract::sqlite::open_read_only(&path).unwrap();
    let err = conn
        .execute("INSERT INTO t VALUES (3, 'c')", [])
        .unwrap_err();
    assert_eq!(err.to_string(), "attempt to write a readonly database");
    let count: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 2);
}

#[test]
fn every_table_is_extracted_when_none_is_named() {
    let dir = tempdir();
    let path = db(
        dir.path(),
        "CREATE TABLE Users (id INTEGER PRIMARY KEY); CREATE TABLE \"order-items\" (id INTEGER);
         INSERT INTO Users VALUES (1), (2); INSERT INTO \"order-items\" VALUES (7);",
    );
    let out = dir.path().join("snaps");
    let (code, stdout, stderr) = extract(
        &format!("sqlite://{}", path.display()),
        out.to_str().unwrap(),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("legacy "), "{stdout}");
    assert!(stdout.contains("  2 tables  3 rows  "), "{stdout}");
    let m = snapdiff::snapshot::read_manifest(&only_run(&out, "legacy")).unwrap();
    assert_eq!(
        m.tables.keys().collect::<Vec<_>>(),
        vec!["order_items", "users"]
    );
    assert_eq!(m.tables["users"].source_object.as_deref(), Some("Users"));
}

#[test]
fn casts_read_raw_values_and_never_round_truncate_or_guess() {
    let dir = tempdir();
    let path = db(
        dir.path(),
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n TEXT, r REAL, at TEXT, b INTEGER);
         INSERT INTO t VALUES (1, '42', 0.1 + 0.2, '2024-01-02', 1), (2, '-7', 2.5, '2024-01-03 00:00:00', 0);",
    );
    let out = dir.path().join("snaps");
    let url = format!("sqlite://{}", path.display());
    let o = out.to_str().unwrap();
    let base = ["extract", "--source", &url, "--table", "t", "--out", o];
    let mut ok = base.to_vec();
    ok.extend([
        "--cast",
        "n=integer",
        "--cast",
        "r=text",
        "--cast",
        "at=date",
        "--cast",
        "b=boolean",
    ]);
    let (code, _, stderr) = run(&ok);
    assert_eq!(code, 0, "{stderr}");
    let rows = rows_by(&read_table(&only_run(&out, "legacy"), "t"), "id");
    // SQLite's own CAST(0.1 + 0.2 AS TEXT) says 0.3; the exact value is kept.
    assert_eq!(
        rows[0],
        vec![
            i(1),
            i(42),
            s("0.30000000000000004"),
            V::Date(days(2024, 1, 2)),
            V::Bool(true)
        ]
    );
    assert_eq!(
        rows[1],
        vec![
            i(2),
            i(-7),
            s("2.5"),
            V::Date(days(2024, 1, 3)),
            V::Bool(false)
        ]
    );
    let cases = [
        (
            "r=integer",
            "column r: `0.30000000000000004` is not an integer",
        ),
        (
            "r=decimal(12,2)",
            "column r: `0.30000000000000004` is not exactly a decimal(12,2)",
        ),
        ("at=boolean", "column at: `2024-01-02` is not a boolean"),
    ];
    for (cast, want) in cases {
        assert_fails(&[&base[..], &["--cast", cast]].concat(), want);
    }
    let c = Connection::open(&path).unwrap();
    c.execute(
        "INSERT INTO t VALUES (3, 'abc', 1, '2024-01-04 10:30:00', 2)",
        [],
    )
    .unwrap();
    for (cast, want) in [
        ("n=integer", "`abc` is not an integer"),
        (
            "at=date",
            "`2024-01-04 10:30:00` is not a date: it has a time of day",
        ),
        ("b=boolean", "`2` is not a boolean"),
    ] {
        assert_fails(&[&base[..], &["--cast", cast]].concat(), want);
    }
}

#[test]
fn partition_on_with_one_reader_reads_in_the_run_transaction() {
    let dir = tempdir();
    let path = db(dir.path(), "CREATE TABLE t (id INTEGER PRIMARY KEY, g INTEGER); INSERT INTO t VALUES (1, NULL), (2, 5);");
    let out = dir.path().join("snaps");
    let (code, _, stderr) = extract(
        &format!("sqlite://{}", path.display()),
        out.to_str().unwrap(),
        &["--table", "t", "--partition-on", "g"],
    );
    assert_eq!(code, 0, "{stderr}");
    let run_dir = only_run(&out, "legacy");
    let m = snapdiff::snapshot::read_manifest(&run_dir).unwrap();
    assert_eq!(
        m.tables["t"].partitioning, None,
        "one reader does not split"
    );
    assert_eq!(
        rows_by(&read_table(&run_dir, "t"), "id"),
        vec![vec![i(1), V::Null], vec![i(2), i(5)]]
    );
}

#[test]
fn table_names_that_look_like_paths_stay_inside_the_snapshot_root() {
    let dir = tempdir();
    let path = db(
        dir.path(),
        "CREATE TABLE \"../../escape\" (id INTEGER); CREATE TABLE \"a/b\" (id INTEGER);
         INSERT INTO \"../../escape\" VALUES (1); INSERT INTO \"a/b\" VALUES (2), (3);",
    );
    let out = dir.path().join("snaps");
    let (code, _, stderr) = extract(
        &format!("sqlite://{}", path.display()),
        out.to_str().unwrap(),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let run = only_run(&out, "legacy");
    let m = snapdiff::snapshot::read_manifest(&run).unwrap();
    // Each becomes a plain identifier, one folder of the run.
    assert_eq!(m.tables.keys().collect::<Vec<_>>(), vec!["_escape", "a_b"]);
    assert_eq!(m.tables["a_b"].source_object.as_deref(), Some("a/b"));
    assert_eq!(m.tables["a_b"].rows, 2);
    // Nothing was written beside the database or the snapshot root.
    let mut beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(beside, vec!["legacy.db", "snaps"]);
    for f in all_files(&out) {
        assert!(f.starts_with(&run), "{} is outside the run", f.display());
    }
}

/// A SQLite database in WAL mode written while it is extracted: the snapshot shows it as
/// it was when the run's read transaction began, in every table, and the service's
/// writes go through meanwhile.
#[test]
fn writes_committed_during_an_extraction_are_not_in_its_snapshot() {
    let dir = tempdir();
    let path = dir.path().join("live.db");
    let c = Connection::open(&path).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE z (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 1000000)
         INSERT INTO a SELECT k, 'a' || k FROM s;
         INSERT INTO z SELECT id, v FROM a WHERE id <= 1000;",
    )
    .unwrap();
    let root = dir.path().join("snaps");
    let mut child = cmd(&[
        "extract",
        "--source",
        &format!("sqlite://{}", path.display()),
        "--out",
        root.to_str().unwrap(),
        "--run-id",
        "live",
        "--quiet",
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Once the run folder exists the read transaction is open; write to both tables.
    wait_until("the run never started", 60, 1, || {
        root.join("legacy/live").exists()
    });
    c.execute_batch(
        "BEGIN;
         DELETE FROM a WHERE id <= 10;
         UPDATE z SET v = 'changed';
         INSERT INTO z VALUES (5000, 'late');
         COMMIT;",
    )
    .unwrap();
    let still_running = child.try_wait().unwrap().is_none();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        still_running,
        "the writes must land while the extraction reads"
    );
    let run_dir = root.join("legacy/live");
    let a = column(&read_table(&run_dir, "a"), "id");
    assert_eq!(a.len(), 1_000_000);
    assert_eq!(a.iter().filter(|v| **v == i(1)).count(), 1);
    let z = rows_by(&read_table(&run_dir, "z"), "id");
    assert_eq!(z.len(), 1000);
    assert_eq!(z[0], vec![i(1), s("a1")]);
    assert_eq!(z[999], vec![i(1000), s("a1000")]);
    // The database itself has the writes.
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM z WHERE v IN ('changed', 'late')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1001);
}

/// `names = "snake_case"`: a PascalCase legacy is snapshotted under the names of its
/// snake_case target, schema.json keeps the source's names, and a spec verifies the two
/// without one alias; two names that become one are an error naming both.
#[test]
fn snake_case_names_at_extraction_meet_a_snake_case_target() {
    let dir = tempdir();
    let d = dir.path();
    db(
        d,
        "CREATE TABLE \"InvoiceLine\" (\"InvoiceLineId\" INTEGER PRIMARY KEY, \"UnitPrice\" NUMERIC, \"TrackName\" TEXT);
         CREATE INDEX \"IFK_Track\" ON \"InvoiceLine\" (\"TrackName\");
         INSERT INTO \"InvoiceLine\" VALUES (1, 0.99, 'Balls to the Wall'), (2, 1.99, 'Fast As a Shark');",
    );
    let snaps = d.join("snapshots");
    let url = format!("sqlite://{}", d.join("legacy.db").display());
    let (code, out, err) = extract(
        &url,
        snaps.to_str().unwrap(),
        &["--table", "InvoiceLine", "--names", "snake_case", "--quiet"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let run_dir = only_run(&snaps, "legacy");
    let batches = read_table(&run_dir, "invoice_line");
    assert_eq!(
        rows_by(&batches, "invoice_line_id").len(),
        2,
        "the rows under their new names"
    );
    assert_eq!(
        column_names(&batches),
        ["invoice_line_id", "unit_price", "track_name"]
    );
    let schema = schema_json(&run_dir);
    let t = &schema["tables"]["invoice_line"];
    let cols: Vec<(&str, &str)> = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["source_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("invoice_line_id", "InvoiceLineId"),
            ("unit_price", "UnitPrice"),
            ("track_name", "TrackName")
        ]
    );
    assert_eq!(t["primary_key"], serde_json::json!(["invoice_line_id"]));

    // The same through a spec, against a snake_case target: equal, with no alias.
    write_parquet_sql(
        &d.join("target/invoice_line.parquet"),
        "SELECT * FROM (VALUES (1, 0.99, 'Balls to the Wall'), (2, 1.99, 'Fast As a Shark')) AS t(invoice_line_id, unit_price, track_name)",
    );
    std::fs::write(
        d.join("verify.toml"),
        "[sources.legacy]\nurl = \"sqlite://legacy.db\"\nnames = \"snake_case\"\n[sources.target]\nurl = \"target\"\n\n\
         [[entity]]\nname = \"lines\"\nkey = \"invoice_line_id\"\ntable = \"invoice_line\"\n[entity.normalize]\nunit_price = { round = 2 }\n",
    )
    .unwrap();
    let (code, out, err) = run(&[
        "run",
        d.join("verify.toml").to_str().unwrap(),
        "--format",
        "none",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("lines  PASS  legacy 2  target 2  missing 0  extra 0  changed 0"),
        "{out}"
    );

    // A bad scheme names the key and the schemes there are.
    std::fs::write(
        d.join("bad.toml"),
        "[sources.legacy]\nurl = \"sqlite://legacy.db\"\nnames = \"camelCase\"\n",
    )
    .unwrap();
    let (code, _, err) = run(&["plan", d.join("bad.toml").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("names `camelCase` is not a naming scheme")
            && err.contains("as_is, lower, snake_case"),
        "{err}"
    );

    // Two columns that become one name.
    let c = Connection::open(d.join("legacy.db")).unwrap();
    c.execute_batch("CREATE TABLE \"Clash\" (\"InvoiceId\" INTEGER, \"invoice_id\" INTEGER); INSERT INTO \"Clash\" VALUES (1, 2);")
        .unwrap();
    drop(c);
    let clash = d.join("clash");
    let (code, _, err) = extract(
        &url,
        clash.to_str().unwrap(),
        &["--table", "Clash", "--names", "snake_case", "--quiet"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("the columns of legacy.clash: `InvoiceId` and `invoice_id` would both be named `invoice_id`"),
        "{err}"
    );
}
