//! The snapshot documents: `manifest.json` (`snapshot::parse_manifest`, what
//! `read_manifest` does after reading the file), and with the same input
//! `<table>/_table.json` (`TableRecord`), `schema.json` (`SchemaDoc`) and `.run.json`
//! (`RunPlan`), as `RunWriter` reads them.
//!
//! Properties: no panic; a document read, written as the writer writes it (pretty JSON)
//! and read again is the same document (`--resume` builds manifests from records read).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};
use snapdiff::snapshot::{parse_manifest, RunPlan, SchemaDoc, TableRecord};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(text: &str) {
    let Ok(doc) = serde_json::from_str::<T>(text) else {
        return;
    };
    let again = serde_json::to_string_pretty(&doc).expect("a document read can be written");
    let back: T = serde_json::from_str(&again)
        .unwrap_or_else(|e| panic!("a document written does not read back: {e}\n{again}"));
    assert_eq!(back, doc);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = parse_manifest(text, Path::new("manifest.json")) {
        let again = serde_json::to_string_pretty(&m).expect("a manifest read can be written");
        match parse_manifest(&again, Path::new("manifest.json")) {
            Ok(back) => assert_eq!(back, m),
            Err(e) => panic!("a manifest written does not read back: {e}\n{again}"),
        }
    }
    round_trip::<TableRecord>(text);
    round_trip::<SchemaDoc>(text);
    round_trip::<RunPlan>(text);
});
