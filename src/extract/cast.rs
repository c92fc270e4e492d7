//! Explicit casts: the user's escape hatch for a column whose source type has no faithful
//! Arrow form, or whose values do not fit the declared type.
//!
//! A cast never rounds, truncates or clamps. Every source reads the column's values as
//! their exact text (SQLite: integers in decimal, reals in shortest round-trip form;
//! PostgreSQL `::text`; MySQL `CAST(... AS CHAR)`; files through Arrow's exact
//! formatting), and [`cast_array`] parses that text strictly into the cast type. A value
//! that does not fit (`abc` as an integer, `1.005` as `decimal(12,2)`, a date with a time
//! of day) is an error that shows the value, never a silently different one.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float64Builder, Int64Builder, StringArray, TimestampMicrosecondBuilder,
};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A type a column can be cast to explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CastType {
    Text,
    Integer,
    Float,
    Decimal(u8, i8),
    Boolean,
    Date,
    Timestamp,
    TimestampTz,
    Binary,
}

/// The cast names a user may write, for messages.
pub const CAST_NAMES: &str =
    "text, integer, float, decimal(P,S), boolean, date, timestamp, timestamptz, binary";

impl FromStr for CastType {
    type Err = Error;
    fn from_str(s: &str) -> Result<CastType> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.as_str();
        Ok(match t {
            "text" | "string" | "varchar" => CastType::Text,
            "integer" | "int" | "bigint" | "int64" => CastType::Integer,
            "float" | "double" | "real" | "float64" => CastType::Float,
            "boolean" | "bool" => CastType::Boolean,
            "date" => CastType::Date,
            "timestamp" | "datetime" => CastType::Timestamp,
            "timestamptz" => CastType::TimestampTz,
            "binary" | "blob" | "bytea" => CastType::Binary,
            _ if (t.starts_with("decimal(") || t.starts_with("numeric(")) && t.ends_with(')') => {
                let inner = &t[t.find('(').unwrap_or(0) + 1..t.len() - 1];
                let mut parts = inner.split(',').map(str::trim);
                let p = parts.next().and_then(|p| p.parse::<u8>().ok());
                let s = parts
                    .next()
                    .map(|s| s.parse::<i8>().ok())
                    .unwrap_or(Some(0));
                match (p, s, parts.next()) {
                    (Some(p), Some(s), None) if (1..=38).contains(&p) && s >= 0 && (s as u8) <= p => {
                        CastType::Decimal(p, s)
                    }
                    _ => {
                        return Err(Error::spec(format!(
                            "`{t}` is not a valid decimal cast: write decimal(P,S) with 1 <= P <= 38 and 0 <= S <= P"
                        )))
                    }
                }
            }
            _ => {
                return Err(Error::spec(format!("unknown cast type `{s}`"))
                    .with_hint(format!("use one of: {CAST_NAMES}")))
            }
        })
    }
}

impl TryFrom<String> for CastType {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse().map_err(|e: Error| e.to_string())
    }
}

impl From<CastType> for String {
    fn from(c: CastType) -> String {
        c.to_string()
    }
}

impl fmt::Display for CastType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CastType::Text => f.write_str("text"),
            CastType::Integer => f.write_str("integer"),
            CastType::Float => f.write_str("float"),
            CastType::Decimal(p, s) => write!(f, "decimal({p},{s})"),
            CastType::Boolean => f.write_str("boolean"),
            CastType::Date => f.write_str("date"),
            CastType::Timestamp => f.write_str("timestamp"),
            CastType::TimestampTz => f.write_str("timestamptz"),
            CastType::Binary => f.write_str("binary"),
        }
    }
}

impl CastType {
    /// The Arrow type a column cast this way is stored as.
    pub fn arrow_type(&self) -> DataType {
        match self {
            CastType::Text => DataType::Utf8,
            CastType::Integer => DataType::Int64,
            CastType::Float => DataType::Float64,
            CastType::Decimal(p, s) => DataType::Decimal128(*p, *s),
            CastType::Boolean => DataType::Boolean,
            CastType::Date => DataType::Date32,
            CastType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            CastType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            CastType::Binary => DataType::Binary,
        }
    }
}

/// `array` (any type; its values' exact text is used) cast to `to`, strictly.
pub fn cast_array(array: &ArrayRef, to: CastType) -> Result<ArrayRef> {
    if array.data_type() == &to.arrow_type() {
        return Ok(array.clone());
    }
    if to == CastType::Binary {
        return match array.data_type() {
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                let opts = CastOptions {
                    safe: false,
                    ..Default::default()
                };
                Ok(cast_with_options(array, &DataType::Binary, &opts)?)
            }
            _ => {
                let texts = as_text(array)?;
                let mut b = BinaryBuilder::with_capacity(texts.len(), 0);
                for v in texts.iter() {
                    b.append_option(v.map(str::as_bytes));
                }
                Ok(Arc::new(b.finish()))
            }
        };
    }
    let texts = as_text(array)?;
    let n = texts.len();
    macro_rules! build {
        ($builder:expr, $parse:expr) => {{
            let mut b = $builder;
            for v in texts.iter() {
                match v {
                    None => b.append_null(),
                    Some(t) => b.append_value($parse(t)?),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match to {
        CastType::Text => Arc::new(texts) as ArrayRef,
        CastType::Integer => build!(Int64Builder::with_capacity(n), parse_integer),
        CastType::Float => build!(Float64Builder::with_capacity(n), parse_float),
        CastType::Boolean => build!(BooleanBuilder::with_capacity(n), parse_bool),
        CastType::Decimal(p, s) => build!(
            Decimal128Builder::with_capacity(n).with_precision_and_scale(p, s)?,
            |t: &str| parse_decimal(t, p, s)
        ),
        CastType::Date => build!(Date32Builder::with_capacity(n), parse_date),
        CastType::Timestamp => build!(TimestampMicrosecondBuilder::with_capacity(n), |t: &str| {
            parse_timestamp(t, false)
        }),
        CastType::TimestampTz => {
            let a = build!(TimestampMicrosecondBuilder::with_capacity(n), |t: &str| {
                parse_timestamp(t, true)
            });
            Arc::new(
                a.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .clone()
                    .with_timezone("UTC"),
            )
        }
        CastType::Binary => unreachable!("handled above"),
    })
}

/// The exact text of every value: Arrow formats numbers in shortest round-trip form,
/// decimals at their scale, dates and times in ISO 8601.
fn as_text(array: &ArrayRef) -> Result<StringArray> {
    let opts = CastOptions {
        safe: false,
        ..Default::default()
    };
    let t = cast_with_options(array, &DataType::Utf8, &opts).map_err(|e| {
        Error::type_error(format!("the values cannot be read as text: {e}")).with_source(e)
    })?;
    Ok(t.as_string::<i32>().clone())
}

fn bad(text: &str, what: &str) -> Error {
    Error::type_error(format!("`{text}` is not {what}"))
        .with_hint("cast the column to text to keep its values as written")
}

/// An integer, optionally written with a zero fraction (`5`, `-5`, `+5`, `5.0`).
pub fn parse_integer(text: &str) -> Result<i64> {
    let t = text.trim();
    let whole = match t.split_once('.') {
        Some((w, f)) if !w.is_empty() && f.bytes().all(|c| c == b'0') => w,
        Some(_) => return Err(bad(text, "an integer")),
        None => t,
    };
    let digits = whole.strip_prefix(['-', '+']).unwrap_or(whole);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad(text, "an integer"));
    }
    whole
        .parse::<i64>()
        .map_err(|_| bad(text, "an integer that fits 64 bits"))
}

/// A float; an integer beyond ±2^53 (which a float would change) is refused.
pub fn parse_float(text: &str) -> Result<f64> {
    let t = text.trim();
    if let Ok(i) = t.parse::<i128>() {
        if i.unsigned_abs() > 1 << 53 {
            return Err(bad(text, "exactly representable as a float"));
        }
    }
    match t.to_ascii_lowercase().as_str() {
        "nan" => Ok(f64::NAN),
        "infinity" | "inf" | "+infinity" | "+inf" => Ok(f64::INFINITY),
        "-infinity" | "-inf" => Ok(f64::NEG_INFINITY),
        _ => t.parse::<f64>().map_err(|_| bad(text, "a number")),
    }
}

/// `1`/`0`, `true`/`false`, `t`/`f` (any case).
pub fn parse_bool(text: &str) -> Result<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "t" => Ok(true),
        "0" | "false" | "f" => Ok(false),
        _ => Err(bad(text, "a boolean (1/0, true/false, t/f)")),
    }
}

/// `text` as an unscaled i128 at scale `s`, failing rather than rounding.
pub fn parse_decimal(text: &str, p: u8, s: i8) -> Result<i128> {
    let t = text.trim();
    let err = || bad(text, &format!("exactly a decimal({p},{s})"));
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|c| c.is_ascii_digit())
        || !frac_part.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(err());
    }
    let s_us = s.max(0) as usize;
    let (kept, dropped) = if frac_part.len() > s_us {
        frac_part.split_at(s_us)
    } else {
        (frac_part, "")
    };
    if dropped.bytes().any(|c| c != b'0') {
        return Err(err());
    }
    let mut v: i128 = 0;
    let mut ndigits = 0usize;
    for c in int_part
        .bytes()
        .chain(kept.bytes())
        .chain(std::iter::repeat_n(b'0', s_us - kept.len()))
    {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as i128))
            .ok_or_else(err)?;
        if v != 0 {
            ndigits += 1;
        }
    }
    if ndigits > p as usize {
        return Err(err());
    }
    Ok(if neg { -v } else { v })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (a time of day, if written, must be midnight).
pub fn parse_date(text: &str) -> Result<i32> {
    let (dt, offset) =
        parse_datetime(text)?.ok_or_else(|| bad(text, "a date (it is a zero date)"))?;
    if dt.time() != NaiveTime::MIN || offset.is_some() {
        return Err(bad(
            text,
            "a date: it has a time of day; cast to timestamp to keep it",
        ));
    }
    Ok((dt.date() - epoch()).num_days() as i32)
}

/// Microseconds since the epoch. With `zoned`, a UTC offset in the text is applied and
/// text without one is taken as UTC; without `zoned`, an offset is refused (a wall-clock
/// time has none).
pub fn parse_timestamp(text: &str, zoned: bool) -> Result<i64> {
    let (dt, offset) =
        parse_datetime(text)?.ok_or_else(|| bad(text, "a date-time (it is a zero date)"))?;
    match (offset, zoned) {
        (Some(_), false) => Err(bad(
            text,
            "a wall-clock time: it has a UTC offset; cast to timestamptz",
        )),
        (Some(secs), true) => Ok(dt.and_utc().timestamp_micros() - secs as i64 * 1_000_000),
        (None, _) => Ok(dt.and_utc().timestamp_micros()),
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date")
}

/// `YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|±HH[:MM]]`: the date-time and the offset in
/// seconds; `Ok(None)` for a zero date (`0000-00-00`, or a zero month or day). Digits
/// below a microsecond must be zero.
pub fn parse_datetime(text: &str) -> Result<Option<(NaiveDateTime, Option<i32>)>> {
    let t = text.trim();
    let err = || bad(text, "a date or date-time (YYYY-MM-DD HH:MM:SS)");
    let (date, rest) = match t.find([' ', 'T']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mut dp = date.splitn(3, '-');
    let y: i32 = dp.next().and_then(|x| x.parse().ok()).ok_or_else(err)?;
    let m: u32 = dp.next().and_then(|x| x.parse().ok()).ok_or_else(err)?;
    let d: u32 = dp.next().and_then(|x| x.parse().ok()).ok_or_else(err)?;
    if m == 0 || d == 0 {
        return Ok(None);
    }
    let date = NaiveDate::from_ymd_opt(y, m, d).ok_or_else(err)?;
    let Some(rest) = rest else {
        return Ok(Some((date.and_time(NaiveTime::MIN), None)));
    };
    // Split off an offset: Z, +HH, +HHMM, +HH:MM (a '-' after the time part).
    let (time, offset) = if let Some(stripped) = rest.strip_suffix('Z') {
        (stripped, Some(0))
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (tm, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
        let (hh, mm) = match digits.len() {
            2 => (digits.parse::<i32>().map_err(|_| err())?, 0),
            4 => (
                digits[..2].parse::<i32>().map_err(|_| err())?,
                digits[2..].parse::<i32>().map_err(|_| err())?,
            ),
            _ => return Err(err()),
        };
        (tm, Some(sign * (hh * 3600 + mm * 60)))
    } else {
        (rest, None)
    };
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) => (a, f),
        None => (time, ""),
    };
    if !frac.bytes().all(|c| c.is_ascii_digit())
        || frac.len() > 6 && frac[6..].bytes().any(|c| c != b'0')
    {
        return Err(bad(text, "a date-time with at most microsecond precision"));
    }
    let mut parts = hms.split(':');
    let h: u32 = parts.next().and_then(|x| x.parse().ok()).ok_or_else(err)?;
    let mi: u32 = parts.next().and_then(|x| x.parse().ok()).ok_or_else(err)?;
    let sec: u32 = match parts.next() {
        Some(x) => x.parse().map_err(|_| err())?,
        None => 0,
    };
    if parts.next().is_some() {
        return Err(err());
    }
    let micros: u32 = if frac.is_empty() {
        0
    } else {
        let f = &frac[..frac.len().min(6)];
        f.parse::<u32>().map_err(|_| err())? * 10u32.pow(6 - f.len() as u32)
    };
    let time = NaiveTime::from_hms_micro_opt(h, mi, sec, micros).ok_or_else(err)?;
    Ok(Some((date.and_time(time), offset)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array};

    #[test]
    fn cast_names_parse_and_print() {
        assert_eq!("TEXT".parse::<CastType>().unwrap(), CastType::Text);
        assert_eq!(
            "numeric(12, 2)".parse::<CastType>().unwrap(),
            CastType::Decimal(12, 2)
        );
        assert_eq!(CastType::Decimal(38, 10).to_string(), "decimal(38,10)");
        let e = "point".parse::<CastType>().unwrap_err().to_string();
        assert_eq!(
            e,
            format!("unknown cast type `point`\n  hint: use one of: {CAST_NAMES}")
        );
        assert!("decimal(39,2)".parse::<CastType>().is_err());
    }

    #[test]
    fn decimals_parse_exactly_or_fail() {
        assert_eq!(parse_decimal("12.30", 12, 2).unwrap(), 1230);
        assert_eq!(parse_decimal("-0.05", 12, 2).unwrap(), -5);
        assert_eq!(parse_decimal("7", 12, 2).unwrap(), 700);
        assert_eq!(parse_decimal("1.500", 12, 2).unwrap(), 150);
        assert_eq!(
            parse_decimal("12345678901234567890123456.789012345678", 38, 12).unwrap(),
            12345678901234567890123456789012345678
        );
        assert_eq!(
            parse_decimal("1.005", 12, 2).unwrap_err().to_string(),
            "`1.005` is not exactly a decimal(12,2)\n  hint: cast the column to text to keep its values as written"
        );
        assert!(parse_decimal("123", 2, 0).is_err());
        assert!(parse_decimal("NaN", 12, 2).is_err());
        assert!(parse_decimal("", 12, 2).is_err());
    }

    #[test]
    fn integers_floats_booleans_are_strict() {
        assert_eq!(parse_integer("-42").unwrap(), -42);
        assert_eq!(parse_integer("7.000").unwrap(), 7);
        assert!(parse_integer("1.5").is_err());
        assert!(parse_integer("abc").is_err());
        assert!(parse_integer("9223372036854775808").is_err());
        assert_eq!(parse_float("0.1").unwrap(), 0.1);
        assert_eq!(parse_float("1e300").unwrap(), 1e300);
        assert!(parse_float("9007199254740993").is_err());
        assert!(parse_float("x").is_err());
        assert!(parse_bool("TRUE").unwrap() && !parse_bool("0").unwrap());
        assert!(parse_bool("yes").is_err());
    }

    #[test]
    fn dates_and_times_keep_every_microsecond_or_fail() {
        assert_eq!(parse_date("2024-02-29").unwrap(), 19782);
        assert_eq!(parse_date("2024-02-29 00:00:00").unwrap(), 19782);
        assert!(parse_date("2024-02-29 12:00:00").is_err());
        assert_eq!(
            parse_timestamp("1970-01-01 00:00:01.5", false).unwrap(),
            1_500_000
        );
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00.000001", false).unwrap(),
            1
        );
        assert!(parse_timestamp("1970-01-01 00:00:00.0000001", false).is_err());
        assert_eq!(
            parse_timestamp("1970-01-01 00:00:00.000001000", false).unwrap(),
            1
        );
        assert_eq!(parse_timestamp("1970-01-01 02:00:00+02", true).unwrap(), 0);
        assert_eq!(
            parse_timestamp("1970-01-01 02:00:00+02:00", true).unwrap(),
            0
        );
        assert_eq!(
            parse_timestamp("1969-12-31 21:30:00-0230", true).unwrap(),
            0
        );
        assert_eq!(parse_timestamp("1970-01-01 00:00:00Z", true).unwrap(), 0);
        assert!(parse_timestamp("1970-01-01 02:00:00+02", false).is_err());
        assert_eq!(parse_datetime("0000-00-00 00:00:00").unwrap(), None);
        assert!(parse_datetime("2024-13-01").is_err());
    }

    #[test]
    fn arrays_cast_through_their_exact_text() {
        let f: ArrayRef = Arc::new(Float64Array::from(vec![Some(0.1), None, Some(2.0)]));
        let d = cast_array(&f, CastType::Decimal(5, 2)).unwrap();
        let d = d.as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!((d.value(0), d.is_null(1), d.value(2)), (10, true, 200));
        let f2: ArrayRef = Arc::new(Float64Array::from(vec![0.15]));
        let e = cast_array(&f2, CastType::Decimal(5, 1))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("`0.15` is not exactly a decimal(5,1)"), "{e}");
        let i = cast_array(&f, CastType::Integer).unwrap_err().to_string();
        assert!(i.starts_with("`0.1` is not an integer"), "{i}");
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![1, 0]));
        let b = cast_array(&ints, CastType::Boolean).unwrap();
        assert_eq!(
            b.as_boolean().iter().collect::<Vec<_>>(),
            vec![Some(true), Some(false)]
        );
        let t = cast_array(&ints, CastType::Text).unwrap();
        assert_eq!(t.as_string::<i32>().value(0), "1");
    }
}
