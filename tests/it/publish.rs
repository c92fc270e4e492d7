//! `[reports] publish` / `--publish`: each report's results in PostgreSQL tables, against
//! this machine's server; a publication that fails is a warning.

use crate::common::*;
use crate::school::school_copy;

const SCHEMA: &str = "snapdiff_publish_it";

/// The test database's URL with `search_path` set to the test's own schema.
fn url() -> String {
    format!("{PG_URL}?options=-c%20search_path%3D{SCHEMA}")
}

#[test]
fn a_report_is_published_into_tables_once_per_report_id() {
    let Some(mut pg) = pg_schema("publish", SCHEMA) else {
        return;
    };
    let dir = tempdir();
    let school = school_copy(dir.path());
    let spec = school.join("verify.toml");
    let url = url();
    let (code, out, err) = run(&["run", spec.to_str().unwrap(), "-q", "--publish", &url]);
    assert_eq!(code, 1, "{out}{err}");
    let folder = only_report_dir(&school.join("reports"));
    let report: snapdiff::report::Report =
        serde_json::from_str(&read(&folder.join("report.json"))).unwrap();
    // Every check of every entity, and one per invariant.
    let checks = report
        .outcome
        .entities
        .iter()
        .map(|e| e.checks.len())
        .sum::<usize>()
        + report.outcome.invariants.len();
    assert!(
        out.contains(&format!(
            "published: {url} (7 entities and invariants, {checks} checks, 6 findings)"
        )),
        "{out}{err}"
    );
    let q = |pg: &mut postgres::Client, sql: &str| -> Vec<Vec<Option<String>>> {
        pg.query(sql, &[])
            .unwrap()
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.get::<_, Option<String>>(i))
                    .collect()
            })
            .collect()
    };
    let s = |v: &str| Some(v.to_string());
    let sql = format!(
        "SELECT status, rows_compared::text, rows_proven::text, findings::text, \
         new_findings::text FROM {SCHEMA}.snapdiff_reports"
    );
    assert_eq!(
        q(&mut pg, &sql),
        [vec![s("fail"), s("603"), s("598"), s("6"), None]]
    );
    // An invariant has no rows or diff counts of its own.
    let invariant = |name: &str| {
        let mut row = vec![s(name), s("invariant"), s("pass")];
        row.extend([None, None, None, None, None, s("0")]);
        row
    };
    let sql = format!(
        "SELECT name, kind, status, legacy_rows::text, missing::text, extra::text, \
         changed::text, rows_proven::text, findings::text \
         FROM {SCHEMA}.snapdiff_entities ORDER BY name"
    );
    assert_eq!(
        q(&mut pg, &sql),
        [
            ["course", "entity", "fail", "8", "0", "0", "1", "7", "1"]
                .map(s)
                .to_vec(),
            [
                "courses_per_status",
                "query",
                "pass",
                "2",
                "0",
                "0",
                "0",
                "2",
                "0"
            ]
            .map(s)
            .to_vec(),
            invariant("every_feedback_has_a_submission"),
            invariant("every_submission_has_a_course"),
            ["feedback", "entity", "pass", "133", "0", "0", "0", "133", "0"]
                .map(s)
                .to_vec(),
            [
                "submission",
                "entity",
                "fail",
                "400",
                "1",
                "1",
                "1",
                "397",
                "4"
            ]
            .map(s)
            .to_vec(),
            ["user", "entity", "fail", "60", "0", "0", "1", "59", "1"]
                .map(s)
                .to_vec(),
        ]
    );
    let sql = format!(
        "SELECT name, kind, key, detail FROM {SCHEMA}.snapdiff_findings ORDER BY name, kind, key"
    );
    let findings = q(&mut pg, &sql);
    assert_eq!(findings.len(), 6, "{findings:?}");
    assert_eq!(
        findings[findings.len() - 1],
        vec![s("user"), s("changed"), s("id=7"), s("email")],
        "the key as the report shows it"
    );
    let sql = format!(
        "SELECT check_name, status FROM {SCHEMA}.snapdiff_checks WHERE name = 'user' ORDER BY check_name"
    );
    assert_eq!(
        q(&mut pg, &sql),
        [
            ["aggregate", "info"],
            ["count", "pass"],
            ["diff", "fail"],
            ["hash", "info"],
            ["invalid", "pass"],
            ["schema", "pass"]
        ]
        .map(|r| r.map(s).to_vec())
    );

    // Publishing the same report again replaces its rows.
    let again = snapdiff::report::publish::publish(&url, &report).unwrap();
    assert_eq!(
        (again.entities, again.checks, again.findings),
        (7, checks as u64, 6)
    );
    let counts = format!(
        "SELECT (SELECT count(*) FROM {SCHEMA}.snapdiff_reports)::text, \
         (SELECT count(*) FROM {SCHEMA}.snapdiff_entities)::text, \
         (SELECT count(*) FROM {SCHEMA}.snapdiff_checks)::text, \
         (SELECT count(*) FROM {SCHEMA}.snapdiff_findings)::text"
    );
    let checks = checks.to_string();
    assert_eq!(
        q(&mut pg, &counts),
        [["1", "7", checks.as_str(), "6"].map(s).to_vec()]
    );
}

#[test]
fn a_failed_publication_is_a_warning_and_leaves_the_report_and_the_verdict() {
    let dir = tempdir();
    let school = school_copy(dir.path());
    let spec = school.join("verify.toml");
    let port = free_port();
    let url = format!("postgresql://someone:pw-never-printed@127.0.0.1:{port}/nowhere");
    let (code, out, err) = run(&["run", spec.to_str().unwrap(), "-q", "--publish", &url]);
    assert_eq!(code, 1, "the verdict stands: {out}{err}");
    assert!(
        err.contains(&format!(
            "warning: the report was not published to postgresql://someone@127.0.0.1:{port}/nowhere: "
        )),
        "{err}"
    );
    assert!(err.contains("cannot reach the server"), "{err}");
    assert!(!format!("{out}{err}").contains("pw-never-printed"));
    let folder = only_report_dir(&school.join("reports"));
    assert!(folder.join("report.json").is_file());
}
