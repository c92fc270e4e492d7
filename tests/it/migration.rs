//! Issue 23's migration, end to end: a legacy SQLite written in PascalCase, with a BLOB,
//! text dates (one of them unparseable), a trailing space, a line break and a no-break
//! space, against its snake_case target, as Parquet files and as PostgreSQL tables. One
//! spec with `names = "snake_case"` and no alias finds exactly what was injected.

use std::path::Path;

use crate::common::*;

/// The legacy database: four customers, as the old system wrote them.
fn legacy(dir: &Path) {
    let c = rusqlite::Connection::open(dir.join("legacy.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE \"Customer\" (\"CustomerId\" INTEGER PRIMARY KEY, \"FirstName\" TEXT, \"City\" TEXT, \"Photo\" BLOB, \"JoinedAt\" TEXT, \"Note\" TEXT);
         INSERT INTO \"Customer\" VALUES
           (1, 'Ada', 'Edinburgh ', x'0001', '2009-01-01 00:00:00', 'a' || char(10) || 'b'),
           (2, 'Bo', 'Oslo', x'0002', '2009-01-02 10:30:00', 'x' || char(160) || 'y'),
           (3, 'Cy', 'Paris', x'0003', '2009-13-45 00:00:00', 'plain'),
           (4, 'Di', 'Rome', x'0005', '2009-01-04 08:00:00', 'same');",
    )
    .unwrap();
}

/// The target's rows: the migration trimmed the city, replaced the line break and the
/// no-break space, re-encoded one photo and repaired the bad date.
const TARGET_ROWS: &str = "(1, 'Ada', 'Edinburgh', '\\x0001', '2009-01-01 00:00:00', 'a b'),
    (2, 'Bo', 'Oslo', '\\x0002', '2009-01-02 10:30:00', 'x y'),
    (3, 'Cy', 'Paris', '\\x0004', '2009-12-31 00:00:00', 'plain'),
    (4, 'Di', 'Rome', '\\x0005', '2009-01-04 08:00:00', 'same')";

fn spec(dir: &Path, target_url: &str, extract: &str) -> std::path::PathBuf {
    let spec = dir.join("verify.toml");
    std::fs::write(
        &spec,
        format!(
            "[sources.legacy]\nurl = \"sqlite://legacy.db\"\nnames = \"snake_case\"\n\
             [sources.target]\nurl = \"{target_url}\"\n{extract}\n\
             [[entity]]\nname = \"customer\"\nkey = \"customer_id\"\ntable = \"customer\"\n\
             [entity.normalize]\njoined_at = {{ legacy = {{ parse = \"%Y-%m-%d %H:%M:%S\" }} }}\n"
        ),
    )
    .unwrap();
    spec
}

/// Run the spec and check that it finds exactly what was injected.
fn finds_the_injected_differences(dir: &Path, spec: &Path) {
    // No human-readable report: the details go to the console.
    let (code, out, err) = run(&["run", spec.to_str().unwrap(), "--format", "json,diffs"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "customer  FAIL  legacy 4  target 4  missing 0  extra 0  changed 3  invalid 1"
        ),
        "{out}"
    );
    let report = only_report(&dir.join("reports"));
    let e = report_entity(&report, "customer");
    assert_eq!(
        e["compared"],
        serde_json::json!(["first_name", "city", "photo", "joined_at", "note"])
    );
    // The unparseable date reads as NULL against the repaired one: changed, and invalid.
    assert_eq!(
        e["diff"]["changed_by_column"],
        serde_json::json!({"city": 1, "joined_at": 1, "note": 2, "photo": 1})
    );
    assert_eq!(
        e["invalid"]["rows"],
        serde_json::json!([{"side": "legacy", "column": "joined_at", "key": [["customer_id", "3"]], "value": "2009-13-45 00:00:00"}])
    );
    // Differences a person can see, and the photo as hex with its size.
    for line in [
        "    changed customer_id=1: city: \"Edinburgh \" -> Edinburgh, note: \"a\\nb\" -> a b",
        "    changed customer_id=2: note: \"x\\u{a0}y\" -> x y",
        "    changed customer_id=3: photo: 0x0003 (2 bytes) -> 0x0004 (2 bytes), joined_at: NULL -> 2009-12-31T00:00:00",
        "    invalid legacy joined_at customer_id=3: 2009-13-45 00:00:00",
    ] {
        assert!(out.lines().any(|l| l == line), "{out}\nwanted: {line}");
    }
    assert!(
        out.contains("    note: every difference in city is only white space at either end: add the `trim` rule to it"),
        "{out}"
    );
}

#[test]
fn a_pascal_case_sqlite_against_its_snake_case_parquet_target() {
    let dir = tempdir();
    let d = dir.path();
    legacy(d);
    write_parquet_sql(
        &d.join("target/customer.parquet"),
        &format!(
            "SELECT column1 AS customer_id, column2 AS first_name, column3 AS city, \
             decode(substr(column4, 3), 'hex') AS photo, arrow_cast(column5, 'Timestamp(Microsecond, None)') AS joined_at, \
             column6 AS note FROM (VALUES {}) AS t",
            TARGET_ROWS
        ),
    );
    let spec = spec(d, "target", "");
    finds_the_injected_differences(d, &spec);
}

#[test]
fn a_pascal_case_sqlite_against_its_snake_case_postgres_target() {
    let Some(mut pg) = pg_schema("the migration against PostgreSQL", "it_migration") else {
        return;
    };
    pg.batch_execute(&format!(
        "CREATE TABLE it_migration.customer (customer_id integer PRIMARY KEY, first_name text, city text, photo bytea, joined_at timestamp, note text);
         INSERT INTO it_migration.customer VALUES {TARGET_ROWS};"
    ))
    .unwrap();
    let dir = tempdir();
    let d = dir.path();
    legacy(d);
    let spec = spec(
        d,
        "postgresql://postgres@127.0.0.1:5432/test",
        "\n[[extract]]\nside = \"target\"\ntable = \"it_migration.customer\"\nname = \"customer\"\n",
    );
    finds_the_injected_differences(d, &spec);
}
