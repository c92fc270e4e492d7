//! The page's "At a glance" section: how many legacy rows each entity proved equal,
//! and in total, beside the findings.

use super::*;
use crate::report::render::{Glance, NOT_PROVEN};

/// How much was proven, per entity and in total, beside the findings.
pub(super) fn glance(r: &Report) -> String {
    let g = Glance::of(&r.outcome);
    let mut s = format!(
        "<section id=\"glance\" data-proven=\"{}\" data-compared=\"{}\" data-findings=\"{}\">\n<h2>At a glance</h2>\n<p class=\"glance-total\"><strong>{}</strong>.</p>\n",
        g.total.equal,
        g.total.compared,
        g.findings,
        esc(&g.sentence())
    );
    if g.entities.is_empty() {
        return s + "</section>\n";
    }
    let rows: Vec<String> = g
        .entities
        .iter()
        .map(|(e, p)| {
            let proven = match p {
                Some(p) => [
                    num(p.equal),
                    format!(
                        "<td class=\"num\" data-sort=\"{}\"><meter min=\"0\" max=\"{}\" value=\"{}\"></meter> {}</td>",
                        p.equal as f64 / p.compared.max(1) as f64,
                        p.compared.max(1),
                        p.equal,
                        p.percent()
                    ),
                ],
                None => [td("na", &esc(NOT_PROVEN)), td("num na", "&ndash;")],
            };
            let [equal, share] = proven;
            format!(
                "<tr data-entity=\"{}\">{}{}{equal}{}{share}{}</tr>\n",
                esc(&e.name),
                td("", &entity_link(&e.name)),
                status_td(e.status),
                num(e.legacy_rows),
                num(e.findings()),
            )
        })
        .collect();
    s += &table(
        "glance-table",
        "glance",
        &ths(&[
            ("Name", ""),
            ("Status", ""),
            ("Proven equal", "num"),
            ("Legacy rows", "num"),
            ("Proven", "num"),
            ("Findings", "num"),
        ]),
        &rows,
    );
    s + "</section>\n"
}
