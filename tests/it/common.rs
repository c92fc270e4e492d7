//! Fixture helpers shared by the integration tests: running the binary, reading a
//! snapshot back, and reaching the real PostgreSQL and MariaDB servers.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub const PG_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";
pub const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// The `snapdiff` binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_snapdiff"))
}

/// A `snapdiff` command with a clean environment for passwords.
pub fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .env_remove("PGPASSWORD")
        .env_remove("MYSQL_PWD");
    c
}

/// Run `snapdiff` with `args`; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    output(cmd(args).output().expect("snapdiff runs"))
}

/// Run `snapdiff extract --source SOURCE --out OUT` with more flags (`--table t`, ...).
pub fn extract(source: &str, out: &str, flags: &[&str]) -> (i32, String, String) {
    let mut args = vec!["extract", "--source", source, "--out", out];
    args.extend_from_slice(flags);
    run(&args)
}

/// Verify one entity over in-memory tables registered as `legacy.t` and `target.t`,
/// keeping up to `sample_rows` sample rows of each kind of difference.
pub fn verify_tables(
    legacy: datafusion::datasource::MemTable,
    target: datafusion::datasource::MemTable,
    def: snapdiff::spec::EntityDef,
    sample_rows: usize,
) -> snapdiff::error::Result<snapdiff::report::EntityReport> {
    use datafusion::catalog::MemorySchemaProvider;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = snapdiff::engine::new_session();
        let catalog = ctx.catalog("datafusion").unwrap();
        for (side, t) in [("legacy", legacy), ("target", target)] {
            catalog
                .register_schema(side, std::sync::Arc::new(MemorySchemaProvider::new()))
                .unwrap();
            ctx.register_table(format!("{side}.t").as_str(), std::sync::Arc::new(t))
                .unwrap();
        }
        let mut opts = snapdiff::check::VerifyOptions::new("/nonexistent");
        opts.sample_rows = sample_rows;
        let mut r =
            snapdiff::check::verify_entities(&ctx, &[def], &opts, &snapdiff::progress::NoProgress)
                .await?;
        Ok(r.remove(0))
    })
}

/// Run `snapdiff` with `args` in folder `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    output(cmd(args).current_dir(dir).output().expect("snapdiff runs"))
}

pub fn output(o: Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A fresh temporary folder.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("snapdiff-it-")
        .tempdir()
        .expect("temp dir")
}

/// The only run folder of `side` under `root`.
pub fn only_run(root: &Path, side: &str) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(root.join(side))
        .expect("side folder exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "expected one run under {}/{side}: {runs:?}",
        root.display()
    );
    runs.into_iter().next().unwrap()
}

/// Every batch of `table` in a complete run, read from the files its manifest lists.
pub fn read_table(run_dir: &Path, table: &str) -> Vec<RecordBatch> {
    let manifest =
        snapdiff::snapshot::verify_run(run_dir).expect("the run verifies against its manifest");
    let t = manifest
        .tables
        .get(table)
        .unwrap_or_else(|| panic!("table {table} in the manifest"));
    let mut out = Vec::new();
    for f in &t.files {
        let file = std::fs::File::open(run_dir.join(&f.path)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for b in reader {
            out.push(b.unwrap());
        }
    }
    out
}

/// A value read back from a snapshot, in a form tests compare exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Int(i128),
    Float(u64),
    Str(String),
    Bytes(Vec<u8>),
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since the epoch, and the time zone label.
    Ts(i64, Option<String>),
    /// Microseconds since midnight.
    Time(i64),
    /// Unscaled value and scale.
    Dec(i128, i8),
    List(Vec<V>),
}

pub fn f(x: f64) -> V {
    V::Float(x.to_bits())
}
pub fn s(x: &str) -> V {
    V::Str(x.to_string())
}
pub fn i(x: i128) -> V {
    V::Int(x)
}

/// The value at `row` of `array`.
pub fn value(a: &dyn Array, row: usize) -> V {
    use arrow::datatypes::*;
    if a.is_null(row) {
        return V::Null;
    }
    match a.data_type() {
        DataType::Int8 => V::Int(a.as_primitive::<Int8Type>().value(row) as i128),
        DataType::Int16 => V::Int(a.as_primitive::<Int16Type>().value(row) as i128),
        DataType::Int32 => V::Int(a.as_primitive::<Int32Type>().value(row) as i128),
        DataType::Int64 => V::Int(a.as_primitive::<Int64Type>().value(row) as i128),
        DataType::UInt8 => V::Int(a.as_primitive::<UInt8Type>().value(row) as i128),
        DataType::UInt16 => V::Int(a.as_primitive::<UInt16Type>().value(row) as i128),
        DataType::UInt32 => V::Int(a.as_primitive::<UInt32Type>().value(row) as i128),
        DataType::UInt64 => V::Int(a.as_primitive::<UInt64Type>().value(row) as i128),
        DataType::Float32 => {
            V::Float((a.as_primitive::<Float32Type>().value(row) as f64).to_bits())
        }
        DataType::Float64 => V::Float(a.as_primitive::<Float64Type>().value(row).to_bits()),
        DataType::Utf8 => V::Str(a.as_string::<i32>().value(row).to_string()),
        DataType::Binary => V::Bytes(a.as_binary::<i32>().value(row).to_vec()),
        DataType::Boolean => V::Bool(a.as_boolean().value(row)),
        DataType::Date32 => V::Date(a.as_primitive::<Date32Type>().value(row)),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => V::Ts(
            a.as_primitive::<TimestampMicrosecondType>().value(row),
            tz.as_ref().map(|t| t.to_string()),
        ),
        DataType::Time64(TimeUnit::Microsecond) => {
            V::Time(a.as_primitive::<Time64MicrosecondType>().value(row))
        }
        DataType::Decimal128(_, s) => V::Dec(a.as_primitive::<Decimal128Type>().value(row), *s),
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let inner = l.value(row);
            V::List((0..inner.len()).map(|i| value(inner.as_ref(), i)).collect())
        }
        other => panic!("no test rendering for {other}"),
    }
}

/// Column `name` of `batches`, as values, in row order.
pub fn column(batches: &[RecordBatch], name: &str) -> Vec<V> {
    let mut out = Vec::new();
    for b in batches {
        let idx = b
            .schema()
            .index_of(name)
            .unwrap_or_else(|_| panic!("column {name}"));
        let a = b.column(idx);
        for r in 0..a.len() {
            out.push(value(a.as_ref(), r));
        }
    }
    out
}

/// The column names of `batches`.
pub fn column_names(batches: &[RecordBatch]) -> Vec<String> {
    batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// The rows of `batches` sorted by column `key` (an integer column), as rows of values.
pub fn rows_by(batches: &[RecordBatch], key: &str) -> Vec<Vec<V>> {
    let names = column_names(batches);
    let cols: Vec<Vec<V>> = names.iter().map(|n| column(batches, n)).collect();
    let k = names.iter().position(|n| n == key).expect("key column");
    let n = cols[0].len();
    let mut rows: Vec<Vec<V>> = (0..n)
        .map(|r| cols.iter().map(|c| c[r].clone()).collect())
        .collect();
    rows.sort_by_key(|r| match &r[k] {
        V::Int(x) => *x,
        V::Null => i128::MIN,
        other => panic!("key is not an integer: {other:?}"),
    });
    rows
}

/// The Arrow type of column `name`.
pub fn column_type(batches: &[RecordBatch], name: &str) -> DataType {
    batches[0]
        .schema()
        .field_with_name(name)
        .unwrap()
        .data_type()
        .clone()
}

/// Days since the epoch of a date.
pub fn days(y: i32, m: u32, d: u32) -> i32 {
    (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as i32
}

/// Microseconds since the epoch of a UTC date-time given as `YYYY-MM-DD HH:MM:SS[.f]`.
pub fn micros(text: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .and_utc()
        .timestamp_micros()
}

/// Say that a test was skipped, where `cargo test` shows it (not captured).
pub fn skip(what: &str, why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {what}: {why} (set SNAPDIFF_REQUIRE_SERVICES=1 to make this a failure)"
    );
}

pub fn required() -> bool {
    std::env::var("SNAPDIFF_REQUIRE_SERVICES")
        .map(|v| v == "1")
        .unwrap_or(false)
}

/// A PostgreSQL client for fixtures, or `None` (with a SKIPPED line) when the server is
/// unreachable and services are not required.
pub fn pg(test: &str) -> Option<postgres::Client> {
    match postgres::Client::connect(PG_URL, postgres::NoTls) {
        Ok(c) => Some(c),
        Err(e) if !required() => {
            skip(
                test,
                &format!("PostgreSQL at 127.0.0.1:5432 is not reachable: {e}"),
            );
            None
        }
        Err(e) => panic!(
            "SNAPDIFF_REQUIRE_SERVICES=1 but PostgreSQL at 127.0.0.1:5432 is not reachable: {e}"
        ),
    }
}

/// A MariaDB/MySQL connection to a fresh database `db` (dropped and created), and its URL.
pub fn mysql_db(test: &str, db: &str) -> Option<(mysql::Conn, String)> {
    use mysql::prelude::Queryable;
    let mut conn = match mysql::Conn::new(mysql::Opts::from_url(MYSQL_URL).unwrap()) {
        Ok(c) => c,
        Err(e) if !required() => {
            skip(
                test,
                &format!("MariaDB at 127.0.0.1:3306 is not reachable: {e}"),
            );
            return None;
        }
        Err(e) => panic!(
            "SNAPDIFF_REQUIRE_SERVICES=1 but MariaDB at 127.0.0.1:3306 is not reachable: {e}"
        ),
    };
    conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE {db} CHARACTER SET utf8mb4"))
        .unwrap();
    conn.query_drop(format!("USE {db}")).unwrap();
    Some((conn, format!("mysql://root@127.0.0.1:3306/{db}")))
}

/// A fresh PostgreSQL schema `schema` (dropped and created) for one test's tables.
pub fn pg_schema(test: &str, schema: &str) -> Option<postgres::Client> {
    let mut c = pg(test)?;
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
    ))
    .unwrap();
    Some(c)
}

/// Read a whole file into a string, or "" if it is missing.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Every file under `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Run `snapdiff` with `args` and check it fails with exit 2 and a message containing
/// `want`; returns standard error.
pub fn assert_fails(args: &[&str], want: &str) -> String {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 2, "{args:?} should fail:\n{stdout}{stderr}");
    assert!(stderr.contains(want), "{args:?}:\n{stderr}\nwanted: {want}");
    stderr
}

/// The `[sources]` of a spec over `legacy.db` and `target.db` (SQLite, beside the spec).
pub const SQLITE_SOURCES: &str =
    "[sources.legacy]\nurl = \"sqlite://legacy.db\"\n[sources.target]\nurl = \"sqlite://target.db\"\n";

/// The one report folder under `root` (hidden folders, reports being written, aside).
pub fn only_report_dir(root: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// The report.json of the one report under `root`.
pub fn only_report(root: &Path) -> serde_json::Value {
    serde_json::from_str(&read(&only_report_dir(root).join("report.json"))).unwrap()
}

/// The entity `name` of a parsed report.json.
pub fn report_entity<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no entity {name} in {report}"))
}

/// An entity `t` over `legacy.t` and `target.t` with every check, keyed on `key`, with
/// the normalisation rules `normalize` (TOML: `col = rules` lines).
pub fn entity_def(
    key: &[&str],
    partition_by: Option<&str>,
    normalize: &str,
) -> snapdiff::spec::EntityDef {
    let rules: std::collections::BTreeMap<String, toml::Value> = toml::from_str(normalize).unwrap();
    snapdiff::spec::EntityDef {
        name: "t".into(),
        kind: snapdiff::spec::EntityKind::Entity,
        key: key.iter().map(|k| k.to_string()).collect(),
        legacy_sql: "SELECT * FROM legacy.t".into(),
        target_sql: "SELECT * FROM target.t".into(),
        columns: None,
        ignore: Vec::new(),
        partition_by: partition_by.map(str::to_string),
        legacy_filter: None,
        target_filter: None,
        sample: None,
        keys_file: None,
        checks: snapdiff::spec::CheckKind::ENTITY.to_vec(),
        normalize: snapdiff::spec::checks::parse_normalize(&rules).unwrap(),
        thresholds: snapdiff::spec::Thresholds::default(),
        masks: Default::default(),
        settle: None,
    }
}

/// Run `snapdiff args` (an extraction) and, as soon as `drop_reader` (called every
/// 10 ms, from a second database session) says it dropped at least one reading
/// connection, keep dropping the reads until it ends. Fails if no connection was dropped
/// within a minute.
pub fn extract_with_reader_dropped(
    args: &[&str],
    mut drop_reader: impl FnMut() -> usize,
) -> (i32, String, String) {
    let mut child = cmd(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the extraction never started reading", 60, 10, || {
        drop_reader() > 0
    });
    // A read can end between being seen and being killed (the kill then takes an idle
    // connection, or one whose rows were all sent) and the next range be read on
    // another: the reads are killed until the extraction ends. It writes little, so its
    // pipes cannot fill meanwhile.
    while child.try_wait().unwrap().is_none() {
        drop_reader();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    output(child.wait_with_output().unwrap())
}

/// Poll `cond` every `poll_ms` milliseconds until it holds; fail with `what` after
/// `secs` seconds.
pub fn wait_until(what: &str, secs: u64, poll_ms: u64, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(poll_ms));
    }
}

/// An S3-compatible server (moto in server mode, from PyPI) on a free port of 127.0.0.1,
/// stopped when dropped. Found as `SNAPDIFF_MOTO_SERVER`, `moto_server` on the PATH, or
/// `~/.cache/snapdiff-moto/bin/moto_server` (where `.ci/run` installs it).
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Moto {
    /// Start the server, or `None` (with a SKIPPED line) when moto is not installed and
    /// services are not required.
    pub fn start(test: &str) -> Option<Moto> {
        let home = std::env::var("HOME").unwrap_or_default();
        let candidates = [
            std::env::var("SNAPDIFF_MOTO_SERVER").ok(),
            Some("moto_server".to_string()),
            Some(format!("{home}/.cache/snapdiff-moto/bin/moto_server")),
        ];
        let port = free_port();
        let mut child = None;
        for c in candidates.into_iter().flatten() {
            if let Ok(ch) = Command::new(&c)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
            {
                child = Some(ch);
                break;
            }
        }
        let Some(child) = child else {
            let why =
                "moto_server is not installed (pip install 'moto[server]==5.2.5'; .ci/run does)";
            if required() {
                panic!("SNAPDIFF_REQUIRE_SERVICES=1 but {why}");
            }
            skip(test, why);
            return None;
        };
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        wait_until("moto_server never listened", 60, 100, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Some(moto)
    }

    /// One plain HTTP request to the server (moto takes unsigned requests); returns the
    /// status code and body.
    pub fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        use std::io::{Read, Write};
        // moto reads a bucket policy only as JSON.
        let kind = if path.ends_with("?policy") {
            "application/json"
        } else {
            "application/octet-stream"
        };
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (code, body.to_string())
    }

    /// Create bucket `name`, with a policy that lets these unsigned requests read and
    /// change its objects (snapdiff itself always signs).
    pub fn bucket(&self, name: &str) {
        let (code, body) = self.http("PUT", &format!("/{name}"), b"");
        assert_eq!(code, 200, "cannot create bucket {name}: {body}");
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{name}","arn:aws:s3:::{name}/*"]}}]}}"#
        );
        let (code, body) = self.http("PUT", &format!("/{name}?policy"), policy.as_bytes());
        assert!(
            code == 200 || code == 204,
            "cannot set the policy of {name}: {body}"
        );
    }

    /// The keys under `prefix` in `bucket`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (code, body) = self.http("GET", &format!("/{bucket}?prefix={prefix}"), b"");
        assert_eq!(code, 200, "{body}");
        let mut keys: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k.to_string()))
            .collect();
        keys.sort();
        keys
    }

    /// How many multipart uploads of `bucket` were started and neither completed nor
    /// aborted.
    pub fn pending_uploads(&self, bucket: &str) -> usize {
        let (code, body) = self.http("GET", &format!("/{bucket}?uploads"), b"");
        assert_eq!(code, 200, "{body}");
        body.matches("<Upload>").count()
    }

    /// A `snapdiff` command with credentials and this server as its endpoint.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = cmd_without_aws(args);
        c.envs(self.env());
        c
    }

    /// The AWS variables that reach this server with the tests' credentials.
    pub fn env(&self) -> [(&'static str, &str); 4] {
        [
            ("AWS_ACCESS_KEY_ID", "snapdiff-test"),
            ("AWS_SECRET_ACCESS_KEY", MOTO_SECRET),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &self.endpoint),
        ]
    }

    /// Run `snapdiff` with credentials and this server; (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        output(self.cmd(args).output().expect("snapdiff runs"))
    }
}

/// A `snapdiff` command without any `AWS_*` variable of this process.
pub fn cmd_without_aws(args: &[&str]) -> Command {
    let mut c = cmd(args);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c
}

/// The secret key the tests give snapdiff for moto; it must never be printed.
pub const MOTO_SECRET: &str = "moto-secret-never-printed-7f3a";

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The findings of a report.json (its entities and invariants) without what differs from
/// run to run (ids, times, paths).
pub fn findings(report: &serde_json::Value) -> serde_json::Value {
    fn scrub(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                // Times and paths; a column named `created_at` (a count) stays.
                m.retain(|k, v| {
                    !(k.contains("seconds")
                        || k.contains("duration")
                        || k.ends_with("_ms")
                        || (k.ends_with("_at") && v.is_string())
                        || k == "diff_files")
                });
                m.values_mut().for_each(scrub);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    let mut e = serde_json::json!({
        "entities": report["entities"].clone(),
        "invariants": report["invariants"].clone(),
    });
    scrub(&mut e);
    e
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` different free TCP ports on 127.0.0.1 (all held while they are chosen).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Write the rows of `query` (DataFusion SQL) to the Parquet file `path`.
pub fn write_parquet_sql(path: &Path, query: &str) {
    let ctx = datafusion::prelude::SessionContext::new();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        ctx.sql(&format!(
            "COPY ({query}) TO '{}' STORED AS PARQUET",
            path.display()
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    });
}

/// The complete report folders under `root`, oldest first (none when it is missing).
pub fn reports_in(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(root) {
        Ok(d) => d
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    };
    dirs.sort();
    dirs
}

/// Every batch of a Parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// Rewrite a Parquet file, each batch through `f`.
pub fn rewrite_parquet(path: &Path, f: impl Fn(RecordBatch) -> RecordBatch) {
    let batches: Vec<RecordBatch> = read_parquet(path).into_iter().map(f).collect();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// Fail unless `report` (a report.json) is valid against docs/report.schema.json.
pub fn assert_schema_valid(report: &serde_json::Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&read(&schema_path)).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report.json breaks its schema:\n{}",
        errors.join("\n")
    );
}
