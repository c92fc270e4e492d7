//! `sd_trunc(ts, 's' | 'ms' | 'us')`: a timestamp truncated down to whole seconds,
//! milliseconds or microseconds, in its own unit and zone (the `precision` rule).
//!
//! Why not DataFusion's: `date_trunc` rounds times before 1970 up, towards the epoch
//! (1969-12-31 23:59:59.9 becomes 1970-01-01 00:00:00, equal to a value a second away),
//! and `date_bin` converts to nanoseconds first, which overflows outside 1677-2262
//! (a `9999-12-31` "infinity" date). This floors in the value's own unit, so every
//! timestamp Arrow can hold is truncated exactly.

use std::any::Any;
use std::sync::Arc;

use super::error::rule_err;
use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Truncate {
    signature: Signature,
}

impl Default for Truncate {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// The precision's length in units of `unit` (1 when the unit is already as coarse).
fn step(precision: &str, unit: &TimeUnit) -> Option<i64> {
    let micros: i64 = match precision {
        "s" => 1_000_000,
        "ms" => 1_000,
        "us" => 1,
        _ => return None,
    };
    Some(match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => (micros / 1_000).max(1),
        TimeUnit::Microsecond => micros,
        TimeUnit::Nanosecond => micros * 1_000,
    })
}

fn floor<T: ArrowPrimitiveType<Native = i64>>(a: &ArrayRef, step: i64) -> ArrayRef {
    let p: &PrimitiveArray<T> = a.as_primitive::<T>();
    // The bucket below i64::MIN's is cut off: its values go up to its end instead.
    let out: PrimitiveArray<T> = p.unary(|v| {
        let r = v.rem_euclid(step);
        v.checked_sub(r).unwrap_or(v + (step - r))
    });
    Arc::new(out.with_data_type(a.data_type().clone()))
}

impl ScalarUDFImpl for Truncate {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "sd_trunc"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            t @ DataType::Timestamp(_, _) => Ok(t.clone()),
            DataType::Null => Ok(DataType::Null),
            other => rule_err!("precision applies to timestamps, not {other}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let precision = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(p))) => p.clone(),
            ColumnarValue::Array(a) if a.data_type() == &DataType::Utf8 && !a.is_empty() => {
                a.as_string::<i32>().value(0).to_string()
            }
            _ => return rule_err!("sd_trunc: the precision is 's', 'ms' or 'us'"),
        };
        let a = args.args[0].to_array(args.number_rows)?;
        let DataType::Timestamp(unit, _) = a.data_type().clone() else {
            return Ok(ColumnarValue::Array(a));
        };
        let Some(step) = step(&precision, &unit) else {
            return rule_err!("sd_trunc: the precision is 's', 'ms' or 'us', not `{precision}`");
        };
        if step == 1 {
            // Already at that precision (or coarser): nothing to cut.
            return Ok(ColumnarValue::Array(a));
        }
        let out = match unit {
            TimeUnit::Second => floor::<TimestampSecondType>(&a, step),
            TimeUnit::Millisecond => floor::<TimestampMillisecondType>(&a, step),
            TimeUnit::Microsecond => floor::<TimestampMicrosecondType>(&a, step),
            TimeUnit::Nanosecond => floor::<TimestampNanosecondType>(&a, step),
        };
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::tests::call;
    use arrow::array::{StringArray, TimestampMicrosecondArray, TimestampNanosecondArray};

    fn trunc(a: ArrayRef, p: &str) -> ArrayRef {
        let n = a.len();
        let p: ArrayRef = Arc::new(StringArray::from(vec![p; n]));
        call(&Truncate::default(), vec![a, p])
    }

    #[test]
    fn floors_in_the_value_unit_before_1970_and_far_from_it() {
        let a: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![
                Some(-1),
                Some(-1_000_001),
                Some(1_500_000),
                None,
                Some(253_402_300_799_999_999), // 9999-12-31 23:59:59.999999
                Some(i64::MIN),
            ])
            .with_timezone("UTC"),
        );
        let s = trunc(a.clone(), "s");
        assert_eq!(s.data_type(), a.data_type());
        let s = s.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(s.value(0), -1_000_000);
        assert_eq!(s.value(1), -2_000_000);
        assert_eq!(s.value(2), 1_000_000);
        assert!(s.is_null(3));
        assert_eq!(s.value(4), 253_402_300_799_000_000);
        // i64::MIN's second starts below i64::MIN: its values go to the second's end.
        assert_eq!(s.value(5), i64::MIN + (1_000_000 - 224_192));
        let ms = trunc(a, "ms");
        assert_eq!(
            ms.as_primitive::<TimestampMicrosecondType>().value(0),
            -1_000
        );
        let ns: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![-1, 1_999]));
        let us = trunc(ns, "us");
        let us = us.as_primitive::<TimestampNanosecondType>();
        assert_eq!((us.value(0), us.value(1)), (-1_000, 1_000));
    }
}
