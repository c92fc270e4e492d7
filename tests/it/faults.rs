//! Faults during a nightly run: SIGKILL at many points of `run` and of `verify`, and a
//! full disk while a report is written. Whatever the moment, every earlier snapshot run
//! and report stays byte for byte as it was, what the interrupted process left is
//! either complete or clearly incomplete (a run folder without `manifest.json`, a
//! hidden `.tmp-` report folder), and the next run reports exactly the same findings.
//!
//! (SIGKILL during a bare `extract`, resume, and a full disk during extraction are in
//! `atomic.rs`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::common::*;

const ROWS: i64 = 120_000;
const TABLES: [&str; 3] = ["orders", "payments", "events"];

/// A legacy and a target SQLite database, equal but for three rows per table: id 5
/// deleted, id 7 changed, id ROWS + 1 added. And the spec verifying them.
fn fixture(dir: &Path) -> PathBuf {
    for (side, db) in [("legacy", "legacy.db"), ("target", "target.db")] {
        let c = Connection::open(dir.join(db)).unwrap();
        for t in TABLES {
            c.execute_batch(&format!(
                "CREATE TABLE {t} (id INTEGER PRIMARY KEY, note TEXT, amount REAL, n INTEGER);
                 WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < {ROWS})
                 INSERT INTO {t} SELECT k, '{t} row ' || k, k / 4.0, k * 3 FROM s;"
            ))
            .unwrap();
            if side == "target" {
                c.execute_batch(&format!(
                    "DELETE FROM {t} WHERE id = 5;
                     UPDATE {t} SET note = 'changed' WHERE id = 7;
                     INSERT INTO {t} VALUES ({}, 'new', 1.0, 1);",
                    ROWS + 1
                ))
                .unwrap();
            }
        }
    }
    let mut spec = String::from(SQLITE_SOURCES);
    for t in TABLES {
        spec.push_str(&format!(
            "[[entity]]\nname = \"{t}\"\nkey = \"id\"\ntable = \"{t}\"\n"
        ));
    }
    let path = dir.join("verify.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

/// The findings of a report: per entity, its status and its diff (timings left out).
fn findings(report_dir: &Path) -> Vec<(String, String, String)> {
    let r: snapdiff::report::Report =
        serde_json::from_str(&read(&report_dir.join("report.json"))).unwrap();
    r.outcome
        .entities
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                format!("{:?}", e.status),
                serde_json::to_string(&e.diff).unwrap(),
            )
        })
        .collect()
}

/// Every file under `dir` with its SHA-256.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    all_files(dir)
        .into_iter()
        .filter(|f| !f.ends_with(".run.lock"))
        .map(|f| (f.strip_prefix(dir).unwrap().to_path_buf(), sha256_file(&f)))
        .collect()
}

/// The complete report folders under `reports` (hidden `.tmp-` folders are reports
/// being written, which nothing reads).
fn complete_reports(reports: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(reports) else {
        return out;
    };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            assert!(name.starts_with(".tmp-"), "unexpected {name}");
            continue;
        }
        // A visible report folder is whole: its report.json parses.
        let r = e.path().join("report.json");
        assert!(r.is_file(), "{} has no report.json", e.path().display());
        serde_json::from_str::<snapdiff::report::Report>(&read(&r))
            .unwrap_or_else(|err| panic!("{}: {err}", r.display()));
        out.push(e.path());
    }
    out.sort();
    out
}

/// What a killed process left must not pass for complete: every run folder either has
/// a manifest and verifies in full, or has none. Returns the incomplete runs.
fn check_runs(snapshots: &Path) -> Vec<(String, String)> {
    let mut incomplete = Vec::new();
    for side in ["legacy", "target"] {
        for run in snapdiff::snapshot::list_runs(snapshots, side).unwrap() {
            if run.complete {
                let m = snapdiff::snapshot::verify_run(&run.path)
                    .unwrap_or_else(|e| panic!("{side}/{}: {e}", run.run_id));
                assert_eq!(m.tables.len(), TABLES.len());
            } else {
                assert!(!run.path.join("manifest.json").exists());
                incomplete.push((side.to_string(), run.run_id.clone()));
            }
        }
    }
    incomplete
}

/// Spawn `args` in `dir`, SIGKILL it after `after`, and wait for it.
fn kill_after(dir: &Path, args: &[&str], after: Duration) -> bool {
    let mut child = cmd(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    child.wait().unwrap();
    !finished
}

/// SIGKILL at evenly spread points of `run` (extracting both sides, verifying, writing
/// the report), then of `verify` alone.
/// The names of the report folders being written (or abandoned) under `reports`.
fn tmp_folders(reports: &Path) -> Vec<String> {
    std::fs::read_dir(reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

#[test]
fn sigkill_during_run_and_verify_keeps_earlier_results_and_the_next_run_agrees() {
    let dir = tempdir();
    let d = dir.path();
    fixture(d);
    let (reports, snapshots) = (d.join("reports"), d.join("snapshots"));

    let clock = Instant::now();
    let (code, _, stderr) = run_in(d, &["run", "verify.toml", "--quiet"]);
    let full_run = clock.elapsed();
    assert_eq!(code, 1, "{stderr}");
    let first = complete_reports(&reports);
    assert_eq!(first.len(), 1);
    let reference = findings(&first[0]);
    assert_eq!(reference.len(), TABLES.len());
    for (name, status, diff) in &reference {
        assert_eq!(status, "Fail", "{name}");
        let d: serde_json::Value = serde_json::from_str(diff).unwrap();
        assert_eq!(
            (&d["missing"], &d["extra"], &d["changed"]),
            (&1.into(), &1.into(), &1.into()),
            "{name}: {diff}"
        );
        assert_eq!(d["missing_rows"][0][0][1], "5", "{name}");
        assert_eq!(d["changed_rows"][0]["key"][0][1], "7", "{name}");
        assert_eq!(d["extra_rows"][0][0][1], (ROWS + 1).to_string(), "{name}");
    }

    let trials = 8;
    let (mut killed, mut resumed) = (0, 0);
    let mut seen_tmp = std::collections::BTreeSet::new();
    for command in ["run", "verify"] {
        let full = if command == "verify" {
            let clock = Instant::now();
            let (code, _, stderr) = run_in(d, &["verify", "verify.toml", "--quiet"]);
            assert_eq!(code, 1, "{stderr}");
            clock.elapsed()
        } else {
            full_run
        };
        for k in 0..trials {
            let before_reports = tree(&reports);
            let before_snapshots = tree(&snapshots);
            let earlier = complete_reports(&reports);
            let after = full.mul_f64(k as f64 / trials as f64) + Duration::from_millis(10);
            if kill_after(d, &[command, "verify.toml", "--quiet"], after) {
                killed += 1;
            }
            // Earlier reports and runs are untouched.
            let now_reports = tree(&reports);
            for (f, h) in &before_reports {
                if f.iter()
                    .next()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".tmp-")
                {
                    continue;
                }
                assert_eq!(
                    now_reports.get(f),
                    Some(h),
                    "{command} trial {k}: report file {} changed",
                    f.display()
                );
            }
            let now_snapshots = tree(&snapshots);
            for (f, h) in &before_snapshots {
                assert_eq!(
                    now_snapshots.get(f),
                    Some(h),
                    "{command} trial {k}: snapshot file {} changed",
                    f.display()
                );
            }
            seen_tmp.extend(tmp_folders(&reports));
            // What it left is complete, or clearly not.
            let reports_now = complete_reports(&reports);
            for r in reports_now.iter().filter(|r| !earlier.contains(r)) {
                assert_eq!(
                    findings(r),
                    reference,
                    "{command} trial {k}: a finished report"
                );
            }
            for (side, id) in check_runs(&snapshots) {
                // An interrupted extraction can be finished.
                let (code, _, stderr) = run_in(
                    d,
                    &[
                        "extract",
                        "verify.toml",
                        "--side",
                        &side,
                        "--resume",
                        &id,
                        "--quiet",
                    ],
                );
                assert_eq!(code, 0, "{command} trial {k}: resume {side}/{id}: {stderr}");
                resumed += 1;
            }
            assert!(check_runs(&snapshots).is_empty());
        }
        // The next verification over the newest runs finds exactly the same.
        let (code, stdout, stderr) = run_in(d, &[command, "verify.toml", "--quiet"]);
        assert_eq!(code, 1, "{stdout}{stderr}");
        let newest = complete_reports(&reports)
            .into_iter()
            .max_by_key(|p| {
                std::fs::metadata(p.join("report.json"))
                    .unwrap()
                    .modified()
                    .unwrap()
            })
            .unwrap();
        assert_eq!(findings(&newest), reference, "{command} after the kills");
    }
    assert!(
        killed >= 8,
        "only {killed} of {} processes were killed mid-way",
        2 * trials
    );
    // Left: only folders killed in the instant between their creation and their lock
    // (swept once a minute old).
    let left = tmp_folders(&reports);
    for p in left.iter().map(|n| reports.join(n)) {
        assert!(
            !p.join(".writing").exists(),
            "{} was not swept",
            p.display()
        );
    }
    let swept = seen_tmp.len() - left.len();
    // The figures RELIABILITY.md quotes (shown with --nocapture).
    println!(
        "faults: {killed} of {} processes killed mid-way; {resumed} interrupted snapshot runs resumed; {swept} abandoned report folders swept",
        2 * trials
    );
}

/// A report that cannot be written (the disk fills while report.json, the HTML page or
/// the diff files are written) fails the run with exit 2 and a clear message, leaves
/// earlier reports as they were and no visible half-written report.
#[test]
fn a_full_disk_while_writing_the_report_fails_cleanly() {
    let dir = tempdir();
    let d = dir.path();
    fixture(d);
    let (code, _, stderr) = run_in(d, &["run", "verify.toml", "--quiet"]);
    assert_eq!(code, 1, "{stderr}");
    let reports = d.join("reports");
    let before = tree(&reports);
    assert_eq!(complete_reports(&reports).len(), 1);

    // The snapshots are in place; verify alone writes only the report. A file-size
    // limit below the HTML page's size stands in for a full disk (SIGXFSZ ignored, so
    // writes fail with EFBIG as they fail with ENOSPC when a disk fills).
    for limit_kib in [1, 8] {
        let script = format!(
            "trap '' XFSZ; ulimit -f {limit_kib}; exec {} verify verify.toml --quiet",
            bin().display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .current_dir(d)
            .output()
            .unwrap();
        let (code, stdout, stderr) = output(out);
        assert_eq!(code, 2, "limit {limit_kib} KiB: {stdout}{stderr}");
        assert!(stderr.contains("File too large"), "{stderr}");
        assert!(
            stderr.contains("hint: a file-size limit was reached (ulimit -f)"),
            "{stderr}"
        );
        assert_eq!(tree(&reports), before, "limit {limit_kib} KiB");
        assert_eq!(complete_reports(&reports).len(), 1);
        let leftovers = tmp_folders(&reports);
        assert!(
            leftovers.is_empty(),
            "the half-written report is removed: {leftovers:?}"
        );
    }
}

/// A real full disk (ENOSPC): a 32 KiB tmpfs, mounted in a private mount namespace
/// (`unshare`, no privileges needed where user namespaces are allowed), as the reports
/// folder of `verify` and as the snapshot root of `extract`. Both fail with exit 2, the
/// OS error and the hint, and leave nothing in the full folder.
#[test]
fn a_really_full_disk_fails_extract_and_report_writing_cleanly() {
    let dir = tempdir();
    let d = dir.path();
    fixture(d);
    let (code, _, stderr) = run_in(d, &["extract", "verify.toml", "--quiet"]);
    assert_eq!(code, 0, "{stderr}");
    let full = d.join("full");
    std::fs::create_dir(&full).unwrap();
    let in_full_disk = |args: &str| {
        let script = format!(
            "mount -t tmpfs -o size=32k tmpfs {f} || exit 99; {bin} {args}; echo \"exit=$?\"; \
             find {f} -mindepth 1 | sed 's/^/left: /'",
            f = full.display(),
            bin = bin().display(),
        );
        let out = std::process::Command::new("unshare")
            .args(["--mount", "--map-root-user", "sh", "-c", &script])
            .current_dir(d)
            .env_remove("PGPASSWORD")
            .env_remove("MYSQL_PWD")
            .output()
            .unwrap();
        output(out)
    };
    let (code, stdout, stderr) = in_full_disk("verify verify.toml --quiet --reports full");
    if code == 99 || stderr.contains("unshare failed") {
        skip(
            "a really full disk",
            &format!("cannot mount a tmpfs in a private namespace here: {stderr}"),
        );
        return;
    }
    assert!(stdout.contains("exit=2"), "{stdout}{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains("hint: the disk is full: free space there, or write to another folder"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("left: "),
        "the failed report is removed: {stdout}"
    );

    let (_, stdout, stderr) = in_full_disk("extract verify.toml --quiet --out full");
    assert!(stdout.contains("exit=2"), "{stdout}{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("hint: the disk is full"), "{stderr}");
    // No run folder that could pass for complete: none at all, or none with a manifest.
    assert!(!stdout.contains("manifest.json"), "{stdout}");
}
