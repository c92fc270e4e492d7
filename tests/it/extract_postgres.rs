//! PostgreSQL extraction against the real server on 127.0.0.1:5432: every supported
//! type compared value by value with the server's own text output, splitting, the
//! read-only guarantee, and the errors a user meets.

use arrow::datatypes::DataType;

use crate::common::*;

/// PostgreSQL's text for a snapshot value, as the server prints it with the session
/// settings snapdiff uses (TimeZone UTC, DateStyle ISO, bytea hex).
fn pg_text(v: &V) -> Option<String> {
    Some(match v {
        V::Null => return None,
        V::Int(x) => x.to_string(),
        V::Float(_) => unreachable!("floats are compared as numbers"),
        V::Str(s) => s.clone(),
        V::Bytes(b) => format!("\\x{}", hex::encode(b)),
        V::Bool(b) => if *b { "true" } else { "false" }.to_string(),
        V::Date(d) => (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
            + chrono::Duration::days(*d as i64))
        .format("%Y-%m-%d")
        .to_string(),
        V::Ts(us, tz) => {
            let dt = chrono::DateTime::from_timestamp_micros(*us)
                .unwrap()
                .naive_utc();
            let mut t = dt.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            while t.ends_with('0') {
                t.pop();
            }
            if t.ends_with('.') {
                t.pop();
            }
            if tz.is_some() {
                t.push_str("+00");
            }
            t
        }
        V::Time(us) => {
            let t = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                (us / 1_000_000) as u32,
                (us % 1_000_000 * 1000) as u32,
            )
            .unwrap();
            let mut s = t.format("%H:%M:%S%.6f").to_string();
            while s.ends_with('0') {
                s.pop();
            }
            if s.ends_with('.') {
                s.pop();
            }
            s
        }
        V::Dec(u, scale) => {
            let neg = *u < 0;
            let digits = u.unsigned_abs().to_string();
            let sc = *scale as usize;
            let digits = format!("{digits:0>width$}", width = sc + 1);
            let (a, b) = digits.split_at(digits.len() - sc);
            format!(
                "{}{a}{}{b}",
                if neg { "-" } else { "" },
                if sc > 0 { "." } else { "" }
            )
        }
        V::List(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|x| match x {
                    V::Null => "NULL".to_string(),
                    V::Str(s)
                        if s.is_empty()
                            || s.contains([' ', ',', '"', '\\', '{', '}'])
                            || s.eq_ignore_ascii_case("null") =>
                    {
                        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                    }
                    V::Float(b) => pg_float(f64::from_bits(*b)),
                    V::Bool(b) => if *b { "t" } else { "f" }.to_string(),
                    other => pg_text(other).unwrap(),
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
    })
}

fn pg_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{x}")
    }
}

fn parse_pg_float(t: &str) -> f64 {
    match t {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        other => other.parse().unwrap(),
    }
}

const TYPES_DDL: &str = "
    CREATE TYPE it_pg_types.mood AS ENUM ('sad', 'happy');
    CREATE DOMAIN it_pg_types.posnum AS numeric(8,3) CHECK (VALUE > 0);
    CREATE TABLE it_pg_types.t (
        id int4 PRIMARY KEY, i2 smallint, i8 bigint, f4 real, f8 double precision,
        n numeric(12,2), n38 numeric(38,10), nu numeric, tx text, vc varchar(10), bp char(5), nm name,
        u uuid, j json, jb jsonb, x xml, b bytea, d date, tm time, ts timestamp, tz timestamptz,
        ip inet, cd cidr, mac macaddr, e it_pg_types.mood, dom it_pg_types.posnum,
        ia int4[], ta text[], fa float8[], ba bool[], la int8[], na numeric[], ua uuid[], flag boolean, o oid);
    INSERT INTO it_pg_types.t VALUES
      (1, 32767, 9223372036854775807, 1.5, 0.1, 1234567890.12, 9999999999999999999999999999.9999999999,
       3.14159265358979323846264338327950288419716939937510, 'héllo ''wörld''', 'abc', 'ab', 'nm',
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"b\": 1, \"a\": [1, 2]}', '{\"b\": 1, \"a\": [1, 2]}', '<a>x</a>',
       '\\xdeadbeef', '2024-02-29', '13:14:15.5', '2024-03-31 02:30:00.123456', '2024-10-27 02:30:00+02',
       '192.168.1.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', 'happy', 12.345,
       '{1,NULL,3}', '{x,\"y z\",\"\",NULL}', '{1.5,-0.25}', '{t,f}', '{9223372036854775807}', '{1.10,2}',
       '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', true, 42),
      (2, -32768, -9223372036854775808, 'Infinity', 'NaN', -9999999999.99, -0.0000000001,
       -0.5, '', 'é', '', '', NULL, '[]', '{}', NULL, '\\x', '0001-01-01', '00:00:00', '1900-01-01 00:00:00',
       '1969-12-31 23:59:59.999999+00', NULL, NULL, NULL, 'sad', 0.001, '{}', '{}', '{}', '{}', '{}', '{}', '{}', false, 0),
      (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
";

#[test]
fn every_supported_type_round_trips_value_by_value() {
    let Some(mut pg) = pg_schema("postgres type round trip", "it_pg_types") else {
        return;
    };
    pg.batch_execute(TYPES_DDL).unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    let (code, _, stderr) = extract(
        PG_URL,
        out.to_str().unwrap(),
        &["--side", "target", "--table", "it_pg_types.t"],
    );
    assert_eq!(code, 0, "{stderr}");
    let run_dir = only_run(&out, "target");
    let b = read_table(&run_dir, "t");
    let names: Vec<String> = b[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names.len(), 35);
    // The server's text of every cell, with the settings snapdiff reads under.
    pg.batch_execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3; SET bytea_output = 'hex';")
        .unwrap();
    // (Casting char(n) to text drops its padding; concat() keeps the stored value.)
    let select: Vec<String> = names
        .iter()
        .map(|n| {
            if n == "bp" {
                "CASE WHEN bp IS NULL THEN NULL ELSE concat(bp) END".to_string()
            } else {
                format!("{n}::text")
            }
        })
        .collect();
    let src = pg
        .query(
            &format!(
                "SELECT {} FROM it_pg_types.t ORDER BY id",
                select.join(", ")
            ),
            &[],
        )
        .unwrap();
    let rows = rows_by(&b, "id");
    assert_eq!(rows.len(), 3);
    for (r, srow) in rows.iter().zip(&src) {
        for (c, name) in names.iter().enumerate() {
            let want: Option<String> = srow.get(c);
            match (&r[c], want) {
                (V::Float(bits), Some(t)) => {
                    let (got, want) = (f64::from_bits(*bits), parse_pg_float(&t));
                    assert!(
                        got == want || got.is_nan() && want.is_nan(),
                        "{name}: {got} vs {t}"
                    );
                }
                (v, want) => assert_eq!(pg_text(v), want, "column {name}, row {r:?}"),
            }
        }
    }
    let types: Vec<(String, DataType)> = names
        .iter()
        .map(|n| (n.clone(), column_type(&b, n)))
        .collect();
    let want = |n: &str| types.iter().find(|(m, _)| m == n).unwrap().1.clone();
    assert_eq!(want("n"), DataType::Decimal128(12, 2));
    assert_eq!(want("n38"), DataType::Decimal128(38, 10));
    assert_eq!(want("dom"), DataType::Decimal128(8, 3));
    assert_eq!(want("nu"), DataType::Utf8);
    assert_eq!(
        want("tz").to_string(),
        "Timestamp(Microsecond, Some(\"UTC\"))"
    );
    assert_eq!(want("ts").to_string(), "Timestamp(Microsecond, None)");
    assert_eq!(want("f4"), DataType::Float32);
    // timestamptz is stored as the UTC instant: 02:30 at +02 is 00:30 UTC.
    assert_eq!(
        rows[0][20],
        V::Ts(micros("2024-10-27 00:30:00"), Some("UTC".into()))
    );
    let sj: serde_json::Value = serde_json::from_str(&read(&run_dir.join("schema.json"))).unwrap();
    let cols = &sj["tables"]["t"]["columns"];
    assert_eq!(cols[5]["source_type"], "numeric(12,2)");
    assert_eq!(
        (cols[5]["precision"].as_u64(), cols[5]["scale"].as_i64()),
        (Some(12), Some(2))
    );
    assert_eq!(
        (cols[6]["precision"].as_u64(), cols[6]["scale"].as_i64()),
        (Some(38), Some(10))
    );
    assert_eq!(cols[20]["source_type"], "timestamp with time zone");
    assert_eq!(
        cols[25]["notes"],
        serde_json::json!(["domain over numeric(8,3)"])
    );
    assert_eq!(sj["tables"]["t"]["primary_key"], serde_json::json!(["id"]));
}

#[test]
fn a_type_without_an_arrow_form_is_an_error_until_cast() {
    let Some(mut pg) = pg_schema("postgres unmappable type", "it_pg_interval") else {
        return;
    };
    pg.batch_execute(
        "CREATE TABLE it_pg_interval.t (id int PRIMARY KEY, iv interval, p point);
                      INSERT INTO it_pg_interval.t VALUES (1, '1 day 02:00', '(1,2)');",
    )
    .unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    let base = [
        "extract",
        "--source",
        PG_URL,
        "--table",
        "it_pg_interval.t",
        "--out",
        out.to_str().unwrap(),
    ];
    let (code, _, stderr) = run(&base);
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim_end(),
        "error: source postgresql://postgres@127.0.0.1:5432/test, table t, column iv: type `interval` has no faithful Arrow form in snapdiff\n  hint: cast it explicitly, for example cast = { iv = \"text\" } in the [[extract]] entry (or --cast iv=text)"
    );
    let mut args = base.to_vec();
    args.extend(["--cast", "iv=text", "--cast", "p=text"]);
    let (code, _, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    let rows = rows_by(&read_table(&only_run(&out, "legacy"), "t"), "id");
    assert_eq!(rows, vec![vec![i(1), s("P1DT2H"), s("(1,2)")]]);
}

#[test]
fn tables_split_into_ctid_and_partition_on_ranges_read_every_row() {
    let Some(mut pg) = pg_schema("postgres ranges", "it_pg_ranges") else {
        return;
    };
    pg.batch_execute(
        "CREATE TABLE it_pg_ranges.t (id int PRIMARY KEY, grp int, v text);
         INSERT INTO it_pg_ranges.t SELECT k, CASE WHEN k % 100 = 0 THEN NULL ELSE k % 37 END, 'value ' || k
           FROM generate_series(1, 10000) k;
         ANALYZE it_pg_ranges.t;",
    )
    .unwrap();
    let dir = tempdir();
    let table = ["--table", "it_pg_ranges.t"];
    // A query has no statistics: its rows are counted, so ranges still hold ~chunk-rows.
    let query = [
        "--query",
        "SELECT id, grp, v FROM it_pg_ranges.t",
        "--name",
        "t",
        "--partition-on",
        "id",
    ];
    for (extra, column, ranges) in [
        (table.to_vec(), "ctid", 10),
        (
            [&table[..], &["--partition-on", "grp", "--partitions", "3"]].concat(),
            "grp",
            11,
        ),
        (query.to_vec(), "id", 10),
    ] {
        let out = dir.path().join(format!("{column}-{}", extra.len()));
        let mut args = vec![
            "extract",
            "--source",
            PG_URL,
            "--chunk-rows",
            "1000",
            "--quiet",
        ];
        args.extend(extra);
        args.extend(["--out", out.to_str().unwrap()]);
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        let run_dir = only_run(&out, "legacy");
        let m = snapdiff::snapshot::read_manifest(&run_dir).unwrap();
        let p = m.tables["t"]
            .partitioning
            .clone()
            .expect("the read was split");
        assert_eq!((p.column.as_str(), p.ranges), (column, ranges));
        assert!(
            m.consistency.starts_with("one PostgreSQL snapshot"),
            "{}",
            m.consistency
        );
        let rows = rows_by(&read_table(&run_dir, "t"), "id");
        assert_eq!(rows.len(), 10_000);
        assert_eq!(rows[99], vec![i(100), V::Null, s("value 100")]);
        assert_eq!(rows[9_998], vec![i(9_999), i(9_999 % 37), s("value 9999")]);
    }
}

#[test]
fn reads_are_read_only_and_a_writing_query_is_refused() {
    let Some(mut pg) = pg_schema("postgres read-only", "it_pg_ro") else {
        return;
    };
    pg.batch_execute(
        "CREATE TABLE it_pg_ro.t (id int PRIMARY KEY);
         INSERT INTO it_pg_ro.t SELECT generate_series(1, 5);
         CREATE FUNCTION it_pg_ro.sneak() RETURNS int LANGUAGE sql AS $$ INSERT INTO it_pg_ro.t VALUES (99) RETURNING id $$;",
    )
    .unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    // Streamed (no split) and split (partition_on) paths both refuse the write.
    for extra in [vec![], vec!["--partition-on", "id"]] {
        let mut args = vec![
            "extract",
            "--source",
            PG_URL,
            "--query",
            "SELECT id, it_pg_ro.sneak() AS x FROM it_pg_ro.t",
            "--name",
            "sneaky",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("the source refused a write"), "{stderr}");
        assert!(stderr.contains("read-only transaction"), "{stderr}");
    }
    let count: i64 = pg
        .query_one("SELECT count(*) FROM it_pg_ro.t", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 5);
    // The session a reader opens refuses writes itself.
    let src = snapdiff::extract::Source::parse(PG_URL, std::path::Path::new(".")).unwrap();
    let mut client = snapdiff::extract::postgres::connect(&src).unwrap();
    client
        .batch_execute("SET default_transaction_read_only = on")
        .unwrap();
    let err = client
        .batch_execute("INSERT INTO it_pg_ro.t VALUES (100)")
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("25006"));
    assert!(
        !out.join("legacy").read_dir().unwrap().any(|_| true),
        "failed runs leave nothing behind"
    );
}

#[test]
fn queries_keep_catalog_precision_and_report_errors_with_their_place() {
    let Some(mut pg) = pg_schema("postgres queries and errors", "it_pg_q") else {
        return;
    };
    pg.batch_execute(
        "CREATE TABLE it_pg_q.t (id int PRIMARY KEY, n numeric(10,3));
         INSERT INTO it_pg_q.t VALUES (1, 1.5), (2, NULL);
         DROP ROLE IF EXISTS it_noperm; CREATE ROLE it_noperm LOGIN;",
    )
    .unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    let o = out.to_str().unwrap();
    let (code, _, stderr) = extract(
        PG_URL,
        o,
        &[
            "--query",
            "SELECT id, n, n * 2 AS n2 FROM it_pg_q.t",
            "--name",
            "q",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let b = read_table(&only_run(&out, "legacy"), "q");
    assert_eq!(column_type(&b, "n"), DataType::Decimal128(10, 3));
    assert_eq!(column_type(&b, "n2"), DataType::Utf8);
    assert_eq!(
        rows_by(&b, "id"),
        vec![
            vec![i(1), V::Dec(1500, 3), s("3.000")],
            vec![i(2), V::Null, V::Null]
        ]
    );

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--source", "postgresql://postgres@127.0.0.1:1/test", "--table", "t"],
            "error: source postgresql://postgres@127.0.0.1:1/test: cannot reach the server: error connecting to server: Connection refused",
        ),
        (
            vec!["--source", "postgresql://postgres@127.0.0.1:5432/it_no_such_db", "--table", "t"],
            "error: source postgresql://postgres@127.0.0.1:5432/it_no_such_db: database \"it_no_such_db\" does not exist\n  hint: check the database name in the URL",
        ),
        (
            vec!["--source", "postgresql://it_no_such_role@127.0.0.1:5432/test", "--table", "t"],
            "error: source postgresql://it_no_such_role@127.0.0.1:5432/test: login refused: role \"it_no_such_role\" does not exist",
        ),
        (vec!["--source", PG_URL, "--table", "it_pg_q.missing"], "table missing: there is no table `it_pg_q.missing` in the database"),
        (
            vec!["--source", PG_URL, "--table", "it_pg_q.t", "--partition-on", "nope"],
            "table t: finding the range of partition_on: column \"nope\" does not exist",
        ),
        (
            vec!["--source", PG_URL, "--query", "SELEC 1", "--name", "bad"],
            "table bad: the query does not prepare: syntax error: syntax error at or near \"SELEC\"",
        ),
        (
            vec!["--source", "postgresql://it_noperm@127.0.0.1:5432/test", "--table", "it_pg_q.t"],
            "permission denied: permission denied for schema it_pg_q",
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["extract"];
        full.extend(args.iter().copied());
        full.extend(["--out", o]);
        let (code, _, stderr) = run(&full);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}:\n{stderr}\nwanted: {want}");
    }
    // Only the one good run exists: failures left nothing.
    assert_eq!(std::fs::read_dir(out.join("legacy")).unwrap().count(), 1);
}

#[test]
fn every_range_reads_the_one_snapshot_taken_when_the_reader_opened() {
    let Some(mut pg) = pg_schema("postgres consistent snapshot", "it_pg_snap") else {
        return;
    };
    pg.batch_execute(
        "CREATE TABLE it_pg_snap.a (id int PRIMARY KEY, v text);
         CREATE TABLE it_pg_snap.b (id int PRIMARY KEY);
         INSERT INTO it_pg_snap.a SELECT k, 'v' || k FROM generate_series(1, 20000) k;
         INSERT INTO it_pg_snap.b SELECT generate_series(1, 100);
         ANALYZE it_pg_snap.a;",
    )
    .unwrap();
    use snapdiff::extract::{self, ExtractOptions, ExtractRequest, Source, TableRequest};
    let source = Source::parse(PG_URL, std::path::Path::new(".")).unwrap();
    let reader = extract::open_reader(&source).unwrap();
    // Committed after the reader opened: none of it may appear in the snapshot.
    pg.batch_execute(
        "INSERT INTO it_pg_snap.a SELECT k, 'late' FROM generate_series(20001, 25000) k;
         UPDATE it_pg_snap.a SET v = 'changed' WHERE id <= 10;
         DELETE FROM it_pg_snap.b WHERE id > 50;",
    )
    .unwrap();
    let dir = tempdir();
    let mut opts = ExtractOptions::new(dir.path(), "snap");
    opts.chunk_rows = 2_000;
    let req = ExtractRequest {
        side: "target".into(),
        source,
        tables: vec![
            TableRequest::whole("it_pg_snap.a"),
            TableRequest::whole("it_pg_snap.b"),
        ],
        names: Default::default(),
    };
    let outcome =
        extract::extract_with_reader(reader, &req, &opts, &snapdiff::progress::NoProgress).unwrap();
    assert!(
        outcome.manifest.tables["a"]
            .partitioning
            .as_ref()
            .unwrap()
            .ranges
            >= 5
    );
    let a = rows_by(&read_table(&outcome.run_dir, "a"), "id");
    assert_eq!(a.len(), 20_000);
    assert_eq!(a[0], vec![i(1), s("v1")]);
    assert_eq!(a[19_999], vec![i(20_000), s("v20000")]);
    assert_eq!(column(&read_table(&outcome.run_dir, "b"), "id").len(), 100);
}

#[test]
fn partitioned_tables_split_per_leaf_and_views_stream() {
    let Some(mut pg) = pg_schema("postgres partitions and views", "it_pg_part") else {
        return;
    };
    pg.batch_execute(
        "CREATE TABLE it_pg_part.m (id int NOT NULL, region text NOT NULL, amount float8) PARTITION BY LIST (region);
         CREATE TABLE it_pg_part.m_eu PARTITION OF it_pg_part.m FOR VALUES IN ('eu');
         CREATE TABLE it_pg_part.m_us PARTITION OF it_pg_part.m FOR VALUES IN ('us');
         INSERT INTO it_pg_part.m SELECT k, CASE WHEN k % 3 = 0 THEN 'us' ELSE 'eu' END, k / 4.0 FROM generate_series(1, 9000) k;
         ANALYZE it_pg_part.m;
         CREATE VIEW it_pg_part.v AS SELECT id, amount FROM it_pg_part.m WHERE region = 'us';",
    )
    .unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    let o = out.to_str().unwrap();
    let (code, _, stderr) = extract(
        PG_URL,
        o,
        &[
            "--table",
            "it_pg_part.m",
            "--table",
            "it_pg_part.v",
            "--chunk-rows",
            "1000",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "it_pg_part.v is a view or foreign table with no ctid: it is read as one stream"
        ),
        "{stderr}"
    );
    let run_dir = only_run(&out, "legacy");
    let man = snapdiff::snapshot::read_manifest(&run_dir).unwrap();
    let p = man.tables["m"]
        .partitioning
        .clone()
        .expect("split per leaf");
    assert_eq!(p.column, "ctid");
    assert!(p.ranges >= 9, "{p:?}");
    let m = rows_by(&read_table(&run_dir, "m"), "id");
    assert_eq!(m.len(), 9000);
    assert_eq!(m[2], vec![i(3), s("us"), f(0.75)]);
    assert_eq!(column(&read_table(&run_dir, "v"), "id").len(), 3000);
}

#[test]
fn a_decimal_cast_that_would_round_is_refused() {
    let Some(mut pg) = pg_schema("postgres strict cast", "it_pg_cast") else {
        return;
    };
    pg.batch_execute("CREATE TABLE it_pg_cast.t (id int PRIMARY KEY, f float8); INSERT INTO it_pg_cast.t VALUES (1, 1.005), (2, 2.5);")
        .unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    let base = [
        "extract",
        "--source",
        PG_URL,
        "--table",
        "it_pg_cast.t",
        "--out",
        out.to_str().unwrap(),
    ];
    let mut a = base.to_vec();
    a.extend(["--cast", "f=decimal(8,2)"]);
    let (code, _, stderr) = run(&a);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("column f: `1.005` is not exactly a decimal(8,2)"),
        "{stderr}"
    );
    let mut a = base.to_vec();
    a.extend(["--cast", "f=decimal(8,3)"]);
    let (code, _, stderr) = run(&a);
    assert_eq!(code, 0, "{stderr}");
    let rows = rows_by(&read_table(&only_run(&out, "legacy"), "t"), "id");
    assert_eq!(
        rows,
        vec![vec![i(1), V::Dec(1005, 3)], vec![i(2), V::Dec(2500, 3)]]
    );
}

/// The server drops the reading connection mid-extract (`pg_terminate_backend` from a
/// second session): the extraction fails with exit 2 and a message saying the
/// connection was lost, and leaves no snapshot (the run, which completed no table, is
/// removed; an earlier complete run of the same root is untouched).
#[test]
fn a_connection_dropped_mid_extract_fails_clearly_and_keeps_no_partial_snapshot() {
    let Some(mut pg) = pg_schema("postgres dropped connection", "it_pg_drop") else {
        return;
    };
    pg.batch_execute(
        "CREATE TABLE it_pg_drop.small (id int PRIMARY KEY);
         INSERT INTO it_pg_drop.small SELECT generate_series(1, 10);
         CREATE TABLE it_pg_drop.big (id int PRIMARY KEY, v text);
         INSERT INTO it_pg_drop.big SELECT k, repeat('x', 40) || k FROM generate_series(1, 3000000) k;
         ANALYZE it_pg_drop.big;",
    )
    .unwrap();
    let dir = tempdir();
    let root = dir.path().join("snaps");
    let r = root.to_str().unwrap();
    let (code, _, stderr) = extract(
        PG_URL,
        r,
        &["--table", "it_pg_drop.small", "--run-id", "before"],
    );
    assert_eq!(code, 0, "{stderr}");
    let before = sha256_file(&root.join("legacy/before/manifest.json"));

    // Terminate every backend reading the table, from this second session.
    let (code, stdout, stderr) = extract_with_reader_dropped(
        &[
            "extract",
            "--source",
            PG_URL,
            "--table",
            "it_pg_drop.big",
            "--out",
            r,
            "--run-id",
            "dropped",
            "--partitions",
            "1",
            "--quiet",
        ],
        || {
            pg.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE pid <> pg_backend_pid() AND state = 'active'
                   AND query LIKE '%it_pg_drop%big%'",
                &[],
            )
            .unwrap()
            .len()
        },
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("the connection to the source was lost while reading"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: nothing of the interrupted table was kept"),
        "{stderr}"
    );
    assert!(stderr.contains(", table big: "), "{stderr}");
    let runs = snapdiff::snapshot::list_runs(&root, "legacy").unwrap();
    let ids: Vec<(&str, bool)> = runs
        .iter()
        .map(|r| (r.run_id.as_str(), r.complete))
        .collect();
    assert_eq!(ids, vec![("before", true)]);
    assert_eq!(
        sha256_file(&root.join("legacy/before/manifest.json")),
        before
    );
    snapdiff::snapshot::verify_run(&root.join("legacy/before")).unwrap();
}
