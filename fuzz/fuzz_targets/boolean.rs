//! `boolean::parse`: the spellings of a boolean.
//!
//! Property: no panic, and exactly the documented spellings (any ASCII case, white space
//! around) are booleans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snapdiff::normalize::boolean::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let expect = match text.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "n" | "no" => Some(false),
        _ => None,
    };
    assert_eq!(parse(text), expect, "{text:?}");
});
