//! Exact decimal arithmetic for the numeric normalisers: text (with or without an
//! exponent), floats (through their shortest round-trip text) and decimals, rounded to a
//! scale half away from zero, as SQL's `round` does.

/// Why a number could not be represented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecError {
    NotANumber,
    Overflow,
}

const MAX_DIGITS: usize = 38;

/// `text` rounded to `scale` decimals (half away from zero), as an unscaled i128 of at
/// most 38 digits.
pub fn round_text(text: &str, scale: u32) -> Result<i128, DecError> {
    let t = text.trim();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (
            &rest[..i],
            rest[i + 1..]
                .parse::<i32>()
                .map_err(|_| DecError::NotANumber)?,
        ),
        None => (rest, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|c| c.is_ascii_digit())
        || !frac_part.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(DecError::NotANumber);
    }
    // All digits, and where the decimal point falls among them after the exponent.
    let digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|c| c - b'0')
        .collect();
    if digits.iter().all(|d| *d == 0) {
        return Ok(0);
    }
    let point = int_part.len() as i64 + exp as i64;
    // Keep digits up to `scale` places after the point; the next one decides rounding.
    let keep = point + scale as i64;
    let mut v: i128 = 0;
    let mut significant = 0usize;
    for i in 0..keep.max(0) {
        let d = if (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            0
        };
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(d as i128))
            .ok_or(DecError::Overflow)?;
        if v != 0 {
            significant += 1;
        }
    }
    let next = if keep >= 0 && (keep as usize) < digits.len() {
        digits[keep as usize]
    } else {
        0
    };
    if next >= 5 {
        v = v.checked_add(1).ok_or(DecError::Overflow)?;
    }
    if significant > MAX_DIGITS || v >= 10i128.pow(MAX_DIGITS as u32) {
        return Err(DecError::Overflow);
    }
    Ok(if neg { -v } else { v })
}

/// A float rounded to `scale` decimals, through its shortest round-trip text (so 0.1 is
/// 0.1, not 0.1000000000000000055...). NaN and infinities are not numbers here.
pub fn round_f64(x: f64, scale: u32) -> Result<i128, DecError> {
    if !x.is_finite() {
        return Err(DecError::NotANumber);
    }
    if let Some(v) = round_f64_fast(x, scale) {
        return Ok(v);
    }
    round_text(&format!("{x:e}"), scale)
}

/// [`round_f64`] without the text, where that gives the same: `y = x·10^scale` computed
/// in floating point is within 1.5 units in the last place of `y` of the shortest text's
/// value times `10^scale` (the text is within half a unit of `x`, the product's rounding
/// adds half a unit of `y`), so where `y`'s fraction is further than that from one half,
/// both round to the same whole number. `None` near a half (`2.675` is `267.49999...`
/// scaled: the text decides), beyond 2^52 (no fraction left to trust) or beyond 15
/// decimals.
fn round_f64_fast(x: f64, scale: u32) -> Option<i128> {
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let y = (x * *POWERS.get(scale as usize)?).abs();
    if y >= 4_503_599_627_370_496.0 {
        return None;
    }
    let whole = y.floor();
    let fraction = y - whole;
    // 1.5 units in the last place of y are at most 3·ε·y; the margin is wider still.
    if (fraction - 0.5).abs() <= 8.0 * f64::EPSILON * y.max(1.0) {
        return None;
    }
    let v = whole as i128 + i128::from(fraction > 0.5);
    Some(if x < 0.0 { -v } else { v })
}

/// An unscaled decimal at scale `from` brought to scale `to` (half away from zero when
/// digits are dropped).
pub fn rescale(v: i128, from: i8, to: u32) -> Result<i128, DecError> {
    let from = from as i32;
    let to = to as i32;
    if to >= from {
        let f = 10i128
            .checked_pow((to - from) as u32)
            .ok_or(DecError::Overflow)?;
        v.checked_mul(f).ok_or(DecError::Overflow)
    } else {
        // Dropping 39 digits or more leaves 0 (|v| < 2^127 < 5 × 10^38).
        let Some(f) = 10i128.checked_pow((from - to) as u32) else {
            return Ok(0);
        };
        let q = v / f;
        let r = (v % f).abs();
        let up = r >= f - r;
        Ok(if up { q + v.signum() } else { q })
    }
}

/// An unscaled decimal as text: `-12.30` for (-1230, 2).
pub fn to_text(v: i128, scale: i8) -> String {
    if scale <= 0 {
        let zeros = if v == 0 {
            0
        } else {
            (-(scale as i32)) as usize
        };
        return format!("{v}{}", "0".repeat(zeros));
    }
    let s = scale as usize;
    let digits = v.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = s + 1);
    let (a, b) = digits.split_at(digits.len() - s);
    format!("{}{a}.{b}", if v < 0 { "-" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_alike_with_and_without_their_text() {
        // Halves in the text (2.675, 1.005, 0.125), values near them, and a spread of
        // magnitudes and scales, against the rounding of the shortest text.
        let mut xs = vec![
            2.675,
            1.005,
            0.125,
            -0.125,
            2.5,
            -2.5,
            0.0,
            -0.0,
            1e-300,
            123456.785,
            0.1 + 0.2,
            4503599627370495.5,
            1e16,
            -7e-3,
        ];
        let mut state = 0x9e3779b97f4a7c15u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let exp = (state % 40) as i32 - 20;
            let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64;
            let sign = if state & 1 == 0 { 1.0 } else { -1.0 };
            xs.push(sign * mantissa * 10f64.powi(exp));
            // Cents as floats, the common case: sums with float noise.
            xs.push((state % 10_000_000) as f64 / 100.0 + 0.07 - 0.07);
        }
        for x in xs {
            for scale in [0, 1, 2, 3, 6, 10, 15, 16, 30] {
                let text = round_text(&format!("{x:e}"), scale);
                assert_eq!(round_f64(x, scale), text, "{x:e} to {scale}");
            }
        }
    }

    #[test]
    fn rounding_is_half_away_from_zero_and_exact() {
        assert_eq!(round_text("2.675", 2), Ok(268));
        assert_eq!(round_text("-2.675", 2), Ok(-268));
        assert_eq!(round_text("2.674999", 2), Ok(267));
        assert_eq!(round_text("1.5e3", 0), Ok(1500));
        assert_eq!(round_text("15e-4", 3), Ok(2));
        assert_eq!(round_text(".5", 0), Ok(1));
        assert_eq!(round_text("0", 10), Ok(0));
        assert_eq!(round_text("abc", 2), Err(DecError::NotANumber));
        assert_eq!(round_text("1e40", 0), Err(DecError::Overflow));
        // 2.675 as a float is 2.67499999...; its shortest text is 2.675.
        assert_eq!(round_f64(2.675, 2), Ok(268));
        assert_eq!(round_f64(0.1, 10), Ok(1_000_000_000));
        assert_eq!(round_f64(1e-300, 10), Ok(0));
        assert_eq!(round_f64(f64::NAN, 2), Err(DecError::NotANumber));
        assert_eq!(round_f64(1e300, 0), Err(DecError::Overflow));
    }

    #[test]
    fn rescaling_and_text() {
        assert_eq!(rescale(12345, 3, 1), Ok(123));
        assert_eq!(rescale(12355, 3, 2), Ok(1236));
        assert_eq!(rescale(-12355, 3, 2), Ok(-1236));
        assert_eq!(rescale(5, 0, 10), Ok(50_000_000_000));
        assert_eq!(to_text(-1230, 2), "-12.30");
        assert_eq!(to_text(5, 3), "0.005");
        assert_eq!(to_text(7, 0), "7");
        assert_eq!(to_text(-7, -3), "-7000");
        assert_eq!(to_text(0, -3), "0");
        assert_eq!(to_text(12, -40), format!("12{}", "0".repeat(40)));
        // Near the limits: no overflow.
        let big = 10i128.pow(38) - 1;
        assert_eq!(rescale(big, 38, 0), Ok(1));
        assert_eq!(rescale(-big, 38, 0), Ok(-1));
        assert_eq!(rescale(big, 38, 1), Ok(10));
        assert_eq!(rescale(i128::MAX, 40, 0), Ok(0));
        assert_eq!(rescale(1, 0, 40), Err(DecError::Overflow));
        assert_eq!(round_text("0e2000000000", 2), Ok(0));
        assert_eq!(round_text("0.000e-2000000000", 2), Ok(0));
        assert_eq!(round_text("1e2000000000", 2), Err(DecError::Overflow));
        assert_eq!(round_text("1e-2000000000", 2), Ok(0));
    }
}
