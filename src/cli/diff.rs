//! `snapdiff diff A B --key id`: a quick diff without a spec. A and B are files, folders
//! or snapshot tables; flags say how to normalise them. The same checks, summary and
//! exit codes as `verify`, and optionally the report with every differing row.

use std::path::PathBuf;

use clap::Args;

use snapdiff::check::{self, VerifyOptions};
use snapdiff::engine::Budget;
use snapdiff::job::{self, DiffOptions, Rename};
use snapdiff::normalize::rules::{round_places, Case, ColumnRules, Rules, Tolerance, Zone};
use snapdiff::progress::NoProgress;
use snapdiff::report::store::Formats;
use snapdiff::report::Failure;
use snapdiff::snapshot::names::Names;
use snapdiff::snapshot::Side;
use snapdiff::spec::CheckKind;

#[derive(Debug, Args)]
#[command(
    about = "Diff two tables without a spec: files, folders or snapshot tables",
    long_about = "Diff A (as legacy) against B (as target) by key, without a spec: Parquet, CSV or NDJSON files, \
        folders of Parquet files, or SIDE.TABLE for a table of the newest complete snapshot run of that side. \
        The same checks as `verify` (schema, count, hash, diff, aggregate, and invalid for columns whose \
        rules can meet a value they cannot read) and the same summary.\n\n\
        Exit status: 0 no differences, 1 differences found, 2 the diff could not be done (its error is printed, \
        and written to the report with --report).",
    after_help = "Examples:\n  snapdiff diff old/orders.parquet new/orders.parquet --key id\n  \
        snapdiff diff legacy.orders target.orders --key id --round amount=2 --trim --report reports/\n  \
        snapdiff diff a.csv b.parquet --key id,line --tolerance price=0.01 --timezone placed=Europe/Berlin\n  \
        snapdiff diff legacy.Invoice target.invoice --key invoice_id --names snake_case --parse invoice_date='%Y-%m-%d %H:%M:%S'"
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
    /// Name both sides' columns this way before matching them: as_is, lower or
    /// snake_case (InvoiceId is compared with invoice_id).
    #[arg(long, value_name = "SCHEME", default_value = "as_is")]
    pub names: String,
    /// Rename a column of whichever side has it, OLD=NEW (repeatable; after --names).
    #[arg(long, value_name = "OLD=NEW")]
    pub rename: Vec<String>,
    /// Rename a legacy column, OLD=NEW (repeatable).
    #[arg(long, value_name = "OLD=NEW")]
    pub legacy_rename: Vec<String>,
    /// Rename a target column, OLD=NEW (repeatable).
    #[arg(long, value_name = "OLD=NEW")]
    pub target_rename: Vec<String>,
    /// Parse a column's text as timestamps with a chrono format, COL=FORMAT, on the
    /// side(s) where it is text (repeatable; give a column several formats to try them
    /// in order).
    #[arg(long, value_name = "COL=FORMAT")]
    pub parse: Vec<String>,
    /// Map a column's values before comparing, COL=A:x,B:y (unmapped values are kept).
    #[arg(long, value_name = "COL=A:x,...")]
    pub map: Vec<String>,
    /// Compare a column's text as canonical JSON (repeatable).
    #[arg(long, value_name = "COL")]
    pub json: Vec<String>,
    /// Read a column as booleans (1/0, t/f, yes/no, ...) (repeatable).
    #[arg(long = "bool", value_name = "COL")]
    pub boolean: Vec<String>,
    /// Bring every text column to Unicode NFC (é as one code point or two is the same).
    #[arg(long)]
    pub nfc: bool,
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
    /// aggregate. The invalid check runs whenever a rule (--parse, --json, --bool,
    /// --round, --timezone, --map) can meet a value it cannot read.
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

/// The options the flags say.
fn options(args: &DiffArgs) -> anyhow::Result<DiffOptions> {
    let mut opts = DiffOptions::new(&args.a, &args.b, args.key.clone());
    opts.checks = Vec::new();
    for c in &args.checks {
        match CheckKind::entity_check(c) {
            Some(k) => opts.checks.push(k),
            None => anyhow::bail!(
                "--checks {c}: not a check; choose from {}",
                CheckKind::entity_names().join(", ")
            ),
        }
    }
    opts.ignore = args.ignore.clone();
    opts.partition_by = args.partition_by.clone();
    opts.names = Names::parse(&args.names)?;
    for (flag, side, values) in [
        ("rename", None, &args.rename),
        ("legacy-rename", Some(Side::Legacy), &args.legacy_rename),
        ("target-rename", Some(Side::Target), &args.target_rename),
    ] {
        for (from, to) in pairs(flag, values)? {
            opts.renames.push(Rename { side, from, to });
        }
    }
    opts.text_rules = Rules {
        trim: args.trim,
        nfc: args.nfc,
        case: args.lower.then_some(Case::Lower),
        empty_as_null: args.empty_as_null,
        ..Rules::default()
    };
    for (c, format) in pairs("parse", &args.parse)? {
        opts.on_text.entry(c).or_default().parse.push(format);
    }
    for c in &args.json {
        opts.on_text.entry(c.clone()).or_default().json = true;
    }
    let mut column = |c: String, rules: ColumnRules| {
        let merged = opts
            .columns
            .get(&c)
            .cloned()
            .unwrap_or_default()
            .merged(&rules);
        opts.columns.insert(c, merged);
    };
    for (c, n) in pairs("round", &args.round)? {
        let places = n
            .parse::<i64>()
            .map_err(|e| e.to_string())
            .and_then(round_places)
            .map_err(|e| anyhow::anyhow!("--round {c}={n}: {e}"))?;
        column(
            c,
            ColumnRules::both(Rules {
                round: Some(places),
                ..Rules::default()
            }),
        );
    }
    for (c, spec) in pairs("map", &args.map)? {
        let mut map = std::collections::BTreeMap::new();
        for item in spec.split(',') {
            let (from, to) = item.split_once(':').ok_or_else(|| {
                anyhow::anyhow!(
                    "--map {c}={spec}: give FROM:TO pairs separated by commas (A:active,D:deleted)"
                )
            })?;
            map.insert(from.to_string(), to.to_string());
        }
        column(
            c,
            ColumnRules::both(Rules {
                map: Some(map),
                ..Rules::default()
            }),
        );
    }
    for c in &args.boolean {
        column(
            c.clone(),
            ColumnRules::both(Rules {
                boolean: true,
                ..Rules::default()
            }),
        );
    }
    for (c, z) in pairs("timezone", &args.timezone)? {
        let zone = Zone::new(&z).map_err(|e| anyhow::anyhow!("--timezone {c}={z}: {e}"))?;
        column(
            c,
            ColumnRules::both(Rules {
                timezone: Some(zone),
                ..Rules::default()
            }),
        );
    }
    for (c, x) in pairs("tolerance", &args.tolerance)? {
        let abs: f64 =
            x.parse().ok().filter(|x: &f64| *x >= 0.0).ok_or_else(|| {
                anyhow::anyhow!("--tolerance {c}={x}: give a number of at least 0")
            })?;
        let rules = ColumnRules {
            tolerance: Some(Tolerance {
                abs: Some(abs),
                rel: None,
            }),
            ..ColumnRules::default()
        };
        column(c, rules);
    }
    opts.verify = VerifyOptions::new(&args.snapshots);
    opts.verify.sample_rows = args.samples;
    opts.verify.budget = Budget::new(
        args.memory_limit
            .unwrap_or_else(snapdiff::engine::memory::default_limit),
    );
    opts.verify.first_pass = super::first_pass()?;
    opts.reports_root = args.report.clone();
    opts.formats = Formats::parse(&args.format)?;
    Ok(opts)
}

pub fn diff(args: DiffArgs) -> anyhow::Result<u8> {
    let opts = options(&args)?;
    let done = job::diff(&opts, &NoProgress)?;
    out!("diff {}  against {}", done.legacy, done.target);
    for (line, e) in done
        .outcome
        .summary_lines()
        .iter()
        .zip(&done.outcome.entities)
    {
        out!("{line}");
        if let Some(hint) = e.error.as_ref().and_then(Failure::hint_line) {
            out!("{hint}");
        }
    }
    if let Some((report, dir)) = &done.report {
        for f in report.files.iter().filter(|f| !f.starts_with("diffs/")) {
            out!("report: {}", dir.join(f).display());
        }
        if opts.formats.diffs {
            out!("diffs:  {}", dir.join("diffs").display());
        }
    } else if !args.quiet {
        for e in done
            .outcome
            .entities
            .iter()
            .filter(|e| e.status.failed_or_errored())
        {
            for line in super::verify::entity_details(e) {
                out!("{line}");
            }
        }
    }
    Ok(super::verify::exit_status(&done.outcome))
}
