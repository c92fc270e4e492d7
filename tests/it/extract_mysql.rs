//! MySQL/MariaDB extraction against the real server on 127.0.0.1:3306: unsigned
//! integers, tinyint(1), DATETIME versus TIMESTAMP, decimals, enums and zero dates, the
//! read-only guarantee, and the errors a user meets.

use arrow::datatypes::DataType;
use mysql::prelude::Queryable;

use crate::common::*;

#[test]
fn every_supported_type_round_trips_exactly() {
    let Some((mut my, url)) = mysql_db("mysql type round trip", "it_my_types") else {
        return;
    };
    my.query_drop("SET SESSION sql_mode = ''").unwrap();
    my.query_drop(
        "CREATE TABLE t (id INT UNSIGNED PRIMARY KEY, i8s TINYINT, u8 TINYINT UNSIGNED, flag TINYINT(1),
           i16 SMALLINT, u16 SMALLINT UNSIGNED, i24 MEDIUMINT, u24 MEDIUMINT UNSIGNED, i32 INT, u32 INT UNSIGNED,
           i64 BIGINT, u64 BIGINT UNSIGNED, f FLOAT, d DOUBLE, dec12 DECIMAL(12,2), dec38 DECIMAL(38,10), dec65 DECIMAL(65,30),
           c CHAR(5), vc VARCHAR(20), tx TEXT, bn BINARY(4), vb VARBINARY(10), bl BLOB, e ENUM('a','b'), st SET('x','y'),
           j JSON, dt DATETIME(6), ts TIMESTAMP(6) NULL, dd DATE, tm TIME, yr YEAR, bt BIT(5))",
    )
    .unwrap();
    // TIMESTAMP values are given in +02:00 and stored in UTC; DATETIME is stored as written.
    my.query_drop("SET time_zone = '+02:00'").unwrap();
    my.query_drop(
        "INSERT INTO t VALUES
          (1, -128, 255, 2, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808,
           18446744073709551615, 1.5, 1e300, 1234567890.12, 9999999999999999999999999999.9999999999,
           12345678901234567890123456789012345.123456789012345678901234567890, 'ab', 'héllo', 'long text',
           0x01020304, 0xCAFE, 0xDEADBEEF, 'b', 'x,y', '{\"b\":1,\"a\":2}', '2024-03-31 02:30:00.123456',
           '2024-03-31 04:30:00', '2024-02-29', '-838:59:59', 2024, b'10101'),
          (2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.5, -2.5, -0.01, -0.0000000001, 0, '', '', '', 0x00000000, X'', X'', 'a', '',
           '[]', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00', '00:00:00', 1901, b'0'),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    let (code, _, stderr) = extract(
        &url,
        out.to_str().unwrap(),
        &["--side", "target", "--table", "t"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: target.t: column dt had 1 zero dates, read as NULL"),
        "{stderr}"
    );
    let run_dir = only_run(&out, "target");
    let b = read_table(&run_dir, "t");
    let rows = rows_by(&b, "id");
    let f32v = |x: f32| V::Float((x as f64).to_bits());
    assert_eq!(
        rows[0],
        vec![
            i(1),
            i(-128),
            i(255),
            i(2),
            i(-32768),
            i(65535),
            i(-8388608),
            i(16777215),
            i(-2147483648),
            i(4294967295),
            i(-9223372036854775808),
            i(18446744073709551615),
            f32v(1.5),
            f(1e300),
            V::Dec(123456789012, 2),
            V::Dec(99999999999999999999999999999999999999, 10),
            s("12345678901234567890123456789012345.123456789012345678901234567890"),
            s("ab"),
            s("héllo"),
            s("long text"),
            V::Bytes(vec![1, 2, 3, 4]),
            V::Bytes(vec![0xca, 0xfe]),
            V::Bytes(vec![0xde, 0xad, 0xbe, 0xef]),
            s("b"),
            s("x,y"),
            s("{\"b\":1,\"a\":2}"),
            V::Ts(micros("2024-03-31 02:30:00.123456"), None),
            V::Ts(micros("2024-03-31 02:30:00"), Some("UTC".into())),
            V::Date(days(2024, 2, 29)),
            s("-838:59:59"),
            i(2024),
            i(21),
        ]
    );
    assert_eq!(
        rows[1],
        vec![
            i(2),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            f32v(-0.5),
            f(-2.5),
            V::Dec(-1, 2),
            V::Dec(-1, 10),
            s("0.000000000000000000000000000000"),
            s(""),
            s(""),
            s(""),
            V::Bytes(vec![0; 4]),
            V::Bytes(vec![]),
            V::Bytes(vec![]),
            s("a"),
            s(""),
            s("[]"),
            V::Null,
            V::Null,
            V::Null,
            s("00:00:00"),
            i(1901),
            i(0),
        ]
    );
    assert!(rows[2][1..].iter().all(|v| *v == V::Null), "{:?}", rows[2]);
    let types: Vec<DataType> = [
        "i8s", "u8", "flag", "u24", "u64", "dec12", "dec65", "dt", "ts",
    ]
    .iter()
    .map(|c| column_type(&b, c))
    .collect();
    assert_eq!(
        types.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        vec![
            "Int8",
            "UInt8",
            "Int8",
            "UInt32",
            "UInt64",
            "Decimal128(12, 2)",
            "Utf8",
            "Timestamp(Microsecond, None)",
            "Timestamp(Microsecond, Some(\"UTC\"))"
        ]
    );
    let sj: serde_json::Value = serde_json::from_str(&read(&run_dir.join("schema.json"))).unwrap();
    let cols = &sj["tables"]["t"]["columns"];
    assert_eq!(cols[3]["source_type"], "tinyint(1)");
    assert_eq!(
        cols[3]["notes"],
        serde_json::json!([
            "tinyint(1): kept as an integer (it may hold values other than 0 and 1)"
        ])
    );
    assert_eq!(
        cols[26]["notes"],
        serde_json::json!(["1 zero dates (0000-00-00 or a zero month/day) read as NULL"])
    );
    assert_eq!(
        cols[27]["notes"],
        serde_json::json!([
            "TIMESTAMP read in time zone +00:00: stored as UTC",
            "1 zero dates (0000-00-00 or a zero month/day) read as NULL"
        ])
    );
    assert_eq!(
        (cols[15]["precision"].as_u64(), cols[15]["scale"].as_i64()),
        (Some(38), Some(10))
    );
    assert_eq!(sj["tables"]["t"]["primary_key"], serde_json::json!(["id"]));
}

#[test]
fn tables_split_on_the_integer_primary_key() {
    let Some((mut my, url)) = mysql_db("mysql ranges", "it_my_ranges") else {
        return;
    };
    my.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
        .unwrap();
    let values: Vec<String> = (1..=5000).map(|k| format!("({k}, 'v{k}')")).collect();
    my.query_drop(format!("INSERT INTO t VALUES {}", values.join(",")))
        .unwrap();
    my.query_drop("ANALYZE TABLE t").unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    let (code, _, stderr) = extract(
        &url,
        out.to_str().unwrap(),
        &["--table", "t", "--chunk-rows", "500", "--quiet"],
    );
    assert_eq!(code, 0, "{stderr}");
    let run_dir = only_run(&out, "legacy");
    let m = snapdiff::snapshot::read_manifest(&run_dir).unwrap();
    let p = m.tables["t"]
        .partitioning
        .clone()
        .expect("split on the primary key");
    assert_eq!(p.column, "id");
    assert!(p.ranges >= 4, "{p:?}");
    let rows = rows_by(&read_table(&run_dir, "t"), "id");
    assert_eq!(rows.len(), 5000);
    assert_eq!(rows[4999], vec![i(5000), s("v5000")]);
}

#[test]
fn sessions_are_read_only_and_a_writing_query_is_refused() {
    let Some((mut my, url)) = mysql_db("mysql read-only", "it_my_ro") else {
        return;
    };
    my.query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .unwrap();
    my.query_drop("INSERT INTO t VALUES (1), (2), (3)").unwrap();
    my.query_drop(
        "CREATE FUNCTION sneak() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO t VALUES (99); RETURN 1; END",
    )
    .unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    for extra in [vec![], vec!["--partition-on", "id"]] {
        let mut args = vec![
            "extract",
            "--source",
            &url,
            "--query",
            "SELECT id, sneak() AS x FROM t",
            "--name",
            "q",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("the source refused a write"), "{stderr}");
    }
    let count: Option<i64> = my.query_first("SELECT count(*) FROM t").unwrap();
    assert_eq!(count, Some(3));
    let src = snapdiff::extract::Source::parse(&url, std::path::Path::new(".")).unwrap();
    let mut conn = snapdiff::extract::mysql::connect(&src).unwrap();
    let err = conn.query_drop("INSERT INTO t VALUES (100)").unwrap_err();
    match err {
        mysql::Error::MySqlError(e) => assert_eq!(e.code, 1792),
        other => panic!("{other}"),
    }
}

#[test]
fn login_database_table_and_syntax_errors_say_what_and_where() {
    let Some((mut my, url)) = mysql_db("mysql errors", "it_my_err") else {
        return;
    };
    my.query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .unwrap();
    for host in ["localhost", "127.0.0.1", "%"] {
        my.query_drop(format!("DROP USER IF EXISTS 'it_pw'@'{host}'"))
            .unwrap();
        my.query_drop(format!(
            "CREATE USER 'it_pw'@'{host}' IDENTIFIED BY 'right-pw-123'"
        ))
        .unwrap();
    }
    let dir = tempdir();
    let out = dir.path().join("snaps");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--source".into(), "mysql://it_pw:wrong-pw-456@127.0.0.1:3306/it_my_err".into(), "--table".into(), "t".into()],
            "error: source mysql://it_pw@127.0.0.1:3306/it_my_err: login refused: Access denied for user 'it_pw'",
        ),
        (
            vec!["--source".into(), "mysql://root@127.0.0.1:3306/it_no_such_db".into(), "--table".into(), "t".into()],
            "Unknown database 'it_no_such_db'\n  hint: check the database name in the URL",
        ),
        (
            vec!["--source".into(), "mysql://root@127.0.0.1:1/it_my_err".into(), "--table".into(), "t".into()],
            "error: source mysql://root@127.0.0.1:1/it_my_err: cannot reach the server",
        ),
        (vec!["--source".into(), url.clone(), "--table".into(), "missing".into()], "table missing: there is no table `missing` in the database\n  hint: the tables are: t"),
        (
            vec!["--source".into(), url.clone(), "--query".into(), "SELEC 1".into(), "--name".into(), "bad".into()],
            "table bad: the query does not prepare: syntax error: You have an error in your SQL syntax",
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["extract".to_string()];
        full.extend(args.iter().cloned());
        full.extend(["--out".to_string(), out.to_str().unwrap().to_string()]);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = run(&refs);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}:\n{stderr}\nwanted: {want}");
        assert!(
            !format!("{stdout}{stderr}").contains("wrong-pw-456"),
            "the password leaked: {stderr}"
        );
    }
    assert!(
        !out.exists()
            || std::fs::read_dir(out.join("legacy"))
                .map(|d| d.count())
                .unwrap_or(0)
                == 0
    );
}

#[test]
fn unsigned_keys_beyond_i64_split_without_wrapping_and_casts_are_strict() {
    let Some((mut my, url)) = mysql_db("mysql unsigned keys", "it_my_unsigned") else {
        return;
    };
    my.query_drop("CREATE TABLE t (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(30))")
        .unwrap();
    let top: u64 = u64::MAX;
    let keys: Vec<u64> = vec![1, 2, 1 << 63, (1 << 63) + 1, top - 1, top];
    let values: Vec<String> = keys.iter().map(|k| format!("({k}, 'k{k}')")).collect();
    my.query_drop(format!("INSERT INTO t VALUES {}", values.join(",")))
        .unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    let (code, _, stderr) = extract(
        &url,
        out.to_str().unwrap(),
        &["--table", "t", "--partitions", "3", "--chunk-rows", "1"],
    );
    assert_eq!(code, 0, "{stderr}");
    let run_dir = only_run(&out, "legacy");
    let m = snapdiff::snapshot::read_manifest(&run_dir).unwrap();
    assert!(m.tables["t"].partitioning.as_ref().unwrap().ranges >= 3);
    let mut got: Vec<i128> = column(&read_table(&run_dir, "t"), "id")
        .into_iter()
        .map(|v| match v {
            V::Int(x) => x,
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    assert_eq!(got, keys.iter().map(|k| *k as i128).collect::<Vec<_>>());
    let (code, _, stderr) = extract(
        &url,
        out.to_str().unwrap(),
        &["--table", "t", "--cast", "v=integer"],
    );
    assert_eq!(code, 2);
    // Ranges are read at once, so whichever bad value is met first is named.
    assert!(
        stderr.contains("column v: `k") && stderr.contains("` is not an integer\n"),
        "{stderr}"
    );
}

/// The server kills the reading connection mid-extract (`KILL` from a second session):
/// exit 2, a message saying the connection was lost, and no snapshot left behind.
#[test]
fn a_connection_killed_mid_extract_fails_clearly_and_keeps_no_partial_snapshot() {
    let Some((mut my, url)) = mysql_db("mysql killed connection", "it_my_drop") else {
        return;
    };
    my.query_drop("CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(60))")
        .unwrap();
    my.query_drop("SET SESSION max_recursive_iterations = 10000000")
        .unwrap();
    my.query_drop(
        "INSERT INTO big WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 2000000)
         SELECT k, CONCAT(REPEAT('x', 40), k) FROM s",
    )
    .unwrap();
    let dir = tempdir();
    let root = dir.path().join("snaps");
    let (code, stdout, stderr) = extract_with_reader_dropped(
        &[
            "extract",
            "--source",
            &url,
            "--table",
            "big",
            "--out",
            root.to_str().unwrap(),
            "--partitions",
            "1",
            "--quiet",
        ],
        || {
            // Only the reads of rows (`... FROM big WHERE id >= ...`): killing the
            // connection of the query for the key's range after that query ended
            // changes nothing (a run failed so, extracting every row).
            let ids: Vec<u64> = my
                .query(
                    "SELECT ID FROM information_schema.PROCESSLIST
                     WHERE ID <> CONNECTION_ID() AND DB = 'it_my_drop' AND INFO LIKE '%big% WHERE %'
                       AND INFO NOT LIKE '%information_schema%'",
                )
                .unwrap();
            // A statement may finish between the two: count only the kills that took.
            ids.iter()
                .filter(|id| my.query_drop(format!("KILL {id}")).is_ok())
                .count()
        },
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("the connection to the source was lost while reading"),
        "{stderr}"
    );
    assert!(
        snapdiff::snapshot::list_runs(&root, "legacy")
            .unwrap()
            .is_empty(),
        "no run is left"
    );
}
