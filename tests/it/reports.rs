//! The report files of `snapdiff run`/`verify` (report.json against its JSON Schema,
//! report.md, report.html in real headless Chromium, junit.xml, the diffs Parquet
//! files), the history of a spec's reports, `--keep`, and the bad inputs that must
//! stop a run before it damages anything.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, StringArray};
use serde_json::Value;

use crate::common::*;
use crate::school::school_copy;

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every row of a diff file, each as its listed columns.
fn diff_rows(report: &Path, file: &str, cols: &[&str]) -> Vec<Vec<V>> {
    let batches = read_parquet(&report.join("diffs").join(file));
    let columns: Vec<Vec<V>> = cols.iter().map(|c| column(&batches, c)).collect();
    let n = columns.first().map_or(0, |c| c.len());
    let mut rows: Vec<Vec<V>> = (0..n)
        .map(|r| columns.iter().map(|c| c[r].clone()).collect())
        .collect();
    rows.sort_by_key(|r| format!("{r:?}"));
    rows
}

#[test]
fn school_run_writes_every_report_file_and_they_hold_exactly_the_injected_differences() {
    let dir = tempdir();
    let school = school_copy(dir.path());
    let spec = school.join("verify.toml");
    let (code, stdout, stderr) = run(&["run", spec.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let reports = reports_in(&school.join("reports"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    let id = r.file_name().unwrap().to_string_lossy().to_string();

    // Standard output: one line per check, then the paths of the report files.
    let tail: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("report: "))
        .collect();
    let want: Vec<String> = [
        "report.json",
        "report.md",
        "report.html",
        "history.html",
        "junit.xml",
    ]
    .iter()
    .map(|f| format!("report: {}", r.join(f).display()))
    .chain([format!("diffs:  {}", r.join("diffs").display())])
    .collect();
    assert_eq!(tail, want, "{stdout}");
    assert!(
        !stdout.contains("    changed "),
        "details stay in the report files: {stdout}"
    );

    // report.json: valid against the schema, and exactly the injected differences.
    let report = json(&r.join("report.json"));
    assert_schema_valid(&report);
    assert_eq!(report["format"], "snapdiff-report");
    assert_eq!(report["id"], id.as_str());
    assert_eq!(report["status"], "fail");
    assert_eq!(report["spec"]["name"], "verify");
    assert_eq!(
        report["spec"]["sha256"],
        sha256_file(&spec).as_str(),
        "the spec's hash is of its bytes"
    );
    assert_eq!(report["legacy"]["run_id"], id.as_str());
    assert_eq!(report["target"]["run_id"], id.as_str());
    assert_eq!(report["legacy"]["source_kind"], "sqlite");
    assert_eq!(report["row_hash_version"], 2);
    assert_eq!(report["delta"], Value::Null);
    let counts = |name: &str| {
        let d = &report_entity(&report, name)["diff"];
        [
            "missing",
            "extra",
            "changed",
            "duplicate_keys_legacy",
            "duplicate_keys_target",
            "null_keys_legacy",
            "null_keys_target",
        ]
        .iter()
        .map(|k| d[k].as_u64().unwrap())
        .collect::<Vec<_>>()
    };
    assert_eq!(counts("user"), [0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(counts("course"), [0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(counts("submission"), [1, 1, 1, 0, 1, 0, 0]);
    assert_eq!(counts("feedback"), [0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(counts("courses_per_status"), [0, 0, 0, 0, 0, 0, 0]);
    let statuses: Vec<(String, String)> = report["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("user", "fail"),
            ("course", "fail"),
            ("submission", "fail"),
            ("feedback", "pass"),
            ("courses_per_status", "pass")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let user = report_entity(&report, "user");
    assert_eq!(
        user["diff"]["changed_by_column"],
        serde_json::json!({"email": 1})
    );
    assert_eq!(
        user["diff"]["changed_rows"][0]["key"],
        serde_json::json!([["id", "7"]])
    );
    // The submission months: three digests differ; the diff counts land in their months.
    let parts = &report_entity(&report, "submission")["partitions"];
    assert_eq!(
        (parts["total"].as_u64(), parts["equal"].as_u64()),
        (Some(12), Some(9))
    );
    let findings: Vec<(String, u64, u64, u64)> = parts["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["missing"].as_u64().unwrap()
                + p["extra"].as_u64().unwrap()
                + p["changed"].as_u64().unwrap()
                > 0
        })
        .map(|p| {
            (
                p["partition"].as_str().unwrap().to_string(),
                p["missing"].as_u64().unwrap(),
                p["extra"].as_u64().unwrap(),
                p["changed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        vec![
            ("2024-06-01T00:00:00Z".to_string(), 1, 1, 0),
            ("2024-07-01T00:00:00Z".to_string(), 0, 0, 1)
        ]
    );
    assert_eq!(
        report_entity(&report, "submission")["thresholds"]["max_missing"],
        Value::Null
    );

    // The diffs: every differing row, with exactly the injected keys.
    assert_eq!(
        diff_rows(r, "user/changed.parquet", &["id"]),
        vec![vec![i(7)]]
    );
    assert_eq!(
        diff_rows(
            r,
            "user/changed.parquet",
            &["legacy__email", "target__email"]
        ),
        vec![vec![
            s("frances.hopper7@school.example"),
            s("ada.changed7@school.example")
        ]]
    );
    let differs = read_parquet(&r.join("diffs/user/changed.parquet"));
    let list = differs[0]
        .column_by_name("__differs")
        .unwrap()
        .as_list::<i32>();
    assert_eq!(
        list.value(0).as_string::<i32>().iter().collect::<Vec<_>>(),
        vec![Some("email")]
    );
    assert_eq!(diff_rows(r, "course/changed.parquet", &["id"]).len(), 1);
    assert_eq!(
        diff_rows(r, "submission/missing.parquet", &["id"]),
        vec![vec![i(17)]]
    );
    assert_eq!(
        diff_rows(r, "submission/extra.parquet", &["id"]),
        vec![vec![i(9001)]]
    );
    assert_eq!(
        diff_rows(r, "submission/changed.parquet", &["id"]),
        vec![vec![i(42)]]
    );
    assert_eq!(
        diff_rows(
            r,
            "submission/changed.parquet",
            &["legacy__score", "target__score", "__partition"]
        )
        .len(),
        1
    );
    assert_eq!(
        diff_rows(
            r,
            "submission/duplicates.parquet",
            &["__side", "id", "__rows"]
        ),
        vec![vec![s("target"), i(23), i(2)]]
    );
    for empty in [
        "user/missing.parquet",
        "user/extra.parquet",
        "user/duplicates.parquet",
        "user/null_keys.parquet",
        "course/missing.parquet",
        "course/extra.parquet",
        "submission/null_keys.parquet",
        "feedback/missing.parquet",
        "feedback/extra.parquet",
        "feedback/changed.parquet",
        "feedback/duplicates.parquet",
        "courses_per_status/missing.parquet",
        "courses_per_status/extra.parquet",
    ] {
        let rows: usize = read_parquet(&r.join("diffs").join(empty))
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, 0, "{empty}");
    }
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in &files {
        assert!(r.join(f).is_file(), "{f} is listed and present");
    }
    // Five report files (with the history page), five diff files per entity and two for
    // the keyless query check, and `invalid.parquet` for the three entities whose rules
    // can meet a value they cannot read (empty here).
    assert_eq!(files.len(), 5 + 5 * 4 + 2 + 3, "{files:?}");

    // junit.xml: parses; one test case per check and invariant, failures where FAIL.
    let xml = read(&r.join("junit.xml"));
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    // 25 checks and invariants, and the invalid check of the three entities with
    // rules that can meet a value they cannot read (all pass).
    assert_eq!(root.attribute("tests"), Some("28"));
    assert_eq!(root.attribute("failures"), Some("3"));
    let failing: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| n.children().any(|c| c.has_tag_name("failure")))
        .map(|n| {
            format!(
                "{} {}",
                n.attribute("classname").unwrap(),
                n.attribute("name").unwrap()
            )
        })
        .collect();
    assert_eq!(
        failing,
        [
            "verify.user diff",
            "verify.course diff",
            "verify.submission diff",
        ]
    );

    // report.md: the summary table row of each entity.
    let md = read(&r.join("report.md"));
    assert!(
        // The aggregate differences the diff does not explain: none.
        md.contains("| submission | entity | FAIL | 400 | 401 | 1 | 1 | 1 | 1 | 0 | 0 | 0 |"),
        "{md}"
    );
    assert!(md.contains("| feedback | entity | PASS | 133 | 133 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |"));
}

/// Chromium as the machine has it, or `None` (SKIPPED unless services are required).
fn chromium() -> Option<PathBuf> {
    for c in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(c).exists() {
            return Some(PathBuf::from(c));
        }
    }
    if required() {
        panic!("chromium is not installed (apt-get install chromium); SNAPDIFF_REQUIRE_SERVICES=1 requires it");
    }
    skip(
        "report.html in headless Chromium",
        "chromium is not installed",
    );
    None
}

/// Load `page` in headless Chromium: returns (the DOM after its scripts ran, the
/// console messages it logged). With `screenshot`, also saves a PNG there.
fn load_in_chromium(
    chrome: &Path,
    page: &Path,
    screenshot: Option<&Path>,
) -> (String, Vec<String>) {
    let profile = tempdir();
    let mut c = Command::new(chrome);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,2400",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(p) => c.arg(format!("--screenshot={}", p.display())),
        None => c.arg("--dump-dom"),
    };
    c.arg(format!("file://{}", page.display()));
    let out = c.output().expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).to_string(), console)
}

#[test]
fn the_html_report_opens_in_headless_chromium_with_its_charts_and_no_console_errors() {
    let Some(chrome) = chromium() else { return };
    let dir = tempdir();
    // The check itself: a page that throws is seen to throw.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><script>nope();</script></body></html>",
    )
    .unwrap();
    let (_, console) = load_in_chromium(&chrome, &bad, None);
    assert!(
        console
            .iter()
            .any(|l| l.contains("Uncaught ReferenceError: nope is not defined")),
        "console errors are caught: {console:?}"
    );

    let school = school_copy(dir.path());
    let (code, stdout, stderr) = run(&["run", school.join("verify.toml").to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let page = reports_in(&school.join("reports"))[0].join("report.html");
    let html = read(&page);
    for external in [
        "http://",
        "https://",
        "<link rel=\"stylesheet\"",
        "<script src",
    ] {
        assert!(!html.contains(external), "self-contained: {external}");
    }
    let (dom, console) = load_in_chromium(&chrome, &page, None);
    assert_eq!(console, Vec::<String>::new(), "no console messages");
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script ran to its end"
    );
    assert!(dom.contains("id=\"summary\""));
    // A heat strip over the 12 submission months, a bar per changed column.
    let strip = dom
        .split("<svg class=\"chart-partitions\"")
        .nth(1)
        .expect("a partition chart")
        .split("</svg>")
        .next()
        .unwrap();
    assert_eq!(strip.matches("<rect").count(), 12, "{strip}");
    assert_eq!(
        strip.matches("part-diff").count(),
        2,
        "June and July hold findings"
    );
    assert_eq!(dom.matches("<svg class=\"chart-columns\"").count(), 3);
    assert!(
        dom.contains("<td class=\"diff\"><mark>a</mark>***@school.example</td>"),
        "a highlighted cell, its differing characters marked (the e-mail masked)"
    );
    assert!(dom.matches("class=\"sortable").count() >= 5);
    assert!(dom.contains("aria-sort"), "the tables were made sortable");

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = std::fs::remove_file(&shot);
    load_in_chromium(&chrome, &page, Some(&shot));
    let png = std::fs::read(&shot).expect("a screenshot was saved");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    eprintln!("screenshot of report.html: {}", shot.display());
}

#[test]
fn a_fixed_difference_shows_as_fixed_in_the_next_report_and_in_history() {
    let dir = tempdir();
    let school = school_copy(dir.path());
    let spec = school.join("verify.toml");
    let (code, out1, err1) = run(&["run", spec.to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{out1}{err1}");
    // Fix user 7's e-mail in the target.
    rewrite_parquet(&school.join("target/users.parquet"), |b| {
        let at = b.schema().index_of("email").unwrap();
        let emails: StringArray = b
            .column(at)
            .as_string::<i32>()
            .iter()
            .map(|e| {
                e.map(|e| {
                    if e == "ada.changed7@school.example" {
                        "frances.hopper7@school.example"
                    } else {
                        e
                    }
                })
            })
            .collect();
        let mut cols = b.columns().to_vec();
        cols[at] = Arc::new(emails);
        RecordBatch::try_new(b.schema(), cols).unwrap()
    });
    // A new second: run ids and report ids are per second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, out2, err2) = run(&["run", spec.to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{out2}{err2}");
    let reports = reports_in(&school.join("reports"));
    assert_eq!(reports.len(), 2);
    let (first, second) = (&reports[0], &reports[1]);
    let first_id = first.file_name().unwrap().to_string_lossy().to_string();
    let second_id = second.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        out2.contains(&format!("since report {first_id}: 0 new, 1 fixed")),
        "{out2}"
    );

    let report = json(&second.join("report.json"));
    assert_schema_valid(&report);
    assert_eq!(
        report["delta"],
        serde_json::json!({
            "previous_report": first_id,
            "previous_created_at": json(&first.join("report.json"))["created_at"],
            "new": 0,
            "fixed": 1,
            "groups": [{
                "name": "user", "kind": "changed", "by_key": true, "new": 0, "fixed": 1,
                "new_items": [], "fixed_items": ["id=7"]
            }]
        })
    );
    assert_eq!(report_entity(&report, "user")["status"], "pass");
    let md = read(&second.join("report.md"));
    assert!(md.contains(&first_id), "the markdown states its delta");

    let (code, history, stderr) = run(&["history", spec.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 6, "{history}");
    assert!(
        lines[0].starts_with("spec verify: 2 reports in "),
        "{history}"
    );
    let cells = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        cells(lines[1]),
        [
            "report",
            "created",
            "status",
            "user",
            "course",
            "submission",
            "feedback",
            "courses_per_status",
            "every_submission_has_a_course",
            "every_feedback_has_a_submission",
            "new",
            "fixed"
        ]
    );
    // id, date, time, status, findings per check, new, fixed.
    let row1 = cells(lines[2]);
    assert_eq!(row1[0], first_id);
    assert_eq!(
        &row1[3..],
        // submission: 1 missing, 1 extra, 1 changed, 1 duplicate key; the column
        // profiles these rows move are not counted again.
        ["FAIL", "1", "1", "4", "0", "0", "0", "0", "-", "-"]
    );
    let row2 = cells(lines[3]);
    assert_eq!(row2[0], second_id);
    assert_eq!(
        &row2[3..],
        ["FAIL", "0", "1", "4", "0", "0", "0", "0", "+0", "-1"]
    );
    assert_eq!(lines[4], "    user changed: +0 -1");
    assert_eq!(lines[5], "      fixed: id=7");
}

#[test]
fn keep_prunes_old_runs_and_reports_but_never_the_newest_or_an_unfinished_one() {
    let dir = tempdir();
    let school = school_copy(dir.path());
    let spec = school.join("verify.toml");
    // An interrupted run (no manifest) that must survive pruning.
    let unfinished = school.join("snapshots/legacy/20000101T000000Z");
    std::fs::create_dir_all(&unfinished).unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (code, out, err) = run(&["run", spec.to_str().unwrap(), "-q", "--keep", "2"]);
        assert_eq!(code, 1, "{out}{err}");
        ids.push(
            out.lines()
                .find_map(|l| l.strip_prefix("verified legacy "))
                .unwrap()[..16]
                .to_string(),
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let names = |p: PathBuf| -> Vec<String> {
        let mut v: Vec<String> = reports_in(&p)
            .iter()
            .map(|d| d.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    let mut legacy_runs = names(school.join("snapshots/legacy"));
    legacy_runs.retain(|r| r != "20000101T000000Z");
    assert_eq!(legacy_runs, ids[1..].to_vec());
    assert_eq!(names(school.join("snapshots/target")), ids[1..].to_vec());
    assert_eq!(names(school.join("reports")), ids[1..].to_vec());
    assert!(unfinished.is_dir(), "an unfinished run is never pruned");
    let (code, _, err) = run(&["run", spec.to_str().unwrap(), "-q", "--keep", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--keep must be at least 1"), "{err}");
}

#[test]
fn formats_choose_the_files_and_none_prints_the_details() {
    let dir = tempdir();
    let school = school_copy(dir.path());
    let spec = school.join("verify.toml");
    let (code, out, err) = run(&[
        "run",
        spec.to_str().unwrap(),
        "-q",
        "--format",
        "json,junit",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let r = &reports_in(&school.join("reports"))[0];
    let mut files: Vec<String> = std::fs::read_dir(r)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    assert_eq!(files, ["junit.xml", "report.json"]);
    let report = json(&r.join("report.json"));
    assert_schema_valid(&report);
    assert_eq!(
        report["files"],
        serde_json::json!(["report.json", "junit.xml"])
    );
    for e in report["entities"].as_array().unwrap() {
        assert_eq!(
            e["diff_files"],
            serde_json::json!([]),
            "no diff file is named"
        );
    }

    let (code, out, err) = run(&[
        "verify",
        spec.to_str().unwrap(),
        "--format",
        "none",
        "--reports",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!dir.path().join("none").exists(), "no report folder");
    assert!(
        out.contains("    changed id=7: email: f***@school.example -> a***@school.example"),
        "the e-mails masked as the example's spec says: {out}"
    );

    let (code, _, err) = run(&["verify", spec.to_str().unwrap(), "--format", "pdf"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown report format `pdf`"), "{err}");
    assert!(
        err.contains("choose from all, none, json, md, html, junit, diffs"),
        "{err}"
    );
}

/// Every file under `dir` with its bytes' hash, to prove nothing changed (but the run
/// lock, which each run that takes it stamps with its pid).
fn fingerprint(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut v: Vec<(PathBuf, String)> = all_files(dir)
        .into_iter()
        .filter(|p| !p.ends_with(".run.lock"))
        .map(|p| (p.clone(), sha256_file(&p)))
        .collect();
    v.sort();
    v
}

#[test]
fn bad_runs_stop_with_exit_2_and_damage_nothing() {
    let dir = tempdir();
    let school = school_copy(dir.path());
    let spec = school.join("verify.toml");
    let spec_s = spec.to_str().unwrap();
    let (code, out, err) = run(&["run", spec_s, "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    let before = fingerprint(&school);

    // A reports folder that cannot be written: refused before anything is extracted.
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let bad_root = blocker.join("reports");
    let (code, _, err) = run(&["run", spec_s, "--reports", bad_root.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot write the reports folder"), "{err}");
    assert!(
        err.contains("--reports DIR"),
        "the hint says how to fix it: {err}"
    );
    assert_eq!(
        fingerprint(&school),
        before,
        "no run was extracted, nothing changed"
    );

    // Run ids that are paths.
    for bad in ["../legacy", "a/b", "..", ".hidden"] {
        for args in [
            vec!["verify", spec_s, "--legacy-run", bad],
            vec!["verify", spec_s, "--target-run", bad],
            vec!["run", spec_s, "--legacy-run", bad],
        ] {
            let (code, _, err) = run(&args);
            assert_eq!(code, 2, "{args:?}");
            assert!(
                err.contains(&format!("run id `{bad}` may hold only letters, digits")),
                "{args:?}: {err}"
            );
        }
        let (code, _, err) = run(&["extract", spec_s, "--run-id", bad]);
        assert_eq!(code, 2);
        assert!(err.contains("may hold only letters, digits"), "{err}");
    }
    assert_eq!(fingerprint(&school), before);

    // A second run of the same spec while one holds the lock.
    let lock = std::fs::File::options()
        .write(true)
        .open(school.join("snapshots/.run.lock"))
        .unwrap();
    lock.lock().unwrap();
    let (code, _, err) = run(&["run", spec_s]);
    assert_eq!(code, 2);
    assert!(
        err.contains("another snapdiff run of this spec is in progress"),
        "{err}"
    );
    drop(lock);
    assert_eq!(
        fingerprint(&school),
        before,
        "the refused run wrote nothing"
    );

    // A report folder left by a run killed part-way is never read as a report.
    let stale = school.join("reports/.tmp-20000101T000000Z");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("report.json"), "{\"half\": ").unwrap();
    let (code, history, err) = run(&["history", spec_s]);
    assert_eq!(code, 0, "{err}");
    assert!(
        history.starts_with("spec verify: 1 reports in "),
        "{history}"
    );
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn a_run_killed_part_way_leaves_earlier_runs_and_reports_as_they_were() {
    let dir = tempdir();
    let school = school_copy(dir.path());
    let spec = school.join("verify.toml");
    let spec_s = spec.to_str().unwrap();
    let (code, out, err) = run(&["run", spec_s, "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    let before = fingerprint(&school);
    std::thread::sleep(std::time::Duration::from_millis(1100));

    // Kill a second run while it writes its diff files (SIGKILL: no clean-up runs).
    let mut child = cmd(&["run", spec_s, "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let writing = || {
        std::fs::read_dir(school.join("reports"))
            .ok()
            .is_some_and(|d| {
                d.filter_map(|e| e.ok()).any(|e| {
                    e.file_name().to_string_lossy().starts_with(".tmp-")
                        && e.path().join("diffs").is_dir()
                })
            })
    };
    wait_until("the run never started its report", 60, 5, || {
        writing() || {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before it could be killed"
            );
            false
        }
    });
    child.kill().unwrap();
    child.wait().unwrap();

    for (path, hash) in &before {
        assert_eq!(&sha256_file(path), hash, "{} is as it was", path.display());
    }
    assert_eq!(
        reports_in(&school.join("reports")).len(),
        1,
        "no half report looks complete"
    );
    let (code, history, err) = run(&["history", spec_s]);
    assert_eq!(code, 0, "{err}");
    assert!(
        history.starts_with("spec verify: 1 reports in "),
        "{history}"
    );
    // The lock died with the process: the next run goes ahead.
    let (code, out, err) = run(&["run", spec_s, "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(reports_in(&school.join("reports")).len(), 2);
}

#[test]
fn specs_sharing_a_reports_root_keep_their_own_history_and_a_changed_key_still_reports() {
    let dir = tempdir();
    let shared = dir.path().join("shared-reports");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let (a, b) = (school_copy(&a), school_copy(&b));
    let shared_s = shared.to_str().unwrap();
    for school in [&a, &b] {
        let spec = school.join("verify.toml");
        let (code, out, err) = run(&["run", spec.to_str().unwrap(), "-q", "--reports", shared_s]);
        assert_eq!(code, 1, "{out}{err}");
    }
    // Both specs are named `verify`, in one root: each sees only its own report.
    assert_eq!(reports_in(&shared).len(), 2);
    for school in [&a, &b] {
        let (code, history, err) = run(&[
            "history",
            school.join("verify.toml").to_str().unwrap(),
            "--reports",
            shared_s,
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(
            history.starts_with("spec verify: 1 reports in "),
            "{history}"
        );
    }

    // Re-key an entity: its findings cannot be matched by key, so the delta counts
    // them, and the run still reports.
    let spec = a.join("verify.toml");
    std::fs::write(
        &spec,
        read(&spec).replacen(
            "name = \"user\"\nkey = \"id\"",
            "name = \"user\"\nkey = [\"id\", \"email\"]",
            1,
        ),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, out, err) = run(&["run", spec.to_str().unwrap(), "-q", "--reports", shared_s]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!err.contains("warning"), "{err}");
    let newest = reports_in(&shared)
        .into_iter()
        .map(|d| json(&d.join("report.json")))
        .filter(|r| {
            r["spec"]["path"]
                .as_str()
                .unwrap()
                .starts_with(a.to_str().unwrap())
                || r["spec"]["path"].as_str().unwrap().contains("/a/school/")
        })
        .max_by_key(|r| r["created_at"].as_str().unwrap().to_string())
        .unwrap();
    assert_schema_valid(&newest);
    let groups: Vec<(String, String, bool, u64, u64)> = newest["delta"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_string(),
                g["kind"].as_str().unwrap().to_string(),
                g["by_key"].as_bool().unwrap(),
                g["new"].as_u64().unwrap(),
                g["fixed"].as_u64().unwrap(),
            )
        })
        .collect();
    // User 7's changed e-mail is now a missing (legacy e-mail) and an extra row.
    assert_eq!(
        groups,
        [
            ("user".to_string(), "missing".to_string(), false, 1, 0),
            ("user".to_string(), "extra".to_string(), false, 1, 0),
            ("user".to_string(), "changed".to_string(), false, 0, 1),
        ]
    );
}

#[test]
fn the_history_page_draws_the_nights_in_headless_chromium() {
    let Some(chrome) = chromium() else { return };
    let dir = tempdir();
    let school = school_copy(dir.path());
    let spec = school.join("verify.toml");
    let (code, out, err) = run(&["run", spec.to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, out, err) = run(&["run", spec.to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    // Each report.html links the history page beside it, which holds the reports up to
    // it.
    let reports = reports_in(&school.join("reports"));
    assert_eq!(reports.len(), 2);
    let html = read(&reports[1].join("report.html"));
    assert!(
        html.contains("<a class=\"history-link\" href=\"history.html\">"),
        "{html}"
    );
    let ids: Vec<String> = reports
        .iter()
        .map(|r| r.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    let first = read(&reports[0].join("history.html"));
    assert_eq!(first.matches("<tr data-report=").count(), 1, "{first}");
    let second = read(&reports[1].join("history.html"));
    assert_eq!(second.matches("<tr data-report=").count(), 2);
    assert!(
        second.contains(&format!("href=\"../{}/report.html\"", ids[0])),
        "{second}"
    );

    let page = dir.path().join("history.html");
    let (code, out, err) = run(&[
        "history",
        spec.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with(&format!("history page: {}\n", page.display())),
        "{out}"
    );
    let (dom, console) = load_in_chromium(&chrome, &page, None);
    assert_eq!(console, Vec::<String>::new(), "no console messages");
    // Five entities and two invariants, a point each per report; the same six findings
    // both nights.
    let chart = dom
        .split("<svg class=\"trend-entities\"")
        .nth(1)
        .expect("the chart per entity")
        .split("</svg>")
        .next()
        .unwrap();
    assert_eq!(chart.matches("<circle").count(), 14, "{chart}");
    assert_eq!(chart.matches("<polyline").count(), 7, "{chart}");
    assert!(chart.contains("<title>submission: 4 findings ("), "{chart}");
    // Per kind: missing, extra, changed, duplicate keys.
    let kinds = dom
        .split("<svg class=\"trend-kinds\"")
        .nth(1)
        .expect("the chart per kind")
        .split("</svg>")
        .next()
        .unwrap();
    assert_eq!(kinds.matches("data-series=").count(), 4, "{kinds}");
    assert!(kinds.contains("data-series=\"changed\""), "{kinds}");
    // New and fixed: the second report only (nothing moved).
    let moves = dom
        .split("<svg class=\"trend-moves\"")
        .nth(1)
        .unwrap()
        .split("</svg>")
        .next()
        .unwrap();
    assert_eq!(moves.matches("<rect class=\"new\"").count(), 1, "{moves}");
    assert!(moves.contains("data-value=\"0\""), "{moves}");
    // The table, newest first, linking each report.
    let rows: Vec<&str> = dom.split("<tr data-report=\"").skip(1).collect();
    assert_eq!(rows.len(), 2);
    let newest = reports[1]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(rows[0].starts_with(&newest), "{}", rows[0]);
    assert!(rows[0].contains("/report.html\">"), "{}", rows[0]);

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("history.png");
    let _ = std::fs::remove_file(&shot);
    load_in_chromium(&chrome, &page, Some(&shot));
    let png = std::fs::read(&shot).expect("a screenshot was saved");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    eprintln!("screenshot of the history page: {}", shot.display());
}
