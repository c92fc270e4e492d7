//! The embedded example: `snapdiff run examples/school/verify.toml` finds exactly the
//! differences injected on purpose (examples/school/README.md) and nothing else.

use std::path::{Path, PathBuf};

use snapdiff::report::{Cell, ChangedRow, DuplicateKey, Status};

use crate::common::*;

/// A copy of examples/school in a temporary folder (so runs do not touch the repo).
pub fn school_copy(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/school");
    let dst = dir.join("school");
    std::fs::create_dir_all(dst.join("target")).unwrap();
    for f in ["legacy.db", "verify.toml"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    for e in std::fs::read_dir(src.join("target")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dst.join("target").join(p.file_name().unwrap())).unwrap();
    }
    dst
}

fn key(id: &str) -> Vec<(String, Option<String>)> {
    vec![("id".to_string(), Some(id.to_string()))]
}

#[test]
fn run_finds_exactly_the_injected_differences() {
    let dir = tempdir();
    let school = school_copy(dir.path());
    let spec_path = school.join("verify.toml");
    let (code, stdout, stderr) = run(&["run", spec_path.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 1, "differences were found: exit 1\n{stdout}{stderr}");
    assert!(stdout.contains("extracted legacy "), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("feedback ") && l.contains(" PASS ")),
        "{stdout}"
    );

    // The same runs through the library, with every differing row kept.
    let spec = snapdiff::spec::Spec::load(&spec_path).unwrap();
    let mut opts = snapdiff::check::VerifyOptions::new(spec.snapshot_root());
    opts.sample_rows = 1000;
    let outcome = snapdiff::check::verify(&spec, &opts, &snapdiff::progress::NoProgress).unwrap();
    assert!(!outcome.passed());
    assert_eq!(outcome.row_hash_version, 2);
    let e = |name: &str| {
        outcome
            .entities
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    for r in &outcome.entities {
        assert!(
            r.schema_findings.is_empty(),
            "{}: {:?}",
            r.name,
            r.schema_findings
        );
    }

    let user = e("user");
    let d = user.diff.as_ref().unwrap();
    assert_eq!(
        (
            user.legacy_rows,
            user.target_rows,
            d.missing,
            d.extra,
            d.changed
        ),
        (60, 60, 0, 0, 1)
    );
    assert_eq!(
        d.changed_by_column.iter().collect::<Vec<_>>(),
        vec![(&"email".to_string(), &1)]
    );
    let changed = &d.changed_rows[0];
    assert_eq!(changed.key, key("7"));
    let email: Vec<&Cell> = changed.cells.iter().filter(|c| c.differs).collect();
    assert_eq!(
        email,
        vec![&Cell {
            column: "email".into(),
            legacy: Some("frances.hopper7@school.example".into()),
            target: Some("ada.changed7@school.example".into()),
            differs: true
        }]
    );
    // Every other user matches: time zones, upper-cased emails, '' and 0/1 were normalised.
    assert_eq!(
        user.compared,
        vec!["email", "display_name", "created_at", "is_teacher", "bio"]
    );

    let course = e("course");
    let d = course.diff.as_ref().unwrap();
    assert_eq!((d.missing, d.extra, d.changed), (0, 0, 1));
    assert_eq!(
        d.changed_rows[0]
            .cells
            .iter()
            .filter(|c| c.differs)
            .map(|c| (c.column.as_str(), c.legacy.as_deref(), c.target.as_deref()))
            .collect::<Vec<_>>(),
        vec![(
            "title",
            Some("Operating Systems"),
            Some("Operating Systems II")
        )]
    );

    let sub = e("submission");
    let d = sub.diff.as_ref().unwrap();
    assert_eq!((sub.legacy_rows, sub.target_rows), (400, 401));
    assert_eq!((d.missing, d.extra, d.changed), (1, 1, 1));
    assert_eq!(
        d.missing_rows
            .iter()
            .map(|r| r[0].1.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["17"]
    );
    assert_eq!(
        d.extra_rows
            .iter()
            .map(|r| r[0].1.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["9001"]
    );
    assert_eq!(
        d.changed_rows
            .iter()
            .map(|c: &ChangedRow| (
                c.key.clone(),
                c.cells
                    .iter()
                    .filter(|x| x.differs)
                    .map(|x| (x.column.clone(), x.legacy.clone(), x.target.clone()))
                    .collect::<Vec<_>>()
            ))
            .collect::<Vec<_>>(),
        vec![(
            key("42"),
            vec![(
                "score".to_string(),
                Some("89.60".to_string()),
                Some("87.50".to_string())
            )]
        )]
    );
    assert_eq!(
        d.duplicates,
        vec![DuplicateKey {
            side: "target".into(),
            key: key("23"),
            rows: 2
        }]
    );
    assert_eq!(
        (
            d.duplicate_keys_legacy,
            d.duplicate_keys_target,
            d.null_keys_legacy,
            d.null_keys_target
        ),
        (0, 1, 0, 0)
    );
    // Month partitions whose digests match are proven equal and not row-diffed.
    let parts = sub.partitions.as_ref().unwrap();
    assert_eq!((parts.total, parts.equal), (12, 9));
    // Submission n falls in month 1 + n % 12: 17 and 9001 in June, 42 in July, 23 in December.
    assert_eq!(
        parts.differing,
        vec![
            "2024-06-01T00:00:00Z",
            "2024-07-01T00:00:00Z",
            "2024-12-01T00:00:00Z"
        ]
    );

    for name in ["feedback", "courses_per_status"] {
        let r = e(name);
        assert_eq!(r.status, Status::Pass, "{name}: {:?}", r.checks);
        let d = r.diff.as_ref().unwrap();
        assert_eq!(
            (d.missing, d.extra, d.changed, d.duplicate_keys_target),
            (0, 0, 0, 0),
            "{name}"
        );
    }
    assert_eq!(e("feedback").legacy_rows, 133);
    assert!(outcome
        .invariants
        .iter()
        .all(|i| i.status == Status::Pass && i.violations == 0));
    assert_eq!(outcome.invariants.len(), 2);
}
