//! A DataFusion session over two snapshot runs: every table of the legacy run as
//! `legacy.<table>`, of the target run as `target.<table>`, and every snapdiff function.
//!
//! Only complete runs are read (their `manifest.json` exists), and each file is checked
//! against the manifest (present, same size, same xxh3) before it is used.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::TableReference;

use super::memory::Budget;
use crate::error::{Error, Result};
use crate::snapshot::{self, Manifest, Side};

/// A complete run chosen for one side.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub side: Side,
    pub run_id: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// A session with snapdiff's functions and settings, within the default memory budget.
pub fn new_session() -> SessionContext {
    session_with_budget(&Budget::default())
}

/// A session whose memory pool holds the budget's pool share ([`Budget::pool`]): sorts
/// and aggregations spill to disk beyond it.
pub fn session_with_budget(budget: &Budget) -> SessionContext {
    // Text and binary are read from Parquet as views (DataFusion's default), which the
    // scan fills without copying each value into one buffer: the narrow pass of a diff
    // of TPC-H SF10 ran in 11.0 s against 13.5 s with plain arrays, and the whole diff in
    // 24 s against 28 s. Everything that holds rows copies them out as plain arrays
    // (the diff's `Compactor`, the diff files).
    let config = SessionConfig::new().with_information_schema(true);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(budget.pool() as usize)))
        .build_arc()
        .expect("a runtime with a memory pool and the default disk manager");
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    crate::normalize::register_all(&ctx);
    ctx
}

/// The run of `side` to read: `requested`, or the newest complete one; every file is
/// checked against its manifest.
pub fn choose_run(root: &Path, side: Side, requested: Option<&str>) -> Result<LoadedRun> {
    load_run(side, find_run(root, side, requested)?)
}

/// The run of `side`, `requested` or the newest complete one, with its manifest read and
/// its files not checked: for planning over its schemas (`snapdiff plan`).
pub fn peek_run(root: &Path, side: Side, requested: Option<&str>) -> Result<LoadedRun> {
    let info = find_run(root, side, requested)?;
    complete(side, &info)?;
    Ok(LoadedRun {
        side,
        manifest: snapshot::read_manifest(&info.path)?,
        run_id: info.run_id,
        dir: info.path,
    })
}

/// The folder of `side`'s run `requested`, or of its newest complete run.
fn find_run(root: &Path, side: Side, requested: Option<&str>) -> Result<snapshot::RunInfo> {
    Ok(match requested {
        Some(id) => {
            // A run id is a folder name: never a path that leaves the snapshot root.
            snapshot::check_name("run id", id)?;
            let dir = snapshot::run_dir(root, side.as_str(), id);
            if !crate::storage::is_dir(&dir)? {
                let known: Vec<String> = snapshot::list_runs(root, side.as_str())?
                    .into_iter()
                    .filter(|r| r.complete)
                    .map(|r| r.run_id)
                    .collect();
                return Err(Error::snapshot(format!("there is no {side} run `{id}`"))
                    .with_file(&dir)
                    .with_hint(if known.is_empty() {
                        "no complete run exists yet: run `snapdiff extract` first".to_string()
                    } else {
                        format!("complete {side} runs: {}", known.join(", "))
                    }));
            }
            snapshot::RunInfo {
                run_id: id.to_string(),
                complete: crate::storage::is_file(&dir.join(snapshot::MANIFEST))?,
                path: dir,
            }
        }
        None => snapshot::newest_complete(root, side.as_str())?.ok_or_else(|| {
            Error::snapshot(format!("there is no complete {side} snapshot"))
                .with_file(root.join(side.as_str()))
                .with_hint("extract one first: `snapdiff extract SPEC` (or `snapdiff run SPEC` to extract and verify)")
        })?,
    })
}

/// Load a run found under the snapshot root: it must be complete, and every file is
/// checked against its manifest.
pub fn load_run(side: Side, info: snapshot::RunInfo) -> Result<LoadedRun> {
    complete(side, &info)?;
    let manifest = snapshot::verify_run(&info.path)?;
    Ok(LoadedRun {
        side,
        run_id: info.run_id,
        dir: info.path,
        manifest,
    })
}

/// A run without its manifest is incomplete and never read.
fn complete(side: Side, info: &snapshot::RunInfo) -> Result<()> {
    if info.complete {
        return Ok(());
    }
    Err(Error::snapshot(format!(
        "{side} run `{}` is incomplete (it has no manifest.json)",
        info.run_id
    ))
    .with_file(&info.path)
    .with_hint("finish it with `snapdiff extract --resume RUN`, or choose a complete run"))
}

/// A session where checks run (this process, or the Ballista scheduler `engine` names)
/// with the runs `legacy` and `target` registered as `legacy.*` and `target.*`.
pub async fn session_over(
    legacy: &LoadedRun,
    target: &LoadedRun,
    engine: &crate::engine::Engine,
    budget: &Budget,
    cluster_partitions: usize,
) -> Result<SessionContext> {
    let ctx = match engine {
        crate::engine::Engine::InProcess => session_with_budget(budget),
        crate::engine::Engine::Ballista { host, port } => {
            crate::engine::remote::remote_session(host, *port, cluster_partitions, budget).await?
        }
    };
    register_run(&ctx, legacy).await?;
    register_run(&ctx, target).await?;
    Ok(ctx)
}

/// Register every table of `run` as `<side>.<table>`, and its start as
/// `snapshot_started_at('<side>')`.
pub async fn register_run(ctx: &SessionContext, run: &LoadedRun) -> Result<()> {
    crate::engine::started_at::register(ctx, run.side, run.manifest.started_at);
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| Error::internal("the session has no default catalog"))?;
    catalog
        .register_schema(run.side.as_str(), Arc::new(MemorySchemaProvider::new()))
        .map_err(|e| {
            Error::internal(format!("cannot create schema {}: {e}", run.side)).with_source(e)
        })?;
    crate::storage::register_with(ctx, &run.dir)?;
    for (name, table) in &run.manifest.tables {
        let urls = table
            .files
            .iter()
            .map(|f| {
                let p = run.dir.join(&f.path);
                ListingTableUrl::parse(p.to_string_lossy())
                    .map_err(|e| Error::snapshot(e.to_string()).with_file(&p))
            })
            .collect::<Result<Vec<_>>>()?;
        let opts =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(opts)
            .infer_schema(&ctx.state())
            .await
            .map_err(|e| {
                Error::snapshot(format!("cannot read the table's Parquet files: {e}"))
                    .with_table(format!("{}.{name}", run.side))
                    .with_file(&run.dir)
            })?;
        let t = ListingTable::try_new(config)
            .map_err(|e| Error::snapshot(e.to_string()).with_table(name))?;
        ctx.register_table(
            TableReference::partial(run.side.as_str(), name.as_str()),
            Arc::new(t),
        )
        .map_err(|e| Error::internal(e.to_string()))?;
    }
    Ok(())
}
