//! Publishing a report's results into PostgreSQL tables that dashboards read
//! (`[reports] publish`, `--publish URL`).
//!
//! Each report becomes one row of `snapdiff_reports`, one row per entity, query check
//! and invariant in `snapdiff_entities`, one per check in `snapdiff_checks`, and one per
//! finding the report lists in `snapdiff_findings` (the keys as the report shows them,
//! masked alike; every differing row is in the diff Parquet files). The tables are
//! created when missing; a report is written in one transaction and replaces what an
//! earlier publication of the same report id wrote, so publishing again is harmless.
//! Like the report files, every text is scrubbed of the registered secrets.
//! The layout is documented in docs/report.md. The job treats a failure here as a
//! warning: the report and the exit status stay as they are.

use postgres::types::ToSql;
use postgres::Transaction;

use super::{key_text, EntityReport, Report, Row};
use crate::error::{Error, Result};
use crate::secrets::scrub;

/// The tables, created when missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS snapdiff_reports (
    report_id      text PRIMARY KEY,
    spec_name      text NOT NULL,
    spec_path      text NOT NULL,
    created_at     timestamptz NOT NULL,
    status         text NOT NULL,
    legacy_run     text NOT NULL,
    target_run     text NOT NULL,
    rows_compared  bigint NOT NULL,
    rows_proven    bigint NOT NULL,
    findings       bigint NOT NULL,
    new_findings   bigint,
    fixed_findings bigint,
    seconds        double precision NOT NULL,
    tool_version   text NOT NULL
);
CREATE TABLE IF NOT EXISTS snapdiff_entities (
    report_id             text NOT NULL REFERENCES snapdiff_reports ON DELETE CASCADE,
    name                  text NOT NULL,
    kind                  text NOT NULL,
    status                text NOT NULL,
    legacy_rows           bigint,
    target_rows           bigint,
    missing               bigint,
    extra                 bigint,
    changed               bigint,
    duplicate_keys        bigint,
    null_keys             bigint,
    invalid               bigint,
    schema_findings       bigint,
    aggregate_differences bigint,
    rows_proven           bigint,
    findings              bigint NOT NULL,
    error                 text,
    PRIMARY KEY (report_id, name)
);
CREATE TABLE IF NOT EXISTS snapdiff_checks (
    report_id  text NOT NULL REFERENCES snapdiff_reports ON DELETE CASCADE,
    name       text NOT NULL,
    check_name text NOT NULL,
    status     text NOT NULL,
    summary    text NOT NULL,
    seconds    double precision NOT NULL,
    PRIMARY KEY (report_id, name, check_name)
);
CREATE TABLE IF NOT EXISTS snapdiff_findings (
    report_id text NOT NULL REFERENCES snapdiff_reports ON DELETE CASCADE,
    name      text NOT NULL,
    kind      text NOT NULL,
    key       text,
    detail    text
);
CREATE INDEX IF NOT EXISTS snapdiff_findings_report ON snapdiff_findings (report_id, name);
";

/// What a publication wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub entities: u64,
    pub checks: u64,
    pub findings: u64,
}

/// Write `report` into the tables at `url` (created when missing), replacing an earlier
/// publication of the same report id, in one transaction.
pub fn publish(url: &str, report: &Report) -> Result<Published> {
    if let Some(pw) = url::Url::parse(url)
        .ok()
        .as_ref()
        .and_then(|u| u.password())
    {
        crate::secrets::register(pw);
    }
    let redacted = crate::secrets::redact_url(url);
    let fail = |what: &str| {
        let what = what.to_string();
        let redacted = redacted.clone();
        move |e: postgres::Error| {
            crate::extract::postgres::pg_error(&e, Some(&what)).with_source_url(redacted)
        }
    };
    let mut client = crate::extract::postgres::connect_url(url)
        .map_err(|e| e.with_source_url(redacted.clone()))?;
    let mut tx = client.transaction().map_err(fail("begin"))?;
    // Created only when missing: once they are there, the user needs no right to
    // create anything.
    let missing: bool = tx
        .query_one(
            "SELECT to_regclass('snapdiff_reports') IS NULL OR to_regclass('snapdiff_entities') IS NULL \
             OR to_regclass('snapdiff_checks') IS NULL OR to_regclass('snapdiff_findings') IS NULL",
            &[],
        )
        .map_err(fail("look for the snapdiff_* tables"))?
        .get(0);
    if missing {
        tx.batch_execute(SCHEMA)
            .map_err(fail("create the snapdiff_* tables"))?;
    }
    tx.execute(
        "DELETE FROM snapdiff_reports WHERE report_id = $1",
        &[&report.id],
    )
    .map_err(fail("replace the report's rows"))?;
    report_row(&mut tx, report).map_err(fail("insert into snapdiff_reports"))?;
    let mut published = Published {
        entities: 0,
        checks: 0,
        findings: 0,
    };
    for e in &report.outcome.entities {
        entity_rows(&mut tx, report, e, &mut published)
            .map_err(fail(&format!("insert the rows of {} {}", e.kind, e.name)))?;
    }
    for i in &report.outcome.invariants {
        invariant_rows(&mut tx, report, i, &mut published)
            .map_err(fail(&format!("insert the rows of invariant {}", i.name)))?;
    }
    tx.commit().map_err(fail("commit"))?;
    Ok(published)
}

fn report_row(tx: &mut Transaction, r: &Report) -> std::result::Result<u64, postgres::Error> {
    let glance = super::render::Glance::of(&r.outcome);
    let delta = r.delta.as_ref();
    tx.execute(
        "INSERT INTO snapdiff_reports (report_id, spec_name, spec_path, created_at, status, \
         legacy_run, target_run, rows_compared, rows_proven, findings, new_findings, \
         fixed_findings, seconds, tool_version) \
         VALUES ($1, $2, $3, ($4::text)::timestamptz, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &[
            &r.id,
            &r.spec.name,
            &r.spec.path,
            &r.created_at.to_rfc3339(),
            &status(r.status),
            &r.outcome.legacy.run_id,
            &r.outcome.target.run_id,
            &int(glance.total.compared),
            &int(glance.total.equal),
            &int(glance.findings),
            &delta.map(|d| int(d.new)),
            &delta.map(|d| int(d.fixed)),
            &r.outcome.seconds,
            &r.tool_version,
        ],
    )
}

fn entity_rows(
    tx: &mut Transaction,
    r: &Report,
    e: &EntityReport,
    n: &mut Published,
) -> std::result::Result<(), postgres::Error> {
    let d = e.diff.as_ref();
    let diff = |f: fn(&super::Diff) -> u64| d.map(|d| int(f(d)));
    tx.execute(
        "INSERT INTO snapdiff_entities (report_id, name, kind, status, legacy_rows, \
         target_rows, missing, extra, changed, duplicate_keys, null_keys, invalid, \
         schema_findings, aggregate_differences, rows_proven, findings, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        &[
            &r.id,
            &e.name,
            &e.kind.as_str(),
            &status(e.status),
            &Some(int(e.legacy_rows)),
            &Some(int(e.target_rows)),
            &diff(|d| d.missing),
            &diff(|d| d.extra),
            &diff(|d| d.changed),
            &diff(|d| d.duplicate_keys_legacy + d.duplicate_keys_target),
            &diff(|d| d.null_keys_legacy + d.null_keys_target),
            &e.invalid.as_ref().map(|i| int(i.total)),
            &Some(int(e.schema_findings.len() as u64)),
            &Some(int(e.aggregate_differences.len() as u64)),
            &e.proven().map(|p| int(p.equal)),
            &int(e.findings()),
            &e.error.as_ref().map(|f| scrub(&f.message)),
        ],
    )?;
    n.entities += 1;
    for c in &e.checks {
        tx.execute(
            "INSERT INTO snapdiff_checks (report_id, name, check_name, status, summary, seconds) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &r.id,
                &e.name,
                &c.check.as_str(),
                &status(c.status),
                &c.summary,
                &c.seconds,
            ],
        )?;
        n.checks += 1;
    }
    let findings = entity_findings(e);
    let mut insert = |kind: &str, key: Option<String>, detail: Option<String>| {
        tx.execute(
            "INSERT INTO snapdiff_findings (report_id, name, kind, key, detail) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &r.id,
                &e.name,
                &kind,
                &key.as_deref().map(scrub),
                &detail.as_deref().map(scrub),
            ],
        )
    };
    for (kind, key, detail) in findings {
        insert(kind, key, detail)?;
        n.findings += 1;
    }
    Ok(())
}

/// The findings an entity's report lists: (kind, key, detail).
fn entity_findings(e: &EntityReport) -> Vec<(&'static str, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    // A query check without a key: a row is its own identity.
    let key_of = |row: &Row| {
        let key = e.key_of(row);
        key_text(if key.is_empty() { row } else { &key })
    };
    if let Some(d) = &e.diff {
        for r in &d.missing_rows {
            out.push(("missing", Some(key_of(r)), None));
        }
        for r in &d.extra_rows {
            out.push(("extra", Some(key_of(r)), None));
        }
        for c in &d.changed_rows {
            let cols: Vec<&str> = c
                .cells
                .iter()
                .filter(|x| x.differs)
                .map(|x| x.column.as_str())
                .collect();
            out.push(("changed", Some(key_text(&c.key)), Some(cols.join(","))));
        }
        for k in &d.duplicates {
            out.push((
                "duplicate_key",
                Some(key_text(&k.key)),
                Some(format!("{}: {} rows", k.side, k.rows)),
            ));
        }
        for (side, r) in &d.null_key_rows {
            out.push(("null_key", Some(key_text(r)), Some(side.clone())));
        }
    }
    for i in e.invalid.iter().flat_map(|i| &i.rows) {
        out.push((
            "invalid",
            Some(key_text(&i.key)),
            Some(format!(
                "{} {}: {}",
                i.side,
                i.column,
                i.value.as_deref().unwrap_or("NULL")
            )),
        ));
    }
    for f in &e.schema_findings {
        out.push(("schema", None, Some(f.clone())));
    }
    for a in &e.aggregate_differences {
        out.push((
            "aggregate",
            None,
            Some(format!(
                "{} {}: legacy {} target {}",
                a.column,
                a.statistic,
                a.legacy.as_deref().unwrap_or("NULL"),
                a.target.as_deref().unwrap_or("NULL")
            )),
        ));
    }
    out
}

fn invariant_rows(
    tx: &mut Transaction,
    r: &Report,
    i: &super::InvariantReport,
    n: &mut Published,
) -> std::result::Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO snapdiff_entities (report_id, name, kind, status, findings, error) \
         VALUES ($1, $2, 'invariant', $3, $4, $5)",
        &[
            &r.id,
            &i.name,
            &status(i.status),
            &int(i.violations),
            &i.error.as_ref().map(|f| scrub(&f.message)),
        ],
    )?;
    n.entities += 1;
    tx.execute(
        "INSERT INTO snapdiff_checks (report_id, name, check_name, status, summary, seconds) \
         VALUES ($1, $2, 'invariant', $3, $4, $5)",
        &[
            &r.id,
            &i.name,
            &status(i.status),
            &format!("{} rows break it", i.violations),
            &i.seconds,
        ],
    )?;
    n.checks += 1;
    for row in &i.rows {
        let params: [&(dyn ToSql + Sync); 3] = [&r.id, &i.name, &scrub(&key_text(row))];
        tx.execute(
            "INSERT INTO snapdiff_findings (report_id, name, kind, key) \
             VALUES ($1, $2, 'invariant', $3)",
            &params,
        )?;
        n.findings += 1;
    }
    Ok(())
}

/// `pass`, `fail`, ... as report.json writes it.
fn status(s: super::Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A count as a `bigint`.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Why a publication failed, as the job's warning says it.
pub fn warning(url: &str, e: &Error) -> String {
    format!(
        "the report was not published to {}: {e}{}",
        crate::secrets::redact_url(url),
        e.hint
            .as_deref()
            .map(|h| format!(" (hint: {h})"))
            .unwrap_or_default()
    )
}
