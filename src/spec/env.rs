//! `${VAR}` in spec strings, read from the environment.
//!
//! Expansion happens after the spec is parsed, so a value never changes the file's TOML
//! structure. `$${` writes a literal `${`. A variable that is not set is an error at the
//! line that uses it. Values of variables whose names suggest a secret (PASS, PWD,
//! SECRET, TOKEN, KEY) are registered so that they never appear in output.

use std::path::Path;

use super::{spec_error, SpecFile};
use crate::error::Result;

/// Expand `${VAR}` in every string of the spec.
pub fn expand_spec(file: &mut SpecFile, text: &str, path: &Path) -> Result<()> {
    let mut fields: Vec<&mut String> = Vec::new();
    for f in [
        file.snapshots.root.as_mut(),
        file.reports.root.as_mut(),
        file.reports.publish.as_mut(),
        file.engine.url.as_mut(),
        file.storage.endpoint.as_mut(),
        file.storage.region.as_mut(),
        file.storage.access_key_id.as_mut(),
        file.storage.secret_access_key.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        fields.push(f);
    }
    for s in [file.sources.legacy.as_mut(), file.sources.target.as_mut()]
        .into_iter()
        .flatten()
    {
        fields.push(&mut s.url);
    }
    for e in file.extract.iter_mut() {
        fields.push(&mut e.side);
        for f in [
            e.table.as_mut(),
            e.query.as_mut(),
            e.name.as_mut(),
            e.partition_on.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            fields.push(f);
        }
    }
    for e in file.entity.iter_mut() {
        for f in [
            e.table.as_mut(),
            e.legacy.as_mut(),
            e.target.as_mut(),
            e.partition_by.as_mut(),
            e.filter.as_mut(),
            e.legacy_filter.as_mut(),
            e.target_filter.as_mut(),
            e.keys_file.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            fields.push(f);
        }
    }
    for q in file.query.iter_mut() {
        for f in [q.legacy.as_mut(), q.target.as_mut(), q.sql.as_mut()]
            .into_iter()
            .flatten()
        {
            fields.push(f);
        }
    }
    for i in file.invariant.iter_mut() {
        fields.push(&mut i.sql);
    }
    for f in fields {
        *f = expand(f, text, path)?;
    }
    // The mask key is a secret whatever its variable is called.
    if let Some(k) = file.reports.mask_key.as_mut() {
        *k = expand(k, text, path)?;
        crate::secrets::register(k);
    }
    Ok(())
}

/// `s` with `${VAR}` replaced by the variable's value.
pub fn expand(s: &str, text: &str, path: &Path) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if i > 0 && rest.as_bytes()[i - 1] == b'$' {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        let line = text
            .lines()
            .position(|l| l.contains(&format!("${{{name}}}")))
            .map(|n| n + 1);
        let value = std::env::var(name).map_err(|_| {
            spec_error(
                path,
                line,
                None,
                format!("environment variable `{name}` is not set"),
            )
            .with_hint(format!("export {name}=... before running snapdiff"))
        })?;
        let upper = name.to_ascii_uppercase();
        if ["PASS", "SECRET", "TOKEN", "KEY", "PWD"]
            .iter()
            .any(|k| upper.contains(k))
        {
            crate::secrets::register(&value);
        }
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_escapes() {
        std::env::set_var("SNAPDIFF_TEST_HOST", "db.internal");
        let p = Path::new("/s.toml");
        assert_eq!(
            expand("pg://u@${SNAPDIFF_TEST_HOST}/x", "", p).unwrap(),
            "pg://u@db.internal/x"
        );
        assert_eq!(expand("a $${NOT} b", "", p).unwrap(), "a ${NOT} b");
        let e = expand(
            "${SNAPDIFF_TEST_UNSET_VAR}",
            "url = \"${SNAPDIFF_TEST_UNSET_VAR}\"",
            p,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/s.toml:1: environment variable `SNAPDIFF_TEST_UNSET_VAR` is not set\n  hint: export SNAPDIFF_TEST_UNSET_VAR=... before running snapdiff"
        );
    }
}
