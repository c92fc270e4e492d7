//! `snapdiff sql`: one query over the snapshots, a ready query from `queries/adhoc/` by
//! name, or an interactive prompt (line editing, history, multi-line statements ended
//! by `;`, and `\d`, `\d TABLE`, `\timing`, `\q`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use snapdiff::query::output::{self, Format};
use snapdiff::query::{self, SessionOptions, SqlSession};
use snapdiff::report::SpecInfo;
use snapdiff::EXIT_OK;

#[derive(Debug, Args)]
#[command(
    about = "Query the snapshots with SQL: one query, a ready query by name, or an interactive prompt",
    long_about = "Run SQL over the snapshots: the newest complete runs (or --legacy-run/--target-run) as \
        legacy.<table> and target.<table>, the diff files of the newest report of those runs as \
        diffs.<entity>_<kind>, and every snapdiff function (sd_row_hash, the normalisers). Without a query, \
        an interactive prompt opens: statements end with `;`; \\d lists tables, \\d TABLE describes one, \
        \\timing toggles timings, \\q quits.",
    after_help = "Examples:\n  snapdiff sql verify.toml \"SELECT count(*) FROM target.orders\"\n  \
        snapdiff sql verify.toml --query key_overlap --param table=orders --param key=id\n  \
        snapdiff sql verify.toml \"SELECT * FROM diffs.orders_changed\" --format csv --out changed.csv\n  \
        snapdiff sql --list-queries"
)]
pub struct SqlArgs {
    /// The spec file (TOML): where the snapshots and reports are.
    #[arg(required_unless_present = "list_queries")]
    pub spec: Option<PathBuf>,
    /// The query (default: an interactive prompt).
    pub sql: Option<String>,
    /// Run a ready query of queries/adhoc/ by name (see --list-queries).
    #[arg(long, value_name = "NAME", conflicts_with = "sql")]
    pub query: Option<String>,
    /// A parameter of the ready query, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// List the ready queries and their parameters.
    #[arg(long)]
    pub list_queries: bool,
    /// The legacy run (default: the newest complete one).
    #[arg(long, value_name = "RUN")]
    pub legacy_run: Option<String>,
    /// The target run (default: the newest complete one).
    #[arg(long, value_name = "RUN")]
    pub target_run: Option<String>,
    /// The snapshot root: a folder or s3://BUCKET/PREFIX (default: the spec's).
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// The reports root: a folder or s3://BUCKET/PREFIX (default: the spec's).
    #[arg(long, value_name = "DIR")]
    pub reports: Option<PathBuf>,
    /// Output: table, csv, json, ndjson or parquet (parquet needs --out).
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
    /// Write the result to FILE instead of standard output (streamed: any size).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Rows a table shows (the rest are counted and said to be left out).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
}

pub fn sql(args: SqlArgs) -> anyhow::Result<u8> {
    if args.list_queries {
        for q in query::library() {
            out!("{}  ({})", q.name, q.params.join(", "));
            out!("    {}", q.description);
        }
        out!("\nParameters named legacy_X / target_X default to X (for keys or tables that differ between the sides).");
        out!("Table, column and key names are taken exactly as written (InvoiceId) and quoted.");
        return Ok(EXIT_OK);
    }
    let spec_path = args.spec.clone().expect("clap requires a spec");
    let spec = super::load_spec(&spec_path)?;
    let format = Format::parse(&args.format)?;
    let opts = SessionOptions {
        snapshot_root: args
            .snapshots
            .clone()
            .unwrap_or_else(|| spec.snapshot_root()),
        reports_root: Some(args.reports.clone().unwrap_or_else(|| spec.reports_root())),
        spec: Some(SpecInfo::of(&spec)),
        legacy_run: args.legacy_run.clone(),
        target_run: args.target_run.clone(),
    };
    let rt = snapdiff::engine::runtime::runtime(snapdiff::engine::runtime::Flavor::Queries)?;
    let session = rt.block_on(query::open(&opts))?;
    let text = match (&args.sql, &args.query) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(name)) => {
            let mut params = BTreeMap::new();
            for p in &args.params {
                let (k, v) = p.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!("--param {p}: give NAME=VALUE (for example --param key=id)")
                })?;
                params.insert(k.trim().to_string(), v.to_string());
            }
            Some(query::render_adhoc(name, &params)?)
        }
        (None, None) => None,
    };
    match text {
        Some(text) => {
            let w = rt.block_on(run_one(
                &session,
                &text,
                format,
                args.out.as_deref(),
                args.limit,
            ))?;
            if let Some(out) = &args.out {
                eprintln!("{} rows written to {}", w.rows, out.display());
            }
            Ok(EXIT_OK)
        }
        None => repl(&rt, &session, args.limit),
    }
}

/// Run one statement and write its result.
async fn run_one(
    session: &SqlSession,
    text: &str,
    format: Format,
    out: Option<&std::path::Path>,
    limit: usize,
) -> snapdiff::error::Result<output::Written> {
    let df = session
        .ctx
        .sql_with_options(text, query::read_only())
        .await
        .map_err(|e| query::explain(&session.ctx, e))?;
    output::write(df, format, out, limit).await
}

/// The interactive prompt.
fn repl(rt: &tokio::runtime::Runtime, session: &SqlSession, limit: usize) -> anyhow::Result<u8> {
    let mut editor = rustyline::DefaultEditor::new()?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".snapdiff_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    out!(
        "snapdiff sql: legacy {}, target {}{}. End statements with `;`; \\d lists tables, \\q quits.",
        session.legacy.as_ref().map_or("(none)", |r| r.run_id.as_str()),
        session.target.as_ref().map_or("(none)", |r| r.run_id.as_str()),
        session
            .report
            .as_ref()
            .map(|r| format!(", diffs of report {r}"))
            .unwrap_or_default()
    );
    let mut timing = false;
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "snapdiff> "
        } else {
            "     ...> "
        };
        let line = match editor.readline(prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        // Meta-commands work at any point, even inside an unfinished statement.
        if trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            let mut words = trimmed.split_whitespace();
            match (words.next(), words.next()) {
                (Some("\\q"), _) => break,
                (Some("\\timing"), _) => {
                    timing = !timing;
                    out!("timing is {}", if timing { "on" } else { "off" });
                }
                (Some("\\d"), None) => print_result(rt, session, &list_tables_sql(session), limit, false),
                (Some("\\d"), Some(table)) => describe(rt, session, table),
                (Some("\\?"), _) | (Some("\\h"), _) => out!(
                    "\\d            tables with row counts\n\\d TABLE      columns and types\n\\timing       toggle timings\n\\q            quit"
                ),
                _ => out!("unknown command {trimmed}: \\? lists the commands"),
            }
            continue;
        }
        if trimmed.is_empty() && buffer.is_empty() {
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let statement = std::mem::take(&mut buffer);
        let _ = editor.add_history_entry(statement.trim());
        print_result(
            rt,
            session,
            statement.trim().trim_end_matches(';'),
            limit,
            timing,
        );
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(EXIT_OK)
}

/// Run a statement at the prompt and print its result or its error.
fn print_result(
    rt: &tokio::runtime::Runtime,
    session: &SqlSession,
    text: &str,
    limit: usize,
    timing: bool,
) {
    let clock = Instant::now();
    match rt.block_on(run_one(session, text, Format::Table, None, limit)) {
        Ok(_) if timing => out!("time: {:.3} s", clock.elapsed().as_secs_f64()),
        Ok(_) => {}
        Err(e) => eprintln!("{}", snapdiff::secrets::scrub(&format!("error: {e}"))),
    }
}

/// `\d`: every table with its row count.
fn list_tables_sql(session: &SqlSession) -> String {
    let tables = query::tables(&session.ctx);
    if tables.is_empty() {
        return "SELECT 'no tables: extract snapshots first' AS \"table\"".into();
    }
    tables
        .iter()
        .map(|t| {
            let (s, n) = t.split_once('.').expect("schema.table");
            format!(
                "SELECT '{t}' AS \"table\", count(*) AS \"rows\" FROM {}.{}",
                snapdiff::engine::templates::ident(s),
                snapdiff::engine::templates::ident(n)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
        + " ORDER BY 1"
}

/// `\d TABLE`: its columns and types.
fn describe(rt: &tokio::runtime::Runtime, session: &SqlSession, table: &str) {
    match rt.block_on(session.ctx.table(table)) {
        Ok(df) => {
            out!("{table}");
            for f in df.schema().fields() {
                out!(
                    "  {:<24} {}{}",
                    f.name(),
                    f.data_type(),
                    if f.is_nullable() { "" } else { " NOT NULL" }
                );
            }
        }
        Err(e) => eprintln!(
            "{}",
            snapdiff::secrets::scrub(&format!("error: {}", query::explain(&session.ctx, e)))
        ),
    }
}
