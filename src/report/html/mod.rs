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

mod glance;
mod partitions;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use super::delta::{Delta, DeltaGroup};
use super::render::{
    changed_columns, find_cell, optional_columns, seconds, showing, thousands, url_path,
};
use super::{
    grid, key_text, status_word, AggregateDifference, ChangedRow, CheckOutcome, Diff, EntityReport,
    Failure, GridCell, InvariantReport, PartitionRow, Partitions, Report, Row, RunSummary, Status,
};
use crate::normalize::text::{escape_invisible, needs_quotes, visible};
use partitions::partitions;

/// The HTML report of `report`.
pub fn render(report: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    h += &head(report);
    h += &format!("<body data-status=\"{}\">\n", lower(report.status));
    h += &header(report);
    h += "<main>\n";
    h += &glance::glance(report);
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
    let mut facts = facts.to_vec();
    // A spec's report (a `snapdiff diff` report has no spec file, so no sha256) has its
    // history page beside it.
    if !r.spec.sha256.is_empty() {
        facts.push((
            "History",
            format!(
                "<a class=\"history-link\" href=\"{}\">every report of this spec up to this one, as a chart</a>",
                super::trend::PAGE
            ),
        ));
    }
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
        ("Aggregate differences the diff does not explain", "num"),
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
        td("", e.kind.as_str()),
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
    cells.push(td("", c.check.as_str()));
    cells.push(status_td(c.status));
    cells.push(td("", &esc(&c.summary)));
    cells.push(td("num", &seconds(c.seconds)));
    tr(&cells)
}

fn invariant_row(i: &InvariantReport) -> String {
    let name = if i.status.failed_or_errored() {
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
        thousands(d.new),
        thousands(d.fixed)
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
        esc(e.kind.as_str())
    );
    s += &format!(
        "<h2><a class=\"anchor\" href=\"#{id}\">{}</a> <span class=\"kind\">{}</span> {}</h2>\n",
        esc(&e.name),
        esc(e.kind.as_str()),
        badge(e.status)
    );
    s += &definitions("facts", &facts(e));
    if let Some(f) = &e.error {
        s += &failure(f);
    }
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
    if let Some(i) = e.invalid.as_ref().filter(|i| i.total > 0) {
        let per: Vec<String> = i
            .by_column
            .iter()
            .map(|(c, n)| format!("{c} {}", thousands(*n)))
            .collect();
        s += &format!(
            "<h3>Values a rule could not read</h3>\n<p>{} values, read as NULL in the digests and the diff: {}. {}</p>\n",
            thousands(i.total),
            esc(&per.join(", ")),
            showing(i.rows.len(), i.total)
        );
        let rows: Vec<Row> = i
            .rows
            .iter()
            .map(|r| {
                vec![
                    ("side".to_string(), Some(r.side.clone())),
                    ("column".to_string(), Some(r.column.clone())),
                    ("key".to_string(), Some(key_text(&r.key))),
                    ("value".to_string(), r.value.clone()),
                ]
            })
            .collect();
        s += &rows_table("invalid-values", &rows);
    }
    s += &aggregates(&e.aggregate_differences);
    if let Some(d) = &e.diff {
        s += &diff(d);
    }
    if e.findings() == 0 && !e.status.failed_or_errored() {
        s += "<p class=\"no-findings\">No findings.</p>\n";
    }
    s += "</section>\n";
    s
}

/// Why an entity or invariant could not be verified, and how to fix it.
fn failure(f: &Failure) -> String {
    let mut s = format!(
        "<div class=\"failure\">\n<p><strong>Could not be verified:</strong> {}</p>\n",
        esc(&f.message)
    );
    if let Some(h) = &f.hint {
        s += &format!("<p class=\"hint\">Hint: {}</p>\n", esc(h));
    }
    s += "</div>\n";
    s
}

fn facts(e: &EntityReport) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        (
            "Rows",
            format!(
                "legacy {}, target {}",
                thousands(e.legacy_rows),
                thousands(e.target_rows)
            ),
        ),
        ("Key", code_list(&e.key)),
        ("Compared", code_list(&e.compared)),
    ];
    if let Some(u) = &e.unsettled {
        facts.push(("Unsettled", esc(&super::render::unsettled(u))));
    }
    for (label, cols) in optional_columns(e) {
        facts.push((label, code_list(cols)));
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
    for r in &d.rounding {
        s += &format!(
            "<p class=\"invisible\">Note: every difference in <code>{}</code> goes away rounded to {} decimals: add <code>round = {}</code> to it.</p>\n",
            esc(&r.column),
            r.places,
            r.places
        );
    }
    for i in &d.invisible {
        s += &format!(
            "<p class=\"invisible\">Note: every difference in <code>{}</code> is only {}: add the <code>{}</code> rule to it.</p>\n",
            esc(&i.column),
            esc(i.kind.words()),
            i.kind.rule()
        );
    }
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
            Some(cell) if cell.differs => {
                let (l, t) = marked(cell.legacy.as_deref(), cell.target.as_deref());
                cells.push(td("diff", &l));
                cells.push(td("diff", &t));
            }
            Some(cell) => {
                cells.push(td("", &value(cell.legacy.as_deref())));
                cells.push(td("", &value(cell.target.as_deref())));
            }
            None => cells.extend([td("", ""), td("", "")]),
        }
    }
    tr(&cells)
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
        .filter(|i| i.status.failed_or_errored())
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
        if let Some(f) = &i.error {
            s += &failure(f);
            s += "</div>\n";
            continue;
        }
        s += &format!(
            "<p>{} rows break it. {}</p>\n",
            thousands(i.violations),
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

/// A count, with thousands separators (sorted by its value).
fn num(n: u64) -> String {
    format!("<td class=\"num\" data-sort=\"{n}\">{}</td>", thousands(n))
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
pub(super) fn esc(s: &str) -> String {
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

/// A value in a cell: NULL and empty marked as such, and text whose difference could
/// not be seen quoted with its invisible characters escaped ([`visible`]).
fn value(v: Option<&str>) -> String {
    match v {
        None => "<span class=\"null\">NULL</span>".to_string(),
        Some("") => "<span class=\"empty\">empty</span>".to_string(),
        Some(s) => esc(&visible(Some(s))),
    }
}

/// The two values of a differing cell, the characters where they differ in `<mark>`:
/// what lies between their common start and their common end.
fn marked(legacy: Option<&str>, target: Option<&str>) -> (String, String) {
    let (Some(l), Some(t)) = (
        legacy.filter(|s| !s.is_empty()),
        target.filter(|s| !s.is_empty()),
    ) else {
        return (value(legacy), value(target));
    };
    let (lc, tc): (Vec<char>, Vec<char>) = (l.chars().collect(), t.chars().collect());
    let start = lc.iter().zip(&tc).take_while(|(a, b)| a == b).count();
    let end = lc[start..]
        .iter()
        .rev()
        .zip(tc[start..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    // Each part written as the whole value is ([`visible`]): quoted, with what cannot be
    // seen escaped, when the value needs it.
    let mark = |c: &[char]| {
        let raw: String = c.iter().collect();
        let quoted = needs_quotes(&raw);
        let s = |r: &[char]| {
            let r: String = r.iter().collect();
            esc(&if quoted { escape_invisible(&r) } else { r })
        };
        // Values were cut when the report was made (`report::mask`, around where two
        // long ones differ): each part is shown whole.
        let (before, mid, after) = (&c[..start], &c[start..c.len() - end], &c[c.len() - end..]);
        let (before, after) = (s(before), s(after));
        let mid = if mid.is_empty() {
            String::new()
        } else {
            format!("<mark>{}</mark>", s(mid))
        };
        let q = if quoted { "&quot;" } else { "" };
        format!("{q}{before}{mid}{after}{q}")
    };
    (mark(&lc), mark(&tc))
}

fn badge(s: Status) -> String {
    format!(
        "<span class=\"badge status-{}\">{}</span>",
        lower(s),
        status_word(s)
    )
}

/// `pass`, `fail`, `info`, `skip` or `error`.
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

/// At most `max` characters of `s`, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn time(t: &DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339_opts(SecondsFormat::Secs, true),
        t.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

// ---------------------------------------------------------------------------------------
// Style and script

const STYLE: &str = include_str!("style.css");

const SCRIPT: &str = include_str!("script.js");

#[cfg(test)]
mod tests;
