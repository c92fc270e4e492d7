//! Hostile input: table and column names that need quoting everywhere (quotes, spaces,
//! dots, keywords, unicode), run ids and names that try to leave the snapshot root, SQL
//! that would write, and values that nest deep or weigh megabytes.

use std::path::Path;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::common::*;
use snapdiff::normalize::text::thousands;

/// A SQL identifier in double quotes (SQLite, PostgreSQL).
fn dq(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The hostile table (and column) name.
const CAFE: &str = "Café \"Ω\".v2";

type CafeRow<'a> = (i64, &'a str, &'a str, &'a str, f64, &'a str, &'a str);

/// Rows of the hostile table: key (`order by`, `it's`), `a.b` (JSON text), `select`
/// (the partition), `Café "Ω".v2` (rounded to 2), `ünïcode` (trimmed, lower-cased) and
/// `from` (ignored).
const LEGACY_ROWS: [CafeRow; 4] = [
    (
        1,
        "k'1",
        r#"{"b":1,"a":[1,2]}"#,
        "it's",
        1.004,
        " Ünï ",
        "x1",
    ),
    (2, "k\"2", r#"[1.0, {"z":null}]"#, "it's", 2.5, "abc", "x2"),
    (
        3,
        "k\\3",
        r#"{"a":"\u00e9"}"#,
        "plain \"q\"",
        3.333,
        "DEF",
        "x3",
    ),
    (4, "ключ 4", "null", "plain \"q\"", 4.0, "Ω", "x4"),
];

/// The same rows as the migration wrote them: equal after the spec's rules, but for
/// one injected difference (key 3, `k\3`: `Café "Ω".v2` 3.333 became 3.35).
const TARGET_ROWS: [CafeRow; 4] = [
    (1, "k'1", r#"{"a":[1,2],"b":1.0}"#, "it's", 1.0, "ÜNÏ", "y1"),
    (2, "k\"2", r#"[1, {"z":null}]"#, "it's", 2.5, " ABC", "y2"),
    (3, "k\\3", r#"{"a":"é"}"#, "plain \"q\"", 3.35, "def", "y3"),
    (4, "ключ 4", "null", "plain \"q\"", 4.0, "ω", "y4"),
];

/// A SQLite database at `path` with the hostile table named `table`, a table named
/// `select` (columns `from`, `where`) and an index with a hostile name.
fn hostile_sqlite(path: &Path, table: &str, rows: &[CafeRow]) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE {t} (\"order by\" INTEGER NOT NULL, \"it's\" TEXT NOT NULL, \"a.b\" TEXT,
            \"select\" TEXT, {cafe} REAL, \"ünïcode\" TEXT, \"from\" TEXT,
            PRIMARY KEY (\"order by\", \"it's\"));
         CREATE INDEX \"idx \"\"q\"\" it's\" ON {t} (\"ünïcode\");
         CREATE TABLE \"select\" (\"from\" INTEGER PRIMARY KEY, \"where\" TEXT);
         INSERT INTO \"select\" VALUES (1, 'a''b'), (2, 'c\"d');",
        t = dq(table),
        cafe = dq(CAFE)
    ))
    .unwrap();
    for r in rows {
        c.execute(
            &format!(
                "INSERT INTO {} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                dq(table)
            ),
            rusqlite::params![r.0, r.1, r.2, r.3, r.4, r.5, r.6],
        )
        .unwrap();
    }
}

/// The finding injected into the hostile table, as report.json holds it.
fn assert_cafe_finding(e: &Value) {
    assert_eq!(e["status"], "fail");
    assert_eq!(e["key"], json!(["order by", "it's"]));
    assert_eq!(
        e["compared"],
        json!(["a.b", "select", CAFE, "ünïcode"]),
        "`from` is ignored"
    );
    assert_eq!(e["schema_findings"], json!([]));
    assert_eq!(
        (&e["legacy_rows"], &e["target_rows"]),
        (&json!(4), &json!(4))
    );
    let d = &e["diff"];
    assert_eq!(
        (&d["missing"], &d["extra"], &d["changed"]),
        (&json!(0), &json!(0), &json!(1))
    );
    assert_eq!(d["changed_by_column"], json!({ CAFE: 1 }));
    let row = &d["changed_rows"][0];
    assert_eq!(row["key"], json!([["order by", "3"], ["it's", "k\\3"]]));
    let differing: Vec<&Value> = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["differs"] == true)
        .collect();
    assert_eq!(
        differing,
        vec![&json!({"column": CAFE, "legacy": "3.33", "target": "3.35", "differs": true})]
    );
    // The rules applied under the hostile names: canonical JSON, trim and lower.
    let cell = |col: &str| {
        row["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["column"] == col)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        cell("a.b"),
        json!({"column": "a.b", "legacy": "{\"a\":\"é\"}", "target": "{\"a\":\"é\"}", "differs": false})
    );
    assert_eq!(
        cell("ünïcode"),
        json!({"column": "ünïcode", "legacy": "def", "target": "def", "differs": false})
    );
    // Partitioned by the text of column `select`: only the partition holding the
    // change (a value with double quotes) was row-diffed.
    assert_eq!(e["partitions"]["total"], 2);
    assert_eq!(e["partitions"]["equal"], 1);
    assert_eq!(e["partitions"]["differing"], json!(["plain \"q\""]));
    // The changed row accounts for the column's profile: not computed again.
    assert_eq!(e["aggregate_differences"], json!([]));
    let aggregate = e["checks"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (
            &aggregate["check"],
            &aggregate["status"],
            &aggregate["summary"]
        ),
        (
            &json!("aggregate"),
            &json!("info"),
            &json!(format!(
                "4 column profiles not computed: the row diff found changed values only \
                 in {CAFE}, which account for their differences; the other columns' \
                 profiles are proven equal"
            ))
        )
    );
}

/// A spec over the legacy SQLite database and `target`: the hostile table as `v2`, a
/// table named `select`, and a query with hostile output names as `q`.
const SQLITE_SPEC: &str = r##"[sources.legacy]
url = "sqlite://legacy.db"
[sources.target]
url = "sqlite://target.db"

[[extract]]
side = "legacy"
table = 'Café "Ω".v2'

[[extract]]
side = "legacy"
table = "select"

[[extract]]
side = "legacy"
name = "q"
query = '''SELECT "order by" AS "k ""x""", "it's" FROM "Café ""Ω"".v2" WHERE "order by" <= 2'''

[[entity]]
name = "cafe"
key = ["order by", "it's"]
legacy = 'SELECT * FROM legacy.v2'
target = 'SELECT * FROM target.order_by'
ignore = ["from"]
partition_by = '"select"'
filter = '"from" IS NOT NULL'
[entity.normalize]
"a.b" = "json"
'Café "Ω".v2' = { round = 2 }
"ünïcode" = ["trim", "lower"]

[[entity]]
name = "kw"
table = "select"
key = "from"
columns = ["where"]

[[invariant]]
name = "no null docs"
sql = '''SELECT "order by" FROM target.order_by WHERE "a.b" IS NULL'''
"##;

#[test]
fn hostile_names_are_quoted_in_extract_verify_sql_diff_and_plan() {
    let dir = tempdir();
    let d = dir.path();
    hostile_sqlite(&d.join("legacy.db"), CAFE, &LEGACY_ROWS);
    hostile_sqlite(&d.join("target.db"), "order by", &TARGET_ROWS);
    let sums = [
        sha256_file(&d.join("legacy.db")),
        sha256_file(&d.join("target.db")),
    ];
    let spec = d.join("verify.toml");
    std::fs::write(&spec, SQLITE_SPEC).unwrap();
    let spec_s = spec.to_str().unwrap();

    // plan: every hostile name as written.
    let (code, out, err) = run(&["plan", spec_s]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "  v2 <- table Café \"Ω\".v2",
        "  select <- table select",
        "  q <- query SELECT \"order by\" AS \"k \"\"x\"\"\", \"it's\" FROM \"Café \"\"Ω\"\".v2\" WHERE \"order by\" <= 2",
        "  every table of the source",
        "entity cafe (key order by, it's): checks schema, count, hash, diff, aggregate",
        "  legacy: SELECT * FROM legacy.v2",
        "  partition by: \"select\"",
        "  legacy filter: \"from\" IS NOT NULL",
        "  normalize Café \"Ω\".v2: round=2",
        "  normalize a.b: json",
        "  normalize ünïcode: trim, lower",
        "entity kw (key from): checks schema, count, hash, diff, aggregate",
        "  legacy: SELECT * FROM legacy.select",
        "invariant no null docs: SELECT \"order by\" FROM target.order_by WHERE \"a.b\" IS NULL",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in:\n{out}");
    }

    // run: extract both sides, verify, exit 1 for the one injected difference.
    let (code, out, err) = run(&["run", spec_s, "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    for line in [
        "cafe          FAIL  legacy 4  target 4  missing 0  extra 0  changed 1  partitions 1/2 equal",
        "kw            PASS  legacy 2  target 2  missing 0  extra 0  changed 0",
        "no null docs  PASS  invariant: 0 rows break it",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in:\n{out}");
    }
    let root = d.join("snapshots");
    let (lrun, trun) = (only_run(&root, "legacy"), only_run(&root, "target"));
    // Snapshot names: the part after the last `.`, lowercased, `_` for the rest.
    let lm = snapdiff::snapshot::read_manifest(&lrun).unwrap();
    assert_eq!(lm.tables.keys().collect::<Vec<_>>(), ["q", "select", "v2"]);
    assert_eq!(lm.tables["v2"].source_object.as_deref(), Some(CAFE));
    let tm = snapdiff::snapshot::read_manifest(&trun).unwrap();
    assert_eq!(tm.tables.keys().collect::<Vec<_>>(), ["order_by", "select"]);
    assert_eq!(
        tm.tables["order_by"].source_object.as_deref(),
        Some("order by")
    );
    let v2 = read_table(&lrun, "v2");
    let names: Vec<String> = v2[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        ["order by", "it's", "a.b", "select", CAFE, "ünïcode", "from"]
    );
    assert_eq!(
        column(&v2, "it's"),
        vec![s("k'1"), s("k\"2"), s("k\\3"), s("ключ 4")]
    );
    let q = read_table(&lrun, "q");
    assert_eq!(column(&q, "k \"x\""), vec![i(1), i(2)]);
    let sj: Value = serde_json::from_str(&read(&lrun.join("schema.json"))).unwrap();
    assert_eq!(
        sj["tables"]["v2"]["primary_key"],
        json!(["order by", "it's"])
    );
    let idx: Vec<&Value> = sj["tables"]["v2"]["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["name"] == "idx \"q\" it's")
        .collect();
    assert_eq!(
        idx,
        vec![&json!({"name": "idx \"q\" it's", "columns": ["ünïcode"], "unique": false})]
    );

    // report.json: the key value and the column name of the finding.
    let report = only_report(&d.join("reports"));
    assert_cafe_finding(report_entity(&report, "cafe"));
    assert_eq!(report_entity(&report, "kw")["status"], "pass");
    assert_eq!(report["invariants"][0]["name"], "no null docs");
    let report_dir = only_report_dir(&d.join("reports"));
    assert!(report_dir.join("diffs/cafe/changed.parquet").is_file());

    // verify without report files: the finding on standard output.
    let (code, out, err) = run(&["verify", spec_s, "--format", "none"]);
    assert_eq!(code, 1, "{err}");
    for line in [
        "    FAIL diff: missing 0, extra 0, changed 1 (Café \"Ω\".v2 1)",
        "    changed order by=3,it's=k\\3: Café \"Ω\".v2: 3.33 -> 3.35",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in:\n{out}");
    }

    // sql: hostile names in queries, results and the diff files.
    let sql = |q: &str, format: &str| {
        let (code, out, err) = run(&["sql", spec_s, q, "--format", format]);
        assert_eq!(code, 0, "{q}: {err}");
        out
    };
    assert_eq!(
        sql(
            "SELECT \"order by\", \"it's\", \"Café \"\"Ω\"\".v2\", \"ünïcode\" FROM legacy.v2 ORDER BY \"order by\"",
            "csv"
        ),
        "order by,it's,\"Café \"\"Ω\"\".v2\",ünïcode\n1,k'1,1.004, Ünï \n2,\"k\"\"2\",2.5,abc\n3,k\\3,3.333,DEF\n4,ключ 4,4.0,Ω\n"
    );
    assert_eq!(
        sql(
            "SELECT \"order by\", \"it's\", \"legacy__Café \"\"Ω\"\".v2\", \"target__Café \"\"Ω\"\".v2\", __differs, __partition FROM diffs.cafe_changed",
            "csv"
        ),
        "order by,it's,\"legacy__Café \"\"Ω\"\".v2\",\"target__Café \"\"Ω\"\".v2\",__differs,__partition\n\
         3,k\\3,3.33,3.35,\"[Café \"\"Ω\"\".v2]\",\"plain \"\"q\"\"\"\n"
    );
    assert_eq!(
        sql("SELECT * FROM legacy.q ORDER BY \"k \"\"x\"\"\"", "json"),
        "[{\"k \\\"x\\\"\":1,\"it's\":\"k'1\"},{\"k \\\"x\\\"\":2,\"it's\":\"k\\\"2\"}]\n"
    );
    assert_eq!(
        sql("SELECT * FROM target.select ORDER BY \"from\"", "csv"),
        "from,where\n1,a'b\n2,\"c\"\"d\"\n"
    );

    // diff: two folders of Parquet files, with the same rules as flags.
    let (lv2, tob) = (lrun.join("v2"), trun.join("order_by"));
    let flags = [
        "--key",
        "order by,it's",
        "--round",
        "Café \"Ω\".v2=2",
        "--ignore",
        "from",
        "--ignore",
        "a.b",
        "--trim",
        "--lower",
        "--partition-by",
        "\"select\"",
    ];
    let mut args = vec!["diff", lv2.to_str().unwrap(), tob.to_str().unwrap()];
    args.extend(flags);
    let (code, out, err) = run(&args);
    assert_eq!(code, 1, "{err}");
    for line in [
        "diff  FAIL  legacy 4  target 4  missing 0  extra 0  changed 1  partitions 1/2 equal",
        "    changed order by=3,it's=k\\3: Café \"Ω\".v2: 3.33 -> 3.35",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in:\n{out}");
    }
    // ... and snapshot tables, with a report: the same changed row as verify found.
    let dr = d.join("diff-reports");
    let mut args = vec![
        "diff",
        "legacy.v2",
        "target.order_by",
        "--snapshots",
        root.to_str().unwrap(),
        "--report",
        dr.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend(flags);
    let (code, _, err) = run(&args);
    assert_eq!(code, 1, "{err}");
    let diffed = only_report(&dr);
    let de = report_entity(&diffed, "diff");
    assert_eq!(de["diff"]["changed_by_column"], json!({ CAFE: 1 }));
    assert_eq!(
        de["diff"]["changed_rows"][0]["key"],
        json!([["order by", "3"], ["it's", "k\\3"]])
    );
    let (code, out, err) = run(&[
        "diff",
        "legacy.select",
        "target.select",
        "--key",
        "from",
        "--snapshots",
        root.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("diff  PASS  legacy 2  target 2  missing 0  extra 0  changed 0"),
        "{out}"
    );

    // The sources were only read.
    assert_eq!(
        [
            sha256_file(&d.join("legacy.db")),
            sha256_file(&d.join("target.db"))
        ],
        sums
    );
}

/// A spec: the legacy SQLite database against `target_url`, whose hostile table is
/// stored as `v2` too (`target_extract`: its `[[extract]]` entries, if any).
fn cafe_spec(target_url: &str, target_extract: &str) -> String {
    format!(
        r##"[sources.legacy]
url = "sqlite://legacy.db"
[sources.target]
url = "{target_url}"

[[extract]]
side = "legacy"
table = 'Café "Ω".v2'
{target_extract}
[[entity]]
name = "cafe"
table = "v2"
key = ["order by", "it's"]
ignore = ["from"]
partition_by = '"select"'
[entity.normalize]
"a.b" = "json"
'Café "Ω".v2' = {{ round = 2 }}
"ünïcode" = ["trim", "lower"]
"##
    )
}

#[test]
fn hostile_names_in_postgresql_are_quoted_and_the_same_difference_is_found() {
    let Some(mut pg) = pg_schema(
        "hostile_names_in_postgresql_are_quoted_and_the_same_difference_is_found",
        "it_hostile",
    ) else {
        return;
    };
    pg.batch_execute(
        r#"CREATE TABLE it_hostile."Café ""Ω"".v2" ("order by" integer NOT NULL, "it's" text NOT NULL,
             "a.b" jsonb, "select" text, "Café ""Ω"".v2" numeric(10,3), "ünïcode" text, "from" text,
             PRIMARY KEY ("order by", "it's"));
           CREATE INDEX "idx ""q"" it's" ON it_hostile."Café ""Ω"".v2" ("ünïcode");
           INSERT INTO it_hostile."Café ""Ω"".v2" VALUES
             (1, 'k''1', '{"a":[1,2],"b":1.0}', 'it''s', 1.0, 'ÜNÏ', 'y1'),
             (2, 'k"2', '[1, {"z":null}]', 'it''s', 2.5, ' ABC', 'y2'),
             (3, 'k\3', '{"a":"é"}', 'plain "q"', 3.35, 'def', 'y3'),
             (4, 'ключ 4', 'null', 'plain "q"', 4.0, 'ω', 'y4');"#,
    )
    .unwrap();
    let dir = tempdir();
    let d = dir.path();
    hostile_sqlite(&d.join("legacy.db"), CAFE, &LEGACY_ROWS);
    let spec = d.join("verify.toml");
    std::fs::write(
        &spec,
        cafe_spec(
            PG_URL,
            "\n[[extract]]\nside = \"target\"\ntable = 'it_hostile.\"Café \"\"Ω\"\".v2\"'\n",
        ),
    )
    .unwrap();
    let (code, out, err) = run(&["run", spec.to_str().unwrap(), "-q", "--format", "json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "cafe  FAIL  legacy 4  target 4  missing 0  extra 0  changed 1  partitions 1/2 equal"
        ),
        "{out}"
    );
    assert_cafe_finding(report_entity(&only_report(&d.join("reports")), "cafe"));
    let trun = only_run(&d.join("snapshots"), "target");
    let m = snapdiff::snapshot::read_manifest(&trun).unwrap();
    assert_eq!(m.tables.keys().collect::<Vec<_>>(), ["v2"]);
    assert_eq!(
        m.tables["v2"].source_object.as_deref(),
        Some("it_hostile.\"Café \"\"Ω\"\".v2\"")
    );
    // Keys and index columns are column names, not SQL (`"order by"`).
    let sj: Value = serde_json::from_str(&read(&trun.join("schema.json"))).unwrap();
    let t = &sj["tables"]["v2"];
    assert_eq!(t["primary_key"], json!(["order by", "it's"]));
    assert_eq!(
        t["indexes"],
        json!([
            {"name": "Café \"Ω\".v2_pkey", "columns": ["order by", "it's"], "unique": true},
            {"name": "idx \"q\" it's", "columns": ["ünïcode"], "unique": false}
        ])
    );
}

#[test]
fn hostile_names_in_mariadb_are_quoted_and_the_same_difference_is_found() {
    use mysql::prelude::Queryable;
    let Some((mut my, url)) = mysql_db(
        "hostile_names_in_mariadb_are_quoted_and_the_same_difference_is_found",
        "it_hostile",
    ) else {
        return;
    };
    my.query_drop(
        "CREATE TABLE `Café \"Ω\".v2` (`order by` int NOT NULL, `it's` varchar(20) NOT NULL,
           `a.b` json, `select` text, `Café \"Ω\".v2` decimal(10,3), `ünïcode` text, `from` text,
           PRIMARY KEY (`order by`, `it's`), KEY `idx \"q\" it's` (`ünïcode`(10)))",
    )
    .unwrap();
    my.exec_batch(
        "INSERT INTO `Café \"Ω\".v2` VALUES (?, ?, ?, ?, ?, ?, ?)",
        TARGET_ROWS
            .iter()
            .map(|r| (r.0, r.1, r.2, r.3, r.4.to_string(), r.5, r.6)),
    )
    .unwrap();
    my.query_drop("CREATE TABLE `it's` (id int PRIMARY KEY, `back``tick` text)")
        .unwrap();
    my.exec_drop("INSERT INTO `it's` VALUES (?, ?)", (1, "a`b"))
        .unwrap();
    let dir = tempdir();
    let d = dir.path();

    // Every table of the database: a name with a dot is one table, not db.table.
    let out_dir = d.join("all");
    let (code, _, err) = extract(&url, out_dir.to_str().unwrap(), &["--side", "target"]);
    assert_eq!(code, 0, "{err}");
    let trun = only_run(&out_dir, "target");
    let m = snapdiff::snapshot::read_manifest(&trun).unwrap();
    assert_eq!(m.tables.keys().collect::<Vec<_>>(), ["it_s", "v2"]);
    assert_eq!(
        m.tables["v2"].source_object.as_deref(),
        Some("it_hostile.Café \"Ω\".v2")
    );
    assert_eq!(m.tables["v2"].rows, 4);
    let b = read_table(&trun, "it_s");
    assert_eq!(column(&b, "back`tick"), vec![s("a`b")]);
    // Named: the database, then the table in backticks.
    let named = d.join("named");
    let (code, _, err) = extract(
        &url,
        named.to_str().unwrap(),
        &["--table", "it_hostile.`Café \"Ω\".v2`", "--name", "cafe"],
    );
    assert_eq!(code, 0, "{err}");
    let b = read_table(&only_run(&named, "legacy"), "cafe");
    assert_eq!(
        column(&b, "it's"),
        vec![s("k'1"), s("k\"2"), s("k\\3"), s("ключ 4")]
    );

    hostile_sqlite(&d.join("legacy.db"), CAFE, &LEGACY_ROWS);
    let spec = d.join("verify.toml");
    std::fs::write(&spec, cafe_spec(&url, "")).unwrap();
    let (code, out, err) = run(&["run", spec.to_str().unwrap(), "-q", "--format", "json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_cafe_finding(report_entity(&only_report(&d.join("reports")), "cafe"));
}

/// The message `snapshot::check_name` gives for a run id.
fn bad_run_id(id: &str) -> String {
    format!(
        "error: run id `{id}` may hold only letters, digits, `_`, `-` and `.`, and may not start with `.`"
    )
}

/// `legacy.db` and `target.db` in `d`, each with table `t` holding ids 1 and 2.
fn two_small_dbs(d: &Path) {
    for side in ["legacy", "target"] {
        let c = Connection::open(d.join(format!("{side}.db"))).unwrap();
        c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);")
            .unwrap();
    }
}

#[test]
fn run_ids_and_names_that_look_like_paths_are_refused_and_nothing_leaves_the_root() {
    let dir = tempdir();
    let d = dir.path();
    two_small_dbs(d);
    // A complete-looking run outside the snapshot root, for `--resume` to find.
    std::fs::create_dir_all(d.join("outside")).unwrap();
    std::fs::write(d.join("outside/manifest.json"), "{}").unwrap();
    let spec = d.join("verify.toml");
    std::fs::write(
        &spec,
        format!(
            "{SQLITE_SOURCES}[snapshots]\nroot = \"snaps\"\n\
             [[entity]]\nname = \"t\"\nkey = \"id\"\ntable = \"t\"\n\
             [[invariant]]\nname = \"../../evil/x\"\nsql = \"SELECT id FROM target.t WHERE id > 2\"\n"
        ),
    )
    .unwrap();
    let spec_s = spec.to_str().unwrap();
    let (code, out, err) = run(&["run", spec_s, "-q"]);
    assert_eq!(code, 0, "{out}{err}");
    // Invariant names are free text: never a file name.
    let report = only_report(&d.join("reports"));
    assert_eq!(report["invariants"][0]["name"], "../../evil/x");
    let before = all_files(d);

    let snaps = d.join("snaps");
    let snaps_s = snaps.to_str().unwrap();
    let legacy_url = format!("sqlite://{}", d.join("legacy.db").display());
    for id in ["../x", "..", "a/b", "x/../../y", "/tmp/abs", ".hidden"] {
        let (code, _, err) = extract(&legacy_url, snaps_s, &["--run-id", id]);
        assert_eq!(code, 2, "--run-id {id}");
        assert_eq!(err.trim_end(), bad_run_id(id), "--run-id {id}");
    }
    // snaps/legacy exists, so snaps/legacy/../../outside is a real folder with a
    // manifest: it must not pass for a complete run of this root.
    let (code, out, err) = extract(&legacy_url, snaps_s, &["--resume", "../../outside"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(err.trim_end(), bad_run_id("../../outside"));
    let (code, _, err) = run(&["extract", spec_s, "--resume", "../../outside"]);
    assert_eq!(code, 2);
    assert_eq!(err.trim_end(), bad_run_id("../../outside"));
    let (code, _, err) = extract(&legacy_url, snaps_s, &["--side", "../x"]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        "error: side `../x` may hold only letters, digits, `_`, `-` and `.`, and may not start with `.`"
    );
    for args in [
        vec!["verify", spec_s, "--legacy-run", "../x"],
        vec!["verify", spec_s, "--target-run", "../../outside"],
        vec!["run", spec_s, "--legacy-run", "../x"],
        vec!["sql", spec_s, "SELECT 1", "--target-run", "../x"],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}");
        let id = if args.contains(&"../x") {
            "../x"
        } else {
            "../../outside"
        };
        assert_eq!(err.trim_end(), bad_run_id(id), "{args:?}");
    }
    assert_fails(
        &[
            "diff",
            "legacy.../../x",
            "target.t",
            "--key",
            "id",
            "--snapshots",
            snaps_s,
        ],
        "has no table `../../x`",
    );

    // Names in a spec that would become file or folder names, or SQL.
    let base = SQLITE_SOURCES;
    let cases = [
        (
            "[[extract]]\nside = \"legacy\"\ntable = \"t\"\nname = \"../x\"\n",
            "snapshot table name `../x` must be lowercase letters, digits and `_`, starting with a letter or `_`",
        ),
        (
            "[[entity]]\nname = \"a/b\"\nkey = \"id\"\ntable = \"t\"\n",
            "entity name `a/b` must be lowercase letters, digits and `_`",
        ),
        (
            "[[entity]]\nname = \"../x\"\nkey = \"id\"\ntable = \"t\"\n",
            "entity name `../x` must be lowercase letters, digits and `_`",
        ),
        (
            "[[query]]\nname = \"../q\"\nsql = \"SELECT id FROM {side}.t\"\n",
            "query check name `../q` must be lowercase letters, digits and `_`",
        ),
        (
            "[[entity]]\nname = \"e\"\nkey = \"id\"\ntable = \"../x\"\n",
            "snapshot table name `../x` must be letters, digits and `_`, starting with a letter or `_` (SQL reads it in lower case)",
        ),
    ];
    for (i, (entry, want)) in cases.iter().enumerate() {
        let p = d.join(format!("bad{i}.toml"));
        std::fs::write(&p, format!("{base}{entry}")).unwrap();
        for cmd in ["plan", "verify", "extract"] {
            let (code, out, err) = run(&[cmd, p.to_str().unwrap()]);
            assert_eq!(code, 2, "{cmd} {entry}: {out}");
            assert!(
                err.starts_with(&format!("error: {}:", p.display())) && err.contains(want),
                "{cmd} {entry}: {err}"
            );
        }
        std::fs::remove_file(&p).unwrap();
    }

    // Nothing was written anywhere: not outside the roots, not inside them.
    assert_eq!(all_files(d), before);
    assert_eq!(
        std::fs::read_dir(d.join("outside")).unwrap().count(),
        1,
        "only the planted manifest"
    );
    assert!(!d.join("evil").exists() && !d.join("x").exists() && !d.join("y").exists());
}

#[test]
fn spec_sql_that_would_write_is_refused_before_anything_runs() {
    let dir = tempdir();
    let d = dir.path();
    two_small_dbs(d);
    let base = SQLITE_SOURCES;
    let good = d.join("good.toml");
    std::fs::write(
        &good,
        format!("{base}[[entity]]\nname = \"t\"\nkey = \"id\"\ntable = \"t\"\n"),
    )
    .unwrap();
    let (code, out, err) = run(&["extract", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let written = d.join("written.csv");
    let w = written.display();
    let ext = d.join("ext");
    let entity = |legacy: &str, more: &str| {
        format!(
            "[[entity]]\nname = \"e\"\nkey = \"id\"\nlegacy = \"\"\"{legacy}\"\"\"\ntarget = \"SELECT id FROM target.t\"\n{more}"
        )
    };
    let not_a_query =
        "the legacy SQL is not a query; write one SELECT (or WITH ... SELECT, or VALUES)";
    let cases: Vec<(String, String)> = vec![
        (
            entity(&format!("COPY (SELECT * FROM legacy.t) TO '{w}'"), ""),
            not_a_query.into(),
        ),
        (
            entity("INSERT INTO legacy.t SELECT * FROM legacy.t", ""),
            not_a_query.into(),
        ),
        (
            entity(
                &format!(
                    "CREATE EXTERNAL TABLE evil (id BIGINT) STORED AS CSV LOCATION '{}/'",
                    ext.display()
                ),
                "",
            ),
            not_a_query.into(),
        ),
        (
            entity(&format!("SELECT id FROM legacy.t; COPY (SELECT 1) TO '{w}'"), ""),
            "the legacy SQL holds 2 statements; write one query (SELECT ...)".into(),
        ),
        // Closing the subquery it is embedded in does not parse.
        (
            entity(
                &format!("SELECT id FROM legacy.t) AS s; COPY (SELECT 1) TO '{w}'; SELECT * FROM (SELECT 1"),
                "",
            ),
            "the legacy SQL does not parse: SQL error: ParserError(\"Expected: end of statement, found: )".into(),
        ),
        (
            entity(
                "SELECT id FROM legacy.t",
                &format!("filter = \"\"\"true) AS s; COPY (SELECT 1) TO '{w}'; SELECT * FROM (SELECT 1\"\"\"\n"),
            ),
            "`filter` does not parse: unexpected `)` after the expression".into(),
        ),
        (
            entity(
                "SELECT id FROM legacy.t",
                &format!("partition_by = \"\"\"id) AS s; COPY (SELECT 1) TO '{w}'; SELECT (1\"\"\"\n"),
            ),
            "`partition_by` does not parse: unexpected `)` after the expression".into(),
        ),
        // `table` is pasted into SQL: only a snapshot table name.
        (
            format!("[[entity]]\nname = \"e\"\nkey = \"id\"\ntable = \"t AS x; COPY (SELECT 1) TO '{w}'; SELECT 1 FROM legacy.t\"\n"),
            format!("snapshot table name `t AS x; COPY (SELECT 1) TO '{w}'; SELECT 1 FROM legacy.t` must be letters, digits and `_`"),
        ),
        (
            format!("[[query]]\nname = \"q\"\nsql = \"COPY (SELECT * FROM {{side}}.t) TO '{w}'\"\n"),
            "the SQL is not a query; write one SELECT (or WITH ... SELECT, or VALUES)".into(),
        ),
        (
            "[[invariant]]\nname = \"i\"\nsql = \"INSERT INTO target.t VALUES (9)\"\n".into(),
            "the SQL is not a query; write one SELECT (or WITH ... SELECT, or VALUES)".into(),
        ),
    ];
    let before = all_files(d);
    for (n, (entry, want)) in cases.iter().enumerate() {
        let p = d.join(format!("w{n}.toml"));
        std::fs::write(&p, format!("{base}{entry}")).unwrap();
        for cmd in ["plan", "verify", "run"] {
            let (code, out, err) = run(&[cmd, p.to_str().unwrap()]);
            assert_eq!(code, 2, "{cmd} {entry}: {out}{err}");
            assert!(
                err.starts_with(&format!("error: {}:", p.display())) && err.contains(want.as_str()),
                "{cmd} {entry}:\n{err}\nwanted: {want}"
            );
        }
        std::fs::remove_file(&p).unwrap();
    }
    assert!(!written.exists() && !ext.exists());
    assert_eq!(
        all_files(d),
        before,
        "no file was added, changed or removed"
    );
}

#[test]
fn an_sql_session_can_name_an_external_table_but_never_write_to_it() {
    let dir = tempdir();
    let d = dir.path();
    let c = Connection::open(d.join("legacy.db")).unwrap();
    c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);")
        .unwrap();
    drop(c);
    let snaps = d.join("snaps");
    let (code, _, err) = extract(
        &format!("sqlite://{}", d.join("legacy.db").display()),
        snaps.to_str().unwrap(),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let ext = d.join("ext");
    std::fs::create_dir(&ext).unwrap();
    let before = all_files(d);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let session = snapdiff::query::open(&snapdiff::query::SessionOptions {
            snapshot_root: snaps.clone(),
            reports_root: None,
            spec: None,
            legacy_run: None,
            target_run: None,
        })
        .await
        .unwrap();
        let ctx = &session.ctx;
        let sql = |q: String| async move {
            match ctx.sql_with_options(&q, snapdiff::engine::sql::read_only()).await {
                Ok(df) => df.collect().await.map(|_| ()),
                Err(e) => Err(e),
            }
        };
        sql(format!(
            "CREATE EXTERNAL TABLE evil (id BIGINT) STORED AS CSV LOCATION '{}/'",
            ext.display()
        ))
        .await
        .expect("naming a table is no write");
        for q in [
            "INSERT INTO evil SELECT id FROM legacy.t".to_string(),
            format!(
                "COPY (SELECT id FROM legacy.t) TO '{}/copied.csv'",
                ext.display()
            ),
            "INSERT INTO legacy.t VALUES (3)".to_string(),
        ] {
            let e = sql(q.clone()).await.expect_err(&q);
            assert_eq!(
                snapdiff::engine::sql::explain(ctx, e).message,
                "the session is read-only: COPY and INSERT are refused (nothing is ever written to a snapshot or report)",
                "{q}"
            );
        }
    });
    assert_eq!(all_files(d), before, "nothing was written");
}

#[test]
fn sqlite_extract_queries_that_would_write_are_refused_and_the_file_is_untouched() {
    let dir = tempdir();
    let d = dir.path();
    let db = d.join("legacy.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    )
    .unwrap();
    drop(c);
    let sum = sha256_file(&db);
    let before: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let url = format!("sqlite://{}", db.display());
    let out = d.join("snaps");
    let writes = "the query would write to the database; only reads are allowed";
    let cases = [
        (
            format!("ATTACH DATABASE '{}' AS y", d.join("attached.db").display()),
            "the query returns no columns: only a query that reads rows (SELECT, WITH or VALUES) is extracted",
        ),
        (
            format!("VACUUM INTO '{}'", d.join("copy.db").display()),
            writes,
        ),
        ("INSERT INTO t VALUES (9, 'x') RETURNING id".into(), writes),
        ("CREATE TABLE z AS SELECT * FROM t".into(), writes),
        (
            "WITH x AS (SELECT 9 AS id) INSERT INTO t (id) SELECT id FROM x".into(),
            writes,
        ),
        ("CREATE TEMP TABLE tt AS SELECT 1 AS a".into(), writes),
        ("PRAGMA user_version = 5".into(), writes),
        (
            "SELECT id FROM t; DELETE FROM t".into(),
            "the query does not prepare: Multiple statements provided",
        ),
    ];
    for (q, want) in &cases {
        let (code, _, err) = extract(
            &url,
            out.to_str().unwrap(),
            &["--query", q.as_str(), "--name", "w"],
        );
        assert_eq!(code, 2, "{q}");
        assert!(
            err.starts_with(&format!("error: source {url}, table w: {want}")),
            "{q}:\n{err}"
        );
    }
    assert_eq!(sha256_file(&db), sum);
    let mut after: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    after.retain(|f| f != "snaps");
    assert_eq!(after, before, "no attached, vacuumed, journal or WAL file");
    assert!(
        all_files(&out).is_empty(),
        "a refused first table leaves no run"
    );
}

#[test]
fn postgresql_extract_queries_that_would_write_are_refused_in_the_read_only_transaction() {
    let test =
        "postgresql_extract_queries_that_would_write_are_refused_in_the_read_only_transaction";
    let Some(mut pg) = pg_schema(test, "it_hostile_ro") else {
        return;
    };
    pg.batch_execute(
        "CREATE TABLE it_hostile_ro.t (id integer PRIMARY KEY); INSERT INTO it_hostile_ro.t VALUES (1), (2);
         CREATE SEQUENCE it_hostile_ro.s;",
    )
    .unwrap();
    let dir = tempdir();
    let out = dir.path().join("snaps");
    let prefix = format!("error: source {PG_URL}, table w: ");
    let cases = [
        (
            "INSERT INTO it_hostile_ro.t VALUES (9) RETURNING id",
            "db error: ERROR: syntax error at or near \"INTO\"",
        ),
        (
            "WITH d AS (DELETE FROM it_hostile_ro.t RETURNING id) SELECT id FROM d",
            "db error: ERROR: WITH clause containing a data-modifying statement must be at the top level",
        ),
        (
            "SELECT nextval('it_hostile_ro.s') AS n",
            "the source refused a write: ",
        ),
        (
            "SELECT 1 AS a; DROP SCHEMA it_hostile_ro CASCADE",
            "the query does not prepare: syntax error: cannot insert multiple commands into a prepared statement",
        ),
    ];
    for (q, want) in cases {
        let (code, _, err) = extract(
            PG_URL,
            out.to_str().unwrap(),
            &["--query", q, "--name", "w", "--side", "target"],
        );
        assert_eq!(code, 2, "{q}");
        let line = format!("{prefix}{want}");
        assert!(err.lines().any(|l| l.starts_with(&line)), "{q}:\n{err}");
    }
    let (_, _, err) = extract(
        PG_URL,
        out.to_str().unwrap(),
        &[
            "--query",
            "SELECT nextval('it_hostile_ro.s') AS n",
            "--name",
            "w",
        ],
    );
    assert!(
        err.contains("cannot execute nextval() in a read-only transaction")
            && err.contains(
                "hint: snapdiff reads in read-only transactions; the query must not write"
            ),
        "{err}"
    );
    let n: i64 = pg
        .query_one("SELECT count(*) FROM it_hostile_ro.t", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    let row = pg
        .query_one("SELECT last_value, is_called FROM it_hostile_ro.s", &[])
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, bool>(1)),
        (1, false),
        "the sequence never advanced"
    );
    assert!(all_files(&out).is_empty());
}

#[test]
fn deeply_nested_spec_text_is_an_error_not_a_crash() {
    let dir = tempdir();
    let d = dir.path();
    let n = 100_000;
    let base = format!("{SQLITE_SOURCES}[[entity]]\nname = \"e\"\nkey = \"id\"\n");
    let deep_sql = format!("{}1{}", "(".repeat(n), ")".repeat(n));
    let cases = [
        (
            format!("legacy = \"SELECT {deep_sql} AS id\"\ntarget = \"SELECT 1 AS id\"\n"),
            ":8: the legacy SQL does not parse: SQL error: RecursionLimitExceeded (current limit: 50)",
        ),
        (
            format!("legacy = \"SELECT 1 AS id\"\ntarget = \"SELECT 1 AS id\"\nfilter = \"{deep_sql} = 1\"\n"),
            ":10: `filter` does not parse: sql parser error: recursion limit exceeded",
        ),
        (
            format!(
                "legacy = \"SELECT 1 AS id\"\ntarget = \"SELECT 1 AS id\"\n[entity.normalize]\nx = {}{}\n",
                "[".repeat(n),
                "]".repeat(n)
            ),
            ":11:84: recursion limit exceeded",
        ),
    ];
    for (entry, want) in cases {
        let p = d.join("deep.toml");
        std::fs::write(&p, format!("{base}{entry}")).unwrap();
        let (code, _, err) = run(&["plan", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{want}");
        assert_eq!(
            err.trim_end(),
            format!("error: {}{want}", p.display()),
            "{want}"
        );
    }
}

/// Run `snapdiff` and reap it with `wait4`: (exit code, stdout, stderr, peak resident
/// memory in KiB).
fn run_measured(args: &[&str]) -> (i32, String, String, u64) {
    use std::io::Read;
    // Reaped below by wait4, not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            s
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    // Reaped here with wait4, which reports this child's own peak RSS (KiB on Linux).
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child `pid`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (
        code,
        out.join().unwrap(),
        err.join().unwrap(),
        usage.ru_maxrss as u64,
    )
}

/// A text of `n` letters, the same every time.
fn letters(n: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b'a' + (x % 10) as u8) as char
        })
        .collect()
}

#[test]
fn deep_json_and_megabyte_values_go_through_extract_verify_and_diff() {
    let dir = tempdir();
    let d = dir.path();
    const MB4: usize = 4 << 20;
    const AT: usize = 3_000_000;
    let big = letters(MB4);
    let mut changed = big.clone();
    changed.replace_range(AT..AT + 1, "X");
    assert_ne!(&big[AT..AT + 1], "X");
    let open = "[".repeat(100_000);
    let balanced = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for (side, big3, doc3, doc4) in [
        (
            "legacy",
            &big,
            r#"{"a":1}"#,
            r#"{"b": [1.0, 2], "a": null}"#,
        ),
        (
            "target",
            &changed,
            r#"{ "a" : 1.0 }"#,
            r#"{"a":null,"b":[1,2.0]}"#,
        ),
    ] {
        let c = Connection::open(d.join(format!("{side}.db"))).unwrap();
        c.execute_batch("CREATE TABLE docs (id INTEGER PRIMARY KEY, doc TEXT, big TEXT)")
            .unwrap();
        let mut ins = c.prepare("INSERT INTO docs VALUES (?1, ?2, ?3)").unwrap();
        ins.execute(rusqlite::params![1, open, "small"]).unwrap();
        ins.execute(rusqlite::params![2, balanced, big]).unwrap();
        ins.execute(rusqlite::params![3, doc3, big3]).unwrap();
        ins.execute(rusqlite::params![4, doc4, "small"]).unwrap();
    }
    let spec = |name: &str, more: &str| {
        let p = d.join(format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "{SQLITE_SOURCES}[[entity]]\nname = \"docs\"\nkey = \"id\"\ntable = \"docs\"\n{more}"
            ),
        )
        .unwrap();
        p.to_str().unwrap().to_string()
    };
    let base = spec("base", "");
    let (code, out, err) = run(&["extract", &base, "-q"]);
    assert_eq!(code, 0, "{out}{err}");
    let root = d.join("snapshots");
    let (lrun, trun) = (only_run(&root, "legacy"), only_run(&root, "target"));
    let len = |v: &V| match v {
        V::Str(t) => t.len(),
        other => panic!("{other:?}"),
    };
    let b = read_table(&lrun, "docs");
    assert_eq!(
        column(&b, "doc").iter().map(len).collect::<Vec<_>>(),
        [100_000, 200_000, 7, 26]
    );
    assert_eq!(
        column(&b, "big").iter().map(len).collect::<Vec<_>>(),
        [5, MB4, MB4, 5]
    );

    // Equal deep documents and equal megabyte texts, compared as text: equal.
    let equal = spec("equal", "filter = \"id <= 2\"\n");
    let (code, out, err, rss) = run_measured(&["verify", &equal, "--format", "none"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("docs  PASS  legacy 2  target 2  missing 0  extra 0  changed 0"),
        "{out}"
    );
    assert!(rss < 1 << 20, "peak memory {rss} KiB");

    // Canonical JSON of a document nested 100,000 deep: a value the rule cannot read, a
    // finding at its key on each side, shown by its first 200 characters, not 100,000.
    for (filter, id, bytes) in [("id = 1", 1, 100_000), ("id = 2", 2, 200_000)] {
        let p = spec(
            "deep",
            &format!("filter = \"{filter}\"\n[entity.normalize]\ndoc = \"json\"\n"),
        );
        let (code, out, err) = run(&["verify", &p, "--format", "none"]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            out.lines()
                .any(|l| l
                    == "docs  FAIL  legacy 1  target 1  missing 0  extra 0  changed 0  invalid 2"),
            "{out}"
        );
        for side in ["legacy", "target"] {
            let want = format!(
                "    invalid {side} doc id={id}: {}…({} characters in all)",
                "[".repeat(200),
                thousands(bytes as u64)
            );
            assert!(out.lines().any(|l| l == want), "{out}\nwanted: {want}");
        }
    }
    // A megabyte text that is not JSON: the same.
    let p = spec(
        "notjson",
        "filter = \"id = 2\"\n[entity.normalize]\nbig = \"json\"\n",
    );
    let (code, out, err) = run(&["verify", &p, "--format", "none"]);
    assert_eq!(code, 1, "{out}{err}");
    let want = format!(
        "    invalid legacy big id=2: {}…({} characters in all)",
        &big[..200],
        thousands(MB4 as u64)
    );
    assert!(out.lines().any(|l| l == want), "{out}\nwanted: {want}");

    // One character changed 3,000,000 characters into a 4 MB value: found at its key.
    let found = spec(
        "found",
        "filter = \"id >= 3\"\n[entity.normalize]\ndoc = \"json\"\n",
    );
    let reports = d.join("reports");
    let (code, out, err, rss) = run_measured(&[
        "verify",
        &found,
        "--reports",
        reports.to_str().unwrap(),
        "--format",
        "json,diffs",
        "-q",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("docs  FAIL  legacy 2  target 2  missing 0  extra 0  changed 1"),
        "{out}"
    );
    assert!(rss < 1 << 20, "peak memory {rss} KiB");
    let report = only_report(&reports);
    let e = report_entity(&report, "docs");
    let diff = &e["diff"];
    assert_eq!(diff["changed_by_column"], json!({"big": 1}));
    let row = &diff["changed_rows"][0];
    assert_eq!(row["key"], json!([["id", "3"]]));
    let cells = row["cells"].as_array().unwrap();
    assert_eq!(
        cells[0],
        json!({"column": "doc", "legacy": "{\"a\":1}", "target": "{\"a\":1}", "differs": false})
    );
    assert_eq!(
        (&cells[1]["column"], &cells[1]["differs"]),
        (&json!("big"), &json!(true))
    );
    let (l, t) = (
        cells[1]["legacy"].as_str().unwrap(),
        cells[1]["target"].as_str().unwrap(),
    );
    // Both cut to the window from 40 characters before where they differ; the diff file
    // holds them whole, and report.json stays small.
    let window = |v: &str| {
        format!(
            "(+{} characters)…{}…({} characters in all)",
            thousands((AT - 40) as u64),
            &v[AT - 40..AT + 160],
            thousands(MB4 as u64)
        )
    };
    let mut changed = big.clone().into_bytes();
    changed[AT] = b'X';
    let changed = String::from_utf8(changed).unwrap();
    assert_eq!(l, window(&big));
    assert_eq!(t, window(&changed));
    let folder = only_report_dir(&reports);
    let json_bytes = std::fs::metadata(folder.join("report.json")).unwrap().len();
    assert!(json_bytes < 64 << 10, "report.json is {json_bytes} bytes");
    let batches = read_parquet(&folder.join("diffs/docs/changed.parquet"));
    assert_eq!(column(&batches, "target__big"), [s(&changed)]);
    assert_eq!(e["aggregate_differences"], json!([]));
    assert_eq!(
        e["checks"].as_array().unwrap().last().unwrap()["summary"],
        "2 column profiles not computed: the row diff found changed values only in big, \
         which account for their differences; the other columns' profiles are proven equal"
    );

    // diff of the two snapshot folders, as text: row 3's big value and row 4's JSON.
    let dr = d.join("diff-reports");
    let (code, out, err, rss) = run_measured(&[
        "diff",
        lrun.join("docs").to_str().unwrap(),
        trun.join("docs").to_str().unwrap(),
        "--key",
        "id",
        "--report",
        dr.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("diff  FAIL  legacy 4  target 4  missing 0  extra 0  changed 2"),
        "{out}"
    );
    assert!(rss < 1 << 20, "peak memory {rss} KiB");
    let de = report_entity(&only_report(&dr), "diff")["diff"].clone();
    // Row 3's JSON is written differently too (`{ "a" : 1.0 }`): diff compares text.
    assert_eq!(de["changed_by_column"], json!({"big": 1, "doc": 2}));
    let keys: Vec<&Value> = de["changed_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["key"])
        .collect();
    assert_eq!(keys, [&json!([["id", "3"]]), &json!([["id", "4"]])]);
    let (code, out, err) = run(&[
        "diff",
        lrun.join("docs").to_str().unwrap(),
        trun.join("docs").to_str().unwrap(),
        "--key",
        "id",
        "--ignore",
        "big",
        "--ignore",
        "doc",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("diff  PASS  legacy 4  target 4"), "{out}");
}
