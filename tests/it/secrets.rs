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
