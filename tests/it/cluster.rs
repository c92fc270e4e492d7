//! Distributed verification: a Ballista scheduler and two executors (`snapdiff
//! ballista-scheduler`, `snapdiff ballista-executor`) started on 127.0.0.1 by each test
//! give exactly the findings of the in-process engine; an executor killed mid-run never
//! yields a wrong report; an unreachable scheduler is a clear error.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use crate::school::school_copy;

/// One cluster at a time: two executors busy on two cores are enough, and a starved
/// executor would miss its heartbeats.
static ONE_CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_cluster() -> std::sync::MutexGuard<'static, ()> {
    ONE_CLUSTER.lock().unwrap_or_else(|p| p.into_inner())
}

/// A scheduler and its executors on loopback, each writing its output to a log file;
/// stopped when dropped.
struct Cluster {
    scheduler: Child,
    executors: Vec<Option<Child>>,
    work_dirs: Vec<PathBuf>,
    /// Each executor's Arrow Flight port.
    flight_ports: Vec<u16>,
    logs: PathBuf,
    port: u16,
}

impl Cluster {
    /// Start a scheduler and `n` executors of two task slots; `env` is given to every
    /// process (object-store credentials).
    fn start(dir: &Path, n: usize, env: &[(&str, &str)]) -> Cluster {
        let logs = dir.join("cluster-logs");
        std::fs::create_dir_all(&logs).unwrap();
        let spawn = |name: &str, args: &[&str]| -> Child {
            let log = std::fs::File::create(logs.join(format!("{name}.log"))).unwrap();
            let mut c = cmd_without_aws(args);
            c.envs(env.iter().copied())
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log));
            c.spawn().expect("snapdiff starts")
        };
        let mut ports = free_ports(1 + 2 * n).into_iter();
        let port = ports.next().unwrap();
        let p = port.to_string();
        let scheduler = spawn(
            "scheduler",
            &[
                "ballista-scheduler",
                "--port",
                &p,
                "--executor-timeout",
                "20",
            ],
        );
        // The cluster owns each process as soon as it starts: one that never listens
        // fails the test, and dropping the cluster stops the others.
        let mut cluster = Cluster {
            scheduler,
            executors: Vec::new(),
            work_dirs: Vec::new(),
            flight_ports: Vec::new(),
            logs: logs.clone(),
            port,
        };
        listening(&mut cluster.scheduler, port, &logs);
        for i in 0..n {
            let (flight, grpc) = (ports.next().unwrap(), ports.next().unwrap());
            let work = dir.join(format!("executor-{i}"));
            let executor = spawn(
                &format!("executor-{i}"),
                &[
                    "ballista-executor",
                    "--scheduler",
                    &format!("127.0.0.1:{port}"),
                    "--port",
                    &flight.to_string(),
                    "--grpc-port",
                    &grpc.to_string(),
                    "--tasks",
                    "2",
                    "--heartbeat",
                    "2",
                    "--memory-limit",
                    "2G",
                    "--work-dir",
                    work.to_str().unwrap(),
                ],
            );
            cluster.executors.push(Some(executor));
            cluster.work_dirs.push(work);
            cluster.flight_ports.push(flight);
            let executor = cluster.executors[i].as_mut().unwrap();
            listening(executor, flight, &logs);
        }
        cluster
    }

    fn engine(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }

    fn kill_executor(&mut self, i: usize) {
        if let Some(mut c) = self.executors[i].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Every process's output, for a failing assertion's message.
    fn logs(&self) -> String {
        let mut out = String::new();
        for f in all_files(&self.logs) {
            out.push_str(&format!("--- {}\n{}\n", f.display(), read(&f)));
        }
        out
    }
}

/// Wait until `child` listens on `port`; a child that exits first, or a minute without
/// it listening, fails the test with every log.
fn listening(child: &mut Child, port: u16, logs: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = child.try_wait().unwrap();
        if exited.is_some() || std::time::Instant::now() > deadline {
            let _ = child.kill();
            let text: String = all_files(logs).iter().map(|f| read(f)).collect();
            panic!("a cluster process never listened on {port} ({exited:?}):\n{text}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.executors.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

/// Two SQLite files of `rows` events each (a multiple of 250,000), the target with known
/// differences: `rows / 100,000` rows deleted and as many amounts changed, `rows /
/// 250,000` labels changed, 15 rows added. Returns the spec's path.
fn generated(dir: &Path, rows: i64) -> PathBuf {
    for side in ["legacy", "target"] {
        let c = rusqlite::Connection::open(dir.join(format!("{side}.db"))).unwrap();
        c.execute_batch(&format!(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, account INTEGER NOT NULL, amount REAL, label TEXT);
             WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < {rows})
             INSERT INTO events SELECT k, k % 9973, (k % 100000) / 8.0, 'event ' || k FROM n;"
        ))
        .unwrap();
        // Keys duplicated identically on both sides and a NULL key held alike are no
        // difference; key 3 is duplicated on the target only, 4 is missing, 2 changed.
        c.execute_batch(if side == "legacy" {
            "CREATE TABLE tags (id INTEGER, tag TEXT);
             INSERT INTO tags VALUES (1, 'a'), (1, 'a'), (NULL, 'n'), (2, 'b'), (3, 'c'), (4, 'd');"
        } else {
            "CREATE TABLE tags (id INTEGER, tag TEXT);
             INSERT INTO tags VALUES (1, 'a'), (1, 'a'), (NULL, 'n'), (2, 'B'), (3, 'c'), (3, 'c');"
        })
        .unwrap();
        if side == "target" {
            c.execute_batch(&format!(
                "DELETE FROM events WHERE id % 100000 = 7;
                 UPDATE events SET amount = amount + 0.5 WHERE id % 100000 = 13;
                 UPDATE events SET label = label || ' (moved)' WHERE id % 250000 = 17;
                 WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 15)
                 INSERT INTO events SELECT {rows} + k, k, 1.0, 'new ' || k FROM n;"
            ))
            .unwrap();
        }
    }
    let spec = dir.join("events.toml");
    std::fs::write(
        &spec,
        r#"[sources.legacy]
url = "sqlite://legacy.db"

[sources.target]
url = "sqlite://target.db"

[[entity]]
name = "event"
key = ["id"]
legacy = "SELECT * FROM legacy.events"
target = "SELECT * FROM target.events"
checks = ["count", "hash", "diff", "aggregate"]

[[entity]]
name = "tag"
key = ["id"]
table = "tags"

[[query]]
name = "tag_values"
sql = "SELECT tag FROM {side}.tags"
"#,
    )
    .unwrap();
    spec
}

/// `snapdiff ARGS`, its report folder under `reports`, and its exit code.
fn verify_into(args: &[&str], reports: &Path) -> (i32, String, String) {
    run(&[
        args,
        &["--reports", reports.to_str().unwrap(), "--quiet"][..],
    ]
    .concat())
}

#[test]
fn a_cluster_of_two_executors_finds_exactly_what_one_process_finds() {
    let _one = one_cluster();
    let dir = tempdir();
    let cluster = Cluster::start(dir.path(), 2, &[]);
    let engine = cluster.engine();

    // The school example: extracted and verified in this process, then verified again on
    // the cluster from the same runs.
    let spec = school_copy(dir.path()).join("verify.toml");
    let spec = spec.to_str().unwrap();
    let snaps = dir.path().join("school-snaps");
    let snaps = snaps.to_str().unwrap();
    let local = dir.path().join("school-local");
    let (code, _, stderr) = verify_into(&["run", spec, "--snapshots", snaps], &local);
    assert_eq!(code, 1, "{stderr}");
    let remote = dir.path().join("school-remote");
    let (code, _, stderr) = verify_into(
        &["verify", spec, "--snapshots", snaps, "--engine", &engine],
        &remote,
    );
    assert_eq!(code, 1, "{stderr}\n{}", cluster.logs());
    let (l, r) = (only_report(&local), only_report(&remote));
    // An executor's address is refused as a scheduler's, before any work.
    let executor = format!("df://127.0.0.1:{}", cluster.flight_ports[0]);
    let (code, _, stderr) = run(&[
        "verify",
        spec,
        "--snapshots",
        snaps,
        "--engine",
        &executor,
        "--format",
        "none",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the service at {executor} does not answer as a Ballista scheduler: "
        )),
        "{stderr}"
    );
    assert!(stderr.contains("is that an executor's port?"), "{stderr}");
    assert_eq!(r["status"], l["status"]);
    assert_eq!(findings(&r), findings(&l));
    assert_same_diff_files(&local, &remote);

    // An invariant whose outer join has no equality condition would lose its unmatched
    // rows on the cluster: it is refused there, and runs in one process.
    let ranged = dir.path().join("school").join("ranged.toml");
    std::fs::write(
        &ranged,
        std::fs::read_to_string(spec).unwrap()
            + "\n[[invariant]]\nname = \"ranged\"\nsql = \"SELECT s.id FROM target.submissions s \
               LEFT JOIN target.courses c ON c.id < s.course_id AND c.id > s.course_id \
               WHERE c.id IS NULL\"\n",
    )
    .unwrap();
    let ranged = ranged.to_str().unwrap();
    let (code, stdout, stderr) = run(&[
        "verify",
        ranged,
        "--snapshots",
        snaps,
        "--engine",
        &engine,
        "--format",
        "none",
    ]);
    // The invariant is an error, named on its line; the entities are verified.
    assert_eq!(code, 2, "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("ranged "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("ERROR  invariant: ")
            && line.contains("a Left join with no equality condition (ON ")
            && line.contains("cannot run on a Ballista cluster: its unmatched rows would be lost"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("submission ") && l.contains(" FAIL ")),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(&[
        "verify",
        ranged,
        "--snapshots",
        snaps,
        "--engine",
        "local",
        "--format",
        "none",
    ]);
    assert_eq!(code, 1, "{stderr}");
    // Every submission is unmatched by a join that can never match.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ranged ") && l.contains("FAIL  invariant: ")),
        "{stdout}"
    );

    // A generated table of two million rows with known differences.
    let gen = dir.path().join("generated");
    std::fs::create_dir_all(&gen).unwrap();
    let spec = generated(&gen, 2_000_000);
    let spec = spec.to_str().unwrap();
    let local = gen.join("local");
    let (code, _, stderr) = verify_into(&["run", spec], &local);
    assert_eq!(code, 1, "{stderr}");
    let l = only_report(&local);
    let e = report_entity(&l, "event");
    assert_eq!(e["legacy_rows"], 2_000_000);
    assert_eq!(e["target_rows"], 2_000_000 - 20 + 15);
    assert_eq!(e["diff"]["missing"], 20);
    assert_eq!(e["diff"]["extra"], 15);
    assert_eq!(e["diff"]["changed"], 28);
    assert_eq!(
        e["diff"]["changed_by_column"],
        serde_json::json!({"amount": 20, "label": 8})
    );
    let remote = gen.join("remote");
    let (code, _, stderr) = verify_into(&["verify", spec, "--engine", &engine], &remote);
    assert_eq!(code, 1, "{stderr}\n{}", cluster.logs());
    let t = report_entity(&l, "tag");
    assert_eq!(t["diff"]["duplicate_keys_legacy"], 0);
    assert_eq!(t["diff"]["duplicate_keys_target"], 1);
    assert_eq!(t["diff"]["null_keys_legacy"], 0);
    assert_eq!(t["diff"]["null_keys_target"], 0);
    assert_eq!(t["diff"]["missing"], 1);
    assert_eq!(t["diff"]["changed"], 1);
    let q = report_entity(&l, "tag_values");
    assert_eq!(
        (q["diff"]["missing"].clone(), q["diff"]["extra"].clone()),
        (2.into(), 2.into())
    );
    let r = only_report(&remote);
    assert_eq!(findings(&r), findings(&l));
    assert_eq!(r["status"], l["status"]);
    assert_same_diff_files(&local, &remote);
    // The work went to both executors: each wrote shuffle files for this table's jobs.
    for w in &cluster.work_dirs {
        let jobs = std::fs::read_dir(w).unwrap().count();
        assert!(
            jobs > 10,
            "executor {} ran {jobs} jobs\n{}",
            w.display(),
            cluster.logs()
        );
    }
}

/// The diff files of two reports (the only report under each root) hold the same rows,
/// and there are some.
fn assert_same_diff_files(local: &Path, remote: &Path) {
    let (ld, rd) = (only_report_dir(local), only_report_dir(remote));
    let names = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = all_files(&d.join("diffs"))
            .iter()
            .map(|f| f.strip_prefix(d).unwrap().to_path_buf())
            .collect();
        v.sort();
        v
    };
    let files = names(&ld);
    assert!(!files.is_empty(), "no diff files");
    assert_eq!(names(&rd), files);
    for rel in files {
        let rows = |p: &Path| {
            let mut v: Vec<String> = read_parquet_rows(p);
            v.sort();
            v
        };
        assert_eq!(
            rows(&rd.join(&rel)),
            rows(&ld.join(&rel)),
            "{}",
            rel.display()
        );
    }
}

/// Every row of a Parquet file as text.
fn read_parquet_rows(p: &Path) -> Vec<String> {
    let file = std::fs::File::open(p).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in reader {
        let b = b.unwrap();
        for r in 0..b.num_rows() {
            out.push(
                (0..b.num_columns())
                    .map(|c| format!("{:?}", value(b.column(c).as_ref(), r)))
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out
}

#[test]
fn an_executor_killed_mid_run_fails_the_run_clearly_or_is_recovered_never_a_wrong_report() {
    let dir = tempdir();
    let spec = generated(dir.path(), 500_000);
    let spec = spec.to_str().unwrap();
    // The runs, extracted and verified in this process.
    let local = dir.path().join("local");
    let (code, _, stderr) = verify_into(&["run", spec], &local);
    assert_eq!(code, 1, "{stderr}");
    let l = only_report(&local);

    let _one = one_cluster();
    let mut cluster = Cluster::start(dir.path(), 2, &[]);
    let remote = dir.path().join("remote");
    let mut child = cmd(&[
        "verify",
        spec,
        "--engine",
        &cluster.engine(),
        "--reports",
        remote.to_str().unwrap(),
        "--quiet",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Once the first executor holds a job's output, it dies.
    wait_until("no executor ever ran a task", 120, 20, || {
        std::fs::read_dir(&cluster.work_dirs[0])
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    });
    // The run must still be going when the executor dies, or this tests nothing.
    assert!(
        child.try_wait().unwrap().is_none(),
        "verify ended before an executor was killed"
    );
    cluster.kill_executor(0);
    // A run that outlives five minutes is killed and fails the test: never a hang. The
    // watchdog ends with the run (its sender dropped), so it never kills a later process
    // that reuses the pid.
    let pid = child.id();
    let (done, ended) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            ended.recv_timeout(std::time::Duration::from_secs(300))
        {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    });
    let (code, stdout, stderr) = output(child.wait_with_output().unwrap());
    drop(done);
    watchdog.join().unwrap();
    match code {
        // Completed on the executor left: exactly the in-process findings.
        1 => {
            let r = only_report(&remote);
            assert_eq!(findings(&r), findings(&l), "{stdout}");
        }
        // Entities whose queries the lost executor failed are errors that name the
        // cluster; every other one has exactly the in-process findings.
        2 => {
            assert!(
                stdout.contains(&format!(
                    "hint: the query ran on the Ballista cluster at {}",
                    cluster.engine()
                )),
                "{stdout}{stderr}"
            );
            let r = only_report(&remote);
            assert_eq!(r["status"], "error");
            let (got, want) = (findings(&r), findings(&l));
            let errors = got["entities"]
                .as_array()
                .unwrap()
                .iter()
                .zip(want["entities"].as_array().unwrap())
                .filter(|(g, w)| {
                    if g["status"] == "error" {
                        return true;
                    }
                    assert_eq!(g, w, "{stdout}");
                    false
                })
                .count();
            assert!(errors > 0, "{stdout}");
        }
        _ => panic!("exit {code}\n{stdout}\n{stderr}\n{}", cluster.logs()),
    }
}

#[test]
fn an_unreachable_scheduler_or_a_bad_engine_fails_before_any_work() {
    let dir = tempdir();
    let spec = school_copy(dir.path()).join("verify.toml");
    let spec_s = spec.to_str().unwrap();
    let snaps = dir.path().join("snaps");
    let port = free_port();
    let engine = format!("df://127.0.0.1:{port}");
    let want = format!("cannot reach the Ballista scheduler at {engine}: ");
    let hint =
        format!("start one with `snapdiff ballista-scheduler --bind 127.0.0.1 --port {port}`");

    // `run` says so before extracting anything.
    let (code, _, stderr) = run(&[
        "run",
        spec_s,
        "--snapshots",
        snaps.to_str().unwrap(),
        "--engine",
        &engine,
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&want), "{stderr}");
    assert!(stderr.contains(&hint), "{stderr}");
    assert!(
        !snaps.join("legacy").exists(),
        "run extracted before failing"
    );

    // The spec's [engine] is used by `verify`.
    let (code, _, stderr) = run(&["extract", spec_s, "--out", snaps.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, format!("[engine]\nurl = \"{engine}\"\n\n{text}")).unwrap();
    let verify = |more: &[&str]| {
        let base = ["verify", spec_s, "--snapshots", snaps.to_str().unwrap()];
        run(&[&base[..], &["--format", "none"], more].concat())
    };
    let (code, _, stderr) = verify(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&want), "{stderr}");
    // --engine local wins over the spec.
    let (code, _, stderr) = verify(&["--engine", "local"]);
    assert_eq!(code, 1, "{stderr}");

    // A URL that is no scheduler's.
    let (code, _, stderr) = verify(&["--engine", "http://127.0.0.1:50050"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("engine `http://127.0.0.1:50050`: unknown scheme `http`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("write `df://HOST:PORT` for a Ballista scheduler, or `local`"),
        "{stderr}"
    );
}

#[test]
fn a_cluster_verifies_snapshots_on_object_storage() {
    let Some(moto) = Moto::start("a_cluster_verifies_snapshots_on_object_storage") else {
        return;
    };
    moto.bucket("school");
    let dir = tempdir();
    let _one = one_cluster();
    let cluster = Cluster::start(dir.path(), 2, &moto.env());
    let spec = school_copy(dir.path()).join("verify.toml");
    let spec = spec.to_str().unwrap();
    let local = dir.path().join("local");
    let (code, _, stderr) = verify_into(
        &[
            "run",
            spec,
            "--snapshots",
            dir.path().join("snaps").to_str().unwrap(),
        ],
        &local,
    );
    assert_eq!(code, 1, "{stderr}");
    let (code, _, stderr) = moto.run(&["extract", spec, "--out", "s3://school/nightly"]);
    assert_eq!(code, 0, "{stderr}");
    let remote = dir.path().join("remote");
    let (code, stdout, stderr) = moto.run(&[
        "verify",
        spec,
        "--snapshots",
        "s3://school/nightly",
        "--engine",
        &cluster.engine(),
        "--reports",
        remote.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 1, "{stderr}\n{}", cluster.logs());
    assert_eq!(
        findings(&only_report(&remote)),
        findings(&only_report(&local))
    );
    for t in [&stdout, &stderr, &cluster.logs()] {
        assert!(!t.contains(MOTO_SECRET), "the secret key was printed");
    }
    drop(cluster);

    // A cluster without credentials cannot read the objects: every entity is an error
    // that says why.
    let bare = Cluster::start(&dir.path().join("bare"), 1, &[]);
    let (code, stdout, stderr) = moto.run(&[
        "verify",
        spec,
        "--snapshots",
        "s3://school/nightly",
        "--engine",
        &bare.engine(),
        "--format",
        "none",
    ]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    let names = [
        "user ",
        "course ",
        "submission ",
        "feedback ",
        "courses_per_status ",
    ];
    let entities: Vec<&str> = stdout
        .lines()
        .filter(|l| names.iter().any(|n| l.starts_with(n)))
        .collect();
    assert_eq!(entities.len(), names.len(), "{stdout}");
    for l in entities {
        assert!(
            l.contains(" ERROR ") && l.contains("no object-storage credentials for s3://school"),
            "{stdout}\n{}",
            bare.logs()
        );
    }
}
