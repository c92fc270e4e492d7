//! `sd_text(x)`: any value as the text a report shows, never failing.
//!
//! Arrow displays dates and times through chrono, which stops at the years -262143 and
//! 262142; PostgreSQL dates reach 5874897 AD. `CAST(x AS VARCHAR)` of such a value is an
//! error that would stop a whole verification over one far-future date, so reports
//! render values through [`value_text`]: Arrow's text where it has one, else the stored
//! number and its unit (`109000000 days since 1970-01-01`).

use std::any::Any;
use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `row` of `a` as text (`None` for NULL).
pub fn value_text(a: &dyn Array, row: usize) -> Option<String> {
    Texts::new(a).get(row)
}

/// The values of one array as text, through one formatter for all its rows.
pub struct Texts<'a> {
    a: &'a dyn Array,
    formatter: Option<ArrayFormatter<'a>>,
}

impl<'a> Texts<'a> {
    pub fn new(a: &'a dyn Array) -> Self {
        // Errors as errors (by default Arrow writes "ERROR: ..." into the text).
        let opts = FormatOptions::default().with_display_error(false);
        Texts {
            a,
            formatter: ArrayFormatter::try_new(a, &opts).ok(),
        }
    }

    /// `row` as text (`None` for NULL).
    pub fn get(&self, row: usize) -> Option<String> {
        if self.a.is_null(row) {
            return None;
        }
        if let Some(f) = &self.formatter {
            let mut out = String::new();
            if write!(out, "{}", f.value(row)).is_ok() {
                return Some(out);
            }
        }
        Some(raw_text(self.a, row))
    }
}

/// A value Arrow cannot display: its stored number and unit.
fn raw_text(a: &dyn Array, row: usize) -> String {
    let unit = match a.data_type() {
        DataType::Date32 => "days since 1970-01-01",
        DataType::Date64 => "milliseconds since 1970-01-01",
        DataType::Timestamp(u, _) | DataType::Time32(u) | DataType::Time64(u) => match u {
            TimeUnit::Second => "seconds since 1970-01-01",
            TimeUnit::Millisecond => "milliseconds since 1970-01-01",
            TimeUnit::Microsecond => "microseconds since 1970-01-01",
            TimeUnit::Nanosecond => "nanoseconds since 1970-01-01",
        },
        _ => "",
    };
    let one = a.slice(row, 1);
    match arrow::compute::cast(&one, &DataType::Int64) {
        Ok(n) if !unit.is_empty() && n.is_valid(0) => {
            let n = n.as_any().downcast_ref::<arrow::array::Int64Array>();
            match n {
                Some(n) => format!("{} {unit}", n.value(0)),
                None => format!("(a {} value)", a.data_type()),
            }
        }
        _ => format!("(a {} value that has no text)", a.data_type()),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Text {
    signature: Signature,
}

impl Default for Text {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Text {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "sd_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a: ArrayRef = args.args[0].to_array(args.number_rows)?;
        let mut b = StringBuilder::with_capacity(a.len(), a.len() * 8);
        let texts = Texts::new(a.as_ref());
        for row in 0..a.len() {
            b.append_option(texts.get(row));
        }
        let out: ArrayRef = Arc::new(b.finish());
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Int64Array, TimestampMicrosecondArray};

    #[test]
    fn values_beyond_chrono_show_their_number_and_unit() {
        let d = Date32Array::from(vec![Some(1), None, Some(109_000_000)]);
        assert_eq!(value_text(&d, 0).as_deref(), Some("1970-01-02"));
        assert_eq!(value_text(&d, 1), None);
        assert_eq!(
            value_text(&d, 2).as_deref(),
            Some("109000000 days since 1970-01-01")
        );
        let t = TimestampMicrosecondArray::from(vec![i64::MAX, -1]).with_timezone("UTC");
        assert_eq!(
            value_text(&t, 0).as_deref(),
            Some("9223372036854775807 microseconds since 1970-01-01")
        );
        assert_eq!(
            value_text(&t, 1).as_deref(),
            Some("1969-12-31T23:59:59.999999Z")
        );
        let n = Int64Array::from(vec![-5]);
        assert_eq!(value_text(&n, 0).as_deref(), Some("-5"));
    }
}
