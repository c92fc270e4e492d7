//! Column types on the way from a source into Arrow.
//!
//! Each extractor decides, per column, the Arrow type the snapshot stores and how to get
//! there exactly. Drivers hand us batches in their own representations (`LargeUtf8`,
//! 64-bit integers for 32-bit columns, decimals as text, naive timestamps that are UTC);
//! [`conform`] turns each batch into the planned schema, refusing any conversion that
//! could change a value.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, RecordBatch, TimestampMicrosecondBuilder,
};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

pub use super::cast::CastType;
use super::cast::{self, parse_datetime};
use crate::error::{Error, Result};

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
    /// The values' exact text parsed strictly into the cast type (see [`cast`]): exact
    /// decimals read as text, and the casts a spec asks for.
    Cast(CastType),
    /// MySQL date and date-time text: zero dates (`0000-00-00`, a zero month or day)
    /// become NULL and are counted; anything else is parsed strictly.
    ZeroDateText,
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

    pub fn cast(name: &str, cast: CastType) -> Self {
        OutColumn {
            name: name.to_string(),
            data_type: cast.arrow_type(),
            conversion: Conversion::Cast(cast),
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

impl ConformStats {
    /// Add another batch's counts.
    pub fn add(&mut self, other: &ConformStats) {
        if self.zero_dates.len() < other.zero_dates.len() {
            self.zero_dates.resize(other.zero_dates.len(), 0);
        }
        for (a, b) in self.zero_dates.iter_mut().zip(&other.zero_dates) {
            *a += b;
        }
    }
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
            Conversion::Cast(c) => cast::cast_array(a, c),
            Conversion::ZeroDateText => {
                let (arr, zeros) = zero_date_text(a, &col.data_type)?;
                stats.zero_dates[i] += zeros;
                Ok(arr)
            }
        }
        .map_err(|e| e.with_column(&col.name))?;
        arrays.push(out);
    }
    RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::internal(format!("cannot assemble a batch: {e}")).with_source(e))
}

/// Casts between representations of the same values. Anything else is a planning bug.
pub fn exact_cast(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let from = a.data_type();
    if from == to {
        return Ok(a.clone());
    }
    // A timestamp the source guarantees is UTC (naive from MySQL read with time_zone
    // '+00:00', or labelled `+00:00` by connectorx): relabel, never shift.
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
    cast_with_options(a, to, &opts).map_err(|e| {
        Error::type_error(format!("cannot convert {from} to {to}: {e}")).with_source(e)
    })
}

fn is_exact_cast(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    match (from, to) {
        (a, b) if a == b => true,
        (LargeUtf8 | Utf8View | Utf8, Utf8) => true,
        (LargeBinary | BinaryView | Binary, Binary) => true,
        (Dictionary(_, v), t) => is_exact_cast(v, t),
        (Null, _) => true,
        (Int8 | Int16 | Int32, Int64) | (Int8, Int16 | Int32) | (Int16, Int32) => true,
        (UInt8 | UInt16 | UInt32, UInt64) | (UInt8, UInt16 | UInt32) | (UInt16, UInt32) => true,
        (Float32, Float64) => true,
        // connectorx's stream widens int2/int4/float4 to 64 bits. Narrowing back to the
        // planned type is exact for values that came from it; an integer that does not
        // fit is an error (safe = false), never a wrapped value.
        (Int64, Int8 | Int16 | Int32) | (UInt64, UInt8 | UInt16 | UInt32) => true,
        (Float64, Float32) => true,
        (List(f) | LargeList(f), List(g)) => is_exact_cast(f.data_type(), g.data_type()),
        _ => false,
    }
}

/// MySQL date text into Date32 or a microsecond timestamp; zero dates become NULL and are
/// counted.
fn zero_date_text(a: &ArrayRef, to: &DataType) -> Result<(ArrayRef, u64)> {
    let texts = exact_cast(a, &DataType::Utf8)?;
    let texts = texts.as_string::<i32>();
    let mut zeros = 0u64;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date");
    match to {
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(texts.len());
            for v in texts.iter() {
                match v.map(parse_datetime).transpose()? {
                    None => b.append_null(),
                    Some(None) => {
                        zeros += 1;
                        b.append_null()
                    }
                    Some(Some((dt, _))) => b.append_value((dt.date() - epoch).num_days() as i32),
                }
            }
            Ok((Arc::new(b.finish()), zeros))
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(texts.len());
            for v in texts.iter() {
                match v.map(parse_datetime).transpose()? {
                    None => b.append_null(),
                    Some(None) => {
                        zeros += 1;
                        b.append_null()
                    }
                    Some(Some((dt, _))) => b.append_value(dt.and_utc().timestamp_micros()),
                }
            }
            Ok((Arc::new(b.finish().with_timezone_opt(tz.clone())), zeros))
        }
        other => Err(Error::internal(format!("date conversion to {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_dates_become_null_and_are_counted() {
        let a: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![
            Some("2024-02-29 13:14:15.250000"),
            Some("0000-00-00 00:00:00"),
            None,
            Some("2024-00-10 00:00:00"),
        ]));
        let (out, zeros) = zero_date_text(&a, &timestamp_naive()).unwrap();
        assert_eq!(zeros, 2);
        let ts = out.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(ts.value(0), 1_709_212_455_250_000);
        assert_eq!(ts.null_count(), 3);
    }

    #[test]
    fn only_exact_representation_changes_pass() {
        let i: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![
            1,
            i64::from(i32::MAX) + 1,
        ]));
        assert!(
            exact_cast(&i, &DataType::Int32).is_err(),
            "an out-of-range narrowing fails"
        );
        let f: ArrayRef = Arc::new(arrow::array::Float64Array::from(vec![1.5]));
        assert_eq!(
            exact_cast(&f, &DataType::Int64).unwrap_err().to_string(),
            "no exact conversion from Float64 to Int64"
        );
        let d: ArrayRef = Arc::new(
            vec![Some("a"), None, Some("a")]
                .into_iter()
                .collect::<arrow::array::DictionaryArray<arrow::datatypes::Int32Type>>(),
        );
        let s = exact_cast(&d, &DataType::Utf8).unwrap();
        assert_eq!(s.as_string::<i32>().value(2), "a");
    }
}
