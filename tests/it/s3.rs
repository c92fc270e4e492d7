//! Snapshots on S3-compatible object storage, against a real server (moto in server
//! mode) that each test starts on 127.0.0.1: the same findings as local snapshots,
//! completeness marked by the manifest, resume, and errors that say what to fix.

use std::path::Path;

use crate::common::*;
use crate::school::school_copy;

/// Every output of a command, and the objects under a bucket, free of the secret key.
fn assert_no_secret(texts: &[&str]) {
    for t in texts {
        assert!(!t.contains(MOTO_SECRET), "the secret key was printed: {t}");
    }
}

#[test]
fn school_on_object_storage_finds_exactly_what_local_snapshots_find() {
    let Some((moto, dir)) = moto_with_bucket("school_on_object_storage", "school") else {
        return;
    };
    let spec = school_copy(dir.path());
    let spec = spec.join("verify.toml");
    let spec = spec.to_str().unwrap();
    let local_reports = dir.path().join("local-reports");

    let local_snaps = dir.path().join("local-snaps");
    let (code, _, stderr) = run(&[
        "run",
        spec,
        "--snapshots",
        local_snaps.to_str().unwrap(),
        "--reports",
        local_reports.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let s3 = [
        "--snapshots",
        "s3://school/nightly",
        "--reports",
        "s3://school/reports",
    ];
    let (code, stdout, stderr) = moto.run(&[&["run", spec][..], &s3].concat());
    assert_eq!(code, 1, "{stderr}");
    assert_no_secret(&[&stdout, &stderr]);
    let local = only_report(&local_reports);
    // The report's files on the store are the local report's, report.json among them.
    let report_keys = moto.keys("school", "reports/");
    let id = report_keys[0].split('/').nth(1).unwrap().to_string();
    let local_dir = only_report_dir(&local_reports);
    let mut local_files: Vec<String> = all_files(&local_dir)
        .iter()
        .map(|p| {
            p.strip_prefix(&local_dir)
                .unwrap()
                .to_string_lossy()
                .to_string()
        })
        .filter(|p| !p.starts_with('.'))
        .collect();
    local_files.sort();
    let remote_files: Vec<String> = report_keys
        .iter()
        .map(|k| {
            k.strip_prefix(&format!("reports/{id}/"))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(remote_files, local_files);
    let get_report = |id: &str| -> serde_json::Value {
        serde_json::from_str(
            &moto
                .http("GET", &format!("/school/reports/{id}/report.json"), b"")
                .1,
        )
        .unwrap()
    };
    let remote = get_report(&id);
    assert_eq!(findings(&remote), findings(&local));
    assert_eq!(remote["status"], local["status"]);
    assert_no_secret(&[&serde_json::to_string(&remote).unwrap()]);

    // Ad hoc SQL over the runs and the report's diff files on the store answers as over
    // the local ones.
    let q = "SELECT (SELECT count(*) FROM legacy.users) AS users, (SELECT count(*) FROM diffs.user_changed) AS changed";
    let (code, want, stderr) = run(&[
        "sql",
        spec,
        q,
        "--snapshots",
        local_snaps.to_str().unwrap(),
        "--reports",
        local_reports.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, got, stderr) = moto.run(&[&["sql", spec, q, "--format", "csv"][..], &s3].concat());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(got, want);

    // The layout on the store: every table's parts and record, schema and manifest,
    // nothing temporary; nothing was written beside the spec.
    let keys = moto.keys("school", "nightly/legacy/");
    let run_id = keys[0].split('/').nth(2).unwrap().to_string();
    let legacy_db = dir.path().join("school/legacy.db");
    let legacy_tables_in_db = {
        let c = rusqlite::Connection::open(&legacy_db).unwrap();
        let mut st = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect::<Vec<_>>()
    };
    let mut want_db: Vec<String> = legacy_tables_in_db
        .iter()
        .flat_map(|t| {
            [
                format!("nightly/legacy/{run_id}/{t}/_table.json"),
                format!("nightly/legacy/{run_id}/{t}/part-00000.parquet"),
            ]
        })
        .chain(
            [".run.json", "manifest.json", "schema.json"]
                .iter()
                .map(|f| format!("nightly/legacy/{run_id}/{f}")),
        )
        .collect();
    want_db.sort();
    assert_eq!(keys, want_db);
    assert!(!dir.path().join("school/snapshots").exists());
    assert!(!dir.path().join("school/s3:").exists() && !Path::new("s3:").exists());
    let manifest = moto
        .http(
            "GET",
            &format!("/school/nightly/legacy/{run_id}/manifest.json"),
            b"",
        )
        .1;
    assert_no_secret(&[&manifest]);

    // `verify` alone reads the same runs from the store, finds the same, and its
    // report's delta, computed against the first report's diff files on the store, says
    // nothing moved; `history` lists both.
    let (code, _, stderr) = moto.run(&[&["verify", spec, "--quiet"][..], &s3].concat());
    assert_eq!(code, 1, "{stderr}");
    let ids: Vec<String> = moto
        .keys("school", "reports/")
        .iter()
        .filter(|k| k.ends_with("/report.json"))
        .map(|k| k.split('/').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let second = ids.iter().find(|i| **i != id).unwrap();
    let again = get_report(second);
    assert_eq!(findings(&again), findings(&local));
    assert_eq!(again["delta"]["previous_report"], serde_json::json!(id));
    assert_eq!(again["delta"]["new"], 0);
    assert_eq!(again["delta"]["fixed"], 0);
    let (code, stdout, stderr) = moto.run(&["history", spec, "--reports", "s3://school/reports"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&id) && stdout.contains(second.as_str()),
        "{stdout}"
    );

    // One more user changed in the legacy source: the next run's delta, computed against
    // the previous report's diff files on the store, names it by key. --keep 1 then
    // leaves one complete run a side and one report, the newest.
    let legacy_db = dir.path().join("school/legacy.db");
    let changed: i64 = {
        let c = rusqlite::Connection::open(&legacy_db).unwrap();
        let id: i64 = c
            .query_row(
                "SELECT id FROM users ORDER BY id LIMIT 1 OFFSET 5",
                [],
                |r| r.get(0),
            )
            .unwrap();
        c.execute(
            "UPDATE users SET full_name = full_name || ' (renamed)' WHERE id = ?1",
            [id],
        )
        .unwrap();
        id
    };
    let (code, _, stderr) = moto.run(&[&["run", spec, "--keep", "1", "--quiet"][..], &s3].concat());
    assert_eq!(code, 1, "{stderr}");
    for side in ["legacy", "target"] {
        let mut runs: Vec<String> = moto
            .keys("school", &format!("nightly/{side}/"))
            .iter()
            .map(|k| k.split('/').nth(2).unwrap().to_string())
            .collect();
        runs.dedup();
        assert_eq!(runs.len(), 1, "{side}: {runs:?}");
        assert_ne!(runs[0], run_id);
    }
    let reports: Vec<String> = moto
        .keys("school", "reports/")
        .iter()
        .filter(|k| k.ends_with("/report.json"))
        .cloned()
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    for old in [&id, second] {
        assert_ne!(reports[0], format!("reports/{old}/report.json"));
    }
    let last = get_report(reports[0].split('/').nth(1).unwrap());
    let delta = &last["delta"];
    assert_eq!(delta["previous_report"], serde_json::json!(second));
    assert_eq!(
        (delta["new"].clone(), delta["fixed"].clone()),
        (1.into(), 0.into())
    );
    // The renamed user, by key from both reports' diff files; the column profile it
    // moves is not a second new finding.
    assert_eq!(
        delta["groups"],
        serde_json::json!([
            {"name": "user", "kind": "changed", "by_key": true, "new": 1, "fixed": 0,
             "new_items": [format!("id={changed}")], "fixed_items": []},
        ])
    );
    assert_eq!(moto.pending_uploads("school"), 0);
}

/// A moto server with bucket `bucket`, and a fresh folder; `None` where moto is not
/// installed (and not required).
fn moto_with_bucket(test: &str, bucket: &str) -> Option<(Moto, tempfile::TempDir)> {
    let moto = Moto::start(test)?;
    moto.bucket(bucket);
    Some((moto, tempdir()))
}

/// A SQLite file with tables t1..t3 of `rows` rows each, and a spec `s.toml` beside it
/// for `snapdiff sql`: (source URL, spec path).
fn sqlite_fixture(dir: &Path, rows: i64) -> (String, String) {
    let p = dir.join("legacy.db");
    let c = rusqlite::Connection::open(&p).unwrap();
    for t in ["t1", "t2", "t3"] {
        c.execute_batch(&format!(
            "CREATE TABLE {t} (id INTEGER PRIMARY KEY, a TEXT, b REAL);
             WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < {rows})
             INSERT INTO {t} SELECT k, 'row ' || k || ' of {t}', k / 7.0 FROM n;"
        ))
        .unwrap();
    }
    let spec = dir.join("s.toml");
    std::fs::write(&spec, SQLITE_SOURCES).unwrap();
    (
        format!("sqlite://{}", p.display()),
        spec.to_string_lossy().to_string(),
    )
}

/// A moto server with bucket `snaps`, and run `r1` of [`sqlite_fixture`] (`rows` a
/// table) extracted to `out`: (server, folder, source URL, spec path).
fn extracted_r1(
    test: &str,
    rows: i64,
    out: &str,
) -> Option<(Moto, tempfile::TempDir, String, String)> {
    let (moto, dir) = moto_with_bucket(test, "snaps")?;
    let (url, spec) = sqlite_fixture(dir.path(), rows);
    let (code, _, stderr) =
        moto.run(&["extract", "--source", &url, "--out", out, "--run-id", "r1"]);
    assert_eq!(code, 0, "{stderr}");
    Some((moto, dir, url, spec))
}

#[test]
fn an_incomplete_run_on_object_storage_is_never_read_and_resumes() {
    let out = "s3://snaps/p";
    let Some((moto, _dir, url, spec)) =
        extracted_r1("an_incomplete_run_on_object_storage", 20_000, out)
    else {
        return;
    };
    let manifest = moto.http("GET", "/snaps/p/legacy/r1/manifest.json", b"").1;
    let m: snapdiff::snapshot::Manifest = serde_json::from_str(&manifest).unwrap();
    assert_eq!(m.tables.len(), 3);
    assert!(m.tables.values().all(|t| t.rows == 20_000));

    // What a run stopped while writing t2 leaves: t2's record and the manifest are not
    // written (its parts may be).
    for key in [
        "/snaps/p/legacy/r1/manifest.json",
        "/snaps/p/legacy/r1/t2/_table.json",
    ] {
        let (code, body) = moto.http("DELETE", key, b"");
        assert_eq!(code, 204, "{body}");
    }
    // No check reads it...
    let (code, _, stderr) = moto.run(&[
        "sql",
        &spec,
        "SELECT 1",
        "--snapshots",
        out,
        "--legacy-run",
        "r1",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("legacy run `r1` is incomplete (it has no manifest.json)"),
        "{stderr}"
    );
    // ...no other run takes its id...
    let (code, _, stderr) =
        moto.run(&["extract", "--source", &url, "--out", out, "--run-id", "r1"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "run `r1` already exists\n  hint: that run is incomplete; finish it with --resume RUN"
        ),
        "{stderr}"
    );
    // ...and --resume finishes it, writing t2 again and keeping t1 and t3.
    let before = moto.http("GET", "/snaps/p/legacy/r1/t1/_table.json", b"").1;
    let (code, _, stderr) =
        moto.run(&["extract", "--source", &url, "--out", out, "--resume", "r1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("legacy.t1: skipped, complete in the run being resumed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("legacy.t3: skipped, complete in the run being resumed"),
        "{stderr}"
    );
    assert!(!stderr.contains("legacy.t2: skipped"), "{stderr}");
    assert_eq!(
        moto.http("GET", "/snaps/p/legacy/r1/t1/_table.json", b"").1,
        before
    );
    let m: snapdiff::snapshot::Manifest =
        serde_json::from_str(&moto.http("GET", "/snaps/p/legacy/r1/manifest.json", b"").1).unwrap();
    assert_eq!(m.resumed_at.len(), 1);
    assert_eq!(m.tables["t2"].rows, 20_000);
    // The resumed run reads back whole: every row of t2, by id.
    let (code, stdout, stderr) = moto.run(&[
        "sql",
        &spec,
        "SELECT count(*) AS n, sum(id) AS s, count(DISTINCT a) AS d FROM legacy.t2",
        "--snapshots",
        out,
        "--legacy-run",
        "r1",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "n,s,d\n20000,200010000,20000\n");
    assert_eq!(moto.pending_uploads("snaps"), 0);
}

#[test]
fn a_part_larger_than_an_upload_part_goes_up_in_several_parts() {
    let Some((moto, dir)) = moto_with_bucket("a_part_larger_than_an_upload_part", "big") else {
        return;
    };
    let p = dir.path().join("big.db");
    let c = rusqlite::Connection::open(&p).unwrap();
    // 160,000 rows of 200 random hex digits: about 16 MB of Parquet, which zstd cannot
    // shrink much, so three 5 MiB upload parts and a last one.
    c.execute_batch(
        "CREATE TABLE b (id INTEGER PRIMARY KEY, h TEXT);
         WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 160000)
         INSERT INTO b SELECT k, hex(randomblob(100)) FROM n;",
    )
    .unwrap();
    let want: (i64, i64) = c
        .query_row("SELECT count(*), sum(length(h)) FROM b", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    drop(c);
    std::fs::write(dir.path().join("s.toml"), SQLITE_SOURCES).unwrap();
    let url = format!("sqlite://{}", p.display());
    let (code, _, stderr) = output(
        moto.cmd(&[
            "extract",
            "--source",
            &url,
            "--out",
            "s3://big/r",
            "--run-id",
            "r1",
        ])
        .env("SNAPDIFF_S3_PART_MIB", "5")
        .output()
        .unwrap(),
    );
    assert_eq!(code, 0, "{stderr}");
    let m: snapdiff::snapshot::Manifest =
        serde_json::from_str(&moto.http("GET", "/big/r/legacy/r1/manifest.json", b"").1).unwrap();
    let bytes = m.tables["b"].files[0].bytes;
    assert!(bytes > 15 << 20, "{bytes} bytes: not several parts");
    // Read back whole, and checked against the manifest's size and xxh3 on the way.
    let spec = dir.path().join("s.toml");
    let (code, stdout, stderr) = moto.run(&[
        "sql",
        spec.to_str().unwrap(),
        "SELECT count(*) AS n, sum(length(h)) AS l FROM legacy.b",
        "--snapshots",
        "s3://big/r",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("n,l\n{},{}\n", want.0, want.1));
    assert_eq!(moto.pending_uploads("big"), 0);
}

#[test]
fn a_changed_object_is_caught_and_errors_say_what_to_fix() {
    let out = "s3://snaps/c";
    let Some((moto, _dir, url, spec)) = extracted_r1("a_changed_object_is_caught", 1_000, out)
    else {
        return;
    };

    // A part changed after extraction fails the run's check, naming the object.
    let key = "/snaps/c/legacy/r1/t1/part-00000.parquet";
    let m: snapdiff::snapshot::Manifest =
        serde_json::from_str(&moto.http("GET", "/snaps/c/legacy/r1/manifest.json", b"").1).unwrap();
    let size = m.tables["t1"].files[0].bytes as usize;
    // Same size, other bytes: only the hash can tell.
    let (code, _) = moto.http("PUT", key, &vec![b'x'; size]);
    assert_eq!(code, 200);
    let (code, _, stderr) = moto.run(&[
        "sql",
        &spec,
        "SELECT count(*) FROM legacy.t1",
        "--snapshots",
        out,
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!(
            "but the manifest says {}: it was changed or corrupted after extraction",
            m.tables["t1"].files[0].xxh3
        )),
        "{stderr}"
    );
    let (code, _) = moto.http("PUT", key, b"PAR1 not a parquet file PAR1");
    assert_eq!(code, 200);
    let (code, _, stderr) = moto.run(&[
        "sql",
        &spec,
        "SELECT count(*) FROM legacy.t1",
        "--snapshots",
        out,
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("the file has 28 bytes but the manifest says"),
        "{stderr}"
    );
    assert!(
        stderr.contains("s3://snaps/c/legacy/r1/t1/part-00000.parquet"),
        "{stderr}"
    );

    // No credentials: said before anything is written, with the variables to set.
    let (code, _, stderr) = output(
        cmd_without_aws(&["extract", "--source", &url, "--out", "s3://snaps/none"])
            .output()
            .unwrap(),
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("error: no object-storage credentials for s3://snaps: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{stderr}"
    );
    assert!(moto.keys("snaps", "none/").is_empty());

    // An unreachable store: the error names the object and says what to check.
    let (code, _, stderr) = output(
        moto.cmd(&["extract", "--source", &url, "--out", "s3://snaps/x"])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .output()
            .unwrap(),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("s3://snaps/x/legacy"), "{stderr}");
    assert!(
        stderr.contains("hint: check that the object store is reachable (AWS_ENDPOINT_URL) and the bucket exists"),
        "{stderr}"
    );
    // A bucket that does not exist.
    let (code, stdout, stderr) =
        moto.run(&["extract", "--source", &url, "--out", "s3://nobucket/x"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("s3://nobucket/x/legacy"), "{stderr}");
    assert_no_secret(&[&stdout, &stderr]);
    assert_eq!(moto.pending_uploads("snaps"), 0);
}

#[test]
fn the_spec_storage_section_reaches_the_store_without_aws_variables() {
    let Some((moto, dir)) = moto_with_bucket("the_spec_storage_section", "viaspec") else {
        return;
    };
    sqlite_fixture(dir.path(), 100);
    let spec = dir.path().join("s3.toml");
    std::fs::write(
        &spec,
        format!(
            "[sources.legacy]\nurl = \"sqlite://legacy.db\"\n\
             [snapshots]\nroot = \"s3://viaspec/runs\"\n\
             [storage]\nendpoint = \"{}\"\nregion = \"eu-west-1\"\n\
             access_key_id = \"spec-key\"\nsecret_access_key = \"${{S3_SECRET}}\"\n",
            moto.endpoint
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = output(
        cmd_without_aws(&["extract", spec.to_str().unwrap(), "--run-id", "r1"])
            .env("S3_SECRET", MOTO_SECRET)
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_no_secret(&[&stdout, &stderr]);
    assert_eq!(
        stdout,
        "legacy  r1  3 tables  300 rows  s3://viaspec/runs/legacy/r1\n"
    );
    let keys = moto.keys("viaspec", "runs/legacy/r1/");
    assert!(
        keys.contains(&"runs/legacy/r1/manifest.json".to_string()),
        "{keys:?}"
    );
    assert_eq!(keys.len(), 3 * 2 + 3, "{keys:?}");
}

#[test]
fn two_extractions_racing_for_one_run_id_cannot_both_take_it() {
    let Some((moto, dir)) = moto_with_bucket("two_extractions_racing", "race") else {
        return;
    };
    let (url, _) = sqlite_fixture(dir.path(), 1_000);
    for round in 0..3 {
        let id = format!("r{round}");
        let args = [
            "extract",
            "--source",
            &url,
            "--out",
            "s3://race/p",
            "--run-id",
            &id,
            "--quiet",
        ];
        let children: Vec<_> = (0..2)
            .map(|_| {
                moto.cmd(&args)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| output(c.wait_with_output().unwrap()))
            .collect();
        let codes: Vec<i32> = outs.iter().map(|o| o.0).collect();
        assert_eq!(
            codes.iter().filter(|c| **c == 0).count(),
            1,
            "round {round}: exactly one may take the id: {outs:?}"
        );
        let loser = outs.iter().find(|o| o.0 != 0).unwrap();
        assert_eq!(loser.0, 2);
        assert!(
            loser.2.contains(&format!("run `{id}` already exists")),
            "{}",
            loser.2
        );
        let m: snapdiff::snapshot::Manifest = serde_json::from_str(
            &moto
                .http("GET", &format!("/race/p/legacy/{id}/manifest.json"), b"")
                .1,
        )
        .unwrap();
        assert!(m.tables.values().all(|t| t.rows == 1_000));
    }
}

#[test]
fn a_report_id_claimed_on_object_storage_is_never_shared() {
    let Some((moto, dir)) = moto_with_bucket("a_report_id_claimed", "reps") else {
        return;
    };
    let a = dir.path().join("a.parquet");
    write_parquet_sql(&a, "SELECT * FROM (VALUES (1, 'x'), (2, 'y')) AS v(id, a)");
    // Another verification holds every id of the next two minutes (its claim, no report
    // yet): this one takes the next free id of its second, never one of those.
    let now = chrono::Utc::now();
    for s in 0..120 {
        let id = (now + chrono::Duration::seconds(s)).format("%Y%m%dT%H%M%SZ");
        let (code, body) = moto.http("PUT", &format!("/reps/r/{id}/.claim"), b"{}");
        assert_eq!(code, 200, "{body}");
    }
    let a = a.to_str().unwrap();
    let (code, stdout, stderr) = moto.run(&[
        "diff",
        a,
        a,
        "--key",
        "id",
        "--report",
        "s3://reps/r",
        "--format",
        "json",
        "-q",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let listing = moto.http("GET", "/reps?list-type=2&prefix=r/", b"").1;
    let reports: Vec<&str> = listing
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split("</Key>").next())
        .filter(|k| k.ends_with("/report.json"))
        .collect();
    assert_eq!(reports.len(), 1, "{listing}");
    let id = reports[0]
        .strip_prefix("r/")
        .and_then(|k| k.strip_suffix("/report.json"))
        .unwrap();
    assert!(id.ends_with("-2"), "{id}: not the next free id");
    // The other's claim stays; this report's went once it was complete.
    let base = id.strip_suffix("-2").unwrap();
    assert!(
        listing.contains(&format!("<Key>r/{base}/.claim</Key>")),
        "{listing}"
    );
    assert!(
        !listing.contains(&format!("<Key>r/{id}/.claim</Key>")),
        "{listing}"
    );
}
