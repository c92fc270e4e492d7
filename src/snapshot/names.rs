//! How the names of tables and columns are written into snapshots: as the source writes
//! them, in lower case, or in snake_case (`InvoiceId` → `invoice_id`).
//!
//! A legacy schema in PascalCase meets a snake_case target: renaming at extraction (or
//! in `snapdiff diff --names`) saves a spec from aliasing every column. Two names that
//! become one are an error that names both: nothing is silently merged.

use crate::error::{Error, Result};

/// A naming scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Names {
    /// As the source writes them.
    #[default]
    AsIs,
    /// Lower case (`InvoiceId` → `invoiceid`).
    Lower,
    /// snake_case (`InvoiceId` → `invoice_id`, `HTTPServer` → `http_server`).
    SnakeCase,
}

impl Names {
    /// The schemes, as a spec or a flag writes them.
    pub const WORDS: [&'static str; 3] = ["as_is", "lower", "snake_case"];

    /// The scheme `word` names.
    pub fn parse(word: &str) -> Result<Names> {
        match word.trim() {
            "as_is" => Ok(Names::AsIs),
            "lower" => Ok(Names::Lower),
            "snake_case" => Ok(Names::SnakeCase),
            other => Err(
                Error::spec(format!("names `{other}` is not a naming scheme"))
                    .with_hint(format!("write one of {}", Names::WORDS.join(", "))),
            ),
        }
    }

    /// `name` written in this scheme.
    pub fn apply(&self, name: &str) -> String {
        match self {
            Names::AsIs => name.to_string(),
            Names::Lower => name.to_lowercase(),
            Names::SnakeCase => snake_case(name),
        }
    }

    /// Each of `names` renamed, as (old, new) pairs in their order; two names that become
    /// one are an error naming both (`what` says what they are: "columns of legacy.t").
    pub fn rename_all(&self, names: &[String], what: &str) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = Vec::with_capacity(names.len());
        for n in names {
            let new = self.apply(n);
            if let Some((other, _)) = out.iter().find(|(_, x)| *x == new) {
                return Err(Error::spec(format!(
                    "{what}: `{other}` and `{n}` would both be named `{new}`"
                ))
                .with_hint(
                    "rename one of them in the source's query (AS), or keep the names as they are",
                ));
            }
            out.push((n.clone(), new));
        }
        Ok(out)
    }
}

impl std::fmt::Display for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Names::AsIs => "as_is",
            Names::Lower => "lower",
            Names::SnakeCase => "snake_case",
        })
    }
}

/// `name` in snake_case: a word boundary before an upper-case letter that follows a
/// lower-case letter or a digit, or that starts a word after an acronym (`HTTPServer`);
/// anything but letters and digits becomes one `_`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_uppercase() && i > 0 && !out.is_empty() && !out.ends_with('_') {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    while out.ends_with('_') && out.len() > 1 {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        for (from, to) in [
            ("InvoiceId", "invoice_id"),
            ("BillingCity", "billing_city"),
            ("HTTPServer", "http_server"),
            ("customerID", "customer_id"),
            ("Address2", "address2"),
            ("already_snake", "already_snake"),
            ("Unit Price", "unit_price"),
            ("X", "x"),
            ("ÄrgerÜber", "ärger_über"),
            ("a--b", "a_b"),
        ] {
            assert_eq!(snake_case(from), to, "{from}");
        }
    }

    #[test]
    fn collisions_name_both() {
        let names = vec!["InvoiceId".to_string(), "invoice_id".to_string()];
        let e = Names::SnakeCase
            .rename_all(&names, "columns of legacy.Invoice")
            .unwrap_err();
        assert_eq!(
            e.message,
            "columns of legacy.Invoice: `InvoiceId` and `invoice_id` would both be named `invoice_id`"
        );
        assert_eq!(
            Names::Lower.rename_all(&names[..1], "t").unwrap(),
            [("InvoiceId".to_string(), "invoiceid".to_string())]
        );
        assert_eq!(Names::parse("snake_case").unwrap(), Names::SnakeCase);
        assert!(Names::parse("camel").is_err());
    }
}
