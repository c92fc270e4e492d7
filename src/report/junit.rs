//! `junit.xml`: one test case per check, so a CI system (GitLab, Jenkins, GitHub
//! annotations) shows a failing check natively. One `<testsuite>` per entity or query
//! check and one for the invariants; a failing check is a `<failure>` whose message is
//! its summary, a check that could not be done an `<error>` (its message, and the hint
//! in the body), a skipped one `<skipped/>`.

use std::fmt::Write;

use super::{Report, Status};

/// `junit.xml` of a report.
pub fn render(report: &Report) -> String {
    let o = &report.outcome;
    let mut suites = String::new();
    let mut counts = Counts::default();
    for e in &o.entities {
        let hint = e.error.as_ref().and_then(|f| f.hint.clone());
        let cases: Vec<Case> = e
            .checks
            .iter()
            .map(|c| Case {
                class: format!("{}.{}", report.spec.name, e.name),
                name: c.check.to_string(),
                seconds: c.seconds,
                status: c.status,
                message: c.summary.clone(),
                hint: hint.clone().filter(|_| c.status == Status::Error),
            })
            .collect();
        counts.add(suite(&mut suites, &e.name, &cases));
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
                message: match &i.error {
                    Some(f) => f.message.clone(),
                    None => format!("{} rows break it", i.violations),
                },
                hint: i.error.as_ref().and_then(|f| f.hint.clone()),
            })
            .collect();
        counts.add(suite(&mut suites, "invariants", &cases));
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"snapdiff {}\" {} time=\"{:.3}\">",
        escape(&report.spec.name),
        counts.attributes(),
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
    /// How to fix an error.
    hint: Option<String>,
}

/// Test cases by outcome.
#[derive(Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    fn of(cases: &[Case]) -> Counts {
        let n = |s: Status| cases.iter().filter(|c| c.status == s).count();
        Counts {
            tests: cases.len(),
            failures: n(Status::Fail),
            errors: n(Status::Error),
            skipped: n(Status::Skipped),
        }
    }

    fn add(&mut self, other: Counts) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.skipped += other.skipped;
    }

    fn attributes(&self) -> String {
        format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"",
            self.tests, self.failures, self.errors, self.skipped
        )
    }
}

/// Append one `<testsuite>`; returns its counts.
fn suite(out: &mut String, name: &str, cases: &[Case]) -> Counts {
    let counts = Counts::of(cases);
    let time: f64 = cases.iter().map(|c| c.seconds).sum();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" {} time=\"{time:.3}\">",
        escape(name),
        counts.attributes()
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
            Status::Error => {
                let body = match &c.hint {
                    Some(h) => format!("{}\nhint: {h}", c.message),
                    None => c.message.clone(),
                };
                let _ = writeln!(
                    out,
                    "{open}>\n      <error message=\"{}\" type=\"error\">{}</error>\n    </testcase>",
                    escape(&c.message),
                    escape(&body)
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
    counts
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
