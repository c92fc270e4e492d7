//! `junit.xml`: one test case per check, so a CI system (GitLab, Jenkins, GitHub
//! annotations) shows a failing check natively. One `<testsuite>` per entity or query
//! check and one for the invariants; a failing check is a `<failure>` whose message is
//! its summary, a skipped one `<skipped/>`.

use std::fmt::Write;

use super::{Report, Status};

/// `junit.xml` of a report.
pub fn render(report: &Report) -> String {
    let o = &report.outcome;
    let mut suites = String::new();
    let (mut tests, mut failures, mut skipped) = (0usize, 0usize, 0usize);
    for e in &o.entities {
        let cases: Vec<Case> = e
            .checks
            .iter()
            .map(|c| Case {
                class: format!("{}.{}", report.spec.name, e.name),
                name: c.check.to_string(),
                seconds: c.seconds,
                status: c.status,
                message: c.summary.clone(),
            })
            .collect();
        let (t, f, s) = suite(&mut suites, &e.name, &cases);
        tests += t;
        failures += f;
        skipped += s;
    }
    if !o.invariants.is_empty() {
        let cases: Vec<Case> = o
            .invariants
            .iter()
            .map(|i| Case {
                class: format!("{}.invariants", report.spec.name),
                name: i.name.clone(),
                seconds: i.seconds,
                status: i.status,
                message: format!("{} rows break it", i.violations),
            })
            .collect();
        let (t, f, s) = suite(&mut suites, "invariants", &cases);
        tests += t;
        failures += f;
        skipped += s;
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"snapdiff {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\">",
        escape(&report.spec.name),
        o.seconds
    );
    out.push_str(&suites);
    out.push_str("</testsuites>\n");
    out
}

struct Case {
    class: String,
    name: String,
    seconds: f64,
    status: Status,
    message: String,
}

/// Append one `<testsuite>`; returns its (tests, failures, skipped).
fn suite(out: &mut String, name: &str, cases: &[Case]) -> (usize, usize, usize) {
    let failures = cases.iter().filter(|c| c.status == Status::Fail).count();
    let skipped = cases.iter().filter(|c| c.status == Status::Skipped).count();
    let time: f64 = cases.iter().map(|c| c.seconds).sum();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">",
        escape(name),
        cases.len()
    );
    for c in cases {
        let open = format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(&c.class),
            escape(&c.name),
            c.seconds
        );
        match c.status {
            Status::Fail => {
                let _ = writeln!(
                    out,
                    "{open}>\n      <failure message=\"{m}\" type=\"difference\">{m}</failure>\n    </testcase>",
                    m = escape(&c.message)
                );
            }
            Status::Skipped => {
                let _ = writeln!(
                    out,
                    "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(&c.message)
                );
            }
            Status::Pass | Status::Info => {
                let _ = writeln!(
                    out,
                    "{open}>\n      <system-out>{}</system-out>\n    </testcase>",
                    escape(&c.message)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n");
    (cases.len(), failures, skipped)
}

/// Text as XML character data or an attribute value. Characters XML 1.0 cannot hold
/// (control characters other than tab and newlines) become U+FFFD.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(
            escape("a<b & \"c\" 'd'\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;\u{FFFD}"
        );
    }
}
