//! The exact decimal arithmetic behind `sd_numeric` and `sd_round`: `decimal::round_text`
//! (numeric text), `round_f64`, `rescale` and `to_text`.
//!
//! Input: one byte (bit 0 the mode, the rest the scale, 0..=38), then
//! - mode 0: the text, rounded with `round_text`;
//! - mode 1: 8 bytes of an f64 (`round_f64`), 16 of an i128 and 1 of a scale (`rescale`,
//!   `to_text`).
//!
//! Properties: no panic (nor arithmetic overflow: build with debug assertions); a result
//! has at most 38 digits; text rounds to what f64 arithmetic says within its precision;
//! `to_text` of a result reads back as the same result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snapdiff::normalize::decimal::{rescale, round_f64, round_text, to_text, DecError};

const LIMIT: u128 = 10u128.pow(38);

/// `v` (at `scale`) is `x` rounded to `scale` decimals, as far as f64 can tell.
fn close(v: i128, scale: u32, x: f64) -> bool {
    let y = x * 10f64.powi(scale as i32);
    (v as f64 - y).abs() <= 0.5 + y.abs() * 1e-9 + 1e-6
}

/// Text of `v` at `scale` read back at `scale` is `v`.
fn reads_back(v: i128, scale: u32) {
    let t = to_text(v, scale as i8);
    assert_eq!(round_text(&t, scale), Ok(v), "to_text({v}, {scale}) = {t}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let scale = (head >> 1) as u32 % 39;
    if head & 1 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let r = round_text(text, scale);
        if let Ok(v) = r {
            assert!(
                v.unsigned_abs() < LIMIT,
                "{text:?} gave {v}, over 38 digits"
            );
            reads_back(v, scale);
        }
        // Rust's own reading of the same text, where both read a finite number.
        if let Ok(x) = text.trim().parse::<f64>() {
            if !x.is_finite() {
                return;
            }
            match r {
                Ok(v) => assert!(close(v, scale, x), "{text:?} at scale {scale} gave {v}"),
                Err(DecError::Overflow) => assert!(
                    x.abs() * 10f64.powi(scale as i32) >= 1e37,
                    "{text:?} at scale {scale}: overflow for {x}"
                ),
                Err(DecError::NotANumber) => {
                    // Only an exponent beyond i32 is refused where f64 reads a number.
                    let t = text.trim();
                    let exp = t.find(['e', 'E']).map(|i| &t[i + 1..]);
                    assert!(
                        exp.is_some_and(|e| e.parse::<i32>().is_err()),
                        "{text:?} is {x} to f64 but not a number to round_text"
                    );
                }
            }
        }
    } else {
        if rest.len() < 25 {
            return;
        }
        let x = f64::from_le_bytes(rest[..8].try_into().unwrap());
        match round_f64(x, scale) {
            Ok(v) => {
                assert!(v.unsigned_abs() < LIMIT);
                assert!(close(v, scale, x), "{x:e} at scale {scale} gave {v}");
            }
            Err(DecError::NotANumber) => assert!(!x.is_finite(), "{x:e} is a number"),
            Err(DecError::Overflow) => {
                assert!(
                    x.abs() * 10f64.powi(scale as i32) >= 1e37,
                    "{x:e}: overflow"
                )
            }
        }
        let v = i128::from_le_bytes(rest[8..24].try_into().unwrap());
        let from = rest[24] as i8;
        let _ = to_text(v, from);
        if let Ok(w) = rescale(v, from, scale) {
            if from >= 0
                && (from as u32) <= scale
                && v.unsigned_abs() < LIMIT
                && w.unsigned_abs() < LIMIT
            {
                // No digit dropped: the text is the same number.
                reads_back(w, scale);
                assert_eq!(
                    round_text(&to_text(v, from), scale),
                    Ok(w),
                    "rescale({v}, {from}, {scale})"
                );
            }
        }
    }
});
