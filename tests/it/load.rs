//! Load: twenty `snapdiff sql` sessions at once over the same snapshots, and two `run`s
//! of separate specs overlapping in time, give exactly the answers of one at a time.

use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::common::*;
use crate::school::school_copy;

/// Per entity: its name, its checks (name, status) and its missing, extra and changed rows.
type Findings = Vec<(String, Vec<(String, String)>, [u64; 3])>;

/// Each entity's checks (name and status) and diff counts, from the one report.json
/// under `dir`: what a run found, without its timings.
fn findings(dir: &Path) -> Findings {
    let reports: Vec<_> = all_files(dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "report.json"))
        .collect();
    assert_eq!(reports.len(), 1, "one report under {}", dir.display());
    let report: Value = serde_json::from_str(&read(&reports[0])).unwrap();
    report["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let checks = e["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["check"].as_str().unwrap().to_string(),
                        c["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let d = &e["diff"];
            let n = |k: &str| d[k].as_u64().unwrap_or(0);
            (
                e["name"].as_str().unwrap().to_string(),
                checks,
                [n("missing"), n("extra"), n("changed")],
            )
        })
        .collect()
}

fn spawn(args: &[&str]) -> Child {
    cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("snapdiff starts")
}

#[test]
fn twenty_sql_sessions_and_two_overlapping_runs_answer_as_one_at_a_time() {
    let dir = tempdir();
    // The reference: one run, alone.
    let alone = school_copy(&dir.path().join("alone"));
    let (code, out, err) = run(&["run", alone.join("verify.toml").to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    let reference = findings(&alone);
    assert_eq!(reference.len(), 5, "the school example's five entities");

    // Two runs of separate specs, started together.
    let (a, b) = (
        school_copy(&dir.path().join("a")),
        school_copy(&dir.path().join("b")),
    );
    let runs: Vec<Child> = [&a, &b]
        .iter()
        .map(|s| spawn(&["run", s.join("verify.toml").to_str().unwrap(), "-q"]))
        .collect();
    // Twenty SQL sessions over the reference's snapshots, while the runs go on.
    let spec = alone.join("verify.toml");
    let sessions: Vec<Child> = (0..20)
        .map(|_| {
            spawn(&[
                "sql",
                spec.to_str().unwrap(),
                "--query",
                "key_overlap",
                "--param",
                "table=submissions",
                "--param",
                "key=id",
                "--param",
                "target_key=legacy_id",
                "--format",
                "csv",
            ])
        })
        .collect();
    for (i, s) in sessions.into_iter().enumerate() {
        let (code, out, err) = output(s.wait_with_output().unwrap());
        assert_eq!(code, 0, "session {i}: {err}");
        assert_eq!(
            out, "overlap,keys\nboth,399\nonly legacy,1\nonly target,1\n",
            "session {i}"
        );
    }
    for (r, school) in runs.into_iter().zip([&a, &b]) {
        let (code, out, err) = output(r.wait_with_output().unwrap());
        assert_eq!(code, 1, "{out}{err}");
        assert_eq!(findings(school), reference);
    }
}
