//! `sd_round(x, n)`: a number rounded to `n` decimals, half away from zero, as an exact
//! `Decimal128(38, n)`. Integers, floats (through their shortest round-trip text, so
//! 2.675 rounds to 2.68), decimals and numeric text are all accepted, so a REAL score and
//! a NUMERIC(5,2) score round to the same value.

use std::any::Any;
use std::sync::Arc;

use super::error::{rule_err, OnInvalid};
use arrow::array::{Array, ArrayRef, AsArray, Decimal128Builder};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::decimal::{self, DecError};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Round {
    signature: Signature,
    on_invalid: OnInvalid,
}

impl Default for Round {
    fn default() -> Self {
        Round {
            signature: Signature::any(2, Volatility::Immutable),
            on_invalid: OnInvalid::Error,
        }
    }
}

impl Round {
    /// `sd_try_round`: NULL for a value it cannot read.
    pub fn lenient() -> Self {
        Round {
            on_invalid: OnInvalid::Null,
            ..Self::default()
        }
    }
}

/// The scale argument: a literal from 0 to 30.
fn scale_of(v: Option<&ScalarValue>) -> Result<u32> {
    let n = match v {
        Some(s) => match s.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(n)) => n,
            _ => return rule_err!("sd_round (round) takes a whole number of decimals"),
        },
        None => return rule_err!("sd_round (round) takes the number of decimals as a literal"),
    };
    if !(0..=super::rules::MAX_ROUND as i64).contains(&n) {
        return rule_err!("sd_round (round) takes 0 to 30 decimals, not {n}");
    }
    Ok(n as u32)
}

/// Every value of `a` as an exact `Decimal128(38, scale)`, rounded half away from zero.
/// A value that is not a number, or does not fit, is an error naming it, or NULL with
/// [`OnInvalid::Null`].
pub fn to_decimal(a: &ArrayRef, scale: u32, what: &str, on_invalid: OnInvalid) -> Result<ArrayRef> {
    use arrow::datatypes::*;
    let mut b =
        Decimal128Builder::with_capacity(a.len()).with_precision_and_scale(38, scale as i8)?;
    // One value: NULL, its decimal, or why it has none and its text (for the message).
    type Value = Option<std::result::Result<i128, (DecError, String)>>;
    let mut put = |v: Value| {
        match v {
            None => b.append_null(),
            Some(Ok(x)) => b.append_value(x),
            Some(Err((e, text))) => {
                let why = match e {
                    DecError::NotANumber => "is not a number",
                    DecError::Overflow => "does not fit 38 digits",
                };
                let err = super::RuleError::error(format!("{what}: `{text}` {why}"));
                on_invalid.value(|| b.append_null(), err)?;
            }
        }
        Ok::<_, datafusion::error::DataFusionError>(())
    };
    macro_rules! each {
        ($t:ty, $f:expr) => {{
            for v in a.as_primitive::<$t>().iter() {
                put(v.map(|x| $f(x).map_err(|e| (e, format!("{x:?}")))))?;
            }
        }};
    }
    let int = |x: i128| decimal::rescale(x, 0, scale);
    match a.data_type() {
        DataType::Null => {
            for _ in 0..a.len() {
                put(None)?;
            }
        }
        DataType::Int8 => each!(Int8Type, |x: i8| int(x as i128)),
        DataType::Int16 => each!(Int16Type, |x: i16| int(x as i128)),
        DataType::Int32 => each!(Int32Type, |x: i32| int(x as i128)),
        DataType::Int64 => each!(Int64Type, |x: i64| int(x as i128)),
        DataType::UInt8 => each!(UInt8Type, |x: u8| int(x as i128)),
        DataType::UInt16 => each!(UInt16Type, |x: u16| int(x as i128)),
        DataType::UInt32 => each!(UInt32Type, |x: u32| int(x as i128)),
        DataType::UInt64 => each!(UInt64Type, |x: u64| int(x as i128)),
        // Through the f32's own shortest text: 0.1f32 is 0.1, not 0.100000001490116.
        DataType::Float32 => each!(Float32Type, |x: f32| if x.is_finite() {
            decimal::round_text(&format!("{x:e}"), scale)
        } else {
            Err(DecError::NotANumber)
        }),
        DataType::Float64 => each!(Float64Type, |x: f64| decimal::round_f64(x, scale)),
        DataType::Decimal128(_, s) => {
            let s = *s;
            for v in a.as_primitive::<Decimal128Type>().iter() {
                put(v.map(|x| {
                    decimal::rescale(x, s, scale).map_err(|e| (e, decimal::to_text(x, s)))
                }))?;
            }
        }
        DataType::Decimal256(_, s) => {
            let s = *s;
            for v in a.as_primitive::<Decimal256Type>().iter() {
                put(v.map(|x| {
                    x.to_i128()
                        .ok_or(DecError::Overflow)
                        .and_then(|x| decimal::rescale(x, s, scale))
                        .map_err(|e| (e, x.to_string()))
                }))?;
            }
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let t = arrow::compute::cast(a, &DataType::Utf8)?;
            for v in t.as_string::<i32>().iter() {
                put(v.map(|x| decimal::round_text(x, scale).map_err(|e| (e, x.to_string()))))?;
            }
        }
        other => return rule_err!("{what} applies to numbers and numeric text, not {other}"),
    }
    Ok(Arc::new(b.finish()))
}

impl ScalarUDFImpl for Round {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.on_invalid.name("sd_round", "sd_try_round")
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        plan_err!("sd_round's type depends on its scale argument")
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let scale = scale_of(args.scalar_arguments[1])?;
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Decimal128(38, scale as i8),
            true,
        )))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Decimal128(_, scale) = args.return_type() else {
            return exec_err!("sd_round returns a decimal");
        };
        let a = args.args[0].to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(to_decimal(
            &a,
            *scale as u32,
            "round",
            self.on_invalid,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Float64Array, StringArray};

    #[test]
    fn floats_decimals_and_text_round_alike() {
        let f: ArrayRef = Arc::new(Float64Array::from(vec![Some(2.675), None, Some(-0.125)]));
        let d: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(2675), None, Some(-125)])
                .with_precision_and_scale(10, 3)
                .unwrap(),
        );
        let t: ArrayRef = Arc::new(StringArray::from(vec![Some("2.675"), None, Some("-0.125")]));
        for a in [f, d, t] {
            let out = to_decimal(&a, 2, "round", OnInvalid::Error).unwrap();
            let out = out.as_primitive::<arrow::datatypes::Decimal128Type>();
            assert_eq!(
                (out.value(0), out.is_null(1), out.value(2)),
                (268, true, -13)
            );
        }
        let bad: ArrayRef = Arc::new(StringArray::from(vec!["n/a"]));
        assert_eq!(
            to_decimal(&bad, 2, "round", OnInvalid::Error)
                .unwrap_err()
                .strip_backtrace(),
            "External error: round: `n/a` is not a number"
        );
        // Lenient: NULL in its place, the others read.
        let bad: ArrayRef = Arc::new(StringArray::from(vec![Some("n/a"), Some("1.005")]));
        let out = to_decimal(&bad, 2, "round", OnInvalid::Null).unwrap();
        let out = out.as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!((out.is_null(0), out.value(1)), (true, 101));
    }
}
