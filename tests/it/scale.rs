//! The diff at scale: the narrow pass and a memory budget small enough to force chunks
//! and rounds must find exactly what an unconstrained run finds.

use std::path::Path;

use crate::common::*;

/// Write 200,000 legacy rows and a target with every tenth row (`id % 10 = 3`) deleted,
/// every even row's `a` changed (100,000 rows), and 100 rows inserted.
fn write_inputs(dir: &Path) {
    let row = |extra: &str| {
        format!(
            "SELECT value AS id, value * 2 {extra} AS a, concat('text ', value) AS s, \
             arrow_cast(value % 1000, 'Date32') AS d FROM generate_series(1, 200000)"
        )
    };
    let queries = [
        ("a.parquet", row("")),
        (
            "b.parquet",
            format!(
                "SELECT * FROM ({}) WHERE id % 10 <> 3 UNION ALL \
                 SELECT value AS id, value AS a, 'new' AS s, arrow_cast(1, 'Date32') AS d \
                 FROM generate_series(200001, 200100)",
                row("+ CASE WHEN value % 2 = 0 THEN 1 ELSE 0 END")
            ),
        ),
    ];
    for (file, q) in queries {
        write_parquet_sql(&dir.join(file), &q);
    }
}

/// The `diff` object of the one report under `root`.
fn diff_of(root: &Path) -> serde_json::Value {
    let dir = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .expect("a report folder");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    report["entities"][0]["diff"].clone()
}

#[test]
fn a_small_memory_budget_means_more_chunks_and_rounds_and_the_same_findings() {
    let dir = tempdir();
    let d = dir.path();
    write_inputs(d);
    let (a, b) = (d.join("a.parquet"), d.join("b.parquet"));
    let diff = |report: &str, limit: Option<&str>| {
        let mut args = vec![
            "diff",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--key",
            "id",
            "--checks",
            "count,hash,diff",
            "--report",
            report,
            "--format",
            "json,diffs",
            "-q",
        ];
        if let Some(l) = limit {
            args.extend(["--memory-limit", l]);
        }
        let out = cmd(&args)
            .env("SNAPDIFF_DEBUG_SQL", "1")
            .output()
            .expect("snapdiff runs");
        output(out)
    };
    let (free, small) = (d.join("free"), d.join("small"));
    // "candidates: N rows in K chunk(s), D diffed in up to R round(s), in S s"
    let figures = |err: &str| -> (u64, u64, u64, u64) {
        let line = err
            .lines()
            .find(|l| l.starts_with("-- candidates: "))
            .unwrap_or_else(|| panic!("no candidates line:\n{err}"));
        let n: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
        (n[0], n[1], n[2], n[3])
    };
    let (code, out, err) = diff(free.to_str().unwrap(), None);
    assert_eq!(code, 1, "{out}{err}");
    let (rows, chunks, diffed, rounds) = figures(&err);
    assert_eq!((chunks, rounds), (1, 1), "{err}");
    // Every differing key's bucket, both sides: at least the 120,100 differing keys' rows.
    assert!(rows >= 100_000 * 2 + 20_000 + 100, "{err}");
    // The rows equal on both sides are dropped before the joins: exactly the differing
    // keys' rows are diffed (changed rows on both sides, missing and extra on one).
    assert_eq!(diffed, 100_000 * 2 + 20_000 + 100, "{err}");
    let (code, out, err) = diff(small.to_str().unwrap(), Some("64M"));
    assert_eq!(code, 1, "{out}{err}");
    // The same candidates, of about 108 bytes each, do not fit a quarter of 64 MiB: they
    // are fetched in chunks, and each chunk is diffed in rounds.
    let (small_rows, chunks, small_diffed, rounds) = figures(&err);
    assert_eq!((small_rows, small_diffed), (rows, diffed), "{err}");
    assert!(chunks >= 2 && rounds >= 2, "{err}");

    let (f, s) = (diff_of(&free), diff_of(&small));
    assert_eq!(f["missing"], 20_000);
    assert_eq!(f["extra"], 100);
    assert_eq!(f["changed"], 100_000);
    assert_eq!(f["changed_by_column"], serde_json::json!({"a": 100_000}));
    assert_eq!(f["duplicate_keys_legacy"], 0);
    assert_eq!(
        f, s,
        "the same findings, samples included, whatever the budget"
    );

    // Every missing key is in the file, once.
    let ctx = datafusion::prelude::SessionContext::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for root in [&free, &small] {
        let dir = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap();
        let file = dir.join("diffs/diff/missing.parquet");
        let n = rt.block_on(async {
            let df = ctx
                .read_parquet(file.to_str().unwrap(), Default::default())
                .await
                .unwrap();
            ctx.register_table("m", df.into_view()).unwrap();
            let b = ctx
                .sql("SELECT count(DISTINCT id), min(id), max(id), sum(CASE WHEN id % 10 = 3 THEN 0 ELSE 1 END) FROM m")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            ctx.deregister_table("m").unwrap();
            (0..4).map(|c| value(b[0].column(c).as_ref(), 0)).collect::<Vec<_>>()
        });
        assert_eq!(
            n,
            vec![i(20_000), i(3), i(199_993), i(0)],
            "{}",
            file.display()
        );
    }
}

#[test]
fn identical_inputs_are_proven_equal_by_the_digest_alone() {
    let dir = tempdir();
    let d = dir.path();
    write_inputs(d);
    let a = d.join("a.parquet");
    // `snapdiff diff a a --key id` with `flags`.
    let diff_self = |flags: &[&str]| {
        let mut args = vec![
            "diff",
            a.to_str().unwrap(),
            a.to_str().unwrap(),
            "--key",
            "id",
        ];
        args.extend_from_slice(flags);
        run(&args)
    };
    let (code, out, err) = diff_self(&["--checks", "hash"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("diff  PASS  legacy 200000  target 200000"),
        "{out}"
    );
    // A check that does not exist, and a budget that is not a size.
    let (code, _, err) = diff_self(&["--checks", "hsah"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "--checks hsah: not a check; choose from schema, count, hash, diff, aggregate"
        ),
        "{err}"
    );
    let (code, _, err) = diff_self(&["--memory-limit", "8X"]);
    assert_eq!(code, 2);
    assert!(err.contains("memory limit `8X` is not a size"), "{err}");
}
