//! The history page (`history.html` in each report's folder, which its report.html
//! links to, and `snapdiff history SPEC --html FILE`): a spec's reports over time, so a
//! team sees whether the migration converges. Findings per entity and per kind are
//! drawn as lines, new and fixed findings per report as bars, and the table beneath
//! lists every report with a link to it. Like report.html it is one self-contained file
//! (inline SVG and CSS, no script), rendered from the stored report.json files alone,
//! which are masked as the reports are.

use super::html::esc;
use super::render::thousands;
use super::{status_word, EntityReport, Report, Status};

/// The history page's name in a report's folder.
pub const PAGE: &str = "history.html";

/// The kinds of finding a trend line is drawn for, in order.
const KINDS: [&str; 9] = [
    "missing",
    "extra",
    "changed",
    "duplicate keys",
    "NULL keys",
    "invalid",
    "schema",
    "aggregate",
    "invariant rows",
];

/// The findings of `kind` in report `r`.
fn of_kind(r: &Report, kind: &str) -> u64 {
    let e = |f: &dyn Fn(&EntityReport) -> u64| -> u64 {
        r.outcome
            .entities
            .iter()
            .filter(|e| e.error.is_none())
            .map(f)
            .sum()
    };
    let d = |f: fn(&super::Diff) -> u64| e(&|x| x.diff.as_ref().map_or(0, f));
    match kind {
        "missing" => d(|d| d.missing),
        "extra" => d(|d| d.extra),
        "changed" => d(|d| d.changed),
        "duplicate keys" => d(|d| d.duplicate_keys_legacy + d.duplicate_keys_target),
        "NULL keys" => d(|d| d.null_keys_legacy + d.null_keys_target),
        "invalid" => e(&|x| x.invalid.as_ref().map_or(0, |i| i.total)),
        "schema" => e(&|x| x.schema_findings.len() as u64),
        "aggregate" => e(&|x| x.aggregate_differences.len() as u64),
        _ => r.outcome.invariants.iter().map(|i| i.violations).sum(),
    }
}

/// The history page of `spec_name`'s `reports` (oldest first); `link` gives each
/// report's report.html as the page should link it (`None`: no link).
pub fn render(
    spec_name: &str,
    reports: &[&Report],
    link: impl Fn(&Report) -> Option<String>,
) -> String {
    let mut names: Vec<String> = Vec::new();
    for r in reports {
        for n in r
            .outcome
            .entities
            .iter()
            .map(|e| &e.name)
            .chain(r.outcome.invariants.iter().map(|i| &i.name))
        {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    // Per name, its findings in each report (`None`: not verified there, or an error).
    let per_name: Vec<(String, Vec<Option<u64>>)> = names
        .iter()
        .map(|n| {
            let values = reports.iter().map(|r| findings_of(r, n)).collect();
            (n.clone(), values)
        })
        .collect();
    let per_kind: Vec<(String, Vec<Option<u64>>)> = KINDS
        .iter()
        .map(|k| {
            let values: Vec<Option<u64>> = reports.iter().map(|r| Some(of_kind(r, k))).collect();
            (k.to_string(), values)
        })
        .filter(|(_, v)| v.iter().any(|x| x.unwrap_or(0) > 0))
        .collect();
    let labels: Vec<String> = reports
        .iter()
        .map(|r| r.created_at.format("%Y-%m-%d %H:%M").to_string())
        .collect();
    let newest = reports.last();
    let mut h = String::with_capacity(32 * 1024);
    h += &format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>snapdiff history: {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n",
        esc(spec_name)
    );
    h += &format!(
        "<h1>snapdiff history: <span class=\"spec-name\">{}</span></h1>\n",
        esc(spec_name)
    );
    h += &format!(
        "<p class=\"lead\">{} reports, {} to {}.{}</p>\n",
        thousands(reports.len() as u64),
        labels.first().map_or("-", String::as_str),
        labels.last().map_or("-", String::as_str),
        newest
            .map(|r| format!(
                " The newest is {} with {} findings.",
                status_word(r.status),
                thousands(super::render::Glance::of(&r.outcome).findings)
            ))
            .unwrap_or_default()
    );
    h += "<section id=\"by-entity\">\n<h2>Findings per entity</h2>\n";
    h += &line_chart("trend-entities", &labels, &per_name);
    h += "</section>\n<section id=\"by-kind\">\n<h2>Findings per kind</h2>\n";
    if per_kind.is_empty() {
        h += "<p class=\"muted\">No findings in any report.</p>\n";
    } else {
        h += &line_chart("trend-kinds", &labels, &per_kind);
    }
    h += "</section>\n<section id=\"new-fixed\">\n<h2>New and fixed per report</h2>\n";
    let moves: Vec<Option<(u64, u64)>> = reports
        .iter()
        .map(|r| r.delta.as_ref().map(|d| (d.new, d.fixed)))
        .collect();
    h += &bar_chart(&labels, &moves);
    h += "</section>\n<section id=\"reports\">\n<h2>Reports</h2>\n";
    h += &table(reports, &names, &link);
    h += "</section>\n</main>\n</body>\n</html>\n";
    h
}

/// The findings of the entity, query check or invariant `name` in `r` as the history
/// shows them: a count, `error` when it could not be verified, `-` when `r` does not
/// verify it.
pub fn findings_cell(r: &Report, name: &str) -> String {
    match findings_of(r, name) {
        Some(v) => thousands(v),
        None if r.outcome.entities.iter().any(|e| e.name == name)
            || r.outcome.invariants.iter().any(|i| i.name == name) =>
        {
            "error".into()
        }
        None => "-".into(),
    }
}

/// The findings of the entity, query check or invariant `name` in `r`.
fn findings_of(r: &Report, name: &str) -> Option<u64> {
    if let Some(e) = r.outcome.entities.iter().find(|e| e.name == name) {
        return (e.status != Status::Error).then(|| e.findings());
    }
    let i = r.outcome.invariants.iter().find(|i| i.name == name)?;
    (i.status != Status::Error).then_some(i.violations)
}

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const COLOURS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// The x of the `i`-th of `n` reports.
fn x_of(i: usize, n: usize) -> f64 {
    let span = WIDTH - LEFT - RIGHT;
    if n <= 1 {
        LEFT + span / 2.0
    } else {
        LEFT + span * i as f64 / (n - 1) as f64
    }
}

/// The axes: the y ticks 0, half and `max`, the first and last labels.
fn axes(labels: &[String], max: u64, zero_y: f64, scale: impl Fn(u64) -> f64) -> String {
    let mut s = format!(
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{zero_y:.1}\" x2=\"{:.1}\" y2=\"{zero_y:.1}\"/>\n",
        WIDTH - RIGHT
    );
    let mut ticks = vec![0, max];
    if max >= 2 {
        ticks.insert(1, max / 2);
    }
    for t in ticks {
        let y = scale(t);
        s += &format!(
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n\
             <line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\n",
            LEFT - 6.0,
            y + 4.0,
            thousands(t),
            WIDTH - RIGHT
        );
    }
    let n = labels.len();
    for (i, l) in labels.iter().enumerate() {
        if i == 0 || i + 1 == n {
            let anchor = if n == 1 {
                "middle"
            } else if i == 0 {
                "start"
            } else {
                "end"
            };
            s += &format!(
                "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>\n",
                x_of(i, n),
                HEIGHT - 8.0,
                esc(l)
            );
        }
    }
    s
}

/// One line per series, a point per report (a gap where a value is `None`), with a
/// legend; each point's title says its value.
fn line_chart(class: &str, labels: &[String], series: &[(String, Vec<Option<u64>>)]) -> String {
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let bottom = HEIGHT - BOTTOM;
    let scale = |v: u64| bottom - (bottom - TOP) * v as f64 / max as f64;
    let n = labels.len();
    let mut s = format!(
        "<svg class=\"{class}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">\n",
        esc(&format!("{} over {} reports", class.replace('-', " "), n))
    );
    s += &axes(labels, max, bottom, scale);
    for (k, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        s += &format!(
            "<g class=\"series\" data-series=\"{}\" stroke=\"{colour}\" fill=\"{colour}\">\n",
            esc(name)
        );
        // A polyline per run of values without a gap.
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, s: &mut String| {
            if run.len() > 1 {
                *s += &format!("<polyline fill=\"none\" points=\"{}\"/>\n", run.join(" "));
            }
            run.clear();
        };
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => {
                    let (x, y) = (x_of(i, n), scale(*v));
                    run.push(format!("{x:.1},{y:.1}"));
                    s += &format!(
                        "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" data-value=\"{v}\"><title>{}: {} findings ({})</title></circle>\n",
                        esc(name),
                        thousands(*v),
                        esc(&labels[i])
                    );
                }
                None => flush(&mut run, &mut s),
            }
        }
        flush(&mut run, &mut s);
        s += "</g>\n";
    }
    s += "</svg>\n<ul class=\"legend\">\n";
    for (k, (name, values)) in series.iter().enumerate() {
        let last = values
            .last()
            .copied()
            .flatten()
            .map_or("-".to_string(), thousands);
        s += &format!(
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{} <span class=\"muted\">(now {last})</span></li>\n",
            COLOURS[k % COLOURS.len()],
            esc(name)
        );
    }
    s + "</ul>\n"
}

/// Per report, a bar up for its new findings and one down for its fixed ones (none for
/// the first report, which has nothing to compare with).
fn bar_chart(labels: &[String], moves: &[Option<(u64, u64)>]) -> String {
    let max = moves
        .iter()
        .flatten()
        .map(|(n, f)| (*n).max(*f))
        .max()
        .unwrap_or(0)
        .max(1);
    let mid = TOP + (HEIGHT - BOTTOM - TOP) / 2.0;
    let half = mid - TOP;
    let n = labels.len();
    let width = ((WIDTH - LEFT - RIGHT) / n.max(1) as f64 * 0.35).clamp(2.0, 24.0);
    let mut s = format!(
        "<svg class=\"trend-moves\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"new and fixed findings over {n} reports\">\n"
    );
    s += &axes(labels, max, mid, |v| mid - half * v as f64 / max as f64);
    for (i, m) in moves.iter().enumerate() {
        let Some((new, fixed)) = m else { continue };
        let x = x_of(i, n) - width / 2.0;
        let up = half * *new as f64 / max as f64;
        let down = half * *fixed as f64 / max as f64;
        s += &format!(
            "<rect class=\"new\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{up:.1}\" data-value=\"{new}\"><title>{}: {} new</title></rect>\n\
             <rect class=\"fixed\" x=\"{x:.1}\" y=\"{mid:.1}\" width=\"{width:.1}\" height=\"{down:.1}\" data-value=\"{fixed}\"><title>{}: {} fixed</title></rect>\n",
            mid - up,
            esc(&labels[i]),
            thousands(*new),
            esc(&labels[i]),
            thousands(*fixed)
        );
    }
    s + "</svg>\n<ul class=\"legend\"><li><span class=\"swatch new\"></span>new (above the line)</li>\
         <li><span class=\"swatch fixed\"></span>fixed (below)</li></ul>\n"
}

/// The reports, newest first: status, findings per name, new and fixed.
fn table(
    reports: &[&Report],
    names: &[String],
    link: &impl Fn(&Report) -> Option<String>,
) -> String {
    let mut s = String::from("<div class=\"table-wrap\"><table class=\"history\">\n<thead><tr><th>Report</th><th>Created</th><th>Status</th>");
    for n in names {
        s += &format!("<th class=\"num\">{}</th>", esc(n));
    }
    s += "<th class=\"num\">New</th><th class=\"num\">Fixed</th></tr></thead>\n<tbody>\n";
    for r in reports.iter().rev() {
        let id = match link(r) {
            Some(href) => format!("<a href=\"{}\">{}</a>", esc(&href), esc(&r.id)),
            None => esc(&r.id),
        };
        s += &format!(
            "<tr data-report=\"{}\"><td><code>{id}</code></td><td>{}</td><td class=\"status-{}\">{}</td>",
            esc(&r.id),
            r.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            status_word(r.status).to_ascii_lowercase(),
            status_word(r.status)
        );
        for n in names {
            s += &format!("<td class=\"num\">{}</td>", findings_cell(r, n));
        }
        let (new, fixed) = r.delta.as_ref().map_or(("-".into(), "-".into()), |d| {
            (
                format!("+{}", thousands(d.new)),
                format!("-{}", thousands(d.fixed)),
            )
        });
        s += &format!("<td class=\"num\">{new}</td><td class=\"num\">{fixed}</td></tr>\n");
    }
    s + "</tbody>\n</table></div>\n"
}

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #fff; }
main { max-width: 1000px; margin: 0 auto; padding: 16px 20px 40px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
.muted { color: #6a737d; }
svg { width: 100%; height: auto; display: block; }
svg .axis { stroke: #444; } svg .grid { stroke: #e5e7eb; }
svg .tick { font-size: 11px; fill: #555; }
svg polyline { stroke-width: 2; }
svg rect.new { fill: #d62728; } svg rect.fixed { fill: #2ca02c; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.swatch.new { background: #d62728; } .swatch.fixed { background: #2ca02c; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 8px; text-align: left; white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.status-fail { color: #b31d28; font-weight: 600; } .status-pass { color: #22863a; font-weight: 600; }
.status-error { color: #b08800; font-weight: 600; }
";
