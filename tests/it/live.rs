//! Live systems: rows written while the sides are extracted (`settle`, and the
//! snapshots' start times in SQL).

use std::path::Path;

use crate::common::*;

/// Legacy and target SQLite files of `orders`: ids 1..=10 written long ago and alike
/// but for id 3 (a real difference); ids 11 and 12 just changed on the legacy side (the
/// target still has the old version), 13 just inserted on the target, 14 just inserted
/// on the legacy side.
fn live_orders(dir: &Path) {
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let old = "2020-01-01 00:00:00";
    for (file, rows) in [
        (
            "legacy.db",
            vec![
                (3, 31, old),
                (11, 999, now.as_str()),
                (12, 999, now.as_str()),
                (14, 140, now.as_str()),
            ],
        ),
        (
            "target.db",
            vec![
                (3, 30, old),
                (11, 110, old),
                (12, 120, old),
                (13, 130, now.as_str()),
            ],
        ),
    ] {
        let c = rusqlite::Connection::open(dir.join(file)).unwrap();
        c.execute_batch(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER, updated_at TEXT);",
        )
        .unwrap();
        for id in (1..=10).filter(|i| *i != 3) {
            c.execute(
                "INSERT INTO orders VALUES (?1, ?2, ?3)",
                rusqlite::params![id, id * 10, old],
            )
            .unwrap();
        }
        for (id, amount, at) in rows {
            c.execute(
                "INSERT INTO orders VALUES (?1, ?2, ?3)",
                rusqlite::params![id, amount, at],
            )
            .unwrap();
        }
    }
}

fn spec(dir: &Path, entity: &str) -> String {
    let p = dir.join("verify.toml");
    std::fs::write(
        &p,
        format!("{SQLITE_SOURCES}[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\n{entity}"),
    )
    .unwrap();
    p.to_string_lossy().to_string()
}

#[test]
fn settle_leaves_out_the_keys_too_young_to_judge_on_both_sides_and_counts_them() {
    let dir = tempdir();
    live_orders(dir.path());
    let p = spec(
        dir.path(),
        "settle = { column = \"updated_at\", within = \"10m\" }\n",
    );
    let (code, out, err) = run(&["run", &p]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines().any(|l| l
            == "orders  FAIL  legacy 10  target 10  missing 0  extra 0  changed 1  unsettled 6"),
        "{out}"
    );
    let report = only_report(&dir.path().join("reports"));
    let e = report_entity(&report, "orders");
    assert_eq!(
        e["diff"]["changed_rows"][0]["key"],
        serde_json::json!([["id", "3"]])
    );
    let u = &e["unsettled"];
    assert_eq!(
        (
            u["column"].as_str(),
            u["legacy"].as_u64(),
            u["target"].as_u64()
        ),
        (Some("updated_at"), Some(3), Some(3))
    );
    // The cutoff is the earlier snapshot's start less 10 minutes.
    let started = |side: &str| {
        chrono::DateTime::parse_from_rfc3339(report[side]["started_at"].as_str().unwrap()).unwrap()
    };
    let after = chrono::DateTime::parse_from_rfc3339(u["after"].as_str().unwrap()).unwrap();
    assert_eq!(
        after,
        started("legacy").min(started("target")) - chrono::TimeDelta::minutes(10)
    );
    let md = read(&only_report_dir(&dir.path().join("reports")).join("report.md"));
    assert!(
        md.contains("- Unsettled: legacy 3, target 3 rows left out, too young to judge: their key has a row whose updated_at is after "),
        "{md}"
    );

    // Without settle, every in-flight row is a finding.
    let p = spec(dir.path(), "");
    let (code, out, err) = run(&["verify", &p, "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l == "orders  FAIL  legacy 13  target 13  missing 1  extra 1  changed 3"),
        "{out}"
    );
}

#[test]
fn filters_can_use_each_sides_snapshot_start() {
    let dir = tempdir();
    live_orders(dir.path());
    // The same window by hand, on each side's own start: a filter is per row, so the
    // target's old versions of 11 and 12 stay and show as extra.
    let p = spec(
        dir.path(),
        "legacy_filter = \"CAST(updated_at AS TIMESTAMP) < CAST(snapshot_started_at('legacy') AS TIMESTAMP) - INTERVAL '10 minutes'\"\n\
         target_filter = \"CAST(updated_at AS TIMESTAMP) < CAST(snapshot_started_at('target') AS TIMESTAMP) - INTERVAL '10 minutes'\"\n",
    );
    let (code, out, err) = run(&["run", &p, "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l == "orders  FAIL  legacy 10  target 12  missing 0  extra 2  changed 1"),
        "{out}"
    );
}

#[test]
fn a_settle_column_that_is_not_a_time_is_an_error_naming_it() {
    let dir = tempdir();
    live_orders(dir.path());
    let p = spec(
        dir.path(),
        "settle = { column = \"amount\", within = \"10m\" }\n",
    );
    let (code, out, err) = run(&["run", &p, "-q"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("orders  ERROR  column amount: entity orders: settle column amount is integers on the legacy side"),
        "{out}"
    );
    assert!(out.contains("settle needs dates or timestamps"), "{out}");
    // A window that does not read is a spec error with its line.
    let p = spec(
        dir.path(),
        "settle = { column = \"updated_at\", within = \"ten minutes\" }\n",
    );
    let (code, _, err) = run(&["run", &p, "-q"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("settle: `ten minutes` is not a duration"),
        "{err}"
    );
}
