//! `snapdiff extract`: fill [`ExtractRequest`]s from a spec or from flags, and run them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use snapdiff::extract::{
    self, CastType, ExtractOptions, ExtractRequest, Source, TableFrom, TableRequest,
};
use snapdiff::snapshot::names::Names;
use snapdiff::snapshot::{self, Side};
use snapdiff::EXIT_OK;

use super::progress::TermProgress;

#[derive(Debug, Args)]
#[command(
    about = "Snapshot sources into Parquet",
    long_about = "Snapshot sources into Parquet runs under <root>/<side>/<run-id>/.\n\n\
        With a SPEC, every side of its [sources] is extracted (or only --side), as its [[extract]] entries say; \
        a side without entries gets every table of its source. Without a SPEC, --source and --table (or --query) \
        say what to read.\n\n\
        A run is complete when its manifest.json exists; an interrupted run is finished with --resume RUN.",
    after_help = "Examples:\n  \
        snapdiff extract examples/school/verify.toml\n  \
        snapdiff extract verify.toml --side target\n  \
        snapdiff extract verify.toml --resume 20261122T021500Z\n  \
        snapdiff extract --source sqlite://legacy.db --table users --table orders\n  \
        snapdiff extract --source postgresql://app@db/shop --table public.orders \\\n      \
        --partition-on id --partitions 4 --side target\n  \
        snapdiff extract --source files://uploads --table uploads --side target"
)]
pub struct ExtractArgs {
    /// The spec file (TOML). Without it, give --source.
    pub spec: Option<PathBuf>,

    /// Extract only this side (legacy or target); without a spec, the side to write (default: legacy).
    #[arg(long)]
    pub side: Option<String>,

    /// The run id to create (default: the current UTC time, 20261122T021500Z).
    #[arg(long, conflicts_with = "resume")]
    pub run_id: Option<String>,

    /// Finish the interrupted run RUN: tables already complete are kept, the rest are read.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,

    /// The source URL: sqlite://PATH, postgresql://USER@HOST/DB, mysql://USER@HOST/DB, files://DIR, or a data file/folder/glob.
    #[arg(long, value_name = "URL", conflicts_with = "spec")]
    pub source: Option<String>,

    /// How the snapshot names tables and columns: as_is (the source's names), lower, or
    /// snake_case (InvoiceId becomes invoice_id; schema.json keeps the source's names).
    /// With a spec, this overrides its [sources.<side>] names.
    #[arg(long, value_name = "SCHEME")]
    pub names: Option<String>,

    /// A table to read (repeatable); schema-qualified names are allowed (public.orders).
    #[arg(long = "table", value_name = "TABLE")]
    pub tables: Vec<String>,

    /// A query to read instead of a table (needs --name).
    #[arg(long, value_name = "SQL", requires = "name", conflicts_with = "tables")]
    pub query: Option<String>,

    /// The snapshot table name for --query (or for a single --table).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The snapshot root: a folder or s3://BUCKET/PREFIX (default: the spec's [snapshots] root, or ./snapshots).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Split the read of each --table into ranges of this integer column.
    #[arg(long, value_name = "COLUMN")]
    pub partition_on: Option<String>,

    /// Ranges read at once.
    #[arg(long, value_name = "N")]
    pub partitions: Option<usize>,

    /// Cast a column in the source before reading: COLUMN=TYPE (text, integer, float, decimal(P,S), boolean, date, timestamp, timestamptz, binary).
    #[arg(long = "cast", value_name = "COLUMN=TYPE")]
    pub casts: Vec<String>,

    /// Rows per range query; bounds the memory of each reader.
    #[arg(long, value_name = "ROWS", default_value_t = 500_000)]
    pub chunk_rows: u64,

    /// Print nothing but errors and the final summary.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_casts(items: &[String]) -> anyhow::Result<BTreeMap<String, CastType>> {
    let mut out = BTreeMap::new();
    for item in items {
        let Some((col, ty)) = item.split_once('=') else {
            bail!("--cast takes COLUMN=TYPE, not `{item}`");
        };
        out.insert(col.trim().to_string(), ty.parse::<CastType>()?);
    }
    Ok(out)
}

/// Build the requests and options, then extract each side.
pub fn run(args: ExtractArgs) -> anyhow::Result<u8> {
    let casts = parse_casts(&args.casts)?;
    let (requests, root) = match &args.spec {
        Some(path) => {
            if !args.tables.is_empty() || args.query.is_some() {
                bail!("--table and --query are for extracting without a spec; with a spec, list tables in its [[extract]] entries");
            }
            let spec = super::load_spec(path)?;
            let sides: Vec<Side> = match &args.side {
                Some(s) => vec![Side::parse(s)?],
                None => spec.sides(),
            };
            if sides.is_empty() {
                bail!(
                    "{}: the spec names no [sources.legacy] or [sources.target]",
                    path.display()
                );
            }
            let mut reqs = Vec::new();
            for side in &sides {
                let names = match &args.names {
                    Some(n) => Names::parse(n)?,
                    None => spec.names(*side)?,
                };
                let mut r = spec.extract_request_named(*side, names)?;
                for t in r.tables.iter_mut() {
                    if t.partition_on.is_none() {
                        t.partition_on = args.partition_on.clone();
                    }
                    if t.partitions.is_none() {
                        t.partitions = args.partitions;
                    }
                    for (c, ty) in &casts {
                        t.casts.entry(c.clone()).or_insert(*ty);
                    }
                }
                reqs.push(r);
            }
            (
                reqs,
                args.out.clone().unwrap_or_else(|| spec.snapshot_root()),
            )
        }
        None => {
            let Some(url) = &args.source else {
                bail!("give a spec file, or --source URL with --table TABLE (see `snapdiff extract --help`)");
            };
            let cwd = std::env::current_dir().context("cannot read the current folder")?;
            let source = Source::parse(url, &cwd)?;
            let side = args.side.clone().unwrap_or_else(|| "legacy".to_string());
            let mut tables = Vec::new();
            if let Some(q) = &args.query {
                let name = args
                    .name
                    .clone()
                    .expect("clap requires --name with --query");
                tables.push(TableRequest {
                    name,
                    from: TableFrom::Query(q.clone()),
                    partition_on: args.partition_on.clone(),
                    partitions: args.partitions,
                    casts: casts.clone(),
                });
            }
            if args.name.is_some() && args.tables.len() > 1 {
                bail!("--name names one table; it cannot be used with several --table");
            }
            let names = match &args.names {
                Some(n) => Names::parse(n)?,
                None => Names::AsIs,
            };
            for t in &args.tables {
                let mut req = TableRequest::whole_named(t, names);
                if let Some(n) = &args.name {
                    req.name = n.clone();
                }
                req.partition_on = args.partition_on.clone();
                req.partitions = args.partitions;
                req.casts = casts.clone();
                tables.push(req);
            }
            let root = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("snapshots"));
            (
                vec![ExtractRequest {
                    side,
                    source,
                    tables,
                    names,
                }],
                root,
            )
        }
    };
    // Table options need a table to apply to: a side read whole has none named.
    if requests.iter().any(|r| r.tables.is_empty())
        && (!args.casts.is_empty() || args.partition_on.is_some() || args.partitions.is_some())
    {
        bail!(
            "--cast, --partition-on and --partitions apply to named tables: give --table (or --query), \
             or list the tables in the spec's [[extract]] entries"
        );
    }
    let sides: Vec<&str> = requests.iter().map(|r| r.side.as_str()).collect();
    let run_id = match (&args.resume, &args.run_id) {
        (Some(r), _) => r.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => snapshot::new_run_id(&root, &sides),
    };
    // A run id is a folder name: never a path that leaves the snapshot root. Checked
    // before the file system is looked at (`--resume ../../x` must not find a run there).
    snapshot::check_name("run id", &run_id)?;
    let progress = TermProgress::new(args.quiet);
    for req in &requests {
        let mut opts = ExtractOptions::new(&root, &run_id);
        opts.chunk_rows = args.chunk_rows.max(1);
        opts.resume = args.resume.is_some();
        if opts.resume
            && snapdiff::storage::is_file(
                &snapshot::run_dir(&root, &req.side, &run_id).join(snapshot::MANIFEST),
            )?
        {
            progress.println(&format!("{}: run {run_id} is already complete", req.side));
            continue;
        }
        let outcome = extract::extract(req, &opts, &progress)?;
        let rows: u64 = outcome.manifest.tables.values().map(|t| t.rows).sum();
        progress.println(&format!(
            "{:<7} {}  {} {}  {} rows  {}",
            outcome.side,
            outcome.run_id,
            outcome.manifest.tables.len(),
            if outcome.manifest.tables.len() == 1 {
                "table"
            } else {
                "tables"
            },
            rows,
            outcome.run_dir.display()
        ));
    }
    Ok(EXIT_OK)
}
