//! `canonical_json::canonical`: JSON text in one canonical form (its own parser, exact
//! numbers).
//!
//! Properties: no panic; the canonical form is canonical (canonicalising it again
//! changes nothing); what serde_json reads, canonical reads too (but for exponents of
//! 19 digits and more, which canonical refuses on purpose).
#![no_main]

use libfuzzer_sys::fuzz_target;
use snapdiff::normalize::canonical_json::canonical;

/// Whether `text` holds an exponent of 19 digits or more (`1e1234567890123456789`).
fn huge_exponent(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if matches!(b[i], b'e' | b'E') {
            let mut j = i + 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let start = j;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            if j - start >= 19 {
                return true;
            }
        }
        i += 1;
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let c = canonical(text);
    if let Some(c) = &c {
        assert_eq!(
            canonical(c).as_ref(),
            Some(c),
            "canonical form of {text:?} is not stable"
        );
    }
    if c.is_none()
        && serde_json::from_str::<serde_json::Value>(text).is_ok()
        && !huge_exponent(text)
    {
        panic!("serde_json reads {text:?} but canonical does not");
    }
});
