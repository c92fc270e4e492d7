//! The verify half of the flow: two complete snapshot runs in, what differs out.
//!
//! [`verify`] registers the chosen legacy and target runs (`legacy.<table>`,
//! `target.<table>`, and every snapdiff function) in a DataFusion session (on a cluster,
//! a remote one, beside a local one for what only this process holds), verifies each
//! entity and query check ([`entity`]), runs the invariants, and applies the thresholds.
//! The SQL of every check is in `queries/*.sql` ([`crate::engine::templates`]).

mod aggregate;
mod count;
pub(crate) mod diff;
pub mod entity;
mod hash;
mod invalid;
mod multiset;
pub mod plan;

use std::path::PathBuf;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::report::{InvariantReport, Outcome, RunSummary, Status};
use crate::snapshot::Side;
use crate::spec::Spec;

use crate::engine::templates as sql;
use crate::engine::{choose_run, session_with_budget, Budget, LoadedRun};

pub use diff::first_pass::FirstPass;

/// How to verify, beyond what the spec says.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub snapshot_root: PathBuf,
    /// The legacy run to read (default: the newest complete one).
    pub legacy_run: Option<String>,
    /// The target run to read (default: the newest complete one).
    pub target_run: Option<String>,
    /// How many sample rows of each kind of difference to keep.
    pub sample_rows: usize,
    /// Where every differing row is written (`<entity>/missing.parquet`, ...); a
    /// temporary folder, removed afterwards, when `None`.
    pub diffs_dir: Option<PathBuf>,
    /// The memory budget (`--memory-limit`, [`Budget`]): bigger data means more passes,
    /// never more memory.
    pub budget: Budget,
    /// Where the checks run: in this process, or on a Ballista cluster.
    pub engine: crate::engine::Engine,
    /// The diff's first pass to start with, to compare the passes (the binary reads
    /// `SNAPDIFF_FIRST_PASS`); `None` tries each in turn ([`FirstPass::choose`]).
    pub first_pass: Option<FirstPass>,
    /// On a cluster, the partitions (tasks) each query is split into (the binary reads
    /// `SNAPDIFF_CLUSTER_PARTITIONS`).
    pub cluster_partitions: usize,
}

/// Sample rows kept of each kind of difference unless asked otherwise.
pub const DEFAULT_SAMPLE_ROWS: usize = 5;

impl VerifyOptions {
    pub fn new(snapshot_root: impl Into<PathBuf>) -> Self {
        VerifyOptions {
            snapshot_root: snapshot_root.into(),
            legacy_run: None,
            target_run: None,
            sample_rows: DEFAULT_SAMPLE_ROWS,
            diffs_dir: None,
            budget: Budget::default(),
            engine: crate::engine::Engine::InProcess,
            first_pass: None,
            cluster_partitions: crate::engine::remote::DEFAULT_CLUSTER_PARTITIONS,
        }
    }
}

/// Verify the spec's entities, query checks and invariants over two complete runs.
pub fn verify(spec: &Spec, opts: &VerifyOptions, progress: &dyn Progress) -> Result<Outcome> {
    let rt = crate::engine::runtime::runtime(crate::engine::runtime::Flavor::Queries)?;
    // An unreachable scheduler is said before the runs are read and checked.
    if let crate::engine::Engine::Ballista { host, port } = &opts.engine {
        rt.block_on(crate::engine::remote::reachable(host, *port))?;
    }
    let legacy = choose_run(
        &opts.snapshot_root,
        Side::Legacy,
        opts.legacy_run.as_deref(),
    )?;
    let target = choose_run(
        &opts.snapshot_root,
        Side::Target,
        opts.target_run.as_deref(),
    )?;
    rt.block_on(verify_runs(spec, &legacy, &target, opts, progress))
}

/// Verify over runs already chosen.
pub async fn verify_runs(
    spec: &Spec,
    legacy: &LoadedRun,
    target: &LoadedRun,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<Outcome> {
    let clock = Instant::now();
    let ctx = session_over(legacy, target, opts).await?;
    let defs = settled(spec.entity_defs(), legacy, target);
    let entities = verify_entities(&ctx, &defs, opts, progress).await?;
    let mut invariants = Vec::new();
    for inv in &spec.file.invariant {
        let clock = Instant::now();
        let report = match check_invariant(&ctx, spec, inv, opts).await {
            Ok(r) => r,
            Err(e) if e.kind == crate::error::ErrorKind::Interrupted => return Err(e),
            Err(e) => InvariantReport {
                name: inv.name.clone(),
                status: Status::Error,
                violations: 0,
                rows: Vec::new(),
                seconds: clock.elapsed().as_secs_f64(),
                error: Some(crate::report::Failure::of(&e)),
            },
        };
        invariants.push(report);
    }
    Ok(Outcome {
        legacy: RunSummary::of(&legacy.manifest),
        target: RunSummary::of(&target.manifest),
        row_hash_version: crate::normalize::ROW_HASH_VERSION,
        entities,
        invariants,
        seconds: clock.elapsed().as_secs_f64(),
    })
}

/// A session where the checks run, as `opts` says, over the runs `legacy` and `target`.
pub async fn session_over(
    legacy: &LoadedRun,
    target: &LoadedRun,
    opts: &VerifyOptions,
) -> Result<datafusion::prelude::SessionContext> {
    crate::engine::session::session_over(
        legacy,
        target,
        &opts.engine,
        &opts.budget,
        opts.cluster_partitions,
    )
    .await
}

/// `defs` with their `settle` cutoffs set for the runs `legacy` and `target`: too young
/// to judge is later than the earlier snapshot's start less the window.
pub fn settled(
    mut defs: Vec<crate::spec::EntityDef>,
    legacy: &LoadedRun,
    target: &LoadedRun,
) -> Vec<crate::spec::EntityDef> {
    let start = legacy.manifest.started_at.min(target.manifest.started_at);
    for d in &mut defs {
        if let Some(s) = &mut d.settle {
            // A window reaching back before the calendar leaves every row out, too young.
            s.cutoff = Some(
                start
                    .checked_sub_signed(s.within)
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
            );
        }
    }
    defs
}

/// Check one invariant: how many rows break it, and the first of them.
/// The query that counts the rows breaking invariant `inv`.
pub(crate) fn invariant_query(inv: &crate::spec::checks::InvariantSection) -> Result<String> {
    sql::render(sql::INVARIANT, &[("sql", &entity::subquery(&inv.sql))])
}

/// Invariant `inv`'s SQL failed with `e`.
pub(crate) fn invariant_error(
    inv: &crate::spec::checks::InvariantSection,
    e: &datafusion::error::DataFusionError,
) -> Error {
    Error::source(format!("invariant {}: the SQL fails: {e}", inv.name))
}

async fn check_invariant(
    ctx: &datafusion::prelude::SessionContext,
    spec: &Spec,
    inv: &crate::spec::checks::InvariantSection,
    opts: &VerifyOptions,
) -> Result<InvariantReport> {
    let clock = Instant::now();
    let fail = |e: datafusion::error::DataFusionError| {
        let err = invariant_error(inv, &e);
        if opts.engine.is_distributed() {
            err.with_hint(crate::engine::remote::failed_query_hint(&opts.engine))
        } else {
            err
        }
    };
    let q = invariant_query(inv)?;
    let b = crate::engine::sql::sql(ctx, &q)
        .await
        .map_err(fail)?
        .collect()
        .await
        .map_err(fail)?;
    let violations = b
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .map(|a| a.value(0) as u64)
        })
        .unwrap_or(0);
    let sample = crate::engine::sql::sql(
        ctx,
        &format!(
            "SELECT * FROM {} AS v LIMIT {}",
            entity::subquery(&inv.sql),
            opts.sample_rows
        ),
    )
    .await
    .map_err(fail)?
    .collect()
    .await
    .map_err(fail)?;
    let rows = crate::engine::rows::rows(&sample, false);
    let max = inv
        .thresholds
        .over(&spec.file.thresholds)
        .max_rows
        .unwrap_or(0);
    Ok(InvariantReport {
        name: inv.name.clone(),
        status: if violations <= max {
            Status::Pass
        } else {
            Status::Fail
        },
        violations,
        rows,
        seconds: clock.elapsed().as_secs_f64(),
        error: None,
    })
}

/// Verify entity (and query) definitions in a session that already holds the
/// `legacy.*` and `target.*` tables.
pub async fn verify_entities(
    ctx: &datafusion::prelude::SessionContext,
    defs: &[crate::spec::EntityDef],
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<Vec<crate::report::EntityReport>> {
    // The diff files go to a temporary folder unless the caller keeps them.
    let scratch;
    let mut opts = opts.clone();
    if opts.diffs_dir.is_none() {
        scratch = tempfile::Builder::new()
            .prefix("snapdiff-diffs-")
            .tempdir()
            .map_err(|e| Error::io("create a temporary folder", &std::env::temp_dir(), e))?;
        opts.diffs_dir = Some(scratch.path().to_path_buf());
    }
    let opts = &opts;
    // What cannot go to a cluster (the diff files, rows held in memory) is queried in
    // this process.
    let local = if opts.engine.is_distributed() {
        session_with_budget(&opts.budget)
    } else {
        ctx.clone()
    };
    let mut entities = Vec::new();
    for def in defs {
        progress.table_started("verify", &def.name, None);
        let clock = Instant::now();
        let r = entity::run_entity(ctx, &local, def, opts).await?;
        progress.table_finished(
            "verify",
            &def.name,
            r.legacy_rows.max(r.target_rows),
            clock.elapsed().as_secs_f64(),
        );
        entities.push(r);
    }
    Ok(entities)
}
