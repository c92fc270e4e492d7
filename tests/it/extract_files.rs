//! Files (Parquet, CSV, NDJSON) and blob trees (folders and tar archives).

use std::path::Path;

use arrow::datatypes::DataType;

use crate::common::*;

fn write(dir: &Path, rel: &str, text: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn a_folder_is_a_table_per_file_and_values_survive() {
    let dir = tempdir();
    let src = dir.path().join("src");
    write(
        &src,
        "people.csv",
        b"id,name,amount,born\n1,alice,1.50,2024-01-01\n2,,2.25,\n3,\"bob, jr\",,1999-12-31\n",
    );
    write(
        &src,
        "events.ndjson",
        b"{\"id\":1,\"tags\":[\"a\",\"b\"],\"n\":null}\n{\"id\":2,\"tags\":[],\"n\":1.5}\n",
    );
    write(&src, "notes.txt", b"not data");
    let out = dir.path().join("snaps");
    let (code, _, stderr) = extract(src.to_str().unwrap(), out.to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let run_dir = only_run(&out, "legacy");
    let people = read_table(&run_dir, "people");
    assert_eq!(column_type(&people, "amount"), DataType::Float64);
    assert_eq!(column_type(&people, "born"), DataType::Date32);
    assert_eq!(
        rows_by(&people, "id"),
        vec![
            vec![i(1), s("alice"), f(1.5), V::Date(days(2024, 1, 1))],
            vec![i(2), V::Null, f(2.25), V::Null],
            vec![i(3), s("bob, jr"), V::Null, V::Date(days(1999, 12, 31))],
        ]
    );
    let events = read_table(&run_dir, "events");
    assert_eq!(
        rows_by(&events, "id"),
        vec![
            vec![i(1), V::Null, V::List(vec![s("a"), s("b")])],
            vec![i(2), f(1.5), V::List(vec![])]
        ]
    );
    // Re-extracting the snapshot's own Parquet parts (named by a glob) gives the same rows.
    let parts = format!("{}/people/*.parquet", run_dir.display());
    let out2 = dir.path().join("again");
    let (code, _, stderr) = extract(
        &parts,
        out2.to_str().unwrap(),
        &["--table", "people", "--side", "target"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        rows_by(&read_table(&only_run(&out2, "target"), "people"), "id"),
        rows_by(&people, "id")
    );
}

#[test]
fn a_glob_is_one_table_and_casts_apply() {
    let dir = tempdir();
    write(dir.path(), "d/a.csv", b"id,code\n1,007\n");
    write(dir.path(), "d/b.csv", b"id,code\n2,042\n");
    let out = dir.path().join("snaps");
    let glob = format!("{}/d/*.csv", dir.path().display());
    let (code, _, stderr) = extract(
        &glob,
        out.to_str().unwrap(),
        &["--table", "codes", "--cast", "code=text"],
    );
    assert_eq!(code, 0, "{stderr}");
    let b = read_table(&only_run(&out, "legacy"), "codes");
    assert_eq!(
        rows_by(&b, "id"),
        vec![vec![i(1), s("007")], vec![i(2), s("042")]]
    );
}

#[test]
fn files_that_are_not_data_or_are_corrupt_are_errors_that_name_the_file() {
    let dir = tempdir();
    write(dir.path(), "notes.txt", b"hello");
    write(
        dir.path(),
        "broken.parquet",
        b"PAR1 this is not really parquet",
    );
    let out = dir.path().join("snaps");
    let o = out.to_str().unwrap();
    let txt = dir.path().join("notes.txt");
    let (code, _, stderr) = run(&["extract", "--source", txt.to_str().unwrap(), "--out", o]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!(
            "file {}: the file is not Parquet, CSV or NDJSON (by its extension)",
            txt.display()
        )),
        "{stderr}"
    );
    let broken = dir.path().join("broken.parquet");
    let (code, _, stderr) = run(&["extract", "--source", broken.to_str().unwrap(), "--out", o]);
    assert_eq!(code, 2);
    assert!(stderr.contains(&broken.display().to_string()), "{stderr}");
    assert!(stderr.contains("cannot read the data"), "{stderr}");
    let missing = dir.path().join("nope");
    let (code, _, stderr) = run(&["extract", "--source", missing.to_str().unwrap(), "--out", o]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no such file or folder"), "{stderr}");
    assert!(!out.join("legacy").exists() || out.join("legacy").read_dir().unwrap().count() == 0);
}

#[test]
fn blob_trees_from_a_folder_and_an_archive_hash_alike() {
    let dir = tempdir();
    let up = dir.path().join("uploads");
    write(&up, "a.txt", b"hello\n");
    write(
        &up,
        "deep/er/b.bin",
        &(0..=255u8).cycle().take(300_000).collect::<Vec<u8>>(),
    );
    write(&up, "empty", b"");
    std::os::unix::fs::symlink("a.txt", up.join("link")).unwrap();
    let tgz = dir.path().join("uploads.tar.gz");
    let st = std::process::Command::new("tar")
        .args([
            "czf",
            tgz.to_str().unwrap(),
            "-C",
            up.to_str().unwrap(),
            "a.txt",
            "deep",
            "empty",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let out = dir.path().join("snaps");
    let o = out.to_str().unwrap();
    let (code, _, stderr) = extract(
        &format!("files://{}", up.display()),
        o,
        &["--table", "uploads"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("1 symbolic links or special files were not followed"),
        "{stderr}"
    );
    let (code, _, stderr) = extract(
        &format!("files://{}", tgz.display()),
        o,
        &["--table", "uploads", "--side", "target"],
    );
    assert_eq!(code, 0, "{stderr}");
    let sorted = |side: &str| {
        let b = read_table(&only_run(&out, side), "uploads");
        let names = ["path", "size", "sha256", "xxh3"];
        let cols: Vec<Vec<V>> = names.iter().map(|n| column(&b, n)).collect();
        let mut rows: Vec<Vec<V>> = (0..cols[0].len())
            .map(|r| cols.iter().map(|c| c[r].clone()).collect())
            .collect();
        rows.sort_by(|a, b| format!("{:?}", a[0]).cmp(&format!("{:?}", b[0])));
        rows
    };
    let legacy = sorted("legacy");
    assert_eq!(legacy, sorted("target"));
    let want_sha = sha256_file(&up.join("deep/er/b.bin"));
    assert_eq!(
        legacy,
        vec![
            vec![
                s("a.txt"),
                i(6),
                s("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"),
                s(&format!("{:016x}", xxhash_rust::xxh3::xxh3_64(b"hello\n"))),
            ],
            vec![
                s("deep/er/b.bin"),
                i(300_000),
                s(&want_sha),
                s(&format!(
                    "{:016x}",
                    xxhash_rust::xxh3::xxh3_64(
                        &(0..=255u8).cycle().take(300_000).collect::<Vec<u8>>()
                    )
                )),
            ],
            vec![
                s("empty"),
                i(0),
                s("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                s(&format!("{:016x}", xxhash_rust::xxh3::xxh3_64(b""))),
            ],
        ]
    );
    let sj: serde_json::Value =
        serde_json::from_str(&read(&only_run(&out, "legacy").join("schema.json"))).unwrap();
    assert_eq!(
        sj["tables"]["uploads"]["primary_key"],
        serde_json::json!(["path"])
    );
}

#[test]
fn ndjson_types_come_from_every_record_not_the_first_thousand() {
    let dir = tempdir();
    let mut text = String::new();
    for k in 1..=1500 {
        text.push_str(&format!("{{\"id\":{k},\"v\":{k}}}\n"));
    }
    text.push_str("{\"id\":1501,\"v\":1.5,\"late\":\"x\"}\n");
    write(dir.path(), "e.ndjson", text.as_bytes());
    let out = dir.path().join("snaps");
    let src = dir.path().join("e.ndjson");
    let (code, _, stderr) = extract(src.to_str().unwrap(), out.to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let b = read_table(&only_run(&out, "legacy"), "e");
    assert_eq!(column_type(&b, "v"), DataType::Float64);
    let rows = rows_by(&b, "id");
    assert_eq!(rows.len(), 1501);
    assert_eq!(rows[1500], vec![i(1501), f(1.5), s("x")]);
    assert_eq!(rows[0], vec![i(1), f(1.0), V::Null]);
}

#[test]
fn folders_name_tables_by_stem_and_refuse_clashes_and_mixed_files() {
    let dir = tempdir();
    let d = dir.path().join("d");
    write(&d, "sales.2023.csv", b"id\n1\n");
    write(&d, "sales.2024.csv", b"id\n2\n3\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"id,name\n7,seven\n").unwrap();
    write(&d, "packed.CSV.gz", &gz.finish().unwrap());
    let out = dir.path().join("snaps");
    let (code, stdout, stderr) = extract(d.to_str().unwrap(), out.to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("  3 tables  4 rows  "), "{stdout}");
    let run_dir = only_run(&out, "legacy");
    assert_eq!(
        column(&read_table(&run_dir, "sales_2024"), "id"),
        vec![i(2), i(3)]
    );
    assert_eq!(
        rows_by(&read_table(&run_dir, "packed"), "id"),
        vec![vec![i(7), s("seven")]]
    );

    write(
        &d,
        "Sales.2023.parquet",
        b"not read: the clash is found first",
    );
    let (code, _, stderr) = extract(d.to_str().unwrap(), out.to_str().unwrap(), &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("two sources for table `sales_2023`"),
        "{stderr}"
    );
    std::fs::remove_file(d.join("Sales.2023.parquet")).unwrap();

    write(&d, "parts/a.csv", b"id\n1\n");
    write(&d, "parts/b.CSV", b"id\n2\n");
    let (code, _, stderr) = extract(d.to_str().unwrap(), out.to_str().unwrap(), &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("the folder mixes data files of different kinds"),
        "{stderr}"
    );
}

#[test]
fn file_casts_parse_exactly_or_fail() {
    let dir = tempdir();
    write(
        dir.path(),
        "p.csv",
        b"id,price,qty,day\n1,1.50,2.0,2024-01-02\n2,0.1,3,2024-01-03\n",
    );
    let out = dir.path().join("snaps");
    let src = dir.path().join("p.csv");
    let base = [
        "extract",
        "--source",
        src.to_str().unwrap(),
        "--table",
        "p",
        "--out",
        out.to_str().unwrap(),
    ];
    let mut ok = base.to_vec();
    ok.extend([
        "--cast",
        "price=decimal(6,2)",
        "--cast",
        "qty=integer",
        "--cast",
        "day=timestamp",
    ]);
    let (code, _, stderr) = run(&ok);
    assert_eq!(code, 0, "{stderr}");
    let b = read_table(&only_run(&out, "legacy"), "p");
    assert_eq!(
        rows_by(&b, "id"),
        vec![
            vec![
                i(1),
                V::Dec(150, 2),
                i(2),
                V::Ts(micros("2024-01-02 00:00:00"), None)
            ],
            vec![
                i(2),
                V::Dec(10, 2),
                i(3),
                V::Ts(micros("2024-01-03 00:00:00"), None)
            ],
        ]
    );
    assert_fails(
        &[&base[..], &["--cast", "price=decimal(6,0)"]].concat(),
        "column price: `1.5` is not exactly a decimal(6,0)",
    );
}
