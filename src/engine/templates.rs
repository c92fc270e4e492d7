//! The SQL of every check, from `queries/*.sql`, and the one way to fill in its
//! `{{parameters}}`.

use crate::error::{Error, Result};

pub const COUNT: &str = include_str!("../../queries/count.sql");
pub const DIGEST: &str = include_str!("../../queries/digest.sql");
pub const KEYS: &str = include_str!("../../queries/keys.sql");
pub const DUPLICATES: &str = include_str!("../../queries/duplicates.sql");
pub const NULL_KEYS: &str = include_str!("../../queries/null_keys.sql");
pub const MISSING: &str = include_str!("../../queries/missing.sql");
pub const CHANGED: &str = include_str!("../../queries/changed.sql");
pub const AGGREGATE: &str = include_str!("../../queries/aggregate.sql");
pub const AGGREGATE_COLUMN: &str = include_str!("../../queries/aggregate_column.sql");
pub const INVARIANT: &str = include_str!("../../queries/invariant.sql");
pub const MULTISET: &str = include_str!("../../queries/multiset.sql");
pub const DIFFERING_KEYS: &str = include_str!("../../queries/differing_keys.sql");

/// A check's SQL template by the name of its file in `queries/` (without `.sql`).
pub fn template(name: &str) -> Option<&'static str> {
    Some(match name {
        "count" => COUNT,
        "digest" => DIGEST,
        "keys" => KEYS,
        "duplicates" => DUPLICATES,
        "null_keys" => NULL_KEYS,
        "missing" => MISSING,
        "changed" => CHANGED,
        "aggregate" => AGGREGATE,
        "aggregate_column" => AGGREGATE_COLUMN,
        "invariant" => INVARIANT,
        "multiset" => MULTISET,
        "differing_keys" => DIFFERING_KEYS,
        _ => return None,
    })
}

/// `template` with every `{{name}}` replaced by its value. A parameter the template uses
/// but `params` lacks is an error naming it.
pub fn render(template: &str, params: &[(&str, &str)]) -> Result<String> {
    // Comment lines document the parameters; they are not rendered (a value spanning
    // lines would otherwise spill out of the comment).
    let body: String = template
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut out = String::with_capacity(body.len() + 256);
    let mut rest = body.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| Error::internal("a query template has an unclosed {{"))?;
        let name = &after[..end];
        let value = params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                Error::internal(format!("a query template needs the parameter `{name}`"))
            })?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `a.c = b.c AND ...` over `cols`, with NULL-safe equality.
pub fn key_match(a: &str, b: &str, cols: &[String]) -> String {
    cols.iter()
        .map(|c| format!("{a}.{q} = {b}.{q}", q = ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_parameters_and_refuses_missing_ones() {
        assert_eq!(
            render("SELECT {{a}} FROM {{b}}", &[("a", "x"), ("b", "t")]).unwrap(),
            "SELECT x FROM t\n"
        );
        assert_eq!(
            render("-- uses {{a}}\nSELECT 1", &[]).unwrap(),
            "SELECT 1\n"
        );
        assert_eq!(
            render("SELECT {{a}}", &[]).unwrap_err().message,
            "a query template needs the parameter `a`"
        );
        assert_eq!(
            key_match("l", "t", &["id".into(), "Sub\"x".into()]),
            "l.\"id\" = t.\"id\" AND l.\"Sub\"\"x\" = t.\"Sub\"\"x\""
        );
    }

    #[test]
    fn every_query_file_starts_with_a_header_comment() {
        for q in [
            COUNT,
            DIGEST,
            KEYS,
            DUPLICATES,
            NULL_KEYS,
            MISSING,
            CHANGED,
            AGGREGATE,
            AGGREGATE_COLUMN,
            INVARIANT,
            MULTISET,
        ] {
            assert!(q.starts_with("-- "), "{q}");
        }
    }
}
