//! `snapdiff sql` (one query, the ready queries of queries/adhoc/, output formats,
//! errors, the interactive prompt through a pseudo-terminal) and `snapdiff diff`
//! (the same findings as `verify` with the equivalent spec).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;

use crate::common::*;
use crate::school::school_copy;

/// The school example, run once: snapshots and a report with its diffs.
fn school_run(dir: &Path) -> PathBuf {
    let school = school_copy(dir);
    let (code, out, err) = run(&["run", school.join("verify.toml").to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    school.join("verify.toml")
}

fn sql(spec: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["sql", spec.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn every_ready_query_gives_its_exact_answer_on_the_school_snapshots() {
    let dir = tempdir();
    let spec = school_run(dir.path());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--query", "key_overlap", "--param", "table=submissions", "--param", "key=id", "--param", "target_key=legacy_id"],
            "overlap,keys\nboth,399\nonly legacy,1\nonly target,1\n",
        ),
        (
            vec!["--query", "duplicate_keys", "--param", "table=submissions", "--param", "key=id", "--param", "target_key=legacy_id"],
            "side,key,rows\ntarget,23,2\n",
        ),
        (
            vec!["--query", "counts_per_partition", "--param", "table=courses", "--param", "partition=status"],
            "partition,legacy_rows,target_rows,difference\nA,7,0,-7\nD,1,0,-1\nactive,0,7,7\ndeleted,0,1,1\n",
        ),
        (
            vec!["--query", "counts_per_partition", "--param", "table=submissions"],
            "partition,legacy_rows,target_rows,difference\nall,400,401,1\n",
        ),
        (
            vec!["--query", "column_profile", "--param", "table=users", "--param", "column=email"],
            "side,rows,nulls,distinct_values,min,max\n\
             legacy,60,0,60,ada.allen24@school.example,radia.hopper42@school.example\n\
             target,60,0,60,ALAN.BACKUS15@SCHOOL.EXAMPLE,radia.hopper42@school.example\n",
        ),
        (
            vec!["--query", "changed_rows", "--param", "entity=course"],
            "id,legacy__title,target__title,legacy__teacher_id,target__teacher_id,legacy__status,target__status,legacy__price,target__price,__differs\n\
             3,Operating Systems,Operating Systems II,30,30,active,active,99.00,99.00,[title]\n",
        ),
    ];
    for (args, want) in cases {
        let mut a = args.clone();
        a.extend_from_slice(&["--format", "csv"]);
        let (code, out, err) = sql(&spec, &a);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(out, want, "{args:?}");
    }
    let (code, out, _) = run(&["sql", "--list-queries"]);
    assert_eq!(code, 0);
    for name in [
        "counts_per_partition",
        "key_overlap",
        "column_profile",
        "changed_rows",
        "duplicate_keys",
    ] {
        assert!(out.contains(&format!("{name}  (")), "{out}");
    }
}

#[test]
fn sql_output_formats_stream_and_errors_say_where_and_what() {
    let dir = tempdir();
    let spec = school_run(dir.path());
    let q = "SELECT id, email FROM legacy.users WHERE id <= 2 ORDER BY id";
    let (_, out, _) = sql(&spec, &[q, "--format", "json"]);
    assert_eq!(
        out,
        "[{\"id\":1,\"email\":\"ada.knuth1@school.example\"},{\"id\":2,\"email\":\"frances.hopper2@school.example\"}]\n"
    );
    let (_, out, _) = sql(
        &spec,
        &[
            "SELECT id FROM legacy.users WHERE false",
            "--format",
            "json",
        ],
    );
    assert_eq!(out, "[]\n", "no rows is an empty array");
    let (_, out, _) = sql(&spec, &[q, "--format", "ndjson"]);
    assert_eq!(
        out,
        "{\"id\":1,\"email\":\"ada.knuth1@school.example\"}\n{\"id\":2,\"email\":\"frances.hopper2@school.example\"}\n"
    );
    let (_, out, _) = sql(
        &spec,
        &["SELECT id FROM legacy.users ORDER BY id", "--limit", "2"],
    );
    assert_eq!(
        out,
        "+----+\n| id |\n+----+\n| 1  |\n| 2  |\n+----+\n60 rows, 2 shown, 58 left out (--limit N shows more; --format csv --out FILE writes all)\n"
    );
    let file = dir.path().join("all.parquet");
    let (code, _, err) = sql(
        &spec,
        &[
            "SELECT * FROM target.submissions",
            "--format",
            "parquet",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("401 rows written to"), "{err}");
    let rows: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap()
    .map(|b| b.unwrap().num_rows())
    .sum();
    assert_eq!(rows, 401);
    // The diffs of the newest report, and snapdiff's functions.
    let (_, out, err) = sql(
        &spec,
        &[
            "SELECT count(*) AS n FROM diffs.submission_missing",
            "--format",
            "csv",
        ],
    );
    assert_eq!(out, "n\n1\n", "{err}");
    let (code, out, _) = sql(
        &spec,
        &[
            "SELECT sd_json('{\"b\":1,\"a\":2}') AS j",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "j\n\"{\"\"a\"\":2,\"\"b\"\":1}\"\n")
    );

    let (code, _, err) = sql(&spec, &["SELECT * FROM legacy.nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("table 'datafusion.legacy.nope' not found"),
        "{err}"
    );
    assert!(
        err.contains("hint: the tables are: legacy.courses, legacy.submissions, legacy.users, target.courses"),
        "{err}"
    );
    assert!(
        err.contains("target.users, diffs.course_changed, diffs.course_duplicates"),
        "{err}"
    );
    let (code, _, err) = sql(&spec, &["SELECT id FORM legacy.users"]);
    assert_eq!(code, 2);
    assert!(err.contains("at Line: 1, Column: "), "{err}");
    let (code, _, err) = sql(&spec, &["--query", "key_overlap", "--param", "table=users"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("ready query `key_overlap` needs the parameter `key`"),
        "{err}"
    );
}

#[test]
fn the_prompt_lists_describes_queries_and_quits_in_a_pseudo_terminal() {
    let dir = tempdir();
    let spec = school_run(dir.path());
    // `script` gives the prompt a pseudo-terminal; lines are typed one at a time.
    let command = format!("{} sql {}", bin().display(), spec.display());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdin = child.stdin.take().unwrap();
    for line in [
        "\\d",
        "\\timing",
        "SELECT count(*) AS n",
        "  FROM legacy.users;",
        "\\d legacy.courses",
        "\\q",
    ] {
        std::thread::sleep(std::time::Duration::from_millis(700));
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(out.status.success(), "{text}");
    let row = |start: &str, end: &str| {
        text.lines()
            .any(|l| l.starts_with(start) && l.ends_with(end))
    };
    assert!(
        row("| target.submissions ", "| 401  |"),
        "\\d lists tables with rows: {text}"
    );
    assert!(
        row("| diffs.user_changed ", "| 1    |"),
        "and the report's diffs: {text}"
    );
    assert!(
        text.contains("     ...> "),
        "a statement continues over lines: {text}"
    );
    assert!(
        text.contains("| n  |\n+----+\n| 60 |"),
        "the query ran: {text}"
    );
    assert!(
        text.contains("  price                    Float64"),
        "\\d TABLE describes it: {text}"
    );
    assert!(
        dir.path().join(".snapdiff_history").is_file(),
        "history is kept"
    );
}

fn write_parquet(path: &Path, ids: &[i64], amounts: &[f64], notes: &[&str]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let b = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as _),
        (
            "amount",
            Arc::new(Float64Array::from(amounts.to_vec())) as _,
        ),
        ("note", Arc::new(StringArray::from(notes.to_vec())) as _),
    ])
    .unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), b.schema(), None).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

#[test]
fn diff_finds_exactly_what_verify_finds_with_the_equivalent_spec() {
    let dir = tempdir();
    let d = dir.path();
    // 2 missing (4, 5), 1 extra (9), 2 changed (2: amount beyond 0.01, 3: note), one
    // within the tolerance (1), one equal after trim and lower (6).
    write_parquet(
        &d.join("a/orders.parquet"),
        &[1, 2, 3, 4, 5, 6],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        &["x", "y", "z", "w", "v", "Six"],
    );
    write_parquet(
        &d.join("b/orders.parquet"),
        &[1, 2, 3, 6, 9],
        &[1.004, 2.5, 3.0, 6.0, 9.0],
        &["x", "y", "Q", " six ", "n"],
    );
    std::fs::write(
        d.join("verify.toml"),
        "[sources.legacy]\nurl = \"a\"\n[sources.target]\nurl = \"b\"\n\
         [[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\n\
         [entity.normalize]\namount = { tolerance = { abs = 0.01 } }\nnote = { trim = true, lower = true }\n",
    )
    .unwrap();
    let (code, out, err) = run(&[
        "run",
        d.join("verify.toml").to_str().unwrap(),
        "-q",
        "--format",
        "json,diffs",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let (code, out, err) = run(&[
        "diff",
        d.join("a/orders.parquet").to_str().unwrap(),
        d.join("b/orders.parquet").to_str().unwrap(),
        "--key",
        "id",
        "--tolerance",
        "amount=0.01",
        "--trim",
        "--lower",
        "--report",
        d.join("diff-reports").to_str().unwrap(),
        "--format",
        "json,diffs",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("diff  FAIL  legacy 6  target 5  missing 2  extra 1  changed 2"),
        "{out}"
    );
    let verify = only_report(&d.join("reports"));
    let diff = only_report(&d.join("diff-reports"));
    let (v, f) = (&verify["entities"][0], &diff["entities"][0]);
    assert_eq!(v["diff"], f["diff"], "the same findings, rows and samples");
    assert_eq!(v["diff"]["missing"], 2);
    assert_eq!(
        v["diff"]["changed_by_column"],
        serde_json::json!({"amount": 1, "note": 1})
    );
    for kind in ["missing", "extra", "changed"] {
        let keys = |root: &Path, entity: &str| {
            let dir = std::fs::read_dir(root)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .unwrap();
            let batches: Vec<RecordBatch> =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    std::fs::File::open(dir.join(format!("diffs/{entity}/{kind}.parquet")))
                        .unwrap(),
                )
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap())
                .collect();
            let mut k = column(&batches, "id");
            k.sort_by_key(|v| format!("{v:?}"));
            k
        };
        assert_eq!(
            keys(&d.join("reports"), "orders"),
            keys(&d.join("diff-reports"), "diff"),
            "{kind}"
        );
    }
    // Folders of Parquet files, and snapshot tables.
    let (code, out, err) = run(&[
        "diff",
        d.join("a").to_str().unwrap(),
        d.join("b").to_str().unwrap(),
        "--key",
        "id",
        "--tolerance",
        "amount=0.01",
        "--trim",
        "--lower",
        "-q",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("missing 2  extra 1  changed 2"), "{out}");
    let snaps = d.join("snapshots");
    let (code, out, err) = run(&[
        "diff",
        "legacy.orders",
        "legacy.orders",
        "--key",
        "id",
        "--snapshots",
        snaps.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("diff  PASS  legacy 6  target 6  missing 0  extra 0  changed 0"),
        "{out}"
    );
    let (code, _, err) = run(&["diff", "nope.parquet", "b", "--key", "id"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`nope.parquet` is neither a file or folder nor a snapshot table"),
        "{err}"
    );
}

#[test]
fn a_session_never_writes_copy_and_insert_are_refused() {
    let dir = tempdir();
    let spec = school_run(dir.path());
    let before = all_files(dir.path());
    let out_file = dir.path().join("copied.parquet");
    let copy = format!(
        "COPY (SELECT * FROM legacy.users) TO '{}'",
        out_file.display()
    );
    for q in [
        copy.as_str(),
        // A snapshot table is Parquet files: an INSERT would add one to the snapshot.
        "INSERT INTO legacy.users SELECT * FROM legacy.users",
    ] {
        let (code, out, err) = sql(&spec, &[q]);
        assert_eq!(code, 2, "{q}: {out}{err}");
        assert!(err.contains("the session is read-only"), "{err}");
        assert!(err.contains("--out FILE"), "{err}");
    }
    assert!(!out_file.exists());
    assert_eq!(
        all_files(dir.path()),
        before,
        "no file was added or removed"
    );
    // Reading still works.
    let (code, out, err) = sql(
        &spec,
        &["SELECT count(*) AS n FROM legacy.users", "--format", "csv"],
    );
    assert_eq!((code, out.as_str()), (0, "n\n60\n"), "{err}");
}

/// A PascalCase legacy table with text dates, JSON and flags against its snake_case
/// target, in one `snapdiff diff` without a spec; the ready queries take the names as
/// written.
#[test]
fn diff_renames_parses_and_maps_without_a_spec() {
    let dir = tempdir();
    let d = dir.path();
    let c = rusqlite::Connection::open(d.join("legacy.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE \"Invoice\" (\"InvoiceId\" INTEGER PRIMARY KEY, \"InvoiceDate\" TEXT, \"BillingCity\" TEXT, \"Status\" TEXT, \"Paid\" TEXT, \"Extra\" TEXT, \"Note\" TEXT);
         INSERT INTO \"Invoice\" VALUES
           (1, '2009-01-01 00:00:00', 'Edinburgh', 'P', 'yes', '{\"b\": 1, \"a\": 2}', 'Cafe' || char(769)),
           (2, '2009-01-02 10:30:00', 'Oslo', 'O', 'no', '{}', 'plain'),
           (3, '2009-01-03 08:00:00', 'Paris', 'P', 'yes', '[1, 2]', 'plain');",
    )
    .unwrap();
    let snaps = d.join("snapshots");
    let url = format!("sqlite://{}", d.join("legacy.db").display());
    let (code, out, err) = extract(
        &url,
        snaps.to_str().unwrap(),
        &["--table", "Invoice", "--side", "legacy", "--quiet"],
    );
    assert_eq!(code, 0, "{out}{err}");
    write_parquet_sql(
        &d.join("invoice.parquet"),
        "SELECT * FROM (VALUES
           (1, arrow_cast('2009-01-01T00:00:00', 'Timestamp(Microsecond, None)'), 'Edinburgh', 'paid', true, '{\"a\":2,\"b\":1}', 'Café'),
           (2, arrow_cast('2009-01-02T10:30:00', 'Timestamp(Microsecond, None)'), 'Oslo', 'open', false, '{}', 'plain'),
           (3, arrow_cast('2009-01-03T09:00:00', 'Timestamp(Microsecond, None)'), 'Paris', 'paid', true, '[1,2]', 'plain'))
         AS t(invoice_id, invoice_date, billing_city, state, paid, extra, note)",
    );
    let target = d.join("invoice.parquet");
    // `snapdiff diff legacy.invoice <target> --key invoice_id` with `flags`.
    let diff = |flags: &[&str]| {
        let mut args = vec![
            "diff",
            "legacy.invoice",
            target.to_str().unwrap(),
            "--snapshots",
            snaps.to_str().unwrap(),
            "--key",
            "invoice_id",
        ];
        args.extend(flags);
        run(&args)
    };
    let rules = [
        "--names",
        "snake_case",
        "--parse",
        "invoice_date=%Y-%m-%d %H:%M:%S",
        "--map",
        "state=P:paid,O:open",
        "--bool",
        "paid",
        "--json",
        "extra",
        "--nfc",
    ];
    let reports = d.join("reports");
    let mut flags = rules.to_vec();
    flags.extend([
        "--rename",
        "status=state",
        "--report",
        reports.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let (code, out, err) = diff(&flags);
    // Only the hour of invoice 3 differs, and every column is compared.
    assert_eq!(code, 1, "{out}{err}");
    let report = only_report(&reports);
    let e = &report["entities"][0];
    assert_eq!(
        e["compared"],
        serde_json::json!([
            "invoice_date",
            "billing_city",
            "state",
            "paid",
            "extra",
            "note"
        ])
    );
    assert_eq!(
        (e["legacy_only"].clone(), e["target_only"].clone()),
        (serde_json::json!([]), serde_json::json!([]))
    );
    assert_eq!(
        e["diff"]["changed_by_column"],
        serde_json::json!({"invoice_date": 1})
    );
    // A rename may name the column as the input writes it, too.
    let mut flags = rules.to_vec();
    flags.extend(["--rename", "Status=state"]);
    let (code, out, err) = diff(&flags);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[1].starts_with("diff  FAIL  legacy 3  target 3  missing 0  extra 0  changed 1"),
        "{out}"
    );
    assert!(
        out.contains(
            "    changed invoice_id=3: invoice_date: 2009-01-03T08:00:00 -> 2009-01-03T09:00:00"
        ),
        "{out}"
    );
    // Without the rules, the text dates are a schema finding with the rule to add.
    let (code, out, _) = diff(&["--names", "snake_case"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("column invoice_date is not compared: legacy holds text and target wall-clock timestamps (no time zone): add parse = \"%Y-%m-%d %H:%M:%S\" to legacy; first value: 2009-01-01 00:00:00"),
        "{out}"
    );
    // A rename onto a name the side already has is refused, naming both.
    let (code, _, err) = diff(&["--names", "snake_case", "--legacy-rename", "note=extra"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "error: the columns of legacy.invoice (legacy): two columns would be named `extra`"
        ),
        "{err}"
    );
    // Names are taken as written: the legacy's own `InvoiceId` keys the diff where the
    // target says the same, and a name in another case gets the one to write.
    let (code, out, err) = run(&[
        "diff",
        "legacy.invoice",
        "legacy.invoice",
        "--snapshots",
        snaps.to_str().unwrap(),
        "--key",
        "InvoiceId",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = diff(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("    hint: did you mean `InvoiceId`? names are taken exactly as written; to name such columns `invoice_id`, extract with names = \"snake_case\" (snapdiff diff: --names snake_case)"),
        "{out}"
    );
    // A rename of a column a side does not have names the columns it has.
    let (code, _, err) = diff(&["--target-rename", "Status=state"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--target-rename Status=state: ") && err.contains("has no column `Status`"),
        "{err}"
    );
}
