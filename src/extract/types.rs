//! Column types on the way from a source into Arrow.
//!
//! Each extractor decides, per column, the Arrow type the snapshot stores and how to get
//! there exactly. Drivers hand us batches in their own types (`LargeUtf8`, decimals as
//! text, naive timestamps that are really UTC); [`conform`] turns each batch into the
//! planned schema, refusing any conversion that could change a value.
//!
//! [`CastType`] is the user's escape hatch (`cast = { col = "text" }` in a spec,
//! `--cast col=text` on the command line) for a column whose source type cannot be
//! mapped, or whose values do not fit the declared type.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Builder, RecordBatch};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A type a column can be cast to explicitly, in the source, before it is read.
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

/// The UTC timestamp type used for every zoned timestamp in a snapshot.
pub fn timestamp_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The naive (wall-clock) timestamp type.
pub fn timestamp_naive() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// How one output column is obtained from the column the driver returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Conversion {
    /// Same type, or a representation change Arrow does exactly (`LargeUtf8` → `Utf8`).
    Exact,
    /// Decimal text (`-12.30`) parsed into `Decimal128(p, s)` exactly; a value with more
    /// digits than the type holds is an error, never rounded.
    DecimalText,
    /// Timestamp text (`2024-03-01 12:00:00[.ffffff]`) parsed into a timestamp of the
    /// output type; zero and partial-zero dates (MySQL) become NULL and are counted.
    DateTimeText,
}

/// An output column: its name, the Arrow type stored, and how it is produced.
#[derive(Debug, Clone, PartialEq)]
pub struct OutColumn {
    pub name: String,
    pub data_type: DataType,
    pub conversion: Conversion,
}

impl OutColumn {
    pub fn exact(name: &str, data_type: DataType) -> Self {
        OutColumn {
            name: name.to_string(),
            data_type,
            conversion: Conversion::Exact,
        }
    }
}

/// The snapshot schema of a list of output columns. Every field is nullable: whether the
/// source allows NULL is recorded in `schema.json`, and NULLs are what a check reports.
pub fn out_schema(cols: &[OutColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        cols.iter()
            .map(|c| Field::new(&c.name, c.data_type.clone(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Counters a conversion keeps (zero dates read as NULL, per column index).
#[derive(Debug, Default, Clone)]
pub struct ConformStats {
    pub zero_dates: Vec<u64>,
}

/// Turn a driver's batch into the planned `schema`, column by column.
pub fn conform(
    batch: &RecordBatch,
    cols: &[OutColumn],
    schema: &SchemaRef,
    stats: &mut ConformStats,
) -> Result<RecordBatch> {
    if batch.num_columns() != cols.len() {
        return Err(Error::internal(format!(
            "the source returned {} columns where {} were planned",
            batch.num_columns(),
            cols.len()
        )));
    }
    if stats.zero_dates.len() != cols.len() {
        stats.zero_dates = vec![0; cols.len()];
    }
    let mut arrays = Vec::with_capacity(cols.len());
    for (i, col) in cols.iter().enumerate() {
        let a = batch.column(i);
        let out = match col.conversion {
            Conversion::Exact => exact_cast(a, &col.data_type),
            Conversion::DecimalText => decimal_from_text(a, &col.data_type),
            Conversion::DateTimeText => {
                let (arr, zeros) = datetime_from_text(a, &col.data_type)?;
                stats.zero_dates[i] += zeros;
                Ok(arr)
            }
        }
        .map_err(|e| e.with_column(&col.name))?;
        arrays.push(out);
    }
    RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::internal(format!("cannot assemble a batch: {e}")))
}

/// Casts between representations of the same values. Anything else is a planning bug.
pub fn exact_cast(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let from = a.data_type();
    if from == to {
        return Ok(a.clone());
    }
    // A naive timestamp that the source guarantees is UTC (MySQL TIMESTAMP read with
    // time_zone = '+00:00'): relabel, do not shift.
    // A zone spelled `+00:00` by the driver is UTC: relabel as well.
    if let (
        DataType::Timestamp(TimeUnit::Microsecond, from_tz),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)),
    ) = (from, to)
    {
        let utc_like = |z: &str| matches!(z, "UTC" | "+00:00" | "Z" | "+00" | "Etc/UTC");
        if from_tz.as_deref().is_none_or(utc_like) && utc_like(tz) {
            let p = a.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            return Ok(Arc::new(p.clone().with_timezone(tz.clone())));
        }
    }
    if !is_exact_cast(from, to) {
        return Err(Error::internal(format!(
            "no exact conversion from {from} to {to}"
        )));
    }
    let opts = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(a, to, &opts)
        .map_err(|e| Error::type_error(format!("cannot convert {from} to {to}: {e}")))
}

fn is_exact_cast(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    match (from, to) {
        (a, b) if a == b => true,
        (LargeUtf8 | Utf8View | Utf8, Utf8) => true,
        (LargeBinary | BinaryView | Binary, Binary) => true,
        (Null, _) => true,
        (Int8 | Int16 | Int32, Int64) | (Int8, Int16 | Int32) | (Int16, Int32) => true,
        (UInt8 | UInt16 | UInt32, UInt64) | (UInt8, UInt16 | UInt32) | (UInt16, UInt32) => true,
        (UInt32, Int64) => true,
        (Float32, Float64) => true,
        // connectorx's stream widens int2/int4/float4 to 64 bits. Narrowing back to the
        // planned type is exact for values that came from it; an integer that does not
        // fit is an error (safe = false), never a wrapped value.
        (Int64, Int8 | Int16 | Int32) | (UInt64, UInt8 | UInt16 | UInt32) => true,
        (Float64, Float32) => true,
        // Only planned for SQL that yields 0 or 1 (`x <> 0`), where the cast is exact.
        (Int8 | Int16 | Int32 | Int64, Boolean) => true,
        (Date64, Date32) => false,
        (Timestamp(a, x), Timestamp(b, y)) => a == b && x == y,
        (List(f), List(g)) | (LargeList(f), List(g)) => is_exact_cast(f.data_type(), g.data_type()),
        _ => false,
    }
}

/// Parse decimal text into `Decimal128(p, s)` without rounding.
fn decimal_from_text(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let DataType::Decimal128(p, s) = *to else {
        return Err(Error::internal(format!("decimal conversion to {to}")));
    };
    let texts = exact_cast(a, &DataType::Utf8)?;
    let texts = texts.as_string::<i32>();
    let mut b = Decimal128Builder::with_capacity(texts.len()).with_precision_and_scale(p, s)?;
    for v in texts.iter() {
        match v {
            None => b.append_null(),
            Some(t) => b.append_value(parse_decimal(t, p, s)?),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// `text` as an unscaled i128 at scale `s`, failing rather than rounding.
pub fn parse_decimal(text: &str, p: u8, s: i8) -> Result<i128> {
    let t = text.trim();
    let bad = || {
        Error::type_error(format!("`{text}` does not fit decimal({p},{s}) exactly"))
            .with_hint("cast the column to text to keep its values as written")
    };
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
        return Err(bad());
    }
    let s_us = s.max(0) as usize;
    let (kept, dropped) = if frac_part.len() > s_us {
        frac_part.split_at(s_us)
    } else {
        (frac_part, "")
    };
    if dropped.bytes().any(|c| c != b'0') {
        return Err(bad());
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
            .ok_or_else(bad)?;
        if v != 0 {
            ndigits += 1;
        }
    }
    if ndigits > p as usize {
        return Err(bad());
    }
    Ok(if neg { -v } else { v })
}

/// Parse `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` text into Date32 or a microsecond timestamp.
/// Zero dates and dates with a zero month or day become NULL; their count is returned.
fn datetime_from_text(a: &ArrayRef, to: &DataType) -> Result<(ArrayRef, u64)> {
    use arrow::array::{Date32Builder, TimestampMicrosecondBuilder};
    let texts = exact_cast(a, &DataType::Utf8)?;
    let texts = texts.as_string::<i32>();
    let mut zeros = 0u64;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    match to {
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(texts.len());
            for v in texts.iter() {
                match v.map(parse_datetime_text).transpose()? {
                    None => b.append_null(),
                    Some(None) => {
                        zeros += 1;
                        b.append_null()
                    }
                    Some(Some(dt)) => b.append_value((dt.date() - epoch).num_days() as i32),
                }
            }
            Ok((Arc::new(b.finish()), zeros))
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(texts.len());
            for v in texts.iter() {
                match v.map(parse_datetime_text).transpose()? {
                    None => b.append_null(),
                    Some(None) => {
                        zeros += 1;
                        b.append_null()
                    }
                    Some(Some(dt)) => b.append_value(dt.and_utc().timestamp_micros()),
                }
            }
            let arr = b.finish().with_timezone_opt(tz.clone());
            Ok((Arc::new(arr), zeros))
        }
        other => Err(Error::internal(format!("datetime conversion to {other}"))),
    }
}

/// `Ok(None)` for a zero date (`0000-00-00`, `2024-00-10`); an error for text that is
/// not a date at all.
fn parse_datetime_text(t: &str) -> Result<Option<chrono::NaiveDateTime>> {
    let bad = || Error::type_error(format!("`{t}` is not a date or date-time"));
    let t = t.trim();
    let (date, time) = match t.split_once([' ', 'T']) {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let mut dp = date.splitn(3, '-');
    let y: i32 = dp.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let m: u32 = dp.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let d: u32 = dp.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    if y == 0 && m == 0 && d == 0 || m == 0 || d == 0 {
        return Ok(None);
    }
    let date = chrono::NaiveDate::from_ymd_opt(y, m, d).ok_or_else(bad)?;
    let time = match time {
        None => chrono::NaiveTime::MIN,
        Some(tm) => chrono::NaiveTime::parse_from_str(tm, "%H:%M:%S%.f").map_err(|_| bad())?,
    };
    Ok(Some(date.and_time(time)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(parse_decimal("1.005", 12, 2).is_err());
        assert!(parse_decimal("123", 2, 0).is_err());
        assert!(parse_decimal("NaN", 12, 2).is_err());
        assert!(parse_decimal("", 12, 2).is_err());
    }

    #[test]
    fn zero_dates_become_null_and_are_counted() {
        let a: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![
            Some("2024-02-29 13:14:15.250000"),
            Some("0000-00-00 00:00:00"),
            None,
            Some("2024-00-10 00:00:00"),
        ]));
        let (out, zeros) = datetime_from_text(&a, &timestamp_naive()).unwrap();
        assert_eq!(zeros, 2);
        let ts = out.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(ts.value(0), 1_709_212_455_250_000);
        assert_eq!(ts.null_count(), 3);
    }
}
