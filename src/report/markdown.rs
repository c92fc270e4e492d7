//! The Markdown report (`report.md`): the whole verification as GitHub-flavoured
//! Markdown, for the places an HTML file does not render (pull requests, tickets, chat).
//! It is rendered from [`Report`] alone, so it says what `report.json` says: the header,
//! the summary tables, what changed since the previous report, each entity's findings
//! with their sample rows, and the rows that break the failing invariants.
//!
//! Every piece of user text (names, values, summaries) is escaped: Markdown punctuation
//! is backslash-escaped and line breaks become spaces, so a value can neither add markup
//! nor break a table row.

use chrono::{DateTime, Utc};

use super::delta::Delta;
use super::render::{
    changed_columns, find_cell, optional_columns, seconds, showing, thousands, url_path, Glance,
    NOT_PROVEN,
};
use super::{
    grid, key_text, status_word, AggregateDifference, Cell, Diff, EntityReport, GridCell,
    InvalidValues, InvariantReport, PartitionRow, Partitions, Report, Row, RunSummary, Status,
};
use crate::normalize::text::visible;

/// The Markdown report of `report`.
pub fn render(report: &Report) -> String {
    let mut md = Markdown::default();
    header(&mut md, report);
    glance(&mut md, report);
    errors(&mut md, report);
    summary(&mut md, report);
    delta(&mut md, report.delta.as_ref());
    for e in report.outcome.entities.iter().filter(|e| has_details(e)) {
        entity(&mut md, e);
    }
    failing_invariants(&mut md, &report.outcome.invariants);
    md.finish()
}

/// Markdown under construction: blocks (headings, paragraphs, lists, tables), each
/// followed by a blank line.
#[derive(Default)]
struct Markdown {
    out: String,
}

impl Markdown {
    fn block(&mut self, lines: impl IntoIterator<Item = String>) {
        for line in lines {
            self.out.push_str(&line);
            self.out.push('\n');
        }
        self.out.push('\n');
    }

    /// A heading of already escaped text.
    fn heading(&mut self, level: usize, title: &str) {
        self.block([format!("{} {title}", "#".repeat(level))]);
    }

    /// A paragraph of already escaped text.
    fn para(&mut self, text: &str) {
        self.block([text.to_string()]);
    }

    /// A bullet list of already escaped items.
    fn list(&mut self, items: impl IntoIterator<Item = String>) {
        self.block(items.into_iter().map(|i| format!("- {i}")));
    }

    /// A table of already escaped cells; `align` has an `r` for each right-aligned
    /// (numeric) column, anything else (or nothing) for left.
    fn table(&mut self, head: &[String], align: &str, rows: &[Vec<String>]) {
        let rule: Vec<String> = (0..head.len())
            .map(|i| match align.as_bytes().get(i) {
                Some(b'r') => "---:".to_string(),
                _ => "---".to_string(),
            })
            .collect();
        let mut lines = vec![table_line(head), table_line(&rule)];
        lines.extend(rows.iter().map(|r| table_line(r)));
        self.block(lines);
    }

    fn finish(mut self) -> String {
        while self.out.ends_with("\n\n") {
            self.out.pop();
        }
        self.out
    }
}

fn table_line(cells: &[String]) -> String {
    format!("| {} |", cells.join(" | "))
}

/// Static column titles as table head cells.
fn titles(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// Sections

fn header(md: &mut Markdown, r: &Report) {
    md.heading(1, &format!("snapdiff report: {}", text(&r.spec.name)));
    md.list([
        format!("Status: **{}**", status_word(r.status)),
        format!("Report: {}", code(&r.id)),
        format!(
            "Created: {} (snapdiff {})",
            timestamp(&r.created_at),
            text(&r.tool_version)
        ),
        format!(
            "Spec: {} (sha256 {})",
            code(&r.spec.path),
            code(&r.spec.sha256)
        ),
        format!("Legacy: {}", run(&r.outcome.legacy)),
        format!("Target: {}", run(&r.outcome.target)),
        format!("Row hash version: {}", r.outcome.row_hash_version),
        format!("Seconds: {}", seconds(r.outcome.seconds)),
    ]);
}

/// How much was proven, per entity and in total, beside the findings.
fn glance(md: &mut Markdown, r: &Report) {
    let g = Glance::of(&r.outcome);
    md.heading(2, "At a glance");
    md.para(&format!("**{}**.", text(&g.sentence())));
    if g.entities.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = g
        .entities
        .iter()
        .map(|(e, p)| {
            let (equal, share) = match p {
                Some(p) => (thousands(p.equal), p.percent()),
                None => (text(NOT_PROVEN), "-".into()),
            };
            vec![
                text(&e.name),
                status_word(e.status).to_string(),
                equal,
                thousands(e.legacy_rows),
                share,
                thousands(e.findings()),
            ]
        })
        .collect();
    md.table(
        &titles(&[
            "Name",
            "Status",
            "Proven equal",
            "Legacy rows",
            "Proven",
            "Findings",
        ]),
        "llrrrr",
        &rows,
    );
}

/// What could not be verified, first: its findings are incomplete.
fn errors(md: &mut Markdown, r: &Report) {
    let o = &r.outcome;
    let failed = o
        .entities
        .iter()
        .filter_map(|e| Some((e.name.as_str(), e.kind.as_str(), e.error.as_ref()?)))
        .chain(
            o.invariants
                .iter()
                .filter_map(|i| Some((i.name.as_str(), "invariant", i.error.as_ref()?))),
        );
    let items: Vec<String> = failed
        .map(|(name, kind, f)| {
            let mut item = format!("{} ({kind}): {}", code(name), text(&f.message));
            if let Some(h) = &f.hint {
                item.push_str(&format!(" (hint: {})", text(h)));
            }
            item
        })
        .collect();
    if items.is_empty() {
        return;
    }
    md.heading(2, "Could not be verified");
    md.para("These were not verified, so their findings below are incomplete; the others were verified as usual.");
    md.list(items);
}

fn run(r: &RunSummary) -> String {
    format!(
        "run {}, {} {}",
        code(&r.run_id),
        text(&r.source_kind),
        code(&r.source_url)
    )
}

fn summary(md: &mut Markdown, r: &Report) {
    let o = &r.outcome;
    md.heading(2, "Summary");
    if o.entities.is_empty() {
        md.para("No entity or query checks.");
    } else {
        md.table(
            &titles(&[
                "Name",
                "Kind",
                "Status",
                "Legacy rows",
                "Target rows",
                "Missing",
                "Extra",
                "Changed",
                "Duplicate keys",
                "NULL keys",
                "Schema findings",
                "Aggregate differences the diff does not explain",
            ]),
            "lllrrrrrrrrr",
            &o.entities.iter().map(summary_row).collect::<Vec<_>>(),
        );
    }
    let checks: Vec<Vec<String>> = o
        .entities
        .iter()
        .flat_map(|e| {
            e.checks.iter().map(move |c| {
                vec![
                    text(&e.name),
                    text(c.check.as_str()),
                    status_word(c.status).to_string(),
                    text(&c.summary),
                    seconds(c.seconds),
                ]
            })
        })
        .collect();
    if !checks.is_empty() {
        md.heading(3, "Checks");
        md.table(
            &titles(&["Name", "Check", "Status", "Summary", "Seconds"]),
            "llllr",
            &checks,
        );
    }
    if !o.invariants.is_empty() {
        md.heading(3, "Invariants");
        let rows: Vec<Vec<String>> = o
            .invariants
            .iter()
            .map(|i| {
                vec![
                    text(&i.name),
                    status_word(i.status).to_string(),
                    thousands(i.violations),
                    seconds(i.seconds),
                ]
            })
            .collect();
        md.table(
            &titles(&["Invariant", "Status", "Violations", "Seconds"]),
            "llrr",
            &rows,
        );
    }
}

/// An entity's summary row; the diff's counts are `-` when the diff did not run.
fn summary_row(e: &EntityReport) -> Vec<String> {
    let d = e.diff.as_ref();
    vec![
        text(&e.name),
        text(e.kind.as_str()),
        status_word(e.status).to_string(),
        thousands(e.legacy_rows),
        thousands(e.target_rows),
        count(d, |d| d.missing),
        count(d, |d| d.extra),
        count(d, |d| d.changed),
        count(d, |d| d.duplicate_keys_legacy + d.duplicate_keys_target),
        count(d, |d| d.null_keys_legacy + d.null_keys_target),
        thousands(e.schema_findings.len() as u64),
        thousands(e.aggregate_differences.len() as u64),
    ]
}

fn count(d: Option<&Diff>, f: impl Fn(&Diff) -> u64) -> String {
    d.map_or_else(|| "-".to_string(), |d| thousands(f(d)))
}

fn delta(md: &mut Markdown, d: Option<&Delta>) {
    md.heading(2, "Since the previous report");
    let Some(d) = d else {
        md.para("First report of this spec: nothing to compare with.");
        return;
    };
    md.para(&format!(
        "Since report {}: {} new, {} fixed (the previous report was created {}).",
        text(&d.previous_report),
        thousands(d.new),
        thousands(d.fixed),
        timestamp(&d.previous_created_at)
    ));
    if d.groups.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = d
        .groups
        .iter()
        .map(|g| {
            vec![
                text(&g.name),
                text(&g.kind),
                thousands(g.new),
                thousands(g.fixed),
                if g.by_key { "one by one" } else { "by count" }.to_string(),
            ]
        })
        .collect();
    md.table(
        &titles(&["Name", "Kind", "New", "Fixed", "Matched"]),
        "llrrl",
        &rows,
    );
    for g in &d.groups {
        let mut items = Vec::new();
        if !g.new_items.is_empty() {
            items.push(format!("New: {}", listed(&g.new_items, g.new)));
        }
        if !g.fixed_items.is_empty() {
            items.push(format!("Fixed: {}", listed(&g.fixed_items, g.fixed)));
        }
        if !items.is_empty() {
            md.para(&format!("**{}: {}**", text(&g.name), text(&g.kind)));
            md.list(items);
        }
    }
}

/// The listed findings of a delta group as code, and how many more there are.
fn listed(items: &[String], total: u64) -> String {
    let mut parts: Vec<String> = items.iter().map(|i| code(i)).collect();
    let more = total.saturating_sub(items.len() as u64);
    if more > 0 {
        parts.push(format!("and {} more", thousands(more)));
    }
    parts.join(", ")
}

/// Whether an entity gets a findings section.
fn has_details(e: &EntityReport) -> bool {
    e.status.failed_or_errored()
        || e.findings() > 0
        || !e.diff_files.is_empty()
        || e.partitions
            .as_ref()
            .is_some_and(|p| !p.differing.is_empty())
}

fn entity(md: &mut Markdown, e: &EntityReport) {
    md.heading(
        2,
        &format!(
            "{} ({}): {}",
            text(&e.name),
            text(e.kind.as_str()),
            status_word(e.status)
        ),
    );
    md.list(facts(e));
    if !e.diff_files.is_empty() {
        let links: Vec<String> = e
            .diff_files
            .iter()
            .map(|f| {
                let path = format!("diffs/{f}");
                format!("[{}]({})", text(&path), url_path(&path))
            })
            .collect();
        md.para(&format!(
            "Every differing row is in the report's diffs folder: {}.",
            links.join(", ")
        ));
    }
    if let Some(p) = &e.partitions {
        partitions(md, p);
    }
    if !e.schema_findings.is_empty() {
        md.heading(3, "Schema findings");
        md.list(e.schema_findings.iter().map(|f| text(f)));
    }
    if let Some(i) = e.invalid.as_ref().filter(|i| i.total > 0) {
        invalid(md, i);
    }
    if !e.aggregate_differences.is_empty() {
        aggregates(md, &e.aggregate_differences);
    }
    if let Some(d) = &e.diff {
        diff(md, d);
    }
}

/// The entity's rows, columns and failing checks, as list items.
fn facts(e: &EntityReport) -> Vec<String> {
    let mut facts = vec![
        format!(
            "Rows: legacy {}, target {}",
            thousands(e.legacy_rows),
            thousands(e.target_rows)
        ),
        format!("Key: {}", code_list(&e.key)),
        format!("Compared: {}", code_list(&e.compared)),
    ];
    if let Some(u) = &e.unsettled {
        facts.push(format!("Unsettled: {}", text(&super::render::unsettled(u))));
    }
    for (label, cols) in optional_columns(e) {
        facts.push(format!("{label}: {}", code_list(cols)));
    }
    for c in e.checks.iter().filter(|c| c.status.failed_or_errored()) {
        facts.push(format!(
            "{} {}: {}",
            status_word(c.status),
            text(c.check.as_str()),
            text(&c.summary)
        ));
    }
    facts
}

fn code_list(cols: &[String]) -> String {
    if cols.is_empty() {
        return "none".to_string();
    }
    cols.iter().map(|c| code(c)).collect::<Vec<_>>().join(", ")
}

fn partitions(md: &mut Markdown, p: &Partitions) {
    if p.total <= 1 && p.rows.len() <= 1 {
        return;
    }
    md.heading(3, "Partitions");
    md.para(&format!(
        "{} of {} partition digests equal.",
        thousands(p.equal as u64),
        thousands(p.total as u64)
    ));
    let rows: Vec<Vec<String>> = p
        .rows
        .iter()
        .filter(|r| !partition_clean(r))
        .map(|r| {
            vec![
                value(r.partition.as_deref()),
                thousands(r.legacy_rows),
                thousands(r.target_rows),
                match r.digest_equal {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "-",
                }
                .to_string(),
                thousands(r.missing),
                thousands(r.extra),
                thousands(r.changed),
            ]
        })
        .collect();
    if !rows.is_empty() {
        md.para("The partitions that differ:");
        md.table(
            &titles(&[
                "Partition",
                "Legacy rows",
                "Target rows",
                "Digest equal",
                "Missing",
                "Extra",
                "Changed",
            ]),
            "lrrlrrr",
            &rows,
        );
    }
}

/// Whether a partition shows no difference at all.
fn partition_clean(r: &PartitionRow) -> bool {
    r.missing + r.extra + r.changed == 0
        && r.digest_equal != Some(false)
        && r.legacy_rows == r.target_rows
}

fn aggregates(md: &mut Markdown, diffs: &[AggregateDifference]) {
    md.heading(3, "Aggregate differences");
    let rows: Vec<Vec<String>> = diffs
        .iter()
        .map(|a| {
            vec![
                text(&a.column),
                text(&a.statistic),
                value(a.legacy.as_deref()),
                value(a.target.as_deref()),
            ]
        })
        .collect();
    md.table(
        &titles(&["Column", "Statistic", "Legacy", "Target"]),
        "",
        &rows,
    );
}

fn diff(md: &mut Markdown, d: &Diff) {
    if d.changed > 0 || !d.changed_rows.is_empty() || !d.changed_by_column.is_empty() {
        changed(md, d);
    }
    if d.missing > 0 || !d.missing_rows.is_empty() {
        md.heading(3, "Missing rows");
        md.para(&format!(
            "Rows of the legacy side that the target lacks. {}",
            showing(d.missing_rows.len(), d.missing)
        ));
        rows_table(md, &d.missing_rows);
    }
    if d.extra > 0 || !d.extra_rows.is_empty() {
        md.heading(3, "Extra rows");
        md.para(&format!(
            "Rows of the target side that the legacy lacks. {}",
            showing(d.extra_rows.len(), d.extra)
        ));
        rows_table(md, &d.extra_rows);
    }
    let dups = d.duplicate_keys_legacy + d.duplicate_keys_target;
    if dups > 0 || !d.duplicates.is_empty() {
        md.heading(3, "Duplicate keys");
        md.para(&format!(
            "Keys carried by more than one row: legacy {}, target {}. {}",
            thousands(d.duplicate_keys_legacy),
            thousands(d.duplicate_keys_target),
            showing(d.duplicates.len(), dups)
        ));
        let rows: Vec<Vec<String>> = d
            .duplicates
            .iter()
            .map(|k| vec![text(&k.side), text(&key_text(&k.key)), thousands(k.rows)])
            .collect();
        md.table(&titles(&["Side", "Key", "Rows"]), "llr", &rows);
    }
    let nulls = d.null_keys_legacy + d.null_keys_target;
    if nulls > 0 || !d.null_key_rows.is_empty() {
        md.heading(3, "Rows with a NULL key");
        md.para(&format!(
            "Rows whose key has a NULL: legacy {}, target {}. {}",
            thousands(d.null_keys_legacy),
            thousands(d.null_keys_target),
            showing(d.null_key_rows.len(), nulls)
        ));
        let rows: Vec<&Row> = d.null_key_rows.iter().map(|(_, r)| r).collect();
        let (cols, body) = grid(&rows);
        let mut head = titles(&["Side"]);
        head.extend(cols.iter().map(|c| text(c)));
        let body: Vec<Vec<String>> = d
            .null_key_rows
            .iter()
            .zip(body)
            .map(|((side, _), cells)| {
                std::iter::once(text(side))
                    .chain(cells.into_iter().map(grid_value))
                    .collect()
            })
            .collect();
        if !body.is_empty() {
            md.table(&head, "", &body);
        }
    }
}

fn changed(md: &mut Markdown, d: &Diff) {
    md.heading(3, "Changed rows");
    md.para(&showing(d.changed_rows.len(), d.changed));
    if !d.changed_by_column.is_empty() {
        let per: Vec<String> = d
            .changed_by_column
            .iter()
            .map(|(c, n)| format!("{} {}", text(c), thousands(*n)))
            .collect();
        md.para(&format!("Changed rows per column: {}.", per.join(", ")));
    }
    for r in &d.rounding {
        md.para(&format!(
            "Note: every difference in {} goes away rounded to {} decimals: add {} to it.",
            code(&r.column),
            r.places,
            code(&format!("round = {}", r.places))
        ));
    }
    for i in &d.invisible {
        md.para(&format!(
            "Note: every difference in {} is only {}: add the {} rule to it.",
            code(&i.column),
            text(i.kind.words()),
            code(i.kind.rule())
        ));
    }
    let Some(first) = d.changed_rows.first() else {
        return;
    };
    md.para("Cells read legacy → target; differing values are in bold, and ≠ marks the columns that differ.");
    let keys: Vec<&str> = first.key.iter().map(|(c, _)| c.as_str()).collect();
    let cols = changed_columns(&d.changed_rows);
    let mut head: Vec<String> = keys.iter().map(|k| text(k)).collect();
    head.extend(cols.iter().map(|c| {
        let differs = d
            .changed_rows
            .iter()
            .any(|r| find_cell(r, c).is_some_and(|x| x.differs));
        if differs {
            format!("{} ≠", text(c))
        } else {
            text(c)
        }
    }));
    let rows: Vec<Vec<String>> = d
        .changed_rows
        .iter()
        .map(|r| {
            let key = keys.iter().map(|k| {
                r.key
                    .iter()
                    .find(|(c, _)| c == k)
                    .map_or_else(String::new, |(_, v)| value(v.as_deref()))
            });
            let cells = cols
                .iter()
                .map(|c| find_cell(r, c).map_or_else(String::new, change));
            key.chain(cells).collect()
        })
        .collect();
    md.table(&head, "", &rows);
}

/// A changed row's cell: the value when both sides agree, else `legacy → target` (in
/// bold when the cell counts as differing).
fn change(c: &Cell) -> String {
    let (l, t) = (value(c.legacy.as_deref()), value(c.target.as_deref()));
    if c.differs {
        format!("**{l}** → **{t}**")
    } else if c.legacy == c.target {
        l
    } else {
        format!("{l} → {t}")
    }
}

/// Values a rule could not read: how many per column, and the first ones.
fn invalid(md: &mut Markdown, i: &InvalidValues) {
    md.heading(3, "Values a rule could not read");
    let per: Vec<String> = i
        .by_column
        .iter()
        .map(|(c, n)| format!("{} {}", text(c), thousands(*n)))
        .collect();
    md.para(&format!(
        "{} values, read as NULL in the digests and the diff: {}. {}",
        thousands(i.total),
        per.join(", "),
        showing(i.rows.len(), i.total)
    ));
    let rows: Vec<Vec<String>> = i
        .rows
        .iter()
        .map(|r| {
            vec![
                text(&r.side),
                text(&r.column),
                text(&key_text(&r.key)),
                value(r.value.as_deref()),
            ]
        })
        .collect();
    md.table(&titles(&["Side", "Column", "Key", "Value"]), "llll", &rows);
}

fn failing_invariants(md: &mut Markdown, invariants: &[InvariantReport]) {
    let failing: Vec<&InvariantReport> = invariants
        .iter()
        .filter(|i| i.status == Status::Fail)
        .collect();
    if failing.is_empty() {
        return;
    }
    md.heading(2, "Failing invariants");
    for i in failing {
        md.heading(3, &text(&i.name));
        md.para(&format!(
            "{} rows break it. {}",
            thousands(i.violations),
            showing(i.rows.len(), i.violations)
        ));
        rows_table(md, &i.rows);
    }
}

/// A table of sample rows, one column per column of the rows.
fn rows_table(md: &mut Markdown, rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    let refs: Vec<&Row> = rows.iter().collect();
    let (cols, body) = grid(&refs);
    let head: Vec<String> = cols.iter().map(|c| text(c)).collect();
    let body: Vec<Vec<String>> = body
        .into_iter()
        .map(|cells| cells.into_iter().map(grid_value).collect())
        .collect();
    md.table(&head, "", &body);
}

fn grid_value(cell: GridCell<'_>) -> String {
    cell.map_or_else(String::new, value)
}

// ---------------------------------------------------------------------------------------
// Text

/// A value in a table: escaped text, `*NULL*` for NULL, `*empty*` for an empty string
/// (italics, so neither reads as a value that happens to say so), and text whose
/// difference could not be seen quoted with its invisible characters escaped
/// ([`visible`]: `"Edinburgh "`).
fn value(v: Option<&str>) -> String {
    match v {
        None => "*NULL*".to_string(),
        Some("") => "*empty*".to_string(),
        Some(s) => text(&visible(Some(s))),
    }
}

/// `s` as Markdown text on one line: the punctuation Markdown reads as markup is
/// backslash-escaped (`|` included, so it is safe in a table cell), except an `_` inside
/// a word, which Markdown never reads as emphasis.
fn text(s: &str) -> String {
    let chars: Vec<char> = one_line(s).chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '_' if intraword(&chars, i) => out.push('_'),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn intraword(chars: &[char], i: usize) -> bool {
    let alnum = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
    i > 0 && alnum(chars.get(i - 1)) && alnum(chars.get(i + 1))
}

/// `s` as an inline code span on one line, fenced by more backticks than it holds in a
/// row. For use outside tables (a code span does not hide a `|` from a table).
fn code(s: &str) -> String {
    let s = one_line(s);
    if s.is_empty() {
        return "*empty*".to_string();
    }
    let longest = s.split(|c: char| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // Markdown strips one space from each end when both ends have one; a backtick at an
    // end needs a space to part it from the fence.
    let pad = s.starts_with('`')
        || s.ends_with('`')
        || (s.starts_with(' ') && s.ends_with(' ') && !s.trim().is_empty());
    if pad {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

fn one_line(s: &str) -> String {
    s.replace("\r\n", " ").replace(['\r', '\n'], " ")
}

fn timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::render;
    use crate::report::delta::{Delta, DeltaGroup};
    use crate::report::test_support::{at, entity, partition, report as report_of, v};
    use crate::report::{
        Cell, ChangedRow, Diff, DuplicateKey, InvariantReport, Partitions, Report, Status,
    };

    fn report(delta: Option<Delta>) -> Report {
        let diff = Diff {
            missing: 3,
            extra: 0,
            changed: 5,
            duplicate_keys_legacy: 0,
            duplicate_keys_target: 1,
            duplicate_rows_legacy: 0,
            null_keys_legacy: 0,
            null_keys_target: 0,
            changed_by_column: BTreeMap::from([("amount".to_string(), 4), ("note".to_string(), 1)]),
            missing_rows: vec![vec![("id".into(), v("7")), ("note".into(), None)]],
            extra_rows: Vec::new(),
            changed_rows: vec![ChangedRow {
                key: vec![("id".into(), v("1"))],
                cells: vec![
                    Cell {
                        column: "amount".into(),
                        legacy: v("10"),
                        target: v("12"),
                        differs: true,
                    },
                    Cell {
                        column: "note".into(),
                        legacy: v("a|b <b>"),
                        target: v("a|b <b>"),
                        differs: false,
                    },
                ],
            }],
            duplicates: vec![DuplicateKey {
                side: "target".into(),
                key: vec![("id".into(), v("9"))],
                rows: 2,
            }],
            null_key_rows: Vec::new(),
            invisible: Vec::new(),
            rounding: Vec::new(),
        };
        let mut orders = entity("orders", Status::Fail, Some(diff));
        orders.target_rows = 8;
        orders.schema_findings = vec!["column <b> is missing on the target side".into()];
        orders.partitions = Some(Partitions {
            total: 2,
            equal: 1,
            differing: vec!["2024-02".into()],
            rows: vec![
                partition(Some("2024-01"), (5, 5), Some(true), 0, 0),
                partition(Some("2024-02"), (5, 3), Some(false), 3, 5),
            ],
        });
        orders.checks[0].summary = "3 missing | 5 changed".into();
        orders.diff_files = vec!["orders/missing.parquet".into()];
        let invariant = InvariantReport {
            name: "no_negative_amounts".into(),
            status: Status::Fail,
            violations: 2,
            rows: vec![vec![("id".into(), v("4")), ("amount".into(), v("-1"))]],
            seconds: 0.5,
            error: None,
        };
        report_of("shop", vec![orders], vec![invariant], delta)
    }

    fn delta() -> Delta {
        Delta {
            previous_report: "r1".into(),
            previous_created_at: at(),
            new: 3,
            fixed: 1,
            groups: vec![DeltaGroup {
                name: "orders".into(),
                kind: "missing".into(),
                by_key: true,
                new: 3,
                fixed: 1,
                new_items: vec!["id=7".into()],
                fixed_items: vec!["id=2".into()],
            }],
        }
    }

    #[test]
    fn renders_summary_findings_and_delta() {
        let md = render(&report(Some(delta())));
        assert!(md.starts_with("# snapdiff report: shop\n"), "{md}");
        assert!(md.contains("- Status: **FAIL**\n"), "{md}");
        assert!(md.contains("- Legacy: run `L1`, postgres `postgres://u@db/legacy`\n"));
        assert!(md.contains("\n| orders | entity | FAIL | 10 | 8 | 3 | 0 | 5 | 1 | 0 | 1 | 0 |\n"));
        assert!(md.contains("\n| orders | diff | FAIL | 3 missing \\| 5 changed | 0.25 |\n"));
        assert!(md.contains("\n| no_negative_amounts | FAIL | 2 | 0.50 |\n"));
        assert!(md.contains("Since report r1: 3 new, 1 fixed"));
        assert!(md.contains("- New: `id=7`, and 2 more\n"));
        // Changed rows: the differing values in bold, the differing column marked, the
        // user text escaped.
        assert!(md.contains("\n| id | amount ≠ | note |\n"), "{md}");
        assert!(
            md.contains("\n| 1 | **10** → **12** | a\\|b \\<b\\> |\n"),
            "{md}"
        );
        assert!(md.contains("- column \\<b\\> is missing on the target side\n"));
        assert!(md.contains("Showing 1 of 5, the first by key."));
        assert!(md.contains("\n| 7 | *NULL* |\n"));
        assert!(md.contains("[diffs/orders/missing.parquet](diffs/orders/missing.parquet)"));
        assert!(md.contains("\n| 2024-02 | 5 | 3 | no | 3 | 0 | 5 |\n"));
        assert!(!md.contains("\n| 2024-01 |"));
        assert!(md.contains("\n| target | id=9 | 2 |\n"));
        assert!(md.contains("## Failing invariants"));
        assert!(md.contains("\n| 4 | -1 |\n"));
        assert!(md.ends_with("|\n"));
        assert_eq!(md, render(&report(Some(delta()))));
    }

    #[test]
    fn first_report_says_so() {
        let md = render(&report(None));
        assert!(md.contains("First report of this spec"));
    }

    #[test]
    fn escapes_markdown() {
        assert_eq!(super::text("a|b\nc"), "a\\|b c");
        assert_eq!(super::text("snake_case _x_"), "snake_case \\_x\\_");
        assert_eq!(super::text("*<x>*"), "\\*\\<x\\>\\*");
        assert_eq!(super::code("a`b"), "``a`b``");
        assert_eq!(super::code("`a"), "`` `a ``");
        assert_eq!(super::url_path("diffs/a b.parquet"), "diffs/a%20b.parquet");
    }
}
