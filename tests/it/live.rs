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

/// A side of the recheck scenario: runs SQL on its database.
type Exec<'a> = Box<dyn FnMut(&str) + 'a>;

/// The recheck scenario over `legacy` and `target` (each runs SQL on its side) with the
/// spec's `sources` and `extract` text: 12 orders on both sides, order 3 differing on
/// purpose (never mirrored); then on the legacy side only, in flight: 11 and 12 changed,
/// 14 inserted, 5 deleted. `run` finds all five; once the legacy's changes are mirrored
/// to the target, `recheck` finds 4 converged and order 3 persistent; once 3 is fixed,
/// nothing persists.
fn recheck_scenario<'a>(dir: &Path, mut legacy: Exec<'a>, mut target: Exec<'a>, sources: &str) {
    for (side, exec) in [("legacy", &mut legacy), ("target", &mut target)] {
        exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, note VARCHAR(40), amount INTEGER)");
        for id in 1..=12 {
            let amount = if id == 3 && side == "target" {
                31
            } else {
                id * 10
            };
            exec(&format!(
                "INSERT INTO orders VALUES ({id}, 'order ''{id}''', {amount})"
            ));
        }
    }
    let in_flight = [
        "UPDATE orders SET amount = 111 WHERE id = 11",
        "UPDATE orders SET note = 'changed' WHERE id = 12",
        "INSERT INTO orders VALUES (14, 'new', 140)",
        "DELETE FROM orders WHERE id = 5",
    ];
    for sql in in_flight {
        legacy(sql);
    }
    let p = dir.join("verify.toml");
    std::fs::write(
        &p,
        format!("{sources}[[entity]]\nname = \"orders\"\nkey = \"id\"\ntable = \"orders\"\n"),
    )
    .unwrap();
    let spec = p.to_str().unwrap();
    let (code, out, err) = run(&["run", spec, "-q"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l == "orders  FAIL  legacy 12  target 12  missing 1  extra 1  changed 3"),
        "{out}"
    );
    let first = only_report_dir(&dir.join("reports"));
    let first_id = first.file_name().unwrap().to_string_lossy().to_string();
    // The target catches up.
    for sql in in_flight {
        target(sql);
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, out, err) = run(&["recheck", spec, "--rounds", "2", "--wait", "0s"]);
    assert_eq!(code, 1, "order 3 persists: {out}{err}");
    assert!(
        out.lines().any(|l| l
            == "orders  FAIL  legacy 12  target 12  missing 0  extra 0  changed 1  converged 4  persistent 1  moving 0"),
        "{out}"
    );
    assert!(
        out.contains(&format!("since report {first_id}: 0 new, 4 fixed")),
        "{out}"
    );
    let reports = reports_in(&dir.join("reports"));
    assert_eq!(reports.len(), 2);
    let r: serde_json::Value =
        serde_json::from_str(&read(&reports[1].join("report.json"))).unwrap();
    assert_eq!(r["recheck"]["rechecks"], first_id.as_str());
    assert_eq!(r["recheck"]["rounds"], 2);
    let e = report_entity(&r, "orders");
    assert_eq!(
        e["recheck"],
        serde_json::json!({"converged": 4, "persistent": 1, "moving": 0})
    );
    assert_eq!(
        e["diff"]["changed_rows"][0]["key"],
        serde_json::json!([["id", "3"]])
    );
    assert_eq!(
        e["diff_files"],
        serde_json::json!(["orders/changed.parquet"])
    );
    // Each round's point reads are runs with manifests, in the report's folder.
    let runs = r["recheck"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "one round, both sides: {runs:?}");
    for run in runs {
        assert!(reports[1]
            .join(run.as_str().unwrap())
            .join("manifest.json")
            .is_file());
    }
    // The first report is untouched.
    let again: serde_json::Value = serde_json::from_str(&read(&first.join("report.json"))).unwrap();
    assert_eq!(report_entity(&again, "orders")["diff"]["changed"], 3);

    // Order 3 fixed: nothing persists.
    target("UPDATE orders SET amount = 30 WHERE id = 3");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, out, err) = run(&["recheck", spec, "--report", &first_id, "--wait", "0s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines().any(|l| l
            == "orders  PASS  legacy 12  target 12  missing 0  extra 0  changed 0  converged 5  persistent 0  moving 0"),
        "{out}"
    );
}

#[test]
fn recheck_tells_in_flight_rows_from_persistent_differences_sqlite() {
    let dir = tempdir();
    let d = dir.path().to_path_buf();
    let exec = |file: &str| -> Exec {
        let c = rusqlite::Connection::open(d.join(file)).unwrap();
        Box::new(move |sql: &str| {
            c.execute_batch(sql).unwrap();
        })
    };
    recheck_scenario(
        dir.path(),
        exec("legacy.db"),
        exec("target.db"),
        SQLITE_SOURCES,
    );
}

#[test]
fn recheck_tells_in_flight_rows_from_persistent_differences_postgres_to_mariadb() {
    let Some(mut pg) = pg_schema("recheck postgres to mariadb", "it_recheck") else {
        return;
    };
    let Some((mut my, my_url)) = mysql_db("recheck postgres to mariadb", "it_recheck") else {
        return;
    };
    let dir = tempdir();
    let sources = format!(
        "[sources.legacy]\nurl = \"{PG_URL}\"\n[sources.target]\nurl = \"{my_url}\"\n\
         [[extract]]\nside = \"legacy\"\ntable = \"it_recheck.orders\"\nname = \"orders\"\n\
         [[extract]]\nside = \"target\"\ntable = \"orders\"\n"
    );
    recheck_scenario(
        dir.path(),
        Box::new(move |sql: &str| {
            pg.batch_execute(&format!("SET search_path = it_recheck; {sql}"))
                .unwrap()
        }),
        Box::new(move |sql: &str| {
            use mysql::prelude::Queryable;
            my.query_drop(sql).unwrap()
        }),
        &sources,
    );
}
