//! The spec parser: TOML text → `Spec` (TOML, `${VAR}` expansion, every check that needs
//! no data: names, keys, SQL and expressions that must parse, normalisation rules).
//!
//! Properties: no panic; a spec that parsed resolves its checks (`entity_defs`, which
//! `expect`s what parsing checked), and every column's rules become SQL that parses.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use snapdiff::spec::{parse_expr, Spec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A folder that does not exist: `keys_file` is only looked up (stat), never read.
    let Ok(spec) = Spec::parse(text, Path::new("/nonexistent/snapdiff-fuzz/verify.toml")) else {
        return;
    };
    let _ = spec.sides();
    let _ = spec.snapshot_root();
    let _ = spec.reports_root();
    let _ = spec.name();
    for def in spec.entity_defs() {
        for (col, rules) in &def.normalize {
            for side in [&rules.legacy, &rules.target] {
                let sql = side.apply("\"c\"");
                if let Err(e) = parse_expr(&sql) {
                    panic!("rules of column {col} became SQL that does not parse: {sql}: {e}");
                }
                let _ = side.describe();
            }
        }
    }
});
