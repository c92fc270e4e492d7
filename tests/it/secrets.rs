//! Passwords never appear in output, errors, manifests or any file of a snapshot.

use std::path::Path;

use crate::common::*;

/// Every file under `root` and the command's output must be free of `secret`.
fn assert_clean(secret: &str, stdout: &str, stderr: &str, root: &Path) {
    let encoded = secret.replace('@', "%40");
    for (what, text) in [
        ("stdout", stdout.to_string()),
        ("stderr", stderr.to_string()),
    ] {
        assert!(
            !text.contains(secret) && !text.contains(&encoded),
            "{what} leaks the password: {text}"
        );
    }
    for f in all_files(root) {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(secret) && !text.contains(&encoded),
            "{} leaks the password",
            f.display()
        );
    }
}

#[test]
fn passwords_from_urls_env_and_spec_never_leak() {
    let Some(mut pg) = pg_schema("secrets", "it_secrets") else {
        return;
    };
    pg.batch_execute(
        "CREATE TABLE it_secrets.t (id int PRIMARY KEY); INSERT INTO it_secrets.t VALUES (1);",
    )
    .unwrap();
    let dir = tempdir();
    let root = dir.path().join("snaps");
    let r = root.to_str().unwrap();

    // In the URL (the server trusts local logins, so any password is accepted).
    let secret = "Url-Secret@9931";
    let url = "postgresql://postgres:Url-Secret%409931@127.0.0.1:5432/test";
    let (code, stdout, stderr) = extract(url, r, &["--table", "it_secrets.t"]);
    assert_eq!(code, 0, "{stderr}");
    assert_clean(secret, &stdout, &stderr, &root);
    let manifest = read(&only_run(&root, "legacy").join("manifest.json"));
    assert!(
        manifest.contains("\"url\": \"postgresql://postgres@127.0.0.1:5432/test\""),
        "{manifest}"
    );
    // ... and when the run fails.
    let (code, stdout, stderr) = extract(url, r, &["--table", "it_secrets.missing"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("source postgresql://postgres@127.0.0.1:5432/test"),
        "{stderr}"
    );
    assert_clean(secret, &stdout, &stderr, &root);

    // From PGPASSWORD.
    let out = cmd(&[
        "extract",
        "--source",
        PG_URL,
        "--table",
        "it_secrets.t",
        "--side",
        "target",
        "--out",
        r,
    ])
    .env("PGPASSWORD", "Env-Secret-5521")
    .output()
    .unwrap();
    let (code, stdout, stderr) = output(out);
    assert_eq!(code, 0, "{stderr}");
    assert_clean("Env-Secret-5521", &stdout, &stderr, &root);

    // Through ${VAR} in a spec, on success and on a failure that echoes the URL.
    let spec = dir.path().join("verify.toml");
    std::fs::write(
        &spec,
        "[snapshots]\nroot = \"specsnaps\"\n[sources.legacy]\nurl = \"postgresql://postgres:${IT_SPEC_PASSWORD}@127.0.0.1:5432/test\"\n\
         [[extract]]\nside = \"legacy\"\ntable = \"it_secrets.t\"\n",
    )
    .unwrap();
    for table in ["it_secrets.t", "it_secrets.nope"] {
        std::fs::write(
            &spec,
            read(&spec).replace("it_secrets.t\"", &format!("{table}\"")),
        )
        .unwrap();
        let out = cmd(&["extract", spec.to_str().unwrap()])
            .env("IT_SPEC_PASSWORD", "Spec-Secret-7713")
            .output()
            .unwrap();
        let (_, stdout, stderr) = output(out);
        assert_clean("Spec-Secret-7713", &stdout, &stderr, dir.path());
    }

    // A whole nightly run, reports included: no file of it names the password.
    let nightly = dir.path().join("nightly.toml");
    std::fs::write(
        &nightly,
        "[sources.legacy]\nurl = \"postgresql://postgres:${IT_SPEC_PASSWORD}@127.0.0.1:5432/test\"\n\
         [sources.target]\nurl = \"postgresql://postgres:${IT_SPEC_PASSWORD}@127.0.0.1:5432/test\"\n\
         [[extract]]\nside = \"legacy\"\nname = \"t\"\ntable = \"it_secrets.t\"\n\
         [[extract]]\nside = \"target\"\nname = \"t\"\ntable = \"it_secrets.t\"\n\
         [[entity]]\nname = \"t\"\nkey = \"id\"\ntable = \"t\"\n",
    )
    .unwrap();
    let out = cmd(&["run", nightly.to_str().unwrap()])
        .env("IT_SPEC_PASSWORD", "Spec-Secret-7713")
        .output()
        .unwrap();
    let (code, stdout, stderr) = output(out);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("report: "), "{stdout}");
    assert!(dir.path().join("reports").is_dir());
    assert_clean("Spec-Secret-7713", &stdout, &stderr, dir.path());
}

#[test]
fn a_secret_in_a_query_is_scrubbed_from_every_file() {
    let dir = tempdir();
    let c = rusqlite::Connection::open(dir.path().join("legacy.db")).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT); INSERT INTO t VALUES (1, 'a');",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("verify.toml"),
        "[sources.legacy]\nurl = \"sqlite://legacy.db\"\n[[extract]]\nside = \"legacy\"\nname = \"t\"\n\
         query = \"SELECT id FROM t WHERE note <> '${IT_API_TOKEN}'\"\n",
    )
    .unwrap();
    let out = cmd(&["extract", "verify.toml"])
        .current_dir(dir.path())
        .env("IT_API_TOKEN", "tok-8842-secret")
        .output()
        .unwrap();
    let (code, stdout, stderr) = output(out);
    assert_eq!(code, 0, "{stderr}");
    assert_clean("tok-8842-secret", &stdout, &stderr, dir.path());
    let manifest = read(&only_run(&dir.path().join("snapshots"), "legacy").join("manifest.json"));
    assert!(manifest.contains("WHERE note <> '***'"), "{manifest}");
}

/// Every command, with passwords in the spec's URLs, in `--source`, and in PGPASSWORD
/// and MYSQL_PWD, on success and on failure: no password in any output, error, log,
/// manifest, report or other file.
#[test]
fn no_command_leaks_a_password_on_success_or_failure() {
    use mysql::prelude::Queryable;
    let Some(mut pg) = pg_schema("secrets sweep", "it_secrets_all") else {
        return;
    };
    let Some((mut my, _)) = mysql_db("secrets sweep", "it_secrets_all") else {
        return;
    };
    pg.batch_execute(
        "CREATE TABLE it_secrets_all.t (id int PRIMARY KEY, v text);
         INSERT INTO it_secrets_all.t VALUES (1, 'a'), (2, 'b'), (3, 'c');",
    )
    .unwrap();
    my.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        .unwrap();
    my.query_drop("INSERT INTO t VALUES (1, 'a'), (2, 'B'), (4, 'd')")
        .unwrap();
    // A MariaDB user that needs its password (root logs in without one).
    let my_secret = "My-Sweep-Secret-4417";
    my.query_drop("DROP USER IF EXISTS 'snapdiff_it'@'%'")
        .unwrap();
    my.query_drop(format!(
        "CREATE USER 'snapdiff_it'@'%' IDENTIFIED BY '{my_secret}'"
    ))
    .unwrap();
    my.query_drop("GRANT SELECT ON it_secrets_all.* TO 'snapdiff_it'@'%'")
        .unwrap();
    let pg_secret = "Pg-Sweep-Secret-3391";
    let secrets = [pg_secret, my_secret];

    // The specs that hold passwords live in specs/; everything snapdiff writes goes to
    // out/ (the working folder), which is searched.
    let dir = tempdir();
    let specs = dir.path().join("specs");
    let d = &dir.path().join("out");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::create_dir_all(d).unwrap();
    let spec = |pg_pass: &str, my_pass: &str, table: &str| {
        format!(
            "[snapshots]\nroot = \"../out/snapshots\"\n[reports]\nroot = \"../out/reports\"\n\
             [sources.legacy]\nurl = \"postgresql://postgres{pg_pass}@127.0.0.1:5432/test\"\n\
             [sources.target]\nurl = \"mysql://snapdiff_it{my_pass}@127.0.0.1:3306/it_secrets_all\"\n\
             [[extract]]\nside = \"legacy\"\nname = \"t\"\ntable = \"it_secrets_all.{table}\"\n\
             [[extract]]\nside = \"target\"\nname = \"t\"\ntable = \"{table}\"\n\
             [[entity]]\nname = \"t\"\nkey = \"id\"\ntable = \"t\"\n"
        )
    };
    std::fs::write(
        specs.join("inline.toml"),
        spec(&format!(":{pg_secret}"), &format!(":{my_secret}"), "t"),
    )
    .unwrap();
    std::fs::write(specs.join("env.toml"), spec("", "", "t")).unwrap();
    std::fs::write(
        specs.join("broken.toml"),
        spec(
            &format!(":{pg_secret}"),
            &format!(":{my_secret}"),
            "missing",
        ),
    )
    .unwrap();
    std::fs::write(
        specs.join("wrong.toml"),
        spec(&format!(":{pg_secret}"), ":Not-The-Password-1", "t"),
    )
    .unwrap();

    let mut ran = Vec::new();
    let mut go = |args: &[&str], want: i32| {
        let out = cmd(args)
            .current_dir(d)
            .env("PGPASSWORD", pg_secret)
            .env("MYSQL_PWD", my_secret)
            .env("RUST_LOG", "debug")
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let (code, stdout, stderr) = output(out);
        assert_eq!(code, want, "{args:?}: {stdout}{stderr}");
        for s in secrets {
            assert_clean(s, &stdout, &stderr, d);
        }
        ran.push(args.join(" "));
    };
    let my_url = format!("mysql://snapdiff_it:{my_secret}@127.0.0.1:3306/it_secrets_all");
    let pg_url = format!("postgresql://postgres:{pg_secret}@127.0.0.1:5432/test");
    // Passwords in the spec's URLs.
    go(&["extract", "../specs/inline.toml"], 0);
    go(&["run", "../specs/inline.toml"], 1);
    go(&["verify", "../specs/inline.toml"], 1);
    go(&["verify", "../specs/inline.toml", "--format", "all"], 1);
    go(&["plan", "../specs/inline.toml"], 0);
    go(&["history", "../specs/inline.toml"], 0);
    go(
        &[
            "sql",
            "../specs/inline.toml",
            "SELECT * FROM legacy.t ORDER BY id",
        ],
        0,
    );
    go(&["sql", "../specs/inline.toml", "--list-queries"], 0);
    go(
        &[
            "diff",
            "legacy.t",
            "target.t",
            "--key",
            "id",
            "--report",
            "diffreports",
        ],
        1,
    );
    // From the environment.
    go(&["extract", "../specs/env.toml"], 0);
    go(&["run", "../specs/env.toml", "--keep", "1"], 1);
    // On the command line.
    go(
        &[
            "extract",
            "--source",
            &pg_url,
            "--table",
            "it_secrets_all.t",
            "--out",
            "cli",
        ],
        0,
    );
    go(
        &[
            "extract", "--source", &my_url, "--table", "t", "--side", "target", "--out", "cli",
        ],
        0,
    );
    // Failures that name the source: a missing table, a refused login, a bad query.
    go(&["extract", "../specs/broken.toml"], 2);
    go(&["run", "../specs/broken.toml"], 2);
    go(&["extract", "../specs/wrong.toml", "--side", "target"], 2);
    for url in [&my_url, &pg_url] {
        go(
            &[
                "extract",
                "--source",
                url,
                "--query",
                "SELEC nonsense",
                "--name",
                "q",
                "--out",
                "cli",
            ],
            2,
        );
    }
    go(&["sql", "../specs/inline.toml", "SELECT * FROM nowhere"], 2);
    go(
        &[
            "verify",
            "../specs/inline.toml",
            "--legacy-run",
            "no-such-run",
        ],
        2,
    );
    assert_eq!(ran.len(), 20);
    // The runs really were made, and their manifests name the sources without passwords.
    let manifests: Vec<String> = all_files(d)
        .into_iter()
        .filter(|f| f.ends_with("manifest.json"))
        .map(|f| read(&f))
        .collect();
    // One run per side kept by `--keep 1`, and the two of `--out cli`.
    assert_eq!(manifests.len(), 4);
    assert!(manifests
        .iter()
        .any(|m| m.contains("\"url\": \"mysql://snapdiff_it@127.0.0.1:3306/it_secrets_all\"")));
    my.query_drop("DROP USER IF EXISTS 'snapdiff_it'@'%'")
        .unwrap();
}
