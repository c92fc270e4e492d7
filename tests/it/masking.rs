//! Masked columns: no human-facing output of a run holds a real value of one, the diff
//! Parquet files do (unless `mask_diffs`), and the delta still matches by key.

use std::path::{Path, PathBuf};

use arrow::array::AsArray;

use crate::common::*;
use crate::school::school_copy;

const KEY: &str = "a-test-key-of-32-characters-0123";

/// `snapdiff` with `args` and the mask key in the environment.
fn run_keyed(args: &[&str]) -> (i32, String, String) {
    output(
        cmd(args)
            .env("SNAPDIFF_MASK_KEY", KEY)
            .output()
            .expect("snapdiff runs"),
    )
}

/// The school example with `user`'s mask replaced by `mask` (TOML lines) and more
/// `[reports]` keys.
fn school_masked(dir: &Path, mask: &str, reports: &str) -> PathBuf {
    let school = school_copy(dir);
    let spec = school.join("verify.toml");
    let text = read(&spec).replace(
        "[entity.mask]\nemail = \"partial\"\n",
        &format!("[entity.mask]\n{mask}\n"),
    );
    assert!(text.contains(mask), "the example's mask was replaced");
    std::fs::write(&spec, format!("[reports]\n{reports}\n{text}")).unwrap();
    spec
}

/// Change user 7's target e-mail (the example's changed row) back to the legacy one.
fn fix_user_7(school: &Path) {
    rewrite_parquet(&school.join("target/users.parquet"), |b| {
        let at = b.schema().index_of("email").unwrap();
        let emails: arrow::array::StringArray = b
            .column(at)
            .as_string::<i32>()
            .iter()
            .map(|e| e.map(|e| e.replace("ada.changed7@", "frances.hopper7@")))
            .collect();
        let mut cols = b.columns().to_vec();
        cols[at] = std::sync::Arc::new(emails);
        arrow::array::RecordBatch::try_new(b.schema(), cols).unwrap()
    });
}

/// Every e-mail address and name the school example holds, on both sides.
fn personal_values(school: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(school.join("legacy.db")).unwrap();
    let mut st = c.prepare("SELECT email, full_name FROM users").unwrap();
    let mut out: Vec<String> = st
        .query_map([], |r| Ok([r.get::<_, String>(0)?, r.get::<_, String>(1)?]))
        .unwrap()
        .flat_map(|r| r.unwrap())
        .collect();
    let target = read_parquet(&school.join("target/users.parquet"));
    for name in ["email", "display_name"] {
        for b in &target {
            let a = b.column(b.schema().index_of(name).unwrap());
            out.extend(a.as_string::<i32>().iter().flatten().map(str::to_string));
        }
    }
    // As the rules show them too (trimmed, lower case).
    let normalised: Vec<String> = out.iter().map(|v| v.trim().to_lowercase()).collect();
    out.extend(normalised);
    out.sort();
    out.dedup();
    out
}

#[test]
fn no_human_output_holds_a_real_value_of_a_masked_column() {
    let dir = tempdir();
    // E-mail hashed, names redacted by a pattern, the key hashed.
    let spec = school_masked(
        dir.path(),
        "email = \"hash\"\nid = \"hash\"",
        "mask = { \"*name*\" = \"redact\" }",
    );
    let school = spec.parent().unwrap().to_path_buf();
    let spec_arg = spec.to_str().unwrap();
    let mut console = String::new();
    let (code, out, err) = run_keyed(&["run", spec_arg]);
    assert_eq!(code, 1, "{out}{err}");
    console += &(out + &err);
    // The console's own samples (no report files).
    let (code, out, err) = run_keyed(&["verify", spec_arg, "--format", "none"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("    changed id=hash:"),
        "the key is masked: {out}"
    );
    console += &(out + &err);
    fix_user_7(&school);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, out, err) = run_keyed(&["run", spec_arg]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(": 0 new, 1 fixed"), "matched by key: {out}");
    console += &(out + &err);
    let page = dir.path().join("trend.html");
    let (code, out, err) = run_keyed(&["history", spec_arg, "--html", page.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    console += &(out + &err);

    // Every file a person reads, and everything printed.
    let mut human: Vec<(String, String)> = vec![("console".into(), console)];
    for f in all_files(&school.join("reports")) {
        if f.extension().is_some_and(|x| x == "parquet") {
            continue;
        }
        human.push((f.display().to_string(), read(&f)));
    }
    human.push(("trend.html".into(), read(&page)));
    assert!(
        human.len() >= 11,
        "two reports of 4 files, the history pages"
    );
    let values = personal_values(&school);
    assert!(values.len() >= 120, "{}", values.len());
    for (name, text) in &human {
        for v in &values {
            assert!(!text.contains(v.as_str()), "{name} holds {v}");
        }
    }

    // The first report: user 7's key and e-mails hashed alike in each place; the names
    // redacted; the diff Parquet holds the real values.
    let reports = reports_in(&school.join("reports"));
    let first: serde_json::Value =
        serde_json::from_str(&read(&reports[0].join("report.json"))).unwrap();
    let user = report_entity(&first, "user");
    let row = &user["diff"]["changed_rows"][0];
    let key = row["key"][0][1].as_str().unwrap();
    assert!(key.starts_with("hash:") && key.len() == 21, "{key}");
    let cell = |c: &str| {
        row["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["column"] == c)
            .unwrap()
            .clone()
    };
    let email = cell("email");
    assert!(email["legacy"].as_str().unwrap().starts_with("hash:"));
    assert_ne!(email["legacy"], email["target"]);
    assert_eq!(
        cell("display_name")["legacy"],
        "[redacted: 14 characters]",
        "Frances Hopper"
    );
    let changed = read_parquet(&reports[0].join("diffs/user/changed.parquet"));
    let b = &changed[0];
    let target = b.column(b.schema().index_of("target__email").unwrap());
    assert_eq!(
        target.as_string::<i32>().value(0),
        "ada.changed7@school.example"
    );
    // The second report's delta lists user 7 as fixed, by the same hashed key.
    let second: serde_json::Value =
        serde_json::from_str(&read(&reports[1].join("report.json"))).unwrap();
    let groups = second["delta"]["groups"].as_array().unwrap();
    let fixed = groups
        .iter()
        .find(|g| g["name"] == "user" && g["kind"] == "changed")
        .unwrap();
    assert_eq!(fixed["fixed"], 1);
    assert_eq!(fixed["fixed_items"][0], format!("id={key}"));
}

#[test]
fn mask_diffs_masks_the_parquet_files_and_the_delta_still_matches() {
    let dir = tempdir();
    let spec = school_masked(dir.path(), "email = \"hash\"", "mask_diffs = true");
    let school = spec.parent().unwrap().to_path_buf();
    let (code, out, err) = run_keyed(&["run", spec.to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    fix_user_7(&school);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, out, err) = run_keyed(&["run", spec.to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(": 0 new, 1 fixed"), "{out}");
    let reports = reports_in(&school.join("reports"));
    let changed = read_parquet(&reports[0].join("diffs/user/changed.parquet"));
    let b = &changed[0];
    for side in ["legacy", "target"] {
        let col = b.column(b.schema().index_of(&format!("{side}__email")).unwrap());
        let v = col.as_string::<i32>().value(0);
        assert!(v.starts_with("hash:") && v.len() == 21, "{side}: {v}");
    }
    // The key is not masked: it stays a number.
    let id = b.column(b.schema().index_of("id").unwrap());
    assert_eq!(crate::common::value(id.as_ref(), 0), i(7));
}

#[test]
fn a_hash_mask_without_its_key_stops_before_any_extraction() {
    let dir = tempdir();
    let spec = school_masked(dir.path(), "email = \"hash\"", "");
    let school = spec.parent().unwrap();
    let (code, out, err) = output(
        cmd(&["run", spec.to_str().unwrap()])
            .env_remove("SNAPDIFF_MASK_KEY")
            .output()
            .unwrap(),
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("a column is masked with `hash`, which needs a secret key, and none is set"),
        "{err}"
    );
    assert!(err.contains("SNAPDIFF_MASK_KEY"), "{err}");
    assert!(!school.join("snapshots").exists(), "nothing was extracted");
    // A short key is refused too, and never printed.
    let (code, _, err) = output(
        cmd(&["run", spec.to_str().unwrap()])
            .env("SNAPDIFF_MASK_KEY", "short-key-17chr")
            .output()
            .unwrap(),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("is 15 bytes long: it needs at least 16"),
        "{err}"
    );
    assert!(!err.contains("short-key-17chr"), "{err}");
}

#[test]
fn a_mask_that_names_a_missing_column_is_a_warning_with_the_nearest_name() {
    let dir = tempdir();
    let spec = school_masked(dir.path(), "emial = \"redact\"", "");
    let (code, out, err) = run(&["run", spec.to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("entity user: `mask` names column `emial`, which it does not have; did you mean `email`?"),
        "{err}"
    );
}

#[test]
fn the_school_example_shows_partial_e_mails_and_keeps_them_whole_in_the_diff_files() {
    let dir = tempdir();
    let school = school_copy(dir.path());
    let (code, out, err) = run(&["run", school.join("verify.toml").to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let (_, history, _) = run(&["history", school.join("verify.toml").to_str().unwrap()]);
    let emails: Vec<String> = personal_values(&school)
        .into_iter()
        .filter(|v| v.contains('@'))
        .collect();
    assert!(emails.len() >= 60, "{}", emails.len());
    let report = only_report_dir(&school.join("reports"));
    let mut human = vec![("console".to_string(), format!("{out}{err}{history}"))];
    for f in all_files(&report) {
        if f.extension().is_some_and(|x| x != "parquet") {
            human.push((f.display().to_string(), read(&f)));
        }
    }
    assert_eq!(human.len(), 6, "the console and five report files");
    for (name, text) in &human {
        for e in &emails {
            assert!(!text.contains(e.as_str()), "{name} holds {e}");
        }
    }
    let json = read(&report.join("report.json"));
    assert!(
        json.contains("\"legacy\": \"f***@school.example\""),
        "{json}"
    );
    assert!(
        json.contains("\"target\": \"a***@school.example\""),
        "{json}"
    );
    let changed = read_parquet(&report.join("diffs/user/changed.parquet"));
    let b = &changed[0];
    let col = |n: &str| {
        let a = b.column(b.schema().index_of(n).unwrap());
        a.as_string::<i32>().value(0).to_string()
    };
    assert_eq!(
        (col("legacy__email"), col("target__email")),
        (
            "frances.hopper7@school.example".to_string(),
            "ada.changed7@school.example".to_string()
        )
    );
}

#[test]
fn findings_and_partitions_leave_out_the_values_of_masked_columns() {
    let dir = tempdir();
    // user.created_at unparsed (a schema finding that would quote its first value) and
    // masked; submission partitioned by a masked column's month.
    let spec = school_masked(dir.path(), "created_at = \"redact\"", "");
    let text = read(&spec)
        .replace(
            "created_at = { legacy = { parse = \"%Y-%m-%d %H:%M:%S\", timezone = \"Europe/Berlin\" } }\n",
            "",
        )
        .replace(
            "answers = [\"json\"]\n",
            "answers = [\"json\"]\n[entity.mask]\nsubmitted_at = \"hash\"\n",
        );
    std::fs::write(&spec, &text).unwrap();
    let (code, out, err) = run_keyed(&["run", spec.to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    let report = only_report(&spec.parent().unwrap().join("reports"));
    let user = report_entity(&report, "user");
    let finding = user["schema_findings"][0].as_str().unwrap();
    assert!(
        finding.starts_with("column created_at is not compared: legacy holds text and target"),
        "{finding}"
    );
    assert!(!finding.contains("first value"), "{finding}");
    let parts = report_entity(&report, "submission")["partitions"].clone();
    let rows = parts["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    for r in rows {
        let p = r["partition"].as_str().unwrap();
        assert!(p.starts_with("hash:") && p.len() == 21, "{p}");
    }
    for p in parts["differing"].as_array().unwrap() {
        assert!(p.as_str().unwrap().starts_with("hash:"), "{p}");
    }
    let md = read(&only_report_dir(&spec.parent().unwrap().join("reports")).join("report.md"));
    assert!(!md.contains("2024-06-01"), "no month shows: {md}");
}
