//! `sd_date(value)`: the calendar date of a value, so that text dates and timestamps
//! compare with `date` columns. Text is read as an ISO date (`2024-03-31`, white space
//! around it ignored); a timestamp gives its date (a zoned one, its date in UTC, as its
//! value is stored); a date stays itself. Text that is not an ISO date is an error that
//! shows it: give a `parse` format first (`{ parse = "%d/%m/%Y", date = true }`).

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Date32Builder};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::NaiveDate;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::each_text;
use super::error::{rule_err, OnInvalid, RuleError};
use super::parse_timestamp::Formats;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Date {
    signature: Signature,
    on_invalid: OnInvalid,
}

impl Default for Date {
    fn default() -> Self {
        Date {
            signature: Signature::any(1, Volatility::Immutable),
            on_invalid: OnInvalid::Error,
        }
    }
}

impl Date {
    /// `sd_try_date`: NULL for a value it cannot read.
    pub fn lenient() -> Self {
        Date {
            on_invalid: OnInvalid::Null,
            ..Self::default()
        }
    }
}

/// Days from 1970-01-01 to `d`.
/// `YYYY-MM-DD` compiled as the `parse` rule compiles a format: read by position where
/// the text is exactly that layout, else by chrono.
fn iso() -> Formats {
    Formats::new(&["%Y-%m-%d".to_string()])
}

/// Text written as `YYYY-MM-DD`, read with [`iso`]'s formats.
fn iso_date(iso: &Formats, t: &str) -> Option<NaiveDate> {
    iso.parse(t).map(|dt| dt.date())
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch")).num_days() as i32
}

impl ScalarUDFImpl for Date {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.on_invalid.name("sd_date", "sd_try_date")
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Null
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _) => Ok(DataType::Date32),
            other => rule_err!("date applies to text, timestamps and dates, not {other}"),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = args.args[0].to_array(args.number_rows)?;
        let out: ArrayRef = match a.data_type() {
            DataType::Date32 => a,
            // Timestamps in microseconds, floored to whole days (before 1970 too).
            DataType::Date64 | DataType::Timestamp(_, _) => {
                let us = arrow::compute::cast(
                    &arrow::compute::cast(&a, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
                    &DataType::Int64,
                )?;
                let mut b = Date32Builder::with_capacity(us.len());
                for v in us.as_primitive::<arrow::datatypes::Int64Type>().iter() {
                    b.append_option(v.map(|v| v.div_euclid(86_400_000_000) as i32));
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = Date32Builder::with_capacity(args.number_rows);
                let iso = iso();
                each_text(&args.args[0], args.number_rows, |v| {
                    match v {
                        None => b.append_null(),
                        Some(t) => match iso_date(&iso, t.trim()) {
                            Some(d) => b.append_value(days(d)),
                            None => self.on_invalid.value(
                                || b.append_null(),
                                RuleError::error(format!(
                                    "date: `{t}` is not a date written as YYYY-MM-DD; give its format with `parse` (for example parse = \"%d/%m/%Y\")"
                                )),
                            )?,
                        },
                    }
                    Ok(())
                })?;
                Arc::new(b.finish())
            }
        };
        debug_assert_eq!(out.data_type(), &DataType::Date32);
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::tests::{call, try_call};
    use arrow::array::{Date32Array, StringArray, TimestampMicrosecondArray};

    #[test]
    fn text_and_timestamps_become_dates() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some(" 2024-03-31 "),
            None,
            Some("1969-12-31"),
        ]));
        let out = call(&Date::default(), vec![text]);
        let d = out.as_primitive::<arrow::datatypes::Date32Type>();
        assert_eq!((d.value(0), d.is_null(1), d.value(2)), (19813, true, -1));
        // Half a second before 1970 is still 1969-12-31.
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![Some(-500_000), Some(19813 * 86_400_000_000)])
                .with_timezone("UTC"),
        );
        let out = call(&Date::default(), vec![ts]);
        assert_eq!(
            out.as_primitive::<arrow::datatypes::Date32Type>().values(),
            &[-1, 19813]
        );
        let dates: ArrayRef = Arc::new(Date32Array::from(vec![5]));
        assert_eq!(call(&Date::default(), vec![dates]).len(), 1);
    }

    #[test]
    fn dates_read_by_position_as_chrono_reads_them() {
        for t in [
            "2024-03-31",
            "2024-02-30",
            "2024-3-31",
            "+2024-03-31",
            "0000-01-01",
            "2024-03-3x",
            "2024/03/31",
            "99999-01-01",
        ] {
            assert_eq!(
                iso_date(&iso(), t),
                NaiveDate::parse_from_str(t, "%Y-%m-%d").ok(),
                "{t}"
            );
        }
    }

    #[test]
    fn text_that_is_not_a_date_is_a_rule_error() {
        let text: ArrayRef = Arc::new(StringArray::from(vec!["31/03/2024"]));
        let e = try_call(&Date::default(), vec![text]).unwrap_err();
        assert_eq!(
            crate::normalize::RuleError::find(&e).map(|r| r.message.as_str()),
            Some("date: `31/03/2024` is not a date written as YYYY-MM-DD; give its format with `parse` (for example parse = \"%d/%m/%Y\")")
        );
    }
}
