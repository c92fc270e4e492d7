//! Atomic, resumable runs: a run killed with SIGKILL at any moment leaves nothing a later
//! check could take for a complete snapshot, and `--resume` finishes it with the same
//! data as an uninterrupted run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::common::*;

const TABLES: [&str; 4] = ["t1", "t2", "t3", "t4"];
const ROWS: i64 = 150_000;

fn fixture(dir: &Path) -> PathBuf {
    let p = dir.join("legacy.db");
    let c = Connection::open(&p).unwrap();
    for t in TABLES {
        c.execute_batch(&format!(
            "CREATE TABLE {t} (id INTEGER PRIMARY KEY, a TEXT, b REAL, c INTEGER);
             WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < {ROWS})
             INSERT INTO {t} SELECT k, 'row ' || k || ' of {t}', k / 7.0, k * 3 FROM n;"
        ))
        .unwrap();
    }
    p
}

fn args<'a>(url: &'a str, root: &'a str) -> Vec<&'a str> {
    vec!["extract", "--source", url, "--out", root, "--quiet"]
}

/// Sum of ids and row count per table of a complete run.
fn fingerprint(run_dir: &Path) -> Vec<(String, usize, i128)> {
    TABLES
        .iter()
        .map(|t| {
            let ids = column(&read_table(run_dir, t), "id");
            let sum: i128 = ids
                .iter()
                .map(|v| match v {
                    V::Int(x) => *x,
                    other => panic!("{other:?}"),
                })
                .sum();
            (t.to_string(), ids.len(), sum)
        })
        .collect()
}

/// What a killed run left behind must not pass for complete: either it has a manifest
/// and verifies in full, or it has none; every table folder it has is complete.
fn check_leftovers(run_dir: &Path, reference: &[(String, usize, i128)]) -> bool {
    if !run_dir.exists() {
        return false;
    }
    if run_dir.join("manifest.json").exists() {
        snapdiff::snapshot::verify_run(run_dir).expect("a run with a manifest verifies");
        assert_eq!(fingerprint(run_dir), reference);
        return true;
    }
    for e in std::fs::read_dir(run_dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() && !name.starts_with('.') {
            let record: snapdiff::snapshot::TableRecord =
                serde_json::from_str(&read(&p.join("_table.json")))
                    .expect("a table folder in place is complete");
            for f in &record.manifest.files {
                assert_eq!(
                    snapdiff::snapshot::file_xxh3(&run_dir.join(&f.path)).unwrap(),
                    f.xxh3
                );
            }
            assert_eq!(record.manifest.rows, ROWS as u64);
        }
    }
    let root = run_dir.parent().unwrap().parent().unwrap();
    let newest = snapdiff::snapshot::newest_complete(root, "legacy").unwrap();
    assert_ne!(
        newest.map(|r| r.path),
        Some(run_dir.to_path_buf()),
        "an incomplete run was taken for complete"
    );
    false
}

#[test]
fn sigkill_at_any_point_leaves_nothing_that_passes_for_complete_and_resume_finishes() {
    let dir = tempdir();
    let db = fixture(dir.path());
    let url = format!("sqlite://{}", db.display());
    let root = dir.path().join("snaps");
    let r = root.to_str().unwrap();

    let clock = Instant::now();
    let mut a = args(&url, r);
    a.extend(["--run-id", "reference"]);
    let (code, _, stderr) = run(&a);
    assert_eq!(code, 0, "{stderr}");
    let full = clock.elapsed();
    let reference = fingerprint(&root.join("legacy/reference"));
    assert_eq!(
        reference[0],
        (
            "t1".to_string(),
            ROWS as usize,
            (ROWS as i128) * (ROWS as i128 + 1) / 2
        )
    );

    let trials = 12;
    let mut interrupted = 0;
    for k in 0..trials {
        let id = format!("kill-{k:02}");
        let mut a = args(&url, r);
        a.extend(["--run-id", &id]);
        let mut child = cmd(&a)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(k as f64 / trials as f64) + Duration::from_millis(5));
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        let run_dir = root.join("legacy").join(&id);
        let complete = check_leftovers(&run_dir, &reference);
        if !complete {
            interrupted += 1;
            // Finish it: resume when the run folder exists, else start it again.
            let mut a = args(&url, r);
            if run_dir.exists() {
                a.extend(["--resume", &id]);
            } else {
                a.extend(["--run-id", &id]);
            }
            let (code, _, stderr) = run(&a);
            assert_eq!(code, 0, "trial {k}: {stderr}");
            snapdiff::snapshot::verify_run(&run_dir).unwrap();
            assert_eq!(fingerprint(&run_dir), reference, "trial {k}");
        }
    }
    assert!(
        interrupted >= 3,
        "only {interrupted} of {trials} runs were interrupted"
    );
}

#[test]
fn resume_keeps_complete_tables_and_refuses_a_different_plan() {
    let dir = tempdir();
    let db = fixture(dir.path());
    let url = format!("sqlite://{}", db.display());
    let root = dir.path().join("snaps");
    let r = root.to_str().unwrap();
    let run_dir = root.join("legacy/r1");
    // Kill the run as soon as its first table is in place.
    let mut child = cmd(&[
        "extract", "--source", &url, "--out", r, "--run-id", "r1", "--quiet",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_until("the first table never completed", 120, 2, || {
        run_dir.join("t1/_table.json").exists()
    });
    let _ = child.kill();
    child.wait().unwrap();
    if run_dir.join("manifest.json").exists() {
        // The machine was fast enough to finish first; nothing to resume.
        return;
    }
    // Another run cannot take the same id.
    let (code, _, stderr) = run(&["extract", "--source", &url, "--out", r, "--run-id", "r1"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "run `r1` already exists\n  hint: that run is incomplete; finish it with --resume RUN"
        ),
        "{stderr}"
    );
    // A different plan cannot finish it.
    let (code, _, stderr) = run(&[
        "extract", "--source", &url, "--table", "t1", "--out", r, "--resume", "r1",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("run `r1` was started with a different plan: table t2 was in the run and is no longer asked for"), "{stderr}");
    // The same plan does, keeping t1.
    let before = read(&run_dir.join("t1/_table.json"));
    let (code, _, stderr) = run(&["extract", "--source", &url, "--out", r, "--resume", "r1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("legacy.t1: skipped, complete in the run being resumed"),
        "{stderr}"
    );
    assert_eq!(read(&run_dir.join("t1/_table.json")), before);
    let m = snapdiff::snapshot::verify_run(&run_dir).unwrap();
    assert_eq!(m.resumed_at.len(), 1);
    assert_eq!(m.tables.len(), 4);
    assert!(m.tables.values().all(|t| t.rows == ROWS as u64));
    let (code, stdout, _) = run(&["extract", "--source", &url, "--out", r, "--resume", "r1"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "legacy: run r1 is already complete\n");
}

#[test]
fn a_full_disk_fails_cleanly_with_a_hint() {
    let dir = tempdir();
    let db = fixture(dir.path());
    let root = dir.path().join("snaps");
    // A 256 KiB file-size limit stands in for a full disk; SIGXFSZ is ignored so that
    // writes fail with EFBIG, as they fail with ENOSPC when a disk fills.
    let script = format!(
        "trap '' XFSZ; ulimit -f 256; exec {} extract --source sqlite://{} --out {} --quiet",
        bin().display(),
        db.display(),
        root.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let (code, _, stderr) = output(out);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(
        stderr.contains("hint: a file-size limit was reached (ulimit -f)"),
        "{stderr}"
    );
    let runs = snapdiff::snapshot::list_runs(&root, "legacy").unwrap();
    assert!(runs.iter().all(|r| !r.complete), "{runs:?}");
    assert!(
        runs.is_empty(),
        "a run that completed no table is removed: {runs:?}"
    );
}

/// A run killed between creating its folder and writing its plan (`.run.json`) is
/// resumed by starting it over under its id; a folder with finished tables but no plan
/// is refused, since what it set out to read is unknown.
#[test]
fn a_run_killed_before_its_plan_resumes_from_the_start() {
    let dir = tempdir();
    let db = fixture(dir.path());
    let url = format!("sqlite://{}", db.display());
    let root = dir.path().join("snaps");
    let r = root.to_str().unwrap();
    std::fs::create_dir_all(root.join("legacy/early")).unwrap();
    let (code, _, stderr) = extract(&url, r, &["--resume", "early"]);
    assert_eq!(code, 0, "{stderr}");
    let run_dir = root.join("legacy/early");
    snapdiff::snapshot::verify_run(&run_dir).unwrap();
    assert_eq!(fingerprint(&run_dir)[3].1, ROWS as usize);

    let odd = root.join("legacy/odd");
    std::fs::create_dir_all(odd.join("t1")).unwrap();
    std::fs::copy(run_dir.join("t1/_table.json"), odd.join("t1/_table.json")).unwrap();
    assert_fails(
        &["extract", "--source", &url, "--out", r, "--resume", "odd"],
        "run `odd` has finished tables but no plan (.run.json): what it set out to read is unknown",
    );
    assert!(!odd.join("manifest.json").exists());
}
