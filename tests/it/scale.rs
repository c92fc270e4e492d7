//! The diff at scale: the streaming pass, the matching pass, and the narrow pass with a
//! memory budget small enough to force chunks and rounds, must find exactly the same.

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

/// `snapdiff diff legacy target --key id` with every check, its report and its diff files
/// in `report`, the SQL and the passes' figures on stderr; `limit` for `--memory-limit`,
/// and `first` the pass to start with (`SNAPDIFF_FIRST_PASS`, else the streaming pass).
fn diff_by_id(
    legacy: &Path,
    target: &Path,
    report: &Path,
    limit: Option<&str>,
    first: Option<&str>,
) -> (i32, String, String) {
    let mut args = vec![
        "diff",
        legacy.to_str().unwrap(),
        target.to_str().unwrap(),
        "--key",
        "id",
        "--checks",
        "count,hash,diff",
        "--report",
        report.to_str().unwrap(),
        "--format",
        "json,diffs",
        "-q",
    ];
    if let Some(l) = limit {
        args.extend(["--memory-limit", l]);
    }
    let mut c = cmd(&args);
    c.env("SNAPDIFF_DEBUG_SQL", "1");
    if let Some(first) = first {
        c.env("SNAPDIFF_FIRST_PASS", first);
    }
    output(c.output().expect("snapdiff runs"))
}

#[test]
fn a_small_memory_budget_means_more_chunks_and_rounds_and_the_same_findings() {
    let dir = tempdir();
    let d = dir.path();
    write_inputs(d);
    let (a, b) = (d.join("a.parquet"), d.join("b.parquet"));
    let diff = |report: &str, limit: Option<&str>, first: Option<&str>| {
        diff_by_id(&a, &b, Path::new(report), limit, first)
    };
    let [free, table, small, narrow] = ["free", "table", "small", "narrow"].map(|r| d.join(r));
    // "candidates: N rows in K chunk(s), D diffed in up to R round(s), in S s"
    let figures = |err: &str| -> (u64, u64, u64, u64) {
        let line = err
            .lines()
            .find(|l| l.starts_with("-- candidates: "))
            .unwrap_or_else(|| panic!("no candidates line:\n{err}"));
        let n: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
        (n[0], n[1], n[2], n[3])
    };
    let pass_line = |err: &str, prefix: &str| -> String {
        err.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line:\n{err}"))
            .to_string()
    };
    let (code, out, err) = diff(free.to_str().unwrap(), None, None);
    assert_eq!(code, 1, "{out}{err}");
    // The streaming pass reads both sides once and holds exactly the differing keys'
    // rows: the legacy side's 100,000 changed and 20,000 missing, the target's 100,000
    // changed and 100 extra. One chunk, one round.
    let line = pass_line(&err, "-- streaming pass: ");
    assert!(
        line.contains(" 120000 legacy and 100100 target rows unpaired, held, 1 partition(s) ordered by key statistics;"),
        "{line}"
    );
    assert!(!err.contains("-- matching pass"), "{err}");
    assert!(!err.contains("-- narrow pass"), "{err}");
    assert_eq!(figures(&err), (220_100, 1, 220_100, 1), "{err}");

    let (code, out, err) = diff(table.to_str().unwrap(), None, Some("table"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(!err.contains("-- streaming pass"), "{err}");
    // The matching pass holds the target's unpaired rows (100,000 changed, 100 extra)
    // and reads again the legacy side's (100,000 changed, 20,000 missing): exactly the
    // differing keys' rows, nothing equal to drop, one chunk, one round.
    let line = pass_line(&err, "-- matching pass: ");
    assert!(
        line.contains(" 120000 legacy and 100100 target rows unpaired, the target's held"),
        "{line}"
    );
    assert!(!err.contains("-- narrow pass"), "{err}");
    let (rows, chunks, diffed, rounds) = figures(&err);
    assert_eq!(
        (rows, chunks, diffed, rounds),
        (220_100, 1, 220_100, 1),
        "{err}"
    );

    // With 64 MiB, the 220,100 rows that differ do not fit the streaming pass's tables
    // (an eighth): it gives up, and the matching pass runs. Its 220,100 unpaired rows
    // (about 108 bytes each) do not fit an eighth either: it keeps none, and the
    // differing buckets are fetched from both sides, as after the narrow pass. Those
    // candidates do not fit a quarter of 64 MiB: they are fetched in chunks, and each
    // chunk is diffed in rounds.
    let (code, out, err) = diff(small.to_str().unwrap(), Some("64M"), None);
    assert_eq!(code, 1, "{out}{err}");
    let line = pass_line(&err, "-- streaming pass gave up: ");
    assert!(
        line.contains("the waiting rows' tables outgrew their 8388608 bytes"),
        "{line}"
    );
    let line = pass_line(&err, "-- matching pass: ");
    assert!(line.contains("too many to hold"), "{line}");
    let (small_rows, chunks, small_diffed, rounds) = figures(&err);
    assert!(small_rows >= 220_100, "{err}");
    assert_eq!(small_diffed, 220_100, "{err}");
    assert!(chunks >= 2 && rounds >= 2, "{err}");

    // The narrow pass, in the same budget: the same candidates, chunks and rounds.
    let (code, out, err) = diff(narrow.to_str().unwrap(), Some("64M"), Some("narrow"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(!err.contains("-- matching pass"), "{err}");
    assert!(!err.contains("-- streaming pass"), "{err}");
    pass_line(&err, "-- narrow pass: ");
    let (narrow_rows, narrow_chunks, narrow_diffed, narrow_rounds) = figures(&err);
    assert_eq!(
        (narrow_rows, narrow_chunks, narrow_diffed, narrow_rounds),
        (small_rows, chunks, small_diffed, rounds),
        "{err}"
    );

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
    assert_eq!(
        f,
        diff_of(&table),
        "the same findings from the matching pass"
    );
    assert_eq!(
        f,
        diff_of(&narrow),
        "the same findings from the narrow pass"
    );

    // Every missing key is in the file, once.
    let ctx = datafusion::prelude::SessionContext::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for root in [&free, &table, &small, &narrow] {
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

#[test]
fn sides_in_any_key_order_give_the_same_findings_from_either_pass() {
    let dir = tempdir();
    let d = dir.path();
    write_inputs(d);
    // Targets: the legacy rows with `a` changed on every thousandth row (200 rows),
    // written in key order and shuffled.
    let changed = "SELECT id, a + CASE WHEN id % 1000 = 7 THEN 1 ELSE 0 END AS a, s, d \
                   FROM parquet_table";
    for (file, order) in [
        ("sorted.parquet", "id"),
        ("shuffled.parquet", "(id * 7919) % 200003"),
    ] {
        let ctx = datafusion::prelude::SessionContext::new();
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            ctx.register_parquet(
                "parquet_table",
                d.join("a.parquet").to_str().unwrap(),
                Default::default(),
            )
            .await
            .unwrap();
            ctx.sql(&format!(
                "COPY ({changed} ORDER BY {order}) TO '{}' STORED AS PARQUET",
                d.join(file).display()
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        });
    }
    let a = d.join("a.parquet");
    let diff = |target: &str, report: &str, first: &str| {
        diff_by_id(&a, &d.join(target), &d.join(report), None, Some(first))
    };
    let mut findings = Vec::new();
    for (target, first) in [
        ("sorted.parquet", "stream"),
        ("shuffled.parquet", "stream"),
        ("sorted.parquet", "table"),
        ("shuffled.parquet", "table"),
        ("shuffled.parquet", "narrow"),
    ] {
        let report = format!("{target}-{first}");
        let (code, out, err) = diff(target, &report, first);
        assert_eq!(code, 1, "{out}{err}");
        // Whatever order the target arrives in, exactly the 200 changed rows of each
        // side are unpaired.
        let (pass, expected) = match first {
            "stream" => (
                "-- streaming pass: ",
                " 200 legacy and 200 target rows unpaired, held,",
            ),
            "table" => (
                "-- matching pass: ",
                " 200 legacy and 200 target rows unpaired, the target's held",
            ),
            _ => ("-- narrow pass: ", ""),
        };
        let line = err.lines().find(|l| l.starts_with(pass));
        assert!(line.is_some_and(|l| l.contains(expected)), "{err}");
        findings.push(diff_of(&d.join(report)));
    }
    let s = &findings[0];
    assert_eq!(s["changed"], 200);
    assert_eq!(s["missing"], 0);
    assert_eq!(s["extra"], 0);
    assert_eq!(s["changed_by_column"], serde_json::json!({"a": 200}));
    assert_eq!(
        &findings[1], s,
        "the same findings, samples included, in either order"
    );
    for f in &findings[2..] {
        assert_eq!(
            f, s,
            "the same findings from the matching and narrow passes"
        );
    }
}

#[test]
fn a_key_on_thousands_of_rows_falls_back_from_pass_to_pass_with_the_same_findings() {
    let dir = tempdir();
    let d = dir.path();
    // Key 1 on 5,000 rows of each side, their `a` all different; keys 2 to 1001 equal.
    for (file, sign) in [("a.parquet", 1), ("b.parquet", -1)] {
        write_parquet_sql(
            &d.join(file),
            &format!(
                "SELECT CASE WHEN value <= 5000 THEN 1 ELSE value - 4999 END AS id, \
                 value * CASE WHEN value <= 5000 THEN {sign} ELSE 1 END AS a \
                 FROM generate_series(1, 6000)"
            ),
        );
    }
    let diff = |report: &str, first: &str| {
        let (a, b) = (d.join("a.parquet"), d.join("b.parquet"));
        diff_by_id(&a, &b, &d.join(report), None, Some(first))
    };
    let (code, out, err) = diff("stream", "stream");
    assert_eq!(code, 1, "{out}{err}");
    // The streaming pass and the matching pass give up, and the narrow pass runs.
    assert!(
        err.contains("-- streaming pass gave up: a key hash is on more than 4096 waiting rows"),
        "{err}"
    );
    assert!(err.contains("-- matching pass gave up: "), "{err}");
    assert!(err.contains("-- narrow pass: 1 of "), "{err}");
    let (code, out, err) = diff("narrow", "narrow");
    assert_eq!(code, 1, "{out}{err}");
    assert!(!err.contains("-- streaming pass"), "{err}");
    let f = diff_of(&d.join("stream"));
    assert_eq!(f, diff_of(&d.join("narrow")));
    assert_eq!(f["duplicate_keys_legacy"], 1, "{f}");
    assert_eq!(f["duplicate_keys_target"], 1, "{f}");
}
