//! What the command line prints: help, the summary of a run, and spec errors. Snapshots
//! (insta) with run ids, times, rates and temporary paths scrubbed.

use crate::common::*;

fn settings(tmp: &std::path::Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(&tmp.display().to_string()), "[TMP]");
    s.add_filter(r"\d{8}T\d{6}Z(-\d+)?", "[RUN]");
    s.add_filter(r"in \d+\.\d s \([\d,]+ rows/s\)", "in [TIME]");
    s.add_filter(r"snapdiff \d+\.\d+\.\d+", "snapdiff [VERSION]");
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn help_texts() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("help", stdout);
    let (code, stdout, _) = run(&["extract", "--help"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("extract_help", stdout);
    let (code, stdout, _) = run(&["ballista-executor", "--help"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("ballista_executor_help", stdout);
}

#[test]
fn a_spec_run_prints_one_line_per_side_and_plain_progress_off_a_terminal() {
    let dir = tempdir();
    let c = rusqlite::Connection::open(dir.path().join("legacy.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT); INSERT INTO users VALUES (1, 'a@x'), (2, NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, qty INTEGER); INSERT INTO orders VALUES (1, 5), (2, 'many');",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("target")).unwrap();
    std::fs::write(dir.path().join("target/users.csv"), "id,email\n1,a@x\n2,\n").unwrap();
    std::fs::write(
        dir.path().join("verify.toml"),
        "[sources.legacy]\nurl = \"sqlite://legacy.db\"\n\n[sources.target]\nurl = \"target\"\n\n\
         [[extract]]\nside = \"legacy\"\ntable = \"users\"\n\n[[extract]]\nside = \"legacy\"\ntable = \"orders\"\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run_in(dir.path(), &["extract", "verify.toml"]);
    assert_eq!(code, 0, "{stderr}");
    settings(dir.path()).bind(|| {
        insta::assert_snapshot!("spec_run_stdout", stdout);
        insta::assert_snapshot!("spec_run_stderr", stderr);
    });
    assert!(
        dir.path().join("snapshots/legacy").is_dir()
            && dir.path().join("snapshots/target").is_dir()
    );
}

#[test]
fn spec_errors_point_at_the_line_and_suggest_a_key() {
    let dir = tempdir();
    let spec = dir.path().join("verify.toml");
    std::fs::write(&spec, "[sources.legacy]\nurl = \"sqlite://legacy.db\"\n\n[[extract]]\nside = \"legacy\"\ntabel = \"users\"\n")
        .unwrap();
    let (code, stdout, stderr) = run_in(dir.path(), &["extract", "verify.toml"]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert_eq!(
        stderr,
        "error: verify.toml:6:1: unknown key `tabel` in [[extract]]; did you mean `table`?\n"
    );
    let (code, _, stderr) = run_in(dir.path(), &["extract", "missing.toml"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "error: file missing.toml: the spec file does not exist\n"
    );
    let (code, _, stderr) = run_in(dir.path(), &["extract"]);
    assert_eq!(code, 2);
    assert_eq!(stderr, "error: give a spec file, or --source URL with --table TABLE (see `snapdiff extract --help`)\n");
    let (code, _, stderr) = run_in(
        dir.path(),
        &["extract", "--source", "sqlite://x.db", "--cast", "a"],
    );
    assert_eq!(code, 2);
    assert_eq!(stderr, "error: --cast takes COLUMN=TYPE, not `a`\n");
    let (code, _, stderr) = run_in(
        dir.path(),
        &["extract", "--source", "oracle://x/y", "--table", "t"],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: unknown source scheme `oracle://`\n  hint: snapdiff reads"),
        "{stderr}"
    );
    let (code, _, stderr) = run_in(
        dir.path(),
        &["extract", "--source", "sqlite://nope.db", "--table", "t"],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("nope.db: the SQLite database file does not exist"),
        "{stderr}"
    );
    std::fs::write(
        dir.path().join("fake.db"),
        "this is not sqlite at all, just text",
    )
    .unwrap();
    let (code, _, stderr) = run_in(
        dir.path(),
        &["extract", "--source", "sqlite://fake.db", "--table", "t"],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("fake.db: cannot read the SQLite database: file is not a database\n  hint: is this a SQLite database file?"), "{stderr}");
}

#[test]
fn one_arrow_version_in_the_build() {
    let lock = read(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"));
    for krate in ["arrow", "arrow-array", "parquet", "datafusion"] {
        let n = lock.matches(&format!("name = \"{krate}\"\n")).count();
        assert_eq!(n, 1, "Cargo.lock holds {n} versions of {krate}");
    }
}

#[test]
fn table_options_without_a_named_table_are_refused() {
    let (code, _, stderr) = run(&["extract", "--source", "data.csv", "--cast", "a=text"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "error: --cast, --partition-on and --partitions apply to named tables: give --table (or --query), \
         or list the tables in the spec's [[extract]] entries\n"
    );
}

#[test]
fn progress_is_a_bar_on_a_terminal_lines_off_it_and_silent_when_quiet() {
    let dir = tempdir();
    let c = rusqlite::Connection::open(dir.path().join("legacy.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 300000) INSERT INTO t SELECT k, 'v' || k FROM n;",
    )
    .unwrap();
    let out = dir.path().join("snaps");
    let args = format!(
        "extract --source sqlite://{}/legacy.db --table t --out {}",
        dir.path().display(),
        out.display()
    );
    // A pseudo-terminal, through util-linux `script`.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        skip("terminal progress", "util-linux `script` is not installed");
    } else {
        let typescript = dir.path().join("tty.log");
        let st = std::process::Command::new("script")
            .args([
                "-qec",
                &format!("{} {args}", bin().display()),
                typescript.to_str().unwrap(),
            ])
            // A terminal says what it is: without TERM (a bare `env -i` shell) a
            // terminal counts as dumb and draws no bar.
            .env("TERM", "xterm-256color")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let tty = read(&typescript);
        assert!(tty.contains("legacy.t"), "{tty}");
        assert!(tty.contains("rows/s"), "{tty}");
        assert!(
            tty.contains("/~300,000 rows"),
            "the bar shows rows against the estimate: {tty}"
        );
        assert!(tty.contains("legacy.t: 300,000 rows in "), "{tty}");
    }
    let (code, stdout, stderr) = run(&args.split(' ').collect::<Vec<_>>());
    assert_eq!(code, 0);
    assert_eq!(
        stderr.lines().next(),
        Some("legacy.t: reading (about 300,000 rows)")
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("legacy.t: 300,000 rows in "),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal escapes off a terminal: {stderr:?}"
    );
    let quiet = format!("{args} --quiet");
    let (code, stdout_q, stderr_q) = run(&quiet.split(' ').collect::<Vec<_>>());
    assert_eq!((code, stderr_q.as_str()), (0, ""));
    assert!(
        stdout.starts_with("legacy ") && stdout_q.starts_with("legacy "),
        "the summary stays: {stdout_q}"
    );
}

/// `snapdiff run spec | head -1`: a closed standard output drops the lines, never the
/// run: the report is written and the exit status is the verification's.
#[test]
fn a_closed_standard_output_does_not_stop_the_run() {
    let dir = tempdir();
    let school = crate::school::school_copy(dir.path());
    let mut child = cmd(&["run", school.join("verify.toml").to_str().unwrap(), "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before anything is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let report = only_report_dir(&school.join("reports"));
    assert!(report.join("report.json").is_file());
}
