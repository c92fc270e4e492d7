use std::collections::BTreeMap;

use super::render;
use crate::report::delta::Delta;
use crate::report::test_support::{at, entity, partition, report as report_of, v};
use crate::report::{Cell, ChangedRow, Diff, InvariantReport, Partitions, Report, Status};

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
    orders.target_only = vec!["created_by".into()];
    orders.partitions = Some(Partitions {
        total: 3,
        equal: 1,
        differing: vec!["b".into(), "c".into()],
        rows: vec![
            partition(Some("a"), (4, 4), Some(true), 0, 0),
            partition(Some("b"), (3, 3), Some(false), 0, 2),
            partition(None, (3, 3), Some(false), 0, 0),
        ],
    });
    orders.diff_files = vec!["orders/changed.parquet".into()];
    let clean = entity("customers", Status::Pass, Some(Diff::default()));
    let invariant = InvariantReport {
        name: "no_orphans".into(),
        status: Status::Fail,
        violations: 3,
        rows: vec![vec![("id".into(), v("8")), ("customer".into(), None)]],
        seconds: 0.5,
        error: None,
    };
    report_of("shop <b>", vec![orders, clean], vec![invariant], delta)
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
    assert!(html.contains("<th class=\"diff-col\">amount <span class=\"side\">legacy</span></th>"));
    assert!(html.contains("Showing 1 of 2, the first by key."));
    // One rect per partition, coloured by state, with a tooltip.
    let strip = section(&html, "<svg class=\"chart-partitions\"", "</svg>");
    assert_eq!(strip.matches("<rect").count(), 3);
    assert!(strip.contains("class=\"part-equal\""));
    assert!(strip.contains("class=\"part-diff\""));
    assert!(strip.contains("class=\"part-amber\""));
    assert!(
        strip.contains("<title>b: legacy 3, target 3 rows; missing 0, extra 0, changed 2</title>")
    );
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
    assert!(
        html.contains("<div class=\"invariant\" id=\"invariant-no_orphans\" data-status=\"fail\">")
    );
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
