//! Verification on bad input: every error names the entity, column or file, and the run
//! exits 2 when it cannot go on. An entity that cannot be verified is reported as
//! `error` while the others are verified. Findings that are data (duplicate keys) are
//! reported.

use std::path::Path;

use crate::common::*;

/// A legacy SQLite and a target CSV folder, and a spec with `entity` appended.
fn setup(dir: &Path, entity: &str) -> std::path::PathBuf {
    let c = rusqlite::Connection::open(dir.join("legacy.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL, placed TEXT, note TEXT);
         INSERT INTO orders VALUES (1, 9.5, '2024-01-01 10:00:00', '{\"a\": 1}'), (2, 3.25, '2024-02-01 11:00:00', 'oops');",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("target")).unwrap();
    std::fs::write(
        dir.join("target/orders.csv"),
        "id,amount,placed,note\n1,9.50,2024-01-01T09:00:00Z,\"{\"\"a\"\":1}\"\n2,3.25,2024-02-01T10:00:00Z,oops\n2,3.25,2024-02-01T10:00:00Z,oops\n",
    )
        .unwrap();
    let spec = dir.join("verify.toml");
    std::fs::write(
        &spec,
        format!("[sources.legacy]\nurl = \"sqlite://legacy.db\"\n[sources.target]\nurl = \"target\"\n\n{entity}\n"),
    )
    .unwrap();
    spec
}

#[test]
fn a_good_spec_reports_duplicate_keys_as_findings() {
    let dir = tempdir();
    let spec = setup(
        dir.path(),
        "[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\nignore = \"note\"\n[entity.normalize]\namount = { round = 2 }\n\
         placed = { legacy = { parse = \"%Y-%m-%d %H:%M:%S\", timezone = \"Europe/Berlin\" }, target = { timezone = \"UTC\" } }\n",
    );
    // No report files: the details go to standard output.
    let (code, stdout, stderr) = run(&["run", spec.to_str().unwrap(), "--format", "none"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "orders  FAIL  legacy 2  target 3  missing 0  extra 0  changed 0  duplicate keys 1"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("    duplicate key in target: id=2 (2 rows)"),
        "{stdout}"
    );
    // With duplicates allowed, the entity passes: the threshold decides.
    std::fs::write(&spec, read(&spec) + "[entity.thresholds]\nmax_duplicates = 1\nmax_count_diff = 1\nmax_aggregate_diffs = 9\n")
        .unwrap();
    let (code, stdout, _) = run(&["verify", spec.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn errors_name_the_entity_column_or_file_and_exit_2() {
    let cases: Vec<(&str, &str)> = vec![
        (
            "[[entity]]\nname = \"orders\"\nkey = \"id\"\nlegacy = \"SELECT * FROM legacy.nope\"\ntarget = \"SELECT * FROM target.orders\"\n",
            "entity orders: the legacy SQL fails: Error during planning: table 'datafusion.legacy.nope' not found\n    hint: the legacy tables are: legacy.orders",
        ),
        (
            "[[entity]]\nname = \"orders\"\nkey = \"order_id\"\ntable = \"orders\"\n",
            "entity orders: key column `order_id` is not among the legacy columns (id, amount, placed, note)",
        ),
        (
            "[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\n[entity.normalize]\namount = { timezone = \"Europe/Berlin\" }\n",
            "column amount: entity orders: the normalisation of legacy column amount (timezone europe/berlin (ambiguous earlier, nonexistent before)) cannot apply",
        ),
        (
            "[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\n[entity.normalize]\nplaced = [\"json\"]\n",
            "column placed: entity orders: the normalisation of target column placed (json) cannot apply: json applies to text, not Timestamp(Second, None)",
        ),
        (
            "[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\n[entity.normalize]\nremark = [\"trim\"]\n",
            "entity orders: `normalize` names column `remark`, which neither side has",
        ),
    ];
    for (entity, want) in cases {
        let dir = tempdir();
        let spec = setup(dir.path(), entity);
        let (code, stdout, stderr) = run(&["run", spec.to_str().unwrap()]);
        // The entity is reported as an error, on its line and in the report written.
        assert_eq!(code, 2, "{entity}\n{stdout}{stderr}");
        assert!(
            stdout.contains(&format!("orders  ERROR  {want}")) || stdout.contains(want),
            "{entity}\n{stdout}\nwanted: {want}"
        );
        assert!(
            stdout.lines().any(|l| l.starts_with("orders  ERROR  ")),
            "{stdout}"
        );
        let report = only_report(&dir.path().join("reports"));
        assert_eq!(report["status"], "error");
        assert_eq!(report["entities"][0]["status"], "error");
        let message = report["entities"][0]["error"]["message"].as_str().unwrap();
        assert!(
            want.starts_with(message) || message.contains(want.split('\n').next().unwrap()),
            "{message}\nwanted: {want}"
        );
    }
}

#[test]
fn a_broken_entity_is_an_error_and_the_others_are_verified() {
    let dir = tempdir();
    let spec = setup(
        dir.path(),
        "[[entity]]\nname = \"broken\"\nkey = \"id\"\nlegacy = \"SELECT id, amount FROM legacy.orders\"\ntarget = \"SELECT id, amount / 'x' AS amount FROM target.orders\"\n\n\
         [[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\ncolumns = [\"amount\"]\n\n\
         [[invariant]]\nname = \"no_such_table\"\nsql = \"SELECT * FROM target.nope\"\n\n\
         [[invariant]]\nname = \"positive\"\nsql = \"SELECT id FROM target.orders WHERE amount < 0\"\n",
    );
    let s = spec.to_str().unwrap();
    let (code, stdout, stderr) = run(&["run", s]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let at = |name: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{stdout}"))
    };
    assert!(
        lines[at("broken  ")]
            .starts_with("broken         ERROR  entity broken: the target SQL fails: "),
        "{stdout}"
    );
    // The good entity is verified as usual: its duplicate key is found.
    assert_eq!(
        lines[at("orders  ")],
        "orders         FAIL  legacy 2  target 3  missing 0  extra 0  changed 0  duplicate keys 1"
    );
    assert!(
        lines[at("no_such_table  ")].starts_with(
            "no_such_table  ERROR  invariant: invariant no_such_table: the SQL fails: Error during planning: table 'datafusion.target.nope' not found"
        ),
        "{stdout}"
    );
    assert_eq!(
        lines[at("positive  ")],
        "positive       PASS  invariant: 0 rows break it"
    );

    let report = only_report(&dir.path().join("reports"));
    assert_eq!(report["status"], "error");
    let entities = report["entities"].as_array().unwrap();
    assert_eq!(entities[0]["name"], "broken");
    assert_eq!(entities[0]["status"], "error");
    let checks: Vec<(&str, &str)> = entities[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(checks, [("schema", "error")]);
    assert!(entities[0]["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("entity broken: the target SQL fails: "));
    assert_eq!(entities[1]["name"], "orders");
    assert_eq!(entities[1]["status"], "fail");
    assert!(entities[1].get("error").is_none());
    assert_eq!(entities[1]["diff"]["duplicate_keys_target"], 1);
    let invariants = report["invariants"].as_array().unwrap();
    assert_eq!(
        (
            invariants[0]["status"].as_str(),
            invariants[1]["status"].as_str()
        ),
        (Some("error"), Some("pass"))
    );
    assert_eq!(
        invariants[0]["error"]["hint"],
        serde_json::Value::Null,
        "{}",
        invariants[0]
    );

    // Every file of the report says so.
    let folder = dir
        .path()
        .join("reports")
        .join(report["id"].as_str().unwrap());
    let md = read(&folder.join("report.md"));
    assert!(md.contains("- Status: **ERROR**\n"), "{md}");
    assert!(md.contains("## Could not be verified\n"), "{md}");
    assert!(
        md.contains("- `broken` (entity): entity broken: the target SQL fails: "),
        "{md}"
    );
    assert!(
        md.contains("- `no_such_table` (invariant): invariant no_such_table: the SQL fails: "),
        "{md}"
    );
    let junit = read(&folder.join("junit.xml"));
    assert!(
        junit.contains("<testsuites name=\"snapdiff verify\" tests=\"8\" failures=\"1\" errors=\"2\" skipped=\"0\""),
        "{junit}"
    );
    assert!(
        junit.contains("<testcase classname=\"verify.broken\" name=\"schema\"")
            && junit.contains("<error message=\"entity broken: the target SQL fails: "),
        "{junit}"
    );
    let html = read(&folder.join("report.html"));
    assert!(html.contains("<body data-status=\"error\">"), "{html}");
    assert!(
        html.contains(
            "<p><strong>Could not be verified:</strong> entity broken: the target SQL fails: "
        ),
        "{html}"
    );

    // history shows the error in the entity's column.
    let (code, stdout, stderr) = run(&["history", s]);
    assert_eq!(code, 0, "{stderr}");
    let row = stdout.lines().nth(2).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[3..],
        // orders: its duplicate key (the column profiles it moves are not counted again).
        ["ERROR", "error", "1", "error", "0", "-", "-"],
        "{stdout}"
    );
}

#[test]
fn a_failing_invariant_shows_its_first_rows() {
    let dir = tempdir();
    let spec = setup(
        dir.path(),
        "[[invariant]]\nname = \"amounts_are_whole\"\nsql = \"SELECT id, amount FROM target.orders WHERE amount <> round(amount) ORDER BY id\"\n\
         [invariant.thresholds]\nmax_rows = 1\n",
    );
    let (code, stdout, stderr) = run(&[
        "run",
        spec.to_str().unwrap(),
        "--samples",
        "2",
        "--format",
        "none",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let tail: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("amounts_are_whole"))
        .collect();
    assert_eq!(
        tail,
        [
            "amounts_are_whole  FAIL  invariant: 3 rows break it",
            "    row: id=1, amount=9.5",
            "    row: id=2, amount=3.25",
        ]
    );
}

#[test]
fn spec_mistakes_are_caught_before_any_data_is_read() {
    let cases: Vec<(&str, &str)> = vec![
        (
            "[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\npartition_by = \"date_trunc('month', placed\"\n",
            "verify.toml:10: `partition_by` does not parse",
        ),
        ("[[entity]]\nname = \"orders\"\nkey = \"id\"\n", "verify.toml:6: give `table` (the same table on both sides) or both `legacy` and `target` SQL"),
        (
            "[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\n[entity.normalize]\namount = { rnd = 2 }\n",
            "entity orders, column amount: unknown rule `rnd`; did you mean `round`?",
        ),
        ("[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\nchecks = [\"diffs\"]\n", "unknown check `diffs`; did you mean `diff`?"),
        ("[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\nsample = 2.0\n", "sample is a fraction of keys from 0.000001 to 1, not 2"),
        ("[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\nkeys_file = \"keys.csv\"\n", "the keys file"),
        ("[[query]]\nname = \"q\"\nsql = \"SELECT 1 FROM legacy.orders\"\n", "`sql` runs on both sides: name the tables as {side}.table"),
        ("[[entity]]\nname = \"Orders\"\nkey = \"id\"\ntable = \"orders\"\n", "entity name `Orders` must be lowercase letters, digits and `_`"),
        (
            "[[entity]]\nname = \"orders\"\nkey = \"id\"\nlegacy = \"SELECT * FROM legacy.orders; DROP TABLE x\"\ntarget = \"SELECT * FROM target.orders\"\n",
            "verify.toml:9: the legacy SQL holds 2 statements; write one query (SELECT ...)",
        ),
        (
            "[[invariant]]\nname = \"i\"\nsql = \"CREATE TABLE t (a INT)\"\n",
            "the SQL is not a query; write one SELECT (or WITH ... SELECT, or VALUES)",
        ),
    ];
    for (entity, want) in cases {
        let dir = tempdir();
        let spec = setup(dir.path(), entity);
        let (code, stdout, stderr) = run(&["plan", spec.to_str().unwrap()]);
        assert_eq!(code, 2, "{entity}\n{stdout}{stderr}");
        assert!(stderr.contains(want), "{entity}\n{stderr}\nwanted: {want}");
        assert!(
            !dir.path().join("snapshots").exists(),
            "plan touched nothing"
        );
    }
}

#[test]
fn missing_and_corrupt_snapshots_are_refused() {
    let dir = tempdir();
    let spec = setup(
        dir.path(),
        "[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\n",
    );
    let s = spec.to_str().unwrap();
    let (code, _, stderr) = run(&["verify", s]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("there is no complete legacy snapshot"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: extract one first"), "{stderr}");
    let (code, _, stderr) = run(&["extract", s, "--run-id", "r1", "--quiet"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&["verify", s, "--legacy-run", "r2"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("there is no legacy run `r2`\n  hint: complete legacy runs: r1"),
        "{stderr}"
    );
    // A byte changed in a Parquet file: its xxh3 no longer matches the manifest.
    let part = dir
        .path()
        .join("snapshots/target/r1/orders/part-00000.parquet");
    let mut bytes = std::fs::read(&part).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&part, bytes).unwrap();
    let (code, _, stderr) = run(&["verify", s]);
    assert_eq!(code, 2);
    assert!(stderr.contains("table orders, file"), "{stderr}");
    assert!(
        stderr.contains("part-00000.parquet: the file's xxh3 is"),
        "{stderr}"
    );
    assert!(
        stderr.contains("it was changed or corrupted after extraction"),
        "{stderr}"
    );
    // A missing manifest: the run is incomplete and is not read.
    std::fs::remove_file(dir.path().join("snapshots/target/r1/manifest.json")).unwrap();
    let (code, _, stderr) = run(&["verify", s, "--target-run", "r1"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("target run `r1` is incomplete (it has no manifest.json)"),
        "{stderr}"
    );
}

#[test]
fn a_truncated_snapshot_file_is_refused_by_name() {
    let dir = tempdir();
    let spec = setup(
        dir.path(),
        "[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\n",
    );
    let s = spec.to_str().unwrap();
    let (code, _, stderr) = run(&["extract", s, "--run-id", "r1", "--quiet"]);
    assert_eq!(code, 0, "{stderr}");
    let part = dir
        .path()
        .join("snapshots/legacy/r1/orders/part-00000.parquet");
    let bytes = std::fs::read(&part).unwrap();
    let (full, half) = (bytes.len(), bytes.len() / 2);
    std::fs::write(&part, &bytes[..half]).unwrap();
    let (code, _, stderr) = run(&["verify", s]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("table orders, file"), "{stderr}");
    assert!(stderr.contains("part-00000.parquet"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the file has {half} bytes but the manifest says {full}"
        )),
        "{stderr}"
    );
}

/// With complete runs, `plan` plans every entity, query check and invariant against
/// their schemas, reading no row; without them it says what it could not check.
#[test]
fn plan_finds_missing_columns_and_wrong_rules_against_the_runs() {
    let dir = tempdir();
    let spec = setup(
        dir.path(),
        "[[entity]]\nname = \"good\"\nkey = \"id\"\ntable = \"orders\"\n\n\
         [[entity]]\nname = \"typo\"\nkey = \"order_id\"\ntable = \"orders\"\n\n\
         [[entity]]\nname = \"wrong_rule\"\nkey = \"id\"\ntable = \"orders\"\n[entity.normalize]\namount = [\"json\"]\n\n\
         [[entity]]\nname = \"bad_partition\"\nkey = \"id\"\ntable = \"orders\"\npartition_by = \"date_trunc('month', placed_at)\"\n\n\
         [[entity]]\nname = \"case\"\nkey = \"id\"\nlegacy = \"SELECT * FROM (SELECT id, amount AS \\\"Amount\\\" FROM legacy.orders) AS s WHERE Amount > 0\"\ntarget = \"SELECT id, amount FROM target.orders\"\n\n\
         [[invariant]]\nname = \"gone\"\nsql = \"SELECT * FROM target.nope\"\n",
    );
    let s = spec.to_str().unwrap();
    let (code, out, err) = run(&["plan", s]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("not planned against the data: no complete runs of both sides under "),
        "{out}"
    );
    let (code, _, err) = run(&["extract", s, "--run-id", "r1", "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&["plan", s]);
    assert_eq!(code, 2, "{out}{err}");
    let line = |prefix: &str| {
        let lines: Vec<&str> = out.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix}:\n{out}"));
        (lines[i], lines.get(i + 1).copied().unwrap_or(""))
    };
    assert_eq!(
        line("planned against").0,
        "planned against legacy run r1 and target run r1 (their schemas; no row read):"
    );
    // A good entity plans, and says which columns it cannot compare and the rule to add.
    assert_eq!(line("  entity good:"), ("  entity good: ok, with schema findings:", "    column placed is not compared: legacy holds text and target wall-clock timestamps (no time zone): add parse = \"<its format>\" to legacy (the format its values are written in)"));
    assert!(
        line("  entity typo:").0.starts_with("  entity typo: ERROR entity typo: key column `order_id` is not among the legacy columns"),
        "{out}"
    );
    assert!(
        line("  entity wrong_rule:").0.starts_with("  entity wrong_rule: ERROR column amount: entity wrong_rule: the normalisation of legacy column amount (json) cannot apply: json applies to text"),
        "{out}"
    );
    let (bad, _) = line("  entity bad_partition:");
    assert!(
        bad.starts_with("  entity bad_partition: ERROR ") && bad.contains("placed_at"),
        "{out}"
    );
    let (case, hint) = line("  entity case:");
    assert!(
        case.starts_with("  entity case: ERROR entity case: the legacy SQL fails: "),
        "{out}"
    );
    assert_eq!(
        hint,
        "    hint: did you mean \"Amount\"? quote it: SQL reads an unquoted name in lower case"
    );
    let (gone, _) = line("  invariant gone:");
    assert!(
        gone.starts_with("  invariant gone: ERROR invariant gone: the SQL fails: ")
            && gone.contains("target.nope"),
        "{out}"
    );
    // The runs' files were not read (a changed byte would fail `verify`, not `plan`).
    let part = dir
        .path()
        .join("snapshots/target/r1/orders/part-00000.parquet");
    let mut bytes = std::fs::read(&part).unwrap();
    let last = bytes.len() - 20;
    bytes[last / 2] ^= 0xff;
    std::fs::write(&part, bytes).unwrap();
    let (code, out2, _) = run(&["plan", s]);
    assert_eq!((code, out2.lines().count()), (2, out.lines().count()));
}

/// A value a rule cannot read is a finding with its key, not a stop: the other rows and
/// columns are verified as usual, and `max_invalid` decides.
#[test]
fn values_a_rule_cannot_read_are_findings_with_their_keys() {
    let dir = tempdir();
    let spec = setup(
        dir.path(),
        "[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\ncolumns = [\"note\", \"amount\"]\n\
         [entity.normalize]\nnote = [\"json\"]\namount = { round = 2 }\n",
    );
    let s = spec.to_str().unwrap();
    let (code, out, err) = run(&["run", s]);
    // Row 2's note `oops` is not JSON on either side; the duplicate key is found as ever.
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("orders  FAIL  legacy 2  target 3  missing 0  extra 0  changed 0  duplicate keys 1  invalid 3"),
        "{out}"
    );
    let report = only_report(&dir.path().join("reports"));
    let e = report_entity(&report, "orders");
    assert_eq!(e["status"], "fail");
    assert_eq!(
        e["invalid"]["by_column"],
        serde_json::json!({"legacy note": 1, "target note": 2})
    );
    assert_eq!(
        e["invalid"]["rows"][0],
        serde_json::json!({"side": "legacy", "column": "note", "key": [["id", "2"]], "value": "oops"})
    );
    let check = e["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "invalid")
        .unwrap();
    assert_eq!(check["status"], "fail");
    assert_eq!(
        check["summary"],
        "3 values no rule could read (legacy note 1, target note 2); they read as NULL"
    );
    // Every one of them in the diff file, with side, column, key and value.
    let folder = only_report_dir(&dir.path().join("reports"));
    let file = std::fs::File::open(folder.join("diffs/orders/invalid.parquet")).unwrap();
    let rows: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 3);
    let md = read(&folder.join("report.md"));
    assert!(md.contains("### Values a rule could not read"), "{md}");
    assert!(md.contains("| legacy | note | id=2 | oops |"), "{md}");

    // Within `max_invalid`, and with the duplicate allowed, the entity passes.
    std::fs::write(
        &spec,
        read(&spec) + "[entity.thresholds]\nmax_invalid = 3\nmax_duplicates = 1\nmax_count_diff = 1\nmax_aggregate_diffs = 9\n",
    )
    .unwrap();
    let (code, out, _) = run(&["verify", s, "--format", "none"]);
    assert_eq!(code, 0, "{out}");
}
