//! `snapdiff diff A B --key id`: a quick diff without a spec. A and B are files, folders
//! or snapshot tables; flags say how to normalise them. The same checks, summary and
//! exit codes as `verify`, and optionally the report with every differing row.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use snapdiff::check::{self, VerifyOptions};
use snapdiff::report::store::{self, Formats, PendingReport};
use snapdiff::report::{Outcome, Report, RunSummary, SpecInfo, Status};
use snapdiff::spec::{CheckKind, EntityDef, EntityKind, Thresholds};
use snapdiff::{EXIT_DIFFERENCES, EXIT_OK};

#[derive(Debug, Args)]
#[command(
    about = "Diff two tables without a spec: files, folders or snapshot tables",
    long_about = "Diff A (as legacy) against B (as target) by key, without a spec: Parquet, CSV or NDJSON files, \
        folders of Parquet files, or SIDE.TABLE for a table of the newest complete snapshot run of that side. \
        The same checks as `verify` (schema, count, hash, diff, aggregate) and the same summary.\n\n\
        Exit status: 0 no differences, 1 differences found, 2 the diff could not be done.",
    after_help = "Examples:\n  snapdiff diff old/orders.parquet new/orders.parquet --key id\n  \
        snapdiff diff legacy.orders target.orders --key id --round amount=2 --trim --report reports/\n  \
        snapdiff diff a.csv b.parquet --key id,line --tolerance price=0.01 --timezone placed=Europe/Berlin"
)]
pub struct DiffArgs {
    /// The legacy side: a file, a folder of Parquet files, or SIDE.TABLE.
    pub a: String,
    /// The target side: a file, a folder of Parquet files, or SIDE.TABLE.
    pub b: String,
    /// The key column(s), comma-separated.
    #[arg(long, value_name = "COLS", value_delimiter = ',', required = true)]
    pub key: Vec<String>,
    /// Round a column to N decimal places on both sides: COL=N (repeatable).
    #[arg(long, value_name = "COL=N")]
    pub round: Vec<String>,
    /// Compare a number column within an absolute tolerance: COL=X (repeatable).
    #[arg(long, value_name = "COL=X")]
    pub tolerance: Vec<String>,
    /// Read a column's naive timestamps as wall-clock time in a zone: COL=ZONE (repeatable).
    #[arg(long, value_name = "COL=ZONE")]
    pub timezone: Vec<String>,
    /// Leave a column out of the comparison (repeatable).
    #[arg(long, value_name = "COL")]
    pub ignore: Vec<String>,
    /// Trim whitespace from every text column.
    #[arg(long)]
    pub trim: bool,
    /// Lower-case every text column.
    #[arg(long)]
    pub lower: bool,
    /// Read an empty string as NULL in every text column.
    #[arg(long)]
    pub empty_as_null: bool,
    /// An SQL expression that partitions the rows (per-partition counts and digests).
    #[arg(long, value_name = "EXPR")]
    pub partition_by: Option<String>,
    /// Where SIDE.TABLE inputs are read from.
    #[arg(long, value_name = "DIR", default_value = "snapshots")]
    pub snapshots: PathBuf,
    /// Write a report (report.json, .md, .html, junit.xml, diffs/) under DIR/<id>/.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// With --report: the files to write (as `verify --format`).
    #[arg(long, value_name = "LIST", default_value = "all")]
    pub format: String,
    /// Sample rows shown for each kind of difference.
    #[arg(long, value_name = "N", default_value_t = check::DEFAULT_SAMPLE_ROWS)]
    pub samples: usize,
    /// Print only the summary line.
    #[arg(long, short)]
    pub quiet: bool,
    /// The checks to run, comma-separated: schema (always runs), count, hash, diff,
    /// aggregate.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "count,hash,diff,aggregate"
    )]
    pub checks: Vec<String>,
    /// The memory the checks keep within: a size (8G, 512M) or a share of RAM (50%).
    /// Bigger data takes more passes, never more memory. Default: half of RAM.
    #[arg(long, value_name = "SIZE", value_parser = super::memory_limit)]
    pub memory_limit: Option<u64>,
}

/// `COL=VALUE` pairs of a repeatable flag.
fn pairs(flag: &str, values: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|v| {
            v.split_once('=')
                .map(|(c, x)| (c.trim().to_string(), x.trim().to_string()))
                .ok_or_else(|| anyhow::anyhow!("--{flag} {v}: give COL=VALUE"))
        })
        .collect()
}

pub fn diff(args: DiffArgs) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let memory_limit = args
        .memory_limit
        .unwrap_or_else(snapdiff::engine::memory::default_limit);
    let mut checks = Vec::new();
    for c in &args.checks {
        match CheckKind::entity_check(c) {
            Some(k) => checks.push(k),
            None => anyhow::bail!(
                "--checks {c}: not a check; choose from {}",
                CheckKind::entity_names().join(", ")
            ),
        }
    }
    let ctx = snapdiff::engine::session_with_budget(&snapdiff::engine::Budget::new(memory_limit));
    let (a, b) = rt.block_on(async {
        let a = snapdiff::query::register_input(&ctx, &args.a, "legacy", &args.snapshots).await?;
        let b = snapdiff::query::register_input(&ctx, &args.b, "target", &args.snapshots).await?;
        Ok::<_, snapdiff::error::Error>((a, b))
    })?;

    // Per-column rules, as a spec's [entity.normalize] would hold them.
    let mut rules: BTreeMap<String, toml::map::Map<String, toml::Value>> = BTreeMap::new();
    let text_columns: Vec<String> = rt.block_on(async {
        let mut cols = Vec::new();
        for side in ["legacy", "target"] {
            if let Ok(df) = ctx.table(format!("{side}.t").as_str()).await {
                for f in df.schema().fields() {
                    let text = matches!(
                        f.data_type(),
                        arrow::datatypes::DataType::Utf8
                            | arrow::datatypes::DataType::LargeUtf8
                            | arrow::datatypes::DataType::Utf8View
                    );
                    if text && !cols.contains(f.name()) {
                        cols.push(f.name().clone());
                    }
                }
            }
        }
        cols
    });
    for c in &text_columns {
        for (on, rule) in [
            (args.trim, "trim"),
            (args.lower, "lower"),
            (args.empty_as_null, "empty_as_null"),
        ] {
            if on {
                rules
                    .entry(c.clone())
                    .or_default()
                    .insert(rule.into(), toml::Value::Boolean(true));
            }
        }
    }
    for (c, n) in pairs("round", &args.round)? {
        let n: i64 = n.parse().map_err(|_| {
            anyhow::anyhow!("--round {c}={n}: give a whole number of decimal places")
        })?;
        rules
            .entry(c)
            .or_default()
            .insert("round".into(), toml::Value::Integer(n));
    }
    for (c, z) in pairs("timezone", &args.timezone)? {
        rules
            .entry(c)
            .or_default()
            .insert("timezone".into(), toml::Value::String(z));
    }
    for (c, x) in pairs("tolerance", &args.tolerance)? {
        let x: f64 = x
            .parse()
            .map_err(|_| anyhow::anyhow!("--tolerance {c}={x}: give a number"))?;
        let mut abs = toml::map::Map::new();
        abs.insert("abs".into(), toml::Value::Float(x));
        rules
            .entry(c)
            .or_default()
            .insert("tolerance".into(), toml::Value::Table(abs));
    }
    let normalize: BTreeMap<String, toml::Value> = rules
        .into_iter()
        .map(|(c, r)| (c, toml::Value::Table(r)))
        .collect();
    let normalize = snapdiff::spec::checks::parse_normalize(&normalize)
        .map_err(|(c, e)| anyhow::anyhow!("column {c}: {e}"))?;
    let def = EntityDef {
        name: "diff".into(),
        kind: EntityKind::Entity,
        key: args.key.clone(),
        legacy_sql: "SELECT * FROM legacy.t".into(),
        target_sql: "SELECT * FROM target.t".into(),
        columns: None,
        ignore: args.ignore.clone(),
        partition_by: args.partition_by.clone(),
        legacy_filter: None,
        target_filter: None,
        sample: None,
        keys_file: None,
        checks,
        normalize,
        thresholds: Thresholds::default(),
    };

    let formats = Formats::parse(&args.format)?;
    let pending = match &args.report {
        Some(root) if formats.any() => Some(PendingReport::begin(root, &store::new_report_id())?),
        _ => None,
    };
    let mut opts = VerifyOptions::new(&args.snapshots);
    opts.sample_rows = args.samples;
    opts.budget = snapdiff::engine::Budget::new(memory_limit);
    opts.first_pass = super::first_pass()?;
    opts.diffs_dir = pending.as_ref().map(|p| p.diffs_dir());
    let clock = std::time::Instant::now();
    let entities = rt.block_on(check::verify_entities(
        &ctx,
        &[def],
        &opts,
        &snapdiff::progress::NoProgress,
    ))?;
    let now = chrono::Utc::now();
    let input = |id: &str, what: &str| RunSummary {
        run_id: id.into(),
        source_kind: "input".into(),
        source_url: what.to_string(),
        started_at: now,
        finished_at: now,
        consistency: "as read".into(),
        tables: Vec::new(),
    };
    let outcome = Outcome {
        legacy: input("a", &a),
        target: input("b", &b),
        row_hash_version: snapdiff::normalize::ROW_HASH_VERSION,
        entities,
        invariants: Vec::new(),
        seconds: clock.elapsed().as_secs_f64(),
    };
    println!("diff {a}  against {b}");
    let e = &outcome.entities[0];
    for line in outcome.summary_lines() {
        println!("{line}");
    }
    if let Some(p) = pending {
        let spec = SpecInfo {
            name: "diff".into(),
            path: format!("{} {}", args.a, args.b),
            sha256: String::new(),
        };
        let mut report = Report::new(p.id(), spec, outcome.clone());
        let dir = p.commit(&mut report, formats)?;
        for f in report.files.iter().filter(|f| !f.starts_with("diffs/")) {
            println!("report: {}", dir.join(f).display());
        }
        if formats.diffs {
            println!("diffs:  {}", dir.join("diffs").display());
        }
    } else if !args.quiet && e.status == Status::Fail {
        for line in super::verify::entity_details(e) {
            println!("{line}");
        }
    }
    Ok(if outcome.passed() {
        EXIT_OK
    } else {
        EXIT_DIFFERENCES
    })
}
