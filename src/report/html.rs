//! The HTML report (`report.html`): the verification as one self-contained page to open
//! in a browser, with no network access: inline CSS, one inline script, inline SVG
//! charts, system fonts. It is rendered from [`Report`] alone and holds what the Markdown
//! report does, plus what reads better visually: a heat strip of the partitions, a bar
//! chart of the changed columns, and tables that sort by a click on a column head.
//!
//! Every piece of user text is HTML-escaped (`& < > " '`), and the output is
//! deterministic: the same report renders to the same bytes.
//!
//! DOM hooks (for tests and for readers' own scripts): `body[data-status]` and, once the
//! script ran, `body[data-ready="1"]`; `#summary` with `#summary-table`, `#checks-table`
//! and `#invariants-table`; `#delta`; one `section.entity#entity-<name>[data-status]`
//! per entity, holding `svg.chart-partitions`, `table.partitions-table`,
//! `svg.chart-columns`, `table.changed-rows` (differing cells `td.diff`),
//! `table.missing-rows`, `table.extra-rows`, `table.duplicate-keys`,
//! `table.null-key-rows`, `table.aggregate-differences` and `ul.diff-files`;
//! `#failing-invariants` with one `div.invariant#invariant-<name>` each. Every data
//! table is a `table.sortable`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use super::delta::{Delta, DeltaGroup};
use super::{
    grid, key_text, status_word, AggregateDifference, Cell, ChangedRow, CheckOutcome, Diff,
    EntityReport, GridCell, InvariantReport, PartitionRow, Partitions, Report, Row, RunSummary,
    Status,
};

/// The HTML report of `report`.
pub fn render(report: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    h += &head(report);
    h += &format!("<body data-status=\"{}\">\n", lower(report.status));
    h += &header(report);
    h += "<main>\n";
    h += &summary(report);
    h += &delta(report.delta.as_ref());
    for e in &report.outcome.entities {
        h += &entity(e);
    }
    h += &failing_invariants(&report.outcome.invariants);
    h += "</main>\n";
    h += &format!(
        "<footer><p>snapdiff {} &middot; {} format {}</p></footer>\n",
        esc(&report.tool_version),
        esc(&report.format),
        report.format_version
    );
    h += "<script>\n";
    h += SCRIPT;
    h += "</script>\n</body>\n</html>\n";
    h
}

// ---------------------------------------------------------------------------------------
// Page

fn head(r: &Report) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"snapdiff {}\">\n\
         <title>snapdiff report: {} {} ({})</title>\n\
         <link rel=\"icon\" href=\"data:,\">\n<style>\n{STYLE}</style>\n</head>\n",
        esc(&r.tool_version),
        esc(&r.spec.name),
        status_word(r.status),
        esc(&r.id),
    )
}

fn header(r: &Report) -> String {
    let o = &r.outcome;
    let facts = [
        ("Report", format!("<code>{}</code>", esc(&r.id))),
        ("Created", time(&r.created_at)),
        (
            "Spec",
            format!(
                "<code>{}</code> <span class=\"muted\">sha256 <code>{}</code></span>",
                esc(&r.spec.path),
                esc(&r.spec.sha256)
            ),
        ),
        ("Legacy", run(&o.legacy)),
        ("Target", run(&o.target)),
        ("Row hash version", o.row_hash_version.to_string()),
        ("Seconds", seconds(o.seconds)),
    ];
    let mut s = format!(
        "<header id=\"header\">\n<h1>snapdiff report: <span class=\"spec-name\">{}</span> {}</h1>\n",
        esc(&r.spec.name),
        badge(r.status)
    );
    s += &definitions("meta", &facts);
    s += "</header>\n";
    s
}

fn run(r: &RunSummary) -> String {
    format!(
        "run <code>{}</code>, {} <code>{}</code>",
        esc(&r.run_id),
        esc(&r.source_kind),
        esc(&r.source_url)
    )
}

/// A definition list of labels and already escaped HTML.
fn definitions(class: &str, facts: &[(&str, String)]) -> String {
    let mut s = format!("<dl class=\"{class}\">\n");
    for (label, html) in facts {
        s += &format!("<dt>{}</dt><dd>{html}</dd>\n", esc(label));
    }
    s += "</dl>\n";
    s
}

// ---------------------------------------------------------------------------------------
// Summary

fn summary(r: &Report) -> String {
    let o = &r.outcome;
    let mut s = String::from("<section id=\"summary\">\n<h2>Summary</h2>\n");
    let head = ths(&[
        ("Name", ""),
        ("Kind", ""),
        ("Status", ""),
        ("Legacy rows", "num"),
        ("Target rows", "num"),
        ("Missing", "num"),
        ("Extra", "num"),
        ("Changed", "num"),
        ("Duplicate keys", "num"),
        ("NULL keys", "num"),
        ("Schema findings", "num"),
        ("Aggregate differences", "num"),
    ]);
    let rows: Vec<String> = o.entities.iter().map(summary_row).collect();
    s += &table("summary-table", "summary", &head, &rows);
    let checks: Vec<String> = o
        .entities
        .iter()
        .flat_map(|e| e.checks.iter().map(move |c| check_row(Some(e), c)))
        .collect();
    s += "<h3>Checks</h3>\n";
    s += &table(
        "checks-table",
        "checks",
        &ths(&[
            ("Name", ""),
            ("Check", ""),
            ("Status", ""),
            ("Summary", ""),
            ("Seconds", "num"),
        ]),
        &checks,
    );
    if !o.invariants.is_empty() {
        let rows: Vec<String> = o.invariants.iter().map(invariant_row).collect();
        s += "<h3>Invariants</h3>\n";
        s += &table(
            "invariants-table",
            "invariants",
            &ths(&[
                ("Invariant", ""),
                ("Status", ""),
                ("Violations", "num"),
                ("Seconds", "num"),
            ]),
            &rows,
        );
    }
    s += "</section>\n";
    s
}

/// An entity's summary row; the diff's counts are a dash when the diff did not run.
fn summary_row(e: &EntityReport) -> String {
    let d = e.diff.as_ref();
    let cells = [
        td("", &entity_link(&e.name)),
        td("", &esc(&e.kind)),
        status_td(e.status),
        num(e.legacy_rows),
        num(e.target_rows),
        count(d, |d| d.missing),
        count(d, |d| d.extra),
        count(d, |d| d.changed),
        count(d, |d| d.duplicate_keys_legacy + d.duplicate_keys_target),
        count(d, |d| d.null_keys_legacy + d.null_keys_target),
        num(e.schema_findings.len() as u64),
        num(e.aggregate_differences.len() as u64),
    ];
    format!(
        "<tr data-entity=\"{}\" data-status=\"{}\">{}</tr>\n",
        esc(&e.name),
        lower(e.status),
        cells.concat()
    )
}

fn count(d: Option<&Diff>, f: impl Fn(&Diff) -> u64) -> String {
    d.map_or_else(|| td("num na", "&ndash;"), |d| num(f(d)))
}

/// A check's row; with its entity's name first in the summary's table of checks.
fn check_row(e: Option<&EntityReport>, c: &CheckOutcome) -> String {
    let mut cells = Vec::new();
    if let Some(e) = e {
        cells.push(td("", &entity_link(&e.name)));
    }
    cells.push(td("", &esc(&c.check)));
    cells.push(status_td(c.status));
    cells.push(td("", &esc(&c.summary)));
    cells.push(td("num", &seconds(c.seconds)));
    tr(&cells)
}

fn invariant_row(i: &InvariantReport) -> String {
    let name = if i.status == Status::Fail {
        format!(
            "<a href=\"#{}\">{}</a>",
            invariant_id(&i.name),
            esc(&i.name)
        )
    } else {
        esc(&i.name)
    };
    tr(&[
        td("", &name),
        status_td(i.status),
        num(i.violations),
        td("num", &seconds(i.seconds)),
    ])
}

// ---------------------------------------------------------------------------------------
// Delta

fn delta(d: Option<&Delta>) -> String {
    let mut s = String::from("<section id=\"delta\"");
    let Some(d) = d else {
        s += " data-first=\"1\">\n<h2>Since the previous report</h2>\n\
              <p class=\"delta-total\">First report of this spec: nothing to compare with.</p>\n\
              </section>\n";
        return s;
    };
    s += &format!(
        " data-new=\"{}\" data-fixed=\"{}\">\n<h2>Since the previous report</h2>\n",
        d.new, d.fixed
    );
    s += &format!(
        "<p class=\"delta-total\">Since report {}: {} new, {} fixed</p>\n",
        esc(&d.previous_report),
        d.new,
        d.fixed
    );
    s += &format!(
        "<p class=\"muted\">The previous report was created {}.</p>\n",
        time(&d.previous_created_at)
    );
    if !d.groups.is_empty() {
        let rows: Vec<String> = d.groups.iter().map(delta_row).collect();
        s += &table(
            "delta-table",
            "delta-groups",
            &ths(&[
                ("Name", ""),
                ("Kind", ""),
                ("New", "num"),
                ("Fixed", "num"),
                ("Matched", ""),
                ("New findings", ""),
                ("Fixed findings", ""),
            ]),
            &rows,
        );
    }
    s += "</section>\n";
    s
}

fn delta_row(g: &DeltaGroup) -> String {
    tr(&[
        td("", &esc(&g.name)),
        td("", &esc(&g.kind)),
        num(g.new),
        num(g.fixed),
        td("", if g.by_key { "one by one" } else { "by count" }),
        td("", &items(&g.new_items, g.new)),
        td("", &items(&g.fixed_items, g.fixed)),
    ])
}

/// The listed findings of a delta group, and how many more there are.
fn items(listed: &[String], total: u64) -> String {
    let more = total.saturating_sub(listed.len() as u64);
    if listed.is_empty() && more == 0 {
        return String::new();
    }
    let mut s = String::from("<ul class=\"items\">");
    for i in listed {
        s += &format!("<li><code>{}</code></li>", esc(i));
    }
    if more > 0 {
        s += &format!("<li class=\"more\">and {more} more</li>");
    }
    s += "</ul>";
    s
}

// ---------------------------------------------------------------------------------------
// Entities

fn entity(e: &EntityReport) -> String {
    let id = entity_id(&e.name);
    let mut s = format!(
        "<section class=\"entity\" id=\"{id}\" data-status=\"{}\" data-kind=\"{}\">\n",
        lower(e.status),
        esc(&e.kind)
    );
    s += &format!(
        "<h2><a class=\"anchor\" href=\"#{id}\">{}</a> <span class=\"kind\">{}</span> {}</h2>\n",
        esc(&e.name),
        esc(&e.kind),
        badge(e.status)
    );
    s += &definitions("facts", &facts(e));
    if !e.checks.is_empty() {
        let rows: Vec<String> = e.checks.iter().map(|c| check_row(None, c)).collect();
        s += &table(
            "",
            "entity-checks",
            &ths(&[
                ("Check", ""),
                ("Status", ""),
                ("Summary", ""),
                ("Seconds", "num"),
            ]),
            &rows,
        );
    }
    s += &diff_files(&e.diff_files);
    if let Some(p) = &e.partitions {
        s += &partitions(p);
    }
    s += &schema_findings(&e.schema_findings);
    s += &aggregates(&e.aggregate_differences);
    if let Some(d) = &e.diff {
        s += &diff(d);
    }
    if e.findings() == 0 && e.status != Status::Fail {
        s += "<p class=\"no-findings\">No findings.</p>\n";
    }
    s += "</section>\n";
    s
}

fn facts(e: &EntityReport) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        (
            "Rows",
            format!("legacy {}, target {}", e.legacy_rows, e.target_rows),
        ),
        ("Key", code_list(&e.key)),
        ("Compared", code_list(&e.compared)),
    ];
    let optional = [
        ("Legacy only", &e.legacy_only),
        ("Target only", &e.target_only),
        ("Within a tolerance", &e.tolerance_columns),
    ];
    for (label, cols) in optional {
        if !cols.is_empty() {
            facts.push((label, code_list(cols)));
        }
    }
    facts
}

fn code_list(cols: &[String]) -> String {
    if cols.is_empty() {
        return "<span class=\"muted\">none</span>".to_string();
    }
    cols.iter()
        .map(|c| format!("<code>{}</code>", esc(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn diff_files(files: &[String]) -> String {
    if files.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<p class=\"diff-files-note\">Every differing row is in the report's <code>diffs</code> folder:</p>\n<ul class=\"diff-files\">\n",
    );
    for f in files {
        let path = format!("diffs/{f}");
        s += &format!(
            "<li><a href=\"{}\">{}</a></li>\n",
            esc(&url_path(&path)),
            esc(&path)
        );
    }
    s += "</ul>\n";
    s
}

fn schema_findings(findings: &[String]) -> String {
    if findings.is_empty() {
        return String::new();
    }
    let mut s = String::from("<h3>Schema findings</h3>\n<ul class=\"schema-findings\">\n");
    for f in findings {
        s += &format!("<li>{}</li>\n", esc(f));
    }
    s += "</ul>\n";
    s
}

fn aggregates(diffs: &[AggregateDifference]) -> String {
    if diffs.is_empty() {
        return String::new();
    }
    let rows: Vec<String> = diffs
        .iter()
        .map(|a| {
            tr(&[
                td("", &esc(&a.column)),
                td("", &esc(&a.statistic)),
                td("", &value(a.legacy.as_deref())),
                td("", &value(a.target.as_deref())),
            ])
        })
        .collect();
    let mut s = String::from("<h3>Aggregate differences</h3>\n");
    s += &table(
        "",
        "sample aggregate-differences",
        &ths(&[
            ("Column", ""),
            ("Statistic", ""),
            ("Legacy", ""),
            ("Target", ""),
        ]),
        &rows,
    );
    s
}

// ---------------------------------------------------------------------------------------
// Partitions

const EQUAL: &str = "#4caf7d";
const UNKNOWN: &str = "#c5ccd3";
const AMBER: &str = "#f0ad4e";
const RED_LOW: (u8, u8, u8) = (252, 187, 161);
const RED_HIGH: (u8, u8, u8) = (165, 15, 21);

/// How a partition looks on the heat strip.
#[derive(Clone, Copy)]
enum PartState {
    /// Digests equal, counts equal, no differing rows.
    Equal,
    /// Counts equal and no differing rows, but the digests were not compared.
    Unknown,
    /// No differing rows found, yet the digests or the counts differ.
    Amber,
    /// Missing, extra or changed rows.
    Diff,
}

impl PartState {
    fn of(p: &PartitionRow) -> PartState {
        if row_findings(p) > 0 {
            PartState::Diff
        } else if p.digest_equal == Some(false) || p.legacy_rows != p.target_rows {
            PartState::Amber
        } else if p.digest_equal == Some(true) {
            PartState::Equal
        } else {
            PartState::Unknown
        }
    }

    fn class(self) -> &'static str {
        match self {
            PartState::Equal => "part-equal",
            PartState::Unknown => "part-unknown",
            PartState::Amber => "part-amber",
            PartState::Diff => "part-diff",
        }
    }
}

fn row_findings(p: &PartitionRow) -> u64 {
    p.missing + p.extra + p.changed
}

/// A partition's colour: red, darker by the log of its findings against the most any
/// partition has.
fn colour(p: &PartitionRow, max_findings: u64) -> String {
    match PartState::of(p) {
        PartState::Equal => EQUAL.to_string(),
        PartState::Unknown => UNKNOWN.to_string(),
        PartState::Amber => AMBER.to_string(),
        PartState::Diff => {
            let t = (row_findings(p) as f64).ln_1p() / (max_findings.max(1) as f64).ln_1p();
            let mix =
                |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
            format!(
                "#{:02x}{:02x}{:02x}",
                mix(RED_LOW.0, RED_HIGH.0),
                mix(RED_LOW.1, RED_HIGH.1),
                mix(RED_LOW.2, RED_HIGH.2)
            )
        }
    }
}

fn partition_name(p: &PartitionRow) -> &str {
    p.partition.as_deref().unwrap_or("NULL")
}

fn partitions(p: &Partitions) -> String {
    if p.rows.len() <= 1 {
        return String::new();
    }
    let mut s = String::from("<h3>Partitions</h3>\n");
    s += &format!(
        "<p>{} of {} partition digests equal.</p>\n",
        p.equal, p.total
    );
    s += &partition_strip(&p.rows);
    s += &format!(
        "<p class=\"legend\"><span class=\"swatch\" style=\"background:{EQUAL}\"></span>equal \
         <span class=\"swatch\" style=\"background:{UNKNOWN}\"></span>not hashed \
         <span class=\"swatch\" style=\"background:{AMBER}\"></span>digest or count differs \
         <span class=\"swatch\" style=\"background:linear-gradient(90deg,{},{})\"></span>missing, extra or changed rows (darker: more)</p>\n",
        rgb(RED_LOW),
        rgb(RED_HIGH)
    );
    let rows: Vec<String> = p.rows.iter().map(partition_row).collect();
    s += &format!(
        "<details class=\"partitions\"><summary>Every partition ({})</summary>\n",
        p.rows.len()
    );
    s += &table(
        "",
        "partitions-table",
        &ths(&[
            ("Partition", ""),
            ("Legacy rows", "num"),
            ("Target rows", "num"),
            ("Digest equal", ""),
            ("Missing", "num"),
            ("Extra", "num"),
            ("Changed", "num"),
        ]),
        &rows,
    );
    s += "</details>\n";
    s
}

fn rgb(c: (u8, u8, u8)) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn partition_row(p: &PartitionRow) -> String {
    let digest = match p.digest_equal {
        Some(true) => td("", "yes"),
        Some(false) => td("", "no"),
        None => td("na", "&ndash;"),
    };
    let cells = [
        td("", &value(p.partition.as_deref())),
        num(p.legacy_rows),
        num(p.target_rows),
        digest,
        num(p.missing),
        num(p.extra),
        num(p.changed),
    ];
    format!(
        "<tr class=\"{}\">{}</tr>\n",
        PartState::of(p).class(),
        cells.concat()
    )
}

/// The partitions as a strip of coloured cells, in order, each with its counts as a
/// tooltip, and the first and last partition under it.
fn partition_strip(rows: &[PartitionRow]) -> String {
    const WIDTH: u32 = 1000;
    const BAR: u32 = 32;
    const HEIGHT: u32 = 54;
    let step = f64::from(WIDTH) / rows.len() as f64;
    // A gap between cells while they are wide enough to show one.
    let width = if step >= 6.0 { step - 1.0 } else { step };
    let max = rows.iter().map(row_findings).max().unwrap_or(0);
    let mut s = format!(
        "<svg class=\"chart-partitions\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         preserveAspectRatio=\"xMinYMin meet\" shape-rendering=\"crispEdges\" role=\"img\" \
         aria-label=\"{} partitions\">\n",
        rows.len()
    );
    for (i, p) in rows.iter().enumerate() {
        s += &format!(
            "<rect class=\"{}\" x=\"{:.2}\" y=\"0\" width=\"{width:.2}\" height=\"{BAR}\" fill=\"{}\" data-partition=\"{}\"><title>{}</title></rect>\n",
            PartState::of(p).class(),
            step * i as f64,
            colour(p, max),
            esc(partition_name(p)),
            esc(&format!(
                "{}: legacy {}, target {} rows; missing {}, extra {}, changed {}",
                partition_name(p),
                p.legacy_rows,
                p.target_rows,
                p.missing,
                p.extra,
                p.changed
            ))
        );
    }
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    s += &format!(
        "<text class=\"axis\" x=\"0\" y=\"{}\">{}</text>\n\
         <text class=\"axis\" x=\"{WIDTH}\" y=\"{}\" text-anchor=\"end\">{}</text>\n</svg>\n",
        BAR + 16,
        esc(&shorten(partition_name(first), 40)),
        BAR + 16,
        esc(&shorten(partition_name(last), 40))
    );
    s
}

// ---------------------------------------------------------------------------------------
// Row diff

fn diff(d: &Diff) -> String {
    let mut s = String::new();
    if d.changed > 0 || !d.changed_rows.is_empty() || !d.changed_by_column.is_empty() {
        s += &changed(d);
    }
    if d.missing > 0 || !d.missing_rows.is_empty() {
        s += "<h3>Missing rows</h3>\n";
        s += &format!(
            "<p>Rows of the legacy side that the target lacks. {}</p>\n",
            showing(d.missing_rows.len(), d.missing)
        );
        s += &rows_table("missing-rows", &d.missing_rows);
    }
    if d.extra > 0 || !d.extra_rows.is_empty() {
        s += "<h3>Extra rows</h3>\n";
        s += &format!(
            "<p>Rows of the target side that the legacy lacks. {}</p>\n",
            showing(d.extra_rows.len(), d.extra)
        );
        s += &rows_table("extra-rows", &d.extra_rows);
    }
    let dups = d.duplicate_keys_legacy + d.duplicate_keys_target;
    if dups > 0 || !d.duplicates.is_empty() {
        s += "<h3>Duplicate keys</h3>\n";
        s += &format!(
            "<p>Keys carried by more than one row: legacy {}, target {}. {}</p>\n",
            d.duplicate_keys_legacy,
            d.duplicate_keys_target,
            showing(d.duplicates.len(), dups)
        );
        let rows: Vec<String> = d
            .duplicates
            .iter()
            .map(|k| {
                tr(&[
                    td("", &esc(&k.side)),
                    td("", &esc(&key_text(&k.key))),
                    num(k.rows),
                ])
            })
            .collect();
        s += &table(
            "",
            "sample duplicate-keys",
            &ths(&[("Side", ""), ("Key", ""), ("Rows", "num")]),
            &rows,
        );
    }
    let nulls = d.null_keys_legacy + d.null_keys_target;
    if nulls > 0 || !d.null_key_rows.is_empty() {
        s += "<h3>Rows with a NULL key</h3>\n";
        s += &format!(
            "<p>Rows whose key has a NULL: legacy {}, target {}. {}</p>\n",
            d.null_keys_legacy,
            d.null_keys_target,
            showing(d.null_key_rows.len(), nulls)
        );
        s += &null_key_table(&d.null_key_rows);
    }
    s
}

fn changed(d: &Diff) -> String {
    let mut s = String::from("<h3>Changed rows</h3>\n");
    if !d.changed_by_column.is_empty() {
        s += &column_chart(&d.changed_by_column);
    }
    s += &format!("<p>{}</p>\n", showing(d.changed_rows.len(), d.changed));
    let Some(first) = d.changed_rows.first() else {
        return s;
    };
    let keys: Vec<&str> = first.key.iter().map(|(c, _)| c.as_str()).collect();
    let cols = changed_columns(&d.changed_rows);
    let mut head: Vec<String> = keys.iter().map(|k| th("key", &esc(k))).collect();
    for c in &cols {
        let differs = d
            .changed_rows
            .iter()
            .any(|r| find_cell(r, c).is_some_and(|x| x.differs));
        let class = if differs { "diff-col" } else { "" };
        for side in ["legacy", "target"] {
            head.push(th(
                class,
                &format!("{} <span class=\"side\">{side}</span>", esc(c)),
            ));
        }
    }
    let rows: Vec<String> = d
        .changed_rows
        .iter()
        .map(|r| changed_row(r, &keys, &cols))
        .collect();
    s += &table("", "sample changed-rows", &head, &rows);
    s
}

fn changed_row(r: &ChangedRow, keys: &[&str], cols: &[String]) -> String {
    let mut cells: Vec<String> = keys
        .iter()
        .map(|k| {
            let v = r
                .key
                .iter()
                .find(|(c, _)| c == k)
                .map(|(_, v)| v.as_deref());
            td("key", &v.map_or_else(String::new, value))
        })
        .collect();
    for c in cols {
        match find_cell(r, c) {
            Some(cell) => {
                let class = if cell.differs { "diff" } else { "" };
                cells.push(td(class, &value(cell.legacy.as_deref())));
                cells.push(td(class, &value(cell.target.as_deref())));
            }
            None => cells.extend([td("", ""), td("", "")]),
        }
    }
    tr(&cells)
}

/// The compared columns of changed rows, in the order they first appear.
fn changed_columns(rows: &[ChangedRow]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for cell in rows.iter().flat_map(|r| &r.cells) {
        if !cols.contains(&cell.column) {
            cols.push(cell.column.clone());
        }
    }
    cols
}

fn find_cell<'a>(row: &'a ChangedRow, column: &str) -> Option<&'a Cell> {
    row.cells.iter().find(|c| c.column == column)
}

/// Changed rows per column as horizontal bars, the most changed first.
fn column_chart(by_column: &BTreeMap<String, u64>) -> String {
    const LABEL: u32 = 220;
    const BARS: u32 = 520;
    const WIDTH: u32 = 820;
    const ROW: u32 = 24;
    let mut bars: Vec<(&str, u64)> = by_column.iter().map(|(c, n)| (c.as_str(), *n)).collect();
    bars.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let height = ROW * bars.len() as u32 + 8;
    let mut s = format!(
        "<svg class=\"chart-columns\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" \
         preserveAspectRatio=\"xMinYMin meet\" role=\"img\" aria-label=\"Changed rows per column\">\n"
    );
    for (i, (column, n)) in bars.iter().enumerate() {
        let y = 4 + ROW * i as u32;
        let middle = y + ROW / 2;
        let bar = *n as f64 / max as f64 * f64::from(BARS);
        let bar = if *n > 0 { bar.max(2.0) } else { 0.0 };
        s += &format!(
            "<g class=\"bar\" data-column=\"{c}\" data-count=\"{n}\"><title>{c}: {n} changed rows</title>\
             <text class=\"label\" x=\"{}\" y=\"{middle}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\
             <rect x=\"{LABEL}\" y=\"{}\" width=\"{bar:.2}\" height=\"{}\" rx=\"2\" fill=\"#d1495b\"></rect>\
             <text class=\"count\" x=\"{:.2}\" y=\"{middle}\" dominant-baseline=\"middle\">{n}</text></g>\n",
            LABEL - 8,
            esc(&shorten(column, 28)),
            y + 4,
            ROW - 8,
            f64::from(LABEL) + bar + 6.0,
            c = esc(column),
        );
    }
    s += "</svg>\n";
    s
}

fn null_key_table(rows: &[(String, Row)]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let refs: Vec<&Row> = rows.iter().map(|(_, r)| r).collect();
    let (cols, body) = grid(&refs);
    let mut head = vec![th("", "Side")];
    head.extend(cols.iter().map(|c| th("", &esc(c))));
    let body: Vec<String> = rows
        .iter()
        .zip(body)
        .map(|((side, _), cells)| {
            let mut tds = vec![td("", &esc(side))];
            tds.extend(cells.into_iter().map(grid_td));
            tr(&tds)
        })
        .collect();
    table("", "sample null-key-rows", &head, &body)
}

// ---------------------------------------------------------------------------------------
// Invariants

fn failing_invariants(invariants: &[InvariantReport]) -> String {
    let failing: Vec<&InvariantReport> = invariants
        .iter()
        .filter(|i| i.status == Status::Fail)
        .collect();
    if failing.is_empty() {
        return String::new();
    }
    let mut s = String::from("<section id=\"failing-invariants\">\n<h2>Failing invariants</h2>\n");
    for i in failing {
        s += &format!(
            "<div class=\"invariant\" id=\"{}\" data-status=\"{}\">\n<h3>{} {}</h3>\n",
            invariant_id(&i.name),
            lower(i.status),
            esc(&i.name),
            badge(i.status)
        );
        s += &format!(
            "<p>{} rows break it. {}</p>\n",
            i.violations,
            showing(i.rows.len(), i.violations)
        );
        s += &rows_table("invariant-rows", &i.rows);
        s += "</div>\n";
    }
    s += "</section>\n";
    s
}

// ---------------------------------------------------------------------------------------
// Tables

/// A sortable table in a horizontally scrolling wrapper; `id` may be empty.
fn table(id: &str, class: &str, head: &[String], rows: &[String]) -> String {
    let id = if id.is_empty() {
        String::new()
    } else {
        format!(" id=\"{id}\"")
    };
    format!(
        "<div class=\"table-wrap\"><table{id} class=\"sortable {class}\">\n<thead><tr>{}</tr></thead>\n<tbody>\n{}</tbody>\n</table></div>\n",
        head.concat(),
        rows.concat()
    )
}

fn ths(titles: &[(&str, &str)]) -> Vec<String> {
    titles.iter().map(|(t, class)| th(class, &esc(t))).collect()
}

/// A head cell of already escaped HTML.
fn th(class: &str, html: &str) -> String {
    if class.is_empty() {
        format!("<th>{html}</th>")
    } else {
        format!("<th class=\"{class}\">{html}</th>")
    }
}

/// A cell of already escaped HTML.
fn td(class: &str, html: &str) -> String {
    if class.is_empty() {
        format!("<td>{html}</td>")
    } else {
        format!("<td class=\"{class}\">{html}</td>")
    }
}

fn num(n: u64) -> String {
    td("num", &n.to_string())
}

fn status_td(s: Status) -> String {
    td("", &badge(s))
}

fn tr(cells: &[String]) -> String {
    format!("<tr>{}</tr>\n", cells.concat())
}

/// A table of sample rows, one column per column of the rows.
fn rows_table(class: &str, rows: &[Row]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let refs: Vec<&Row> = rows.iter().collect();
    let (cols, body) = grid(&refs);
    let head: Vec<String> = cols.iter().map(|c| th("", &esc(c))).collect();
    let body: Vec<String> = body
        .into_iter()
        .map(|cells| tr(&cells.into_iter().map(grid_td).collect::<Vec<_>>()))
        .collect();
    table("", &format!("sample {class}"), &head, &body)
}

fn grid_td(cell: GridCell<'_>) -> String {
    td("", &cell.map_or_else(String::new, value))
}

// ---------------------------------------------------------------------------------------
// Text

/// HTML text: `& < > " '` escaped (safe in attribute values too).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A value: escaped text, a marked NULL, or a marked empty string.
fn value(v: Option<&str>) -> String {
    match v {
        None => "<span class=\"null\">NULL</span>".to_string(),
        Some("") => "<span class=\"empty\">empty</span>".to_string(),
        Some(s) => esc(s),
    }
}

fn badge(s: Status) -> String {
    format!(
        "<span class=\"badge status-{}\">{}</span>",
        lower(s),
        status_word(s)
    )
}

/// `pass`, `fail`, `info` or `skip`.
fn lower(s: Status) -> String {
    status_word(s).to_ascii_lowercase()
}

fn entity_id(name: &str) -> String {
    format!("entity-{}", id_part(name))
}

fn invariant_id(name: &str) -> String {
    format!("invariant-{}", id_part(name))
}

/// A name as part of an element id: characters other than ASCII letters, digits, `_`
/// and `-` become `-`.
fn id_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn entity_link(name: &str) -> String {
    format!("<a href=\"#{}\">{}</a>", entity_id(name), esc(name))
}

/// "Showing X of Y", saying when the sample is only the first rows.
fn showing(shown: usize, total: u64) -> String {
    if (shown as u64) < total {
        format!("Showing {shown} of {total}, the first by key.")
    } else {
        format!("Showing {shown} of {total}.")
    }
}

/// At most `max` characters of `s`, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A relative path as a link target: bytes outside the unreserved set percent-encoded.
fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn time(t: &DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339_opts(SecondsFormat::Secs, true),
        t.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

fn seconds(s: f64) -> String {
    format!("{s:.2}")
}

// ---------------------------------------------------------------------------------------
// Style and script

const STYLE: &str = r##":root {
  --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa; --line: #d1d9e0;
  --pass: #1a7f37; --fail: #cf222e; --info: #0969da; --skip: #6e7781;
  --diff: #ffd7d5; --diff-head: #ffebe9; --link: #0969da;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--fg); background: var(--bg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header, main, footer { max-width: 1280px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; padding-bottom: 8px; border-bottom: 1px solid var(--line); }
footer { padding-top: 24px; padding-bottom: 32px; color: var(--muted); font-size: 12px; }
h1 { font-size: 24px; margin: 0 0 12px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 6px; }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
h2 a.anchor { color: inherit; }
code, .sample td {
  font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 12.5px;
}
code { background: var(--panel); padding: 1px 4px; border-radius: 4px; overflow-wrap: anywhere; }
.muted, .na { color: var(--muted); }
dl.meta, dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0 0 12px; }
dl.meta dt, dl.facts dt { color: var(--muted); }
dl.meta dd, dl.facts dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.badge {
  display: inline-block; padding: 1px 8px; border-radius: 999px; color: #fff;
  font-size: 12px; font-weight: 600; letter-spacing: .04em; line-height: 1.6; vertical-align: middle;
  -webkit-print-color-adjust: exact; print-color-adjust: exact;
}
.status-pass { background: var(--pass); }
.status-fail { background: var(--fail); }
.status-info { background: var(--info); }
.status-skip { background: var(--skip); }
.kind { color: var(--muted); font-size: 13px; font-weight: normal; }
.delta-total { font-size: 15px; font-weight: 600; }
.table-wrap { overflow-x: auto; margin: 8px 0 16px; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--panel); white-space: nowrap; font-weight: 600; }
tbody tr:last-child td { border-bottom: 0; }
tbody tr:hover { background: #f3f6f9; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.sort { cursor: pointer; user-select: none; }
th.sort:hover, th.sort:focus { background: #eaeef2; outline: none; }
th .arrow { display: inline-block; min-width: 1em; margin-left: 4px; color: var(--muted); font-size: 10px; }
th.sort[aria-sort="none"] .arrow::after { content: "\2195"; opacity: .4; }
.sample td { white-space: pre-wrap; overflow-wrap: anywhere; max-width: 48ch; }
td.key { font-weight: 600; }
td.diff { background: var(--diff); -webkit-print-color-adjust: exact; print-color-adjust: exact; }
th.diff-col { background: var(--diff-head); }
th .side { color: var(--muted); font-weight: normal; font-size: 11px; }
.null, .empty { color: var(--muted); font-style: italic; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
ul.items { margin: 0; padding-left: 18px; }
li.more { color: var(--muted); list-style: none; }
tr.part-diff td:first-child { box-shadow: inset 3px 0 0 var(--fail); }
tr.part-amber td:first-child { box-shadow: inset 3px 0 0 #f0ad4e; }
svg.chart-partitions, svg.chart-columns { display: block; width: 100%; height: auto; margin: 8px 0; }
svg.chart-columns { max-width: 820px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 12px; fill: var(--fg); }
svg text.axis { fill: var(--muted); }
svg g.bar:hover rect { opacity: .8; }
svg rect:hover { stroke: var(--fg); stroke-width: 1; }
.legend { color: var(--muted); font-size: 12px; }
.swatch { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 10px; border-radius: 2px; vertical-align: -2px; }
.swatch:first-child { margin-left: 0; }
details.partitions > summary { cursor: pointer; color: var(--link); margin: 4px 0; }
.no-findings { color: var(--pass); }
section.entity { scroll-margin-top: 12px; }
@media (max-width: 640px) {
  header, main, footer { padding: 0 12px; }
  dl.meta, dl.facts { grid-template-columns: 1fr; }
  dl.meta dt, dl.facts dt { margin-top: 4px; }
}
@media print {
  body { font-size: 11px; }
  header, main, footer { max-width: none; padding: 0; }
  .table-wrap { overflow: visible; border: 0; }
  th .arrow { display: none; }
  tbody tr:hover { background: none; }
  h2, h3 { break-after: avoid; }
  tr, svg { break-inside: avoid; }
  a { color: inherit; }
  .swatch, svg rect { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"##;

const SCRIPT: &str = r##"(function () {
  'use strict';

  // A cell's sort key: its data-sort attribute, else its text.
  function sortKey(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ''; }
    var key = cell.getAttribute('data-sort');
    return key !== null ? key : (cell.textContent || '').trim();
  }

  // The number a key reads as, or null.
  function asNumber(text) {
    var t = text.replace(/[,\s]/g, '');
    if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(t)) { return null; }
    var n = Number(t);
    return isFinite(n) ? n : null;
  }

  // Numbers before text, numbers by value, text in natural order.
  function compare(a, b) {
    var x = asNumber(a);
    var y = asNumber(b);
    if (x !== null && y !== null) { return x - y; }
    if (x !== null) { return -1; }
    if (y !== null) { return 1; }
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' });
  }

  function sortTable(table, heads, index) {
    var head = heads[index];
    var ascending = head.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(heads, function (h) {
      h.setAttribute('aria-sort', 'none');
      var mark = h.querySelector('.arrow');
      if (mark) { mark.textContent = ''; }
    });
    head.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    var arrow = head.querySelector('.arrow');
    if (arrow) { arrow.textContent = ascending ? '\u25B2' : '\u25BC'; }
    var body = table.tBodies[0];
    if (!body) { return; }
    var rows = Array.prototype.map.call(body.rows, function (row, position) {
      return { row: row, key: sortKey(row, index), position: position };
    });
    rows.sort(function (a, b) {
      var order = compare(a.key, b.key);
      if (!ascending) { order = -order; }
      return order !== 0 ? order : a.position - b.position;
    });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (r) { fragment.appendChild(r.row); });
    body.appendChild(fragment);
  }

  function makeSortable(table) {
    var thead = table.tHead;
    if (!thead || thead.rows.length === 0) { return; }
    var heads = thead.rows[thead.rows.length - 1].cells;
    Array.prototype.forEach.call(heads, function (head, index) {
      var arrow = document.createElement('span');
      arrow.className = 'arrow';
      arrow.setAttribute('aria-hidden', 'true');
      head.appendChild(arrow);
      head.classList.add('sort');
      head.setAttribute('tabindex', '0');
      head.setAttribute('aria-sort', 'none');
      var go = function () { sortTable(table, heads, index); };
      head.addEventListener('click', go);
      head.addEventListener('keydown', function (event) {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          go();
        }
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), makeSortable);

  // Printing shows what the folded sections hold.
  window.addEventListener('beforeprint', function () {
    Array.prototype.forEach.call(document.querySelectorAll('details'), function (d) {
      d.open = true;
    });
  });

  document.body.dataset.ready = "1";
})();
"##;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::render;
    use crate::report::delta::Delta;
    use crate::report::test_support::{at, run, v};
    use crate::report::{
        Cell, ChangedRow, CheckOutcome, Diff, EntityReport, InvariantReport, Outcome, PartitionRow,
        Partitions, Report, SpecInfo, Status,
    };
    use crate::spec::Thresholds;

    fn partition(p: Option<&str>, l: u64, t: u64, eq: Option<bool>, c: u64) -> PartitionRow {
        PartitionRow {
            partition: p.map(str::to_string),
            legacy_rows: l,
            target_rows: t,
            digest_equal: eq,
            missing: 0,
            extra: 0,
            changed: c,
        }
    }

    fn entity(name: &str, status: Status, diff: Option<Diff>) -> EntityReport {
        EntityReport {
            name: name.into(),
            kind: "entity".into(),
            key: vec!["id".into()],
            compared: vec!["amount".into(), "note".into()],
            legacy_only: Vec::new(),
            target_only: vec!["created_by".into()],
            tolerance_columns: Vec::new(),
            status,
            legacy_rows: 10,
            target_rows: 10,
            schema_findings: Vec::new(),
            partitions: None,
            diff,
            aggregate_differences: Vec::new(),
            checks: vec![CheckOutcome {
                check: "diff".into(),
                status,
                summary: "2 changed".into(),
                seconds: 0.25,
            }],
            thresholds: Thresholds::default(),
            diff_files: Vec::new(),
        }
    }

    fn report(delta: Option<Delta>) -> Report {
        let diff = Diff {
            changed: 2,
            changed_by_column: BTreeMap::from([("amount".to_string(), 2)]),
            changed_rows: vec![ChangedRow {
                key: vec![("id".into(), v("1"))],
                cells: vec![
                    Cell {
                        column: "amount".into(),
                        legacy: v("10"),
                        target: None,
                        differs: true,
                    },
                    Cell {
                        column: "note".into(),
                        legacy: v("<b>hi</b> & 'x'"),
                        target: v("<b>hi</b> & 'x'"),
                        differs: false,
                    },
                ],
            }],
            ..Default::default()
        };
        let mut orders = entity("orders", Status::Fail, Some(diff));
        orders.partitions = Some(Partitions {
            total: 3,
            equal: 1,
            differing: vec!["b".into(), "c".into()],
            rows: vec![
                partition(Some("a"), 4, 4, Some(true), 0),
                partition(Some("b"), 3, 3, Some(false), 2),
                partition(None, 3, 3, Some(false), 0),
            ],
        });
        orders.diff_files = vec!["orders/changed.parquet".into()];
        let clean = entity("customers", Status::Pass, Some(Diff::default()));
        let outcome = Outcome {
            legacy: run("L1", "postgres", "postgres://u@db/legacy"),
            target: run("T1", "sqlite", "target.db"),
            row_hash_version: 1,
            entities: vec![orders, clean],
            invariants: vec![InvariantReport {
                name: "no_orphans".into(),
                status: Status::Fail,
                violations: 3,
                rows: vec![vec![("id".into(), v("8")), ("customer".into(), None)]],
                seconds: 0.5,
            }],
            seconds: 1.5,
        };
        let spec = SpecInfo {
            name: "shop <b>".into(),
            path: "shop.toml".into(),
            sha256: "abc".into(),
        };
        let mut r = Report::new("r2", spec, outcome);
        r.created_at = at();
        r.delta = delta;
        r
    }

    #[test]
    fn renders_a_self_contained_page() {
        let html = render(&report(None));
        assert!(html.starts_with("<!DOCTYPE html>\n"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<title>snapdiff report: shop &lt;b&gt; FAIL (r2)</title>"));
        assert!(html.contains("<script>\n(function () {"));
        assert!(html.contains("document.body.dataset.ready = \"1\";"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
        assert!(!html.contains("<b>"), "user text must be escaped");
        assert!(html.contains("&lt;b&gt;hi&lt;/b&gt; &amp; &#39;x&#39;"));
        assert!(html.contains("<body data-status=\"fail\">"));
        assert!(html.contains("<section id=\"summary\">"));
        assert!(html.contains("<section id=\"delta\" data-first=\"1\">"));
        assert!(html.contains("First report of this spec"));
        for tag in ["section", "table", "svg", "details", "div", "ul", "dl"] {
            assert_eq!(
                html.matches(&format!("<{tag}")).count(),
                html.matches(&format!("</{tag}>")).count(),
                "<{tag}> balanced"
            );
        }
        assert_eq!(html, render(&report(None)), "deterministic");
    }

    #[test]
    fn renders_entities_with_charts_and_highlighted_cells() {
        let html = render(&report(None));
        assert!(html.contains(
            "<section class=\"entity\" id=\"entity-orders\" data-status=\"fail\" data-kind=\"entity\">"
        ));
        assert!(html.contains("<section class=\"entity\" id=\"entity-customers\""));
        assert!(html.contains(
            "<tr data-entity=\"orders\" data-status=\"fail\"><td><a href=\"#entity-orders\">orders</a></td>"
        ));
        // The changed row: key, then legacy and target of each column; differing cells
        // marked.
        assert!(html.contains(
            "<tr><td class=\"key\">1</td><td class=\"diff\">10</td><td class=\"diff\"><span class=\"null\">NULL</span></td><td>&lt;b&gt;"
        ));
        assert!(
            html.contains("<th class=\"diff-col\">amount <span class=\"side\">legacy</span></th>")
        );
        assert!(html.contains("Showing 1 of 2, the first by key."));
        // One rect per partition, coloured by state, with a tooltip.
        let strip = section(&html, "<svg class=\"chart-partitions\"", "</svg>");
        assert_eq!(strip.matches("<rect").count(), 3);
        assert!(strip.contains("class=\"part-equal\""));
        assert!(strip.contains("class=\"part-diff\""));
        assert!(strip.contains("class=\"part-amber\""));
        assert!(strip
            .contains("<title>b: legacy 3, target 3 rows; missing 0, extra 0, changed 2</title>"));
        assert!(
            strip.contains("fill=\"#a50f15\""),
            "the most findings: darkest red"
        );
        assert!(strip.contains(">NULL</text>"), "last partition labelled");
        assert!(html.contains("<table class=\"sortable partitions-table\">"));
        // One bar per changed column.
        let bars = section(&html, "<svg class=\"chart-columns\"", "</svg>");
        assert_eq!(bars.matches("<rect").count(), 1);
        assert!(bars.contains("<title>amount: 2 changed rows</title>"));
        assert!(html.contains(
            "<li><a href=\"diffs/orders/changed.parquet\">diffs/orders/changed.parquet</a></li>"
        ));
        // A clean entity has no charts.
        let clean = section(&html, "id=\"entity-customers\"", "</section>");
        assert!(!clean.contains("<svg"));
        assert!(clean.contains("No findings."));
        // The failing invariant and its rows.
        assert!(html.contains(
            "<div class=\"invariant\" id=\"invariant-no_orphans\" data-status=\"fail\">"
        ));
        assert!(html.contains("<tr><td>8</td><td><span class=\"null\">NULL</span></td></tr>"));
    }

    #[test]
    fn renders_the_delta() {
        let delta = Delta {
            previous_report: "r1".into(),
            previous_created_at: at(),
            new: 2,
            fixed: 0,
            groups: vec![crate::report::delta::DeltaGroup {
                name: "orders".into(),
                kind: "changed".into(),
                by_key: true,
                new: 2,
                fixed: 0,
                new_items: vec!["id=1".into()],
                fixed_items: Vec::new(),
            }],
        };
        let html = render(&report(Some(delta)));
        assert!(html.contains("<p class=\"delta-total\">Since report r1: 2 new, 0 fixed</p>"));
        assert!(html.contains(
            "<ul class=\"items\"><li><code>id=1</code></li><li class=\"more\">and 1 more</li></ul>"
        ));
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            super::esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    /// The text from the first `start` to the next `end` after it.
    fn section<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
        let from = html.find(start).expect(start);
        let to = html[from..].find(end).expect(end);
        &html[from..from + to]
    }
}
