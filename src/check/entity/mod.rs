//! One entity (or query check) while it is verified: [`EntityRun`] holds its state,
//! [`run_entity`] runs its checks in order. `views.rs` normalises both sides' SQL into
//! two views with the same columns and one type per column (`harmonize.rs`); each check
//! lives in a file of its own one level up (`count.rs`, `hash.rs`, `aggregate.rs`,
//! `multiset.rs`, `diff/`) as a method of [`EntityRun`] over those views.
//!
//! Each view holds the key columns, the compared columns, `__part` (the partition) and
//! `__h` (the row hash of key and compared columns, tolerance columns left out). Views
//! are plain DataFusion views: nothing is materialised but the diff's candidate rows.
//! In one process the diff starts with the first pass that fits
//! ([`crate::check::diff::first_pass`]): streaming, matching, or narrow; only the rows
//! of differing keys are read again and diffed. On a cluster it diffs the views,
//! restricted to the differing key hashes.
//!
//! The views and the diff agree on what "equal" means: values are brought to one type
//! before either hashes or compares them (exact casts only: integers widened, decimals
//! at the larger scale, floats with -0.0 as 0.0 and one NaN; timestamps at microseconds,
//! the row hash's unit, and instants in UTC), so a partition whose digests match holds
//! no row the diff would call changed.

pub(crate) mod harmonize;
pub(crate) mod held;
mod settle;
pub(crate) mod views;

use std::collections::BTreeSet;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

use crate::check::diff::pass::BucketPass;
use crate::check::VerifyOptions;
use crate::engine::rows::rows;
use crate::engine::templates::ident;
use crate::error::{Error, ErrorKind, Result};
use crate::normalize::rules::{lit, ColumnRules, Rules, Tolerance};
use crate::normalize::{OnInvalid, RuleError};
use crate::report::{CheckOutcome, EntityReport, Failure, Row, Status};
use crate::snapshot::Side;
use crate::spec::{CheckKind, EntityDef, EntityKind, Thresholds};

/// A value as text (`None` for NULL), as Arrow displays it (a date beyond chrono's
/// years as its number of days).
pub(crate) fn cell(batch: &RecordBatch, col: usize, row: usize) -> Option<String> {
    crate::normalize::text::value_text(batch.column(col).as_ref(), row)
}

pub(crate) fn u64_cell(batch: &RecordBatch, col: &str, row: usize) -> u64 {
    let Ok(idx) = batch.schema().index_of(col) else {
        return 0;
    };
    let a = batch.column(idx);
    if a.is_null(row) {
        return 0;
    }
    match a.data_type() {
        DataType::Int64 => a
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(row)
            .max(0) as u64,
        DataType::UInt64 => a.as_primitive::<arrow::datatypes::UInt64Type>().value(row),
        _ => cell(batch, idx, row)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    }
}

/// User SQL embedded as a subquery: one statement, a trailing `;` dropped, and the
/// closing parenthesis on its own line so that a trailing `-- comment` cannot swallow it.
pub fn subquery(sql: &str) -> String {
    format!("({}\n)", without_final_semicolons(sql.trim()))
}

/// `sql` without the semicolons that end it, and the comments after them.
pub(crate) fn without_final_semicolons(sql: &str) -> &str {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return sql.trim_end_matches(';').trim_end();
    };
    let mut cut = None;
    for t in tokens.iter().rev() {
        match t.token {
            Token::Whitespace(_) => {}
            Token::SemiColon => cut = Some(t.span.start),
            _ => break,
        }
    }
    let Some(at) = cut else { return sql };
    // The location is a 1-based line and character column.
    let mut offset = 0;
    for (n, line) in sql.split_inclusive('\n').enumerate() {
        if n + 1 == at.line as usize {
            let col = line
                .char_indices()
                .nth(at.column.saturating_sub(1) as usize)
                .map_or(line.len(), |(i, _)| i);
            return sql[..offset + col].trim_end();
        }
        offset += line.len();
    }
    sql
}

/// The log target of every query a check runs, with its entity, and of the diff's
/// passes' figures (at debug level: `RUST_LOG=snapdiff::sql=debug`, or
/// `SNAPDIFF_DEBUG_SQL=1` for the binary).
pub const SQL_LOG: &str = "snapdiff::sql";

/// The state of one entity while it is verified.
pub(crate) struct EntityRun<'a> {
    /// Where the checks' queries run: this process, or a Ballista cluster.
    pub(crate) ctx: &'a SessionContext,
    /// Where what only this process holds is queried (the diff files, rows held in
    /// memory): `ctx` itself unless the checks run on a cluster.
    pub(crate) local: &'a SessionContext,
    pub(crate) def: &'a EntityDef,
    pub(crate) opts: &'a VerifyOptions,
    pub(crate) legacy_view: String,
    pub(crate) target_view: String,
    /// Each side's source SQL (with its filter), for attributing errors to columns.
    pub(crate) sources: [(Side, String); 2],
    pub(crate) key: Vec<String>,
    pub(crate) compared: Vec<String>,
    pub(crate) tolerance: Vec<(String, Tolerance)>,
    pub(crate) numeric: BTreeSet<String>,
    pub(crate) binary: BTreeSet<String>,
    /// Compared columns of date and time types (shown through `sd_text`, which never
    /// fails on a year beyond chrono's).
    pub(crate) temporal: BTreeSet<String>,
    /// Compared columns of nested types (lists, structs, maps).
    pub(crate) nested: BTreeSet<String>,
    /// Compared columns held as Float64 in the views.
    pub(crate) floats: BTreeSet<String>,
    /// The partitions whose digests differ; `None` when the diff covers every partition.
    pub(crate) scope_parts: Option<Vec<Option<String>>>,
    pub(crate) totals_known: bool,
    /// Every partition's digest is equal: the hashed columns are proven equal.
    pub(crate) digests_equal: bool,
    /// The digest query's result (digest.sql), when the hash check runs: the count
    /// check reads its per-partition counts from it rather than scanning again.
    pub(crate) digests: Option<Vec<RecordBatch>>,
    /// The diff check runs (and the entity has a key).
    pub(crate) diff_follows: bool,
    /// The narrow pass, when the digests came from it: the diff reuses it.
    pub(crate) buckets: Option<BucketPass>,
    /// About how many bytes a row of the views takes in memory.
    pub(crate) row_bytes: u64,
    /// What holding each side's view runs (`held.rs`), built with the views.
    pub(crate) hold_sql: [held::HoldSql; 2],
    /// The views are held in memory: where the invalid check finds the values a rule
    /// could not read.
    pub(crate) held_invalid: Option<held::HeldInvalid>,
    /// The diff's budget: the spec's, less what the held views take.
    pub(crate) budget: crate::engine::Budget,
    pub(crate) report: EntityReport,
    /// The check running and when it started: an error is reported as that check's.
    current: (CheckKind, Instant),
    /// Planning only (`snapdiff plan`): nothing is read, not even a sample value.
    pub(crate) plan_only: bool,
}

/// A column's rules on one side.
pub(crate) fn side_rules(rules: &ColumnRules, side: Side) -> &Rules {
    match side {
        Side::Legacy => &rules.legacy,
        Side::Target => &rules.target,
    }
}

/// The registered table names of a side, for hints.
pub(crate) fn tables_of(ctx: &SessionContext, side: Side) -> Vec<String> {
    ctx.catalog("datafusion")
        .and_then(|c| c.schema(side.as_str()))
        .map(|s| {
            let mut t = s.table_names();
            t.sort();
            t
        })
        .unwrap_or_default()
}

/// How DataFusion shows an external error, such as a [`RuleError`], in text.
const EXTERNAL_ERROR: &str = "External error: ";

/// Verify one entity.
pub(crate) async fn run_entity(
    ctx: &SessionContext,
    local: &SessionContext,
    def: &EntityDef,
    opts: &VerifyOptions,
) -> Result<EntityReport> {
    let mut run = EntityRun::new(ctx, local, def, opts);
    let outcome = run.run_checks().await;
    run.let_go();
    match outcome {
        Ok(()) => {}
        // Stopping is the user's wish: the run ends, not only this entity.
        Err(e) if e.kind == ErrorKind::Interrupted => return Err(e),
        Err(e) => run.errored(&e),
    }
    Ok(run.report)
}

/// Plan one entity against the runs' schemas, reading no data: its SQL, columns,
/// rules, types and partition expression. Returns its schema findings.
pub(crate) async fn plan_entity(
    ctx: &SessionContext,
    def: &EntityDef,
    opts: &VerifyOptions,
) -> Result<Vec<String>> {
    let mut run = EntityRun::new(ctx, ctx, def, opts);
    run.plan_only = true;
    run.build_views().await?;
    run.tolerance_needs_the_diff()?;
    Ok(run.report.schema_findings)
}

impl<'a> EntityRun<'a> {
    /// The entity before its checks run.
    fn new(
        ctx: &'a SessionContext,
        local: &'a SessionContext,
        def: &'a EntityDef,
        opts: &'a VerifyOptions,
    ) -> EntityRun<'a> {
        let report = EntityReport {
            name: def.name.clone(),
            kind: def.kind,
            key: def.key.clone(),
            compared: Vec::new(),
            legacy_only: Vec::new(),
            target_only: Vec::new(),
            tolerance_columns: Vec::new(),
            status: Status::Pass,
            legacy_rows: 0,
            target_rows: 0,
            schema_findings: Vec::new(),
            partitions: None,
            diff: None,
            aggregate_differences: Vec::new(),
            checks: Vec::new(),
            thresholds: def.thresholds,
            diff_files: Vec::new(),
            invalid: None,
            unsettled: None,
            recheck: None,
            error: None,
        };
        let src = |sql: &str, filter: &Option<String>| match filter {
            Some(f) => format!("SELECT * FROM {} AS s WHERE {f}\n", subquery(sql)),
            None => format!("SELECT * FROM {} AS s", subquery(sql)),
        };
        EntityRun {
            ctx,
            local,
            def,
            opts,
            legacy_view: format!("__sd_{}_legacy", def.name),
            target_view: format!("__sd_{}_target", def.name),
            sources: [
                (Side::Legacy, src(&def.legacy_sql, &def.legacy_filter)),
                (Side::Target, src(&def.target_sql, &def.target_filter)),
            ],
            key: def.key.clone(),
            compared: Vec::new(),
            tolerance: Vec::new(),
            numeric: BTreeSet::new(),
            binary: BTreeSet::new(),
            temporal: BTreeSet::new(),
            nested: BTreeSet::new(),
            floats: BTreeSet::new(),
            scope_parts: None,
            totals_known: false,
            digests_equal: false,
            digests: None,
            diff_follows: false,
            buckets: None,
            row_bytes: 64,
            hold_sql: Default::default(),
            held_invalid: None,
            budget: opts.budget,
            report,
            current: (CheckKind::Schema, Instant::now()),
            plan_only: false,
        }
    }
}

impl EntityRun<'_> {
    /// The entity's checks in order; the first error ends them.
    async fn run_checks(&mut self) -> Result<()> {
        let run = self;
        let def = run.def;
        let clock = run.start(CheckKind::Schema);
        run.build_views().await?;
        run.tolerance_needs_the_diff()?;
        let enabled = |c: CheckKind| def.checks.contains(&c);
        let findings = run.report.schema_findings.clone();
        let (status, summary) = if findings.is_empty() {
            (
                Status::Pass,
                format!(
                    "{} key and {} compared columns comparable",
                    run.key.len(),
                    run.compared.len()
                ),
            )
        } else {
            (Status::Fail, findings.join("; "))
        };
        // The schema check always runs, whatever `checks` says: it costs no data, and a
        // column that cannot be compared must never drop out of a verification unseen.
        run.push(CheckKind::Schema, status, summary, clock);
        // Reading and normalising each side once, where the views are held, is counted
        // in the invalid check, which reads its values in the same scan.
        let clock = run.start(CheckKind::Invalid);
        run.hold_views().await?;
        run.check_invalid(clock).await?;

        let multiset = def.kind == EntityKind::Query && def.key.is_empty();
        let diff_follows = run.diff_follows_the_count();
        run.diff_follows = diff_follows;
        if enabled(CheckKind::Count) {
            let clock = run.start(CheckKind::Count);
            if enabled(CheckKind::Hash) && !multiset {
                run.run_digests().await?;
            }
            run.check_count(clock, diff_follows || multiset).await?;
        }
        // The diff covers every partition unless the hash check proves some equal.
        let mut diff_needed = true;
        if multiset {
            let clock = run.start(CheckKind::Multiset);
            run.check_multiset(clock).await?;
            diff_needed = false;
        } else if enabled(CheckKind::Hash) {
            let clock = run.start(CheckKind::Hash);
            diff_needed = run.check_hash(clock, diff_follows).await?;
        }
        if !run.totals_known {
            run.count_totals().await?;
        }
        if diff_follows {
            let clock = run.start(CheckKind::Diff);
            run.check_diff(diff_needed, clock).await?;
        }
        if enabled(CheckKind::Aggregate) && def.kind == EntityKind::Entity {
            let clock = run.start(CheckKind::Aggregate);
            run.check_aggregate(clock).await?;
        }
        run.report.status = if run.report.checks.iter().any(|c| c.status == Status::Fail) {
            Status::Fail
        } else {
            Status::Pass
        };
        Ok(())
    }

    /// Whether the diff check runs (it needs a key).
    fn diff_follows_the_count(&self) -> bool {
        self.def.checks.contains(&CheckKind::Diff) && !self.def.key.is_empty()
    }

    /// Tolerance columns are left out of the digests: only the diff compares them.
    fn tolerance_needs_the_diff(&self) -> Result<()> {
        if self.tolerance.is_empty() || self.diff_follows_the_count() {
            return Ok(());
        }
        let cols: Vec<&str> = self.tolerance.iter().map(|(c, _)| c.as_str()).collect();
        Err(self
            .fail(format!(
                "columns {} have a tolerance, which only the diff check applies (they are \
                 left out of the digests), but `checks` leaves the diff out",
                cols.join(", ")
            ))
            .with_hint("add \"diff\" to the entity's checks, or drop the tolerance"))
    }

    /// `check` starts now: an error from here on is this check's.
    fn start(&mut self, check: CheckKind) -> Instant {
        self.current = (check, Instant::now());
        self.current.1
    }

    /// The entity could not be verified: the check that was running failed with `e`.
    fn errored(&mut self, e: &Error) {
        let failure = Failure::of(e);
        let (check, clock) = self.current;
        log::warn!(target: SQL_LOG, "-- {} {} could not be verified: {}", self.def.kind, self.def.name, failure.message);
        // A check that had recorded its outcome before the error (the hash check, then
        // the totals it needed) is replaced, not listed twice.
        if self.report.checks.last().is_some_and(|c| c.check == check) {
            self.report.checks.pop();
        }
        self.push(check, Status::Error, failure.message.clone(), clock);
        self.report.status = Status::Error;
        self.report.error = Some(failure);
        // Diff files the failed check left half written would stop `snapdiff sql` from
        // reading the report's others: the entity's go.
        self.report.diff_files.clear();
        let dir = self.diff_dir();
        if dir.exists() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

impl<'a> EntityRun<'a> {
    pub(crate) fn fail(&self, msg: impl Into<String>) -> Error {
        Error::source(format!(
            "{} {}: {}",
            self.def.kind,
            self.def.name,
            msg.into()
        ))
    }

    pub(crate) fn push(
        &mut self,
        check: CheckKind,
        status: Status,
        summary: String,
        clock: Instant,
    ) {
        self.report.checks.push(CheckOutcome {
            check,
            status,
            summary,
            seconds: clock.elapsed().as_secs_f64(),
        });
    }

    pub(crate) fn thresholds(&self) -> Thresholds {
        self.def.thresholds
    }

    pub(crate) fn debug(&self, sql: &str) {
        log::debug!(target: SQL_LOG, "-- {} {}\n{sql};", self.def.kind, self.def.name);
    }

    pub(crate) async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.query_in(self.ctx, sql).await
    }

    /// [`Self::query`] in `ctx` (the checks' session, or the local one).
    pub(crate) async fn query_in(
        &self,
        ctx: &SessionContext,
        sql: &str,
    ) -> Result<Vec<RecordBatch>> {
        self.debug(sql);
        let run = async { crate::engine::sql::sql(ctx, sql).await?.collect().await };
        match run.await {
            Ok(b) => Ok(b),
            Err(e) => Err(self.explain_in(ctx, e).await),
        }
    }

    /// An error of a check, attributed to the column whose normalisation raised it when
    /// it came from one of snapdiff's rules.
    pub(crate) async fn explain(&self, e: datafusion::error::DataFusionError) -> Error {
        self.explain_in(self.ctx, e).await
    }

    /// [`Self::explain`] for a query that ran in `ctx`: when that is a cluster's session,
    /// the hint says so.
    pub(crate) async fn explain_in(
        &self,
        ctx: &SessionContext,
        e: datafusion::error::DataFusionError,
    ) -> Error {
        let text = e.to_string();
        // A rule's error arrives typed from this process. From a cluster's executors it
        // arrives as text, where all that is left of its type is how DataFusion shows an
        // external error: only then are the normalised columns probed there, and a probe
        // counts only if it fails the same way (an executor lost fails every probe).
        let rule = RuleError::find(&e).map(|r| r.message.clone());
        let remote = self.opts.engine.is_distributed() && std::ptr::eq(ctx, self.ctx);
        let external = |t: &str| t.contains(EXTERNAL_ERROR);
        if rule.is_some() || (remote && external(&text)) {
            for (side, source) in &self.sources {
                for (c, rules) in &self.def.normalize {
                    let r = side_rules(rules, *side);
                    if r.is_empty() {
                        continue;
                    }
                    let probe = format!(
                        "SELECT count({}) FROM ({source}) AS s",
                        r.apply_with(&ident(c), OnInvalid::Null)
                    );
                    let probed = match crate::engine::sql::sql(self.ctx, &probe).await {
                        Ok(df) => df.collect().await.err(),
                        Err(e) => Some(e),
                    };
                    let failed = probed.is_some_and(|p| {
                        RuleError::find(&p).is_some() || (remote && external(&p.to_string()))
                    });
                    if failed {
                        // The rule's message quotes the value it could not read.
                        let why = if self.def.masked(c) {
                            "a value cannot be read (not shown: the reports mask this column)"
                        } else {
                            rule.as_deref().unwrap_or(&text).trim()
                        };
                        return self
                            .fail(format!(
                                "normalising {side} column {c} ({}): {why}",
                                r.describe()
                            ))
                            .with_column(c.clone());
                    }
                }
            }
        }
        // Not attributed to a column: its text quotes the value, which may be masked.
        let masked = self.def.normalize.keys().any(|c| self.def.masked(c));
        let e = if rule.is_some() && masked {
            self.fail(
                "a rule cannot read a value (not shown: the reports mask a column it may be from)",
            )
        } else {
            self.fail(text)
        };
        if remote {
            e.with_hint(crate::engine::remote::failed_query_hint(&self.opts.engine))
        } else {
            e
        }
    }

    pub(crate) async fn count(&self, sql: &str) -> Result<u64> {
        let b = self
            .query(&format!("SELECT count(*) AS n FROM ({sql}) AS c"))
            .await?;
        Ok(b.first().map(|b| u64_cell(b, "n", 0)).unwrap_or(0))
    }

    pub(crate) fn rows(batches: &[RecordBatch]) -> Vec<Row> {
        rows(batches, true)
    }

    pub(crate) fn keys_list(&self, prefix: &str) -> String {
        self.key
            .iter()
            .map(|k| format!("{prefix}{}", ident(k)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The predicate that a row of table `prefix` is in a partition being diffed.
    pub(crate) fn scope(&self, prefix: &str) -> String {
        let Some(parts) = &self.scope_parts else {
            return "true".into();
        };
        let col = format!("{prefix}__part");
        let mut preds = Vec::new();
        let texts: Vec<String> = parts.iter().flatten().map(|p| lit(p)).collect();
        if !texts.is_empty() {
            preds.push(format!("CAST({col} AS VARCHAR) IN ({})", texts.join(", ")));
        }
        if parts.iter().any(Option::is_none) {
            preds.push(format!("{col} IS NULL"));
        }
        if preds.is_empty() {
            "false".into()
        } else {
            format!("({})", preds.join(" OR "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_sql_is_embedded_safely() {
        assert_eq!(subquery("SELECT 1; "), "(SELECT 1\n)");
        assert_eq!(subquery("SELECT 1; -- done"), "(SELECT 1\n)");
        assert_eq!(subquery("SELECT 'é;'\n  ;; /* x */\n"), "(SELECT 'é;'\n)");
        assert_eq!(subquery("SELECT ';' -- ;"), "(SELECT ';' -- ;\n)");
        assert_eq!(subquery("SELECT 1 -- the end"), "(SELECT 1 -- the end\n)");
    }
}
