//! Baseline datasets: `sample` picks the same keys on both sides (by a hash of the
//! normalised key), and `keys_file` restricts an entity to a curated list of keys.

use crate::common::*;

/// Legacy and target with 1,000 rows; every tenth row (id % 10 == 0) changed in the target.
fn setup(dir: &std::path::Path, entity_extra: &str) -> std::path::PathBuf {
    let c = rusqlite::Connection::open(dir.join("legacy.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 1000) INSERT INTO t SELECT k, 'v' || k FROM n;",
    )
    .unwrap();
    let mut csv = String::from("id,v\n");
    for k in 1..=1000 {
        if k % 10 == 0 {
            csv.push_str(&format!("{k},changed{k}\n"));
        } else {
            csv.push_str(&format!("{k},v{k}\n"));
        }
    }
    std::fs::create_dir_all(dir.join("target")).unwrap();
    std::fs::write(dir.join("target/t.csv"), csv).unwrap();
    std::fs::write(dir.join("keys.csv"), "id\n10\n11\n20\n999\n").unwrap();
    let spec = dir.join("verify.toml");
    std::fs::write(
        &spec,
        format!(
            "[sources.legacy]\nurl = \"sqlite://legacy.db\"\n[sources.target]\nurl = \"target\"\n\
             [[entity]]\nname = \"t\"\nkey = \"id\"\ntable = \"t\"\nchecks = [\"count\", \"hash\", \"diff\"]\n{entity_extra}\n"
        ),
    )
    .unwrap();
    spec
}

fn outcome(spec: &std::path::Path) -> snapdiff::report::EntityReport {
    let (code, _, stderr) = run(&["extract", spec.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{stderr}");
    let spec = snapdiff::spec::Spec::load(spec).unwrap();
    let mut opts = snapdiff::check::VerifyOptions::new(spec.snapshot_root());
    opts.sample_rows = 1000;
    let o = snapdiff::check::verify(&spec, &opts, &snapdiff::progress::NoProgress).unwrap();
    o.entities.into_iter().next().unwrap()
}

#[test]
fn a_sample_picks_the_same_keys_on_both_sides() {
    let dir = tempdir();
    let e = outcome(&setup(dir.path(), "sample = 0.2"));
    let d = e.diff.unwrap();
    // Both sides kept exactly the same keys: nothing is missing or extra.
    assert_eq!(e.legacy_rows, e.target_rows);
    assert!(
        (120..=280).contains(&e.legacy_rows),
        "{} rows sampled",
        e.legacy_rows
    );
    assert_eq!((d.missing, d.extra), (0, 0));
    // Every changed row found is one of the changed ones, and about a fifth of them.
    assert!(d
        .changed_rows
        .iter()
        .all(|c| c.key[0].1.as_deref().unwrap().parse::<u64>().unwrap() % 10 == 0));
    assert_eq!(d.changed as usize, d.changed_rows.len());
    assert!(
        (8..=35).contains(&d.changed),
        "{} changed rows sampled",
        d.changed
    );
    // The full run finds all hundred.
    let dir = tempdir();
    let full = outcome(&setup(dir.path(), ""));
    assert_eq!((full.legacy_rows, full.diff.unwrap().changed), (1000, 100));
}

#[test]
fn a_keys_file_restricts_the_entity_to_its_keys() {
    let dir = tempdir();
    let e = outcome(&setup(dir.path(), "keys_file = \"keys.csv\""));
    let d = e.diff.unwrap();
    assert_eq!(
        (e.legacy_rows, e.target_rows, d.missing, d.extra),
        (4, 4, 0, 0)
    );
    let changed: Vec<String> = d
        .changed_rows
        .iter()
        .map(|c| c.key[0].1.clone().unwrap())
        .collect();
    assert_eq!(changed, vec!["10", "20"]);
    // Any file name will do, not only *.csv.
    std::fs::copy(dir.path().join("keys.csv"), dir.path().join("keys.txt")).unwrap();
    let spec = dir.path().join("verify.toml");
    std::fs::write(&spec, read(&spec).replace("keys.csv", "keys.txt")).unwrap();
    let e = outcome(&spec);
    assert_eq!((e.legacy_rows, e.diff.unwrap().changed), (4, 2));
}
