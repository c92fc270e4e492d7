//! `rules::parse_column`: one column's normalisation rules from its TOML value (the
//! `[entity.normalize]` table of a spec), fuzzed without the rest of the spec.
//!
//! The input is a TOML table `column = rules`. Properties: no panic; rules that parsed
//! become a SQL expression that parses (map keys, formats and zones are quoted right).
#![no_main]

use libfuzzer_sys::fuzz_target;
use snapdiff::normalize::rules::parse_column;
use snapdiff::spec::parse_expr;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return;
    };
    for (col, v) in &table {
        let Ok(rules) = parse_column(v) else {
            continue;
        };
        for side in [&rules.legacy, &rules.target] {
            let sql = side.apply("\"c\"");
            if let Err(e) = parse_expr(&sql) {
                panic!("rules of column {col} became SQL that does not parse: {sql}: {e}");
            }
            let _ = side.describe();
            let _ = side.is_empty();
        }
    }
});
