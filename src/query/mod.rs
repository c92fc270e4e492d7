//! Ad hoc SQL over the snapshots: the session `snapdiff sql` and `snapdiff diff` query,
//! the library of ready queries in `queries/adhoc/`, and streaming result output.
//!
//! A session holds the chosen complete runs as `legacy.<table>` and `target.<table>`,
//! the diff files of the newest report of those runs as `diffs.<entity>_<kind>`, and
//! every snapdiff function.

pub mod output;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::MemorySchemaProvider;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::engine::{choose_run, new_session, register_run, LoadedRun};
use crate::error::{Error, Result};
use crate::snapshot::Side;

pub use crate::engine::sql::{explain, read_only, sql, tables};
use crate::report::{store, SpecInfo};

/// Where a session's tables come from.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub snapshot_root: PathBuf,
    /// The reports root, for the diffs of the runs (none when `None`).
    pub reports_root: Option<PathBuf>,
    /// The spec whose reports to look in.
    pub spec: Option<SpecInfo>,
    pub legacy_run: Option<String>,
    pub target_run: Option<String>,
}

/// A session over the snapshots, and what it holds.
pub struct SqlSession {
    pub ctx: SessionContext,
    pub legacy: Option<LoadedRun>,
    pub target: Option<LoadedRun>,
    /// The report whose diff files are registered, if any.
    pub report: Option<String>,
}

/// Open a session: the runs asked for (an error when missing), else the newest complete
/// run of each side (a side without one is left out), and the diffs of the newest
/// report of exactly those runs.
pub async fn open(opts: &SessionOptions) -> Result<SqlSession> {
    let ctx = new_session();
    let mut runs = Vec::new();
    for (side, asked) in [
        (Side::Legacy, &opts.legacy_run),
        (Side::Target, &opts.target_run),
    ] {
        let run = match asked {
            Some(id) => Some(choose_run(&opts.snapshot_root, side, Some(id))?),
            // A side without a complete run is left out; a run that fails its check is an
            // error, never silently left out.
            None => crate::snapshot::newest_complete(&opts.snapshot_root, side.as_str())?
                .map(|info| crate::engine::session::load_run(side, info))
                .transpose()?,
        };
        if let Some(r) = &run {
            register_run(&ctx, r).await?;
        }
        runs.push(run);
    }
    let target = runs.pop().flatten();
    let legacy = runs.pop().flatten();
    let mut report = None;
    if let (Some(root), Some(spec), Some(l), Some(t)) =
        (&opts.reports_root, &opts.spec, &legacy, &target)
    {
        let (reports, _) = store::list_reports(root, spec)?;
        if let Some((dir, r)) = reports.iter().rev().find(|(_, r)| {
            r.outcome.legacy.run_id == l.run_id && r.outcome.target.run_id == t.run_id
        }) {
            register_diffs(&ctx, dir).await?;
            report = Some(r.id.clone());
        }
    }
    Ok(SqlSession {
        ctx,
        legacy,
        target,
        report,
    })
}

/// Register a report's `diffs/<entity>/<kind>.parquet` as `diffs.<entity>_<kind>`.
pub async fn register_diffs(ctx: &SessionContext, report_dir: &Path) -> Result<()> {
    let diffs = report_dir.join("diffs");
    let entities = crate::storage::list_dirs(&diffs)?;
    if entities.is_empty() {
        return Ok(());
    }
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| Error::internal("the session has no default catalog"))?;
    catalog
        .register_schema("diffs", Arc::new(MemorySchemaProvider::new()))
        .map_err(|e| Error::internal(format!("cannot create schema diffs: {e}")).with_source(e))?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entity in entities {
        for f in crate::storage::list_files(&diffs.join(&entity))? {
            let path = diffs.join(&entity).join(&f);
            if path.extension().is_some_and(|x| x == "parquet") {
                let kind = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                files.push((format!("{entity}_{kind}"), path));
            }
        }
    }
    files.sort();
    for (name, path) in files {
        let df = crate::engine::diff_files::read(ctx, &path).await?;
        ctx.register_table(
            datafusion::sql::TableReference::partial("diffs", name.as_str()),
            df.into_view(),
        )
        .map_err(|e| Error::internal(e.to_string()))?;
    }
    Ok(())
}

/// Register one input of `snapdiff diff` as `<schema>.t`: a Parquet, CSV or NDJSON
/// file, a folder of Parquet files, or `SIDE.TABLE` (the table in the newest complete
/// run of that side under `snapshot_root`). Returns what it was, for the summary.
pub async fn register_input(
    ctx: &SessionContext,
    input: &str,
    schema: &str,
    snapshot_root: &Path,
) -> Result<String> {
    use datafusion::prelude::{CsvReadOptions, NdJsonReadOptions};
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| Error::internal("the session has no default catalog"))?;
    if catalog.schema(schema).is_none() {
        catalog
            .register_schema(schema, Arc::new(MemorySchemaProvider::new()))
            .map_err(|e| {
                Error::internal(format!("cannot create schema {schema}: {e}")).with_source(e)
            })?;
    }
    let path = Path::new(input);
    let fail = |e: datafusion::error::DataFusionError| {
        Error::source(format!("cannot read {input}: {e}")).with_file(path)
    };
    let (df, what) = if path.exists() {
        let p = input.to_string();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let df = match ext.as_str() {
            "csv" => ctx.read_csv(p, CsvReadOptions::new()).await,
            "ndjson" | "jsonl" | "json" => {
                ctx.read_json(
                    p,
                    NdJsonReadOptions::default().file_extension(&format!(".{ext}")),
                )
                .await
            }
            _ => ctx.read_parquet(p, ParquetReadOptions::default()).await,
        }
        .map_err(fail)?;
        (df, input.to_string())
    } else if let Some((side, table)) = input
        .split_once('.')
        .and_then(|(s, t)| Side::parse(s).ok().map(|s| (s, t)))
    {
        let run = choose_run(snapshot_root, side, None)?;
        crate::storage::register_with(ctx, &run.dir)?;
        let t = run.manifest.tables.get(table).ok_or_else(|| {
            Error::snapshot(format!(
                "the {side} run {} has no table `{table}`",
                run.run_id
            ))
            .with_file(&run.dir)
            .with_hint(format!(
                "its tables: {}",
                run.manifest
                    .tables
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let files: Vec<String> = t
            .files
            .iter()
            .map(|f| run.dir.join(&f.path).to_string_lossy().to_string())
            .collect();
        let df = ctx
            .read_parquet(files, ParquetReadOptions::default())
            .await
            .map_err(fail)?;
        (df, format!("{input} (run {})", run.run_id))
    } else {
        return Err(Error::spec(format!(
            "`{input}` is neither a file or folder nor a snapshot table (legacy.TABLE, target.TABLE)"
        ))
        .with_hint("give a Parquet, CSV or NDJSON file, a folder of Parquet files, or SIDE.TABLE"));
    };
    ctx.register_table(
        datafusion::sql::TableReference::partial(schema, "t"),
        df.into_view(),
    )
    .map_err(|e| Error::internal(e.to_string()))?;
    Ok(what)
}

/// A ready query of `queries/adhoc/`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdhocQuery {
    pub name: &'static str,
    /// What it computes (its header comment's first sentence and what follows).
    pub description: String,
    /// The parameters it takes, in order of appearance (without `legacy_`/`target_`).
    pub params: Vec<String>,
    /// The placeholders its SQL holds, as written (`legacy_table`, `key`, ...).
    placeholders: Vec<String>,
    /// Parameter defaults (`-- Default <name>: <value>`).
    pub defaults: BTreeMap<String, String>,
    pub sql: &'static str,
}

const ADHOC: [(&str, &str); 5] = [
    (
        "counts_per_partition",
        include_str!("../../queries/adhoc/counts_per_partition.sql"),
    ),
    (
        "key_overlap",
        include_str!("../../queries/adhoc/key_overlap.sql"),
    ),
    (
        "column_profile",
        include_str!("../../queries/adhoc/column_profile.sql"),
    ),
    (
        "changed_rows",
        include_str!("../../queries/adhoc/changed_rows.sql"),
    ),
    (
        "duplicate_keys",
        include_str!("../../queries/adhoc/duplicate_keys.sql"),
    ),
];

/// The ready queries, by name.
pub fn library() -> Vec<AdhocQuery> {
    ADHOC
        .iter()
        .map(|(name, sql)| parse_adhoc(name, sql))
        .collect()
}

fn parse_adhoc(name: &'static str, sql: &'static str) -> AdhocQuery {
    let comments: Vec<&str> = sql
        .lines()
        .take_while(|l| l.starts_with("--"))
        .map(|l| l.trim_start_matches("--").trim())
        .collect();
    let mut description = Vec::new();
    for c in &comments {
        if c.starts_with("Parameters:") || c.starts_with("Default ") || c.starts_with("A `legacy_`")
        {
            break;
        }
        description.push(*c);
    }
    let description = description
        .join(" ")
        .trim_start_matches(&format!("{name}:"))
        .trim()
        .to_string();
    let mut defaults = BTreeMap::new();
    for c in &comments {
        if let Some(rest) = c.strip_prefix("Default ") {
            if let Some((k, v)) = rest.split_once(':') {
                defaults.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    let mut params: Vec<String> = Vec::new();
    let mut placeholders: Vec<String> = Vec::new();
    let body: String = sql
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = body.as_str();
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let p = &after[..end];
        if !placeholders.iter().any(|x| x == p) {
            placeholders.push(p.to_string());
        }
        let p = p
            .strip_prefix("legacy_")
            .or_else(|| p.strip_prefix("target_"))
            .unwrap_or(p)
            .to_string();
        if !params.contains(&p) {
            params.push(p);
        }
        rest = &after[end + 2..];
    }
    AdhocQuery {
        name,
        description,
        params,
        placeholders,
        defaults,
        sql,
    }
}

/// The parameters that are names of tables and columns: taken exactly as written
/// (`InvoiceId`) and quoted in the SQL. The others (`partition`, `limit`, `entity`, whose
/// names the spec keeps to lowercase) are SQL as given.
const NAME_PARAMS: [&str; 3] = ["table", "column", "key"];

/// The SQL of ready query `name` with `params` filled in. A `legacy_x`/`target_x`
/// parameter not given takes `x`; a parameter the SQL needs with neither a value nor a
/// default is an error that names it. Table, column and key names are quoted
/// ([`NAME_PARAMS`]).
pub fn render_adhoc(name: &str, params: &BTreeMap<String, String>) -> Result<String> {
    let lib = library();
    let q = lib.iter().find(|q| q.name == name).ok_or_else(|| {
        Error::spec(format!("there is no ready query `{name}`")).with_hint(format!(
            "the ready queries are: {} (`snapdiff sql --list-queries`)",
            lib.iter().map(|q| q.name).collect::<Vec<_>>().join(", ")
        ))
    })?;
    let value =
        |p: &str| -> Option<String> { params.get(p).or_else(|| q.defaults.get(p)).cloned() };
    let mut values: Vec<(String, String)> = Vec::new();
    for name in &q.placeholders {
        let p = name
            .strip_prefix("legacy_")
            .or_else(|| name.strip_prefix("target_"))
            .unwrap_or(name);
        let v = params
            .get(name)
            .cloned()
            .or_else(|| value(p))
            .ok_or_else(|| {
                let per_side = if name == p {
                    String::new()
                } else {
                    format!(" (or {name})")
                };
                Error::spec(format!(
                    "ready query `{}` needs the parameter `{p}`{per_side}",
                    q.name
                ))
                .with_hint(format!(
                    "give it with --param {p}=VALUE (its parameters: {})",
                    q.params.join(", ")
                ))
            })?;
        let v = if NAME_PARAMS.contains(&p) {
            crate::engine::templates::ident(&v)
        } else {
            v
        };
        values.push((name.clone(), v));
    }
    for k in params.keys() {
        let known = q
            .params
            .iter()
            .any(|p| k == p || *k == format!("legacy_{p}") || *k == format!("target_{p}"));
        if !known {
            return Err(
                Error::spec(format!("ready query `{}` has no parameter `{k}`", q.name))
                    .with_hint(format!("its parameters: {}", q.params.join(", "))),
            );
        }
    }
    let refs: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    crate::engine::templates::render(q.sql, &refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_reads_its_headers() {
        let lib = library();
        let names: Vec<&str> = lib.iter().map(|q| q.name).collect();
        assert_eq!(
            names,
            [
                "counts_per_partition",
                "key_overlap",
                "column_profile",
                "changed_rows",
                "duplicate_keys"
            ]
        );
        let overlap = &lib[1];
        assert_eq!(overlap.params, ["key", "table"]);
        assert_eq!(
            overlap.description,
            "how many distinct keys of a table are only in legacy, in both, or only in target."
        );
        assert_eq!(
            lib[0].defaults.get("partition").map(String::as_str),
            Some("'all'")
        );
    }

    #[test]
    fn parameters_fill_in_per_side_and_a_missing_one_is_named() {
        let mut p = BTreeMap::new();
        p.insert("table".to_string(), "orders".to_string());
        let e = render_adhoc("key_overlap", &p).unwrap_err().to_string();
        assert!(
            e.starts_with("ready query `key_overlap` needs the parameter `key`"),
            "{e}"
        );
        p.insert("key".to_string(), "id".to_string());
        p.insert("target_key".to_string(), "legacy_id".to_string());
        let sql = render_adhoc("key_overlap", &p).unwrap();
        assert!(
            sql.contains(
                "SELECT DISTINCT \"id\" AS k FROM legacy.\"orders\" WHERE \"id\" IS NOT NULL"
            ),
            "{sql}"
        );
        assert!(
            sql.contains(
                "SELECT DISTINCT \"legacy_id\" AS k FROM target.\"orders\" WHERE \"legacy_id\" IS NOT NULL"
            ),
            "{sql}"
        );
        p.insert("colour".to_string(), "red".to_string());
        let e = render_adhoc("key_overlap", &p).unwrap_err().to_string();
        assert!(
            e.starts_with("ready query `key_overlap` has no parameter `colour`"),
            "{e}"
        );
        // Names as the sources write them, quoted; each side's table alone will do.
        let p = BTreeMap::from([
            ("legacy_table".to_string(), "Invoice".to_string()),
            ("target_table".to_string(), "invoice".to_string()),
            ("column".to_string(), "Billing \"City\"".to_string()),
        ]);
        let sql = render_adhoc("column_profile", &p).unwrap();
        assert!(
            sql.contains(
                "SELECT 'legacy' AS side, \"Billing \"\"City\"\"\" AS v FROM legacy.\"Invoice\""
            ),
            "{sql}"
        );
        assert!(sql.contains("FROM target.\"invoice\")"), "{sql}");
        assert!(render_adhoc("nope", &p)
            .unwrap_err()
            .to_string()
            .contains("there is no ready query `nope`"));
    }
}
