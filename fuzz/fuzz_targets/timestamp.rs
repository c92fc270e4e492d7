//! `parse_timestamp::parse`: text read with chrono strftime formats, tried in order.
//!
//! Input: lines; every line but the last is a format, the last is the text (so a seed is
//! `%Y-%m-%d %H:%M:%S\n2024-03-31 02:30:00`). Properties: no panic, in the format
//! scanners either; a value read is one the first matching format reads alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snapdiff::normalize::parse_timestamp::{parse, reads_offset, reads_zone_name};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines: Vec<&str> = input.split('\n').collect();
    let text = lines.pop().unwrap_or_default();
    let formats: Vec<String> = lines.iter().take(8).map(|s| s.to_string()).collect();
    for f in &formats {
        let _ = reads_offset(f);
        let _ = reads_zone_name(f);
    }
    let all = parse(text, &formats);
    let first = formats
        .iter()
        .find_map(|f| parse(text, std::slice::from_ref(f)));
    assert_eq!(all, first, "formats are tried in order");
});
