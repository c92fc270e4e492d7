//! `sd_round(x, n)`: a number rounded to `n` decimals, half away from zero, as an exact
//! `Decimal128(38, n)`. Integers, floats (through their shortest round-trip text, so
//! 2.675 rounds to 2.68), decimals and numeric text are all accepted, so a REAL score and
//! a NUMERIC(5,2) score round to the same value.

use std::any::Any;
use std::sync::Arc;

use super::error::rule_err;
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
}

impl Default for Round {
    fn default() -> Self {
        Round {
            signature: Signature::any(2, Volatility::Immutable),
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
    if !(0..=30).contains(&n) {
        return rule_err!("sd_round (round) takes 0 to 30 decimals, not {n}");
    }
    Ok(n as u32)
}

/// Every value of `a` as an exact `Decimal128(38, scale)`, rounded half away from zero.
pub fn to_decimal(a: &ArrayRef, scale: u32, what: &str) -> Result<ArrayRef> {
    use arrow::datatypes::*;
    let mut b =
        Decimal128Builder::with_capacity(a.len()).with_precision_and_scale(38, scale as i8)?;
    let fail = |e: DecError, v: String| -> datafusion::error::DataFusionError {
        let why = match e {
            DecError::NotANumber => "is not a number",
            DecError::Overflow => "does not fit 38 digits",
        };
        super::RuleError::error(format!("{what}: `{v}` {why}"))
    };
    macro_rules! ints {
        ($t:ty) => {{
            for v in a.as_primitive::<$t>().iter() {
                match v {
                    None => b.append_null(),
                    Some(x) => b.append_value(
                        decimal::rescale(x as i128, 0, scale)
                            .map_err(|e| fail(e, x.to_string()))?,
                    ),
                }
            }
        }};
    }
    match a.data_type() {
        DataType::Null => b.append_nulls(a.len()),
        DataType::Int8 => ints!(Int8Type),
        DataType::Int16 => ints!(Int16Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::Int64 => ints!(Int64Type),
        DataType::UInt8 => ints!(UInt8Type),
        DataType::UInt16 => ints!(UInt16Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::UInt64 => ints!(UInt64Type),
        DataType::Float32 => {
            // Through the f32's own shortest text: 0.1f32 is 0.1, not 0.100000001490116.
            for v in a.as_primitive::<Float32Type>().iter() {
                match v {
                    None => b.append_null(),
                    Some(x) if !x.is_finite() => {
                        return Err(fail(DecError::NotANumber, format!("{x:?}")))
                    }
                    Some(x) => b.append_value(
                        decimal::round_text(&format!("{x:e}"), scale)
                            .map_err(|e| fail(e, format!("{x:?}")))?,
                    ),
                }
            }
        }
        DataType::Float64 => {
            for v in a.as_primitive::<Float64Type>().iter() {
                match v {
                    None => b.append_null(),
                    Some(x) => b.append_value(
                        decimal::round_f64(x, scale).map_err(|e| fail(e, format!("{x:?}")))?,
                    ),
                }
            }
        }
        DataType::Decimal128(_, s) => {
            for v in a.as_primitive::<Decimal128Type>().iter() {
                match v {
                    None => b.append_null(),
                    Some(x) => b.append_value(
                        decimal::rescale(x, *s, scale)
                            .map_err(|e| fail(e, decimal::to_text(x, *s)))?,
                    ),
                }
            }
        }
        DataType::Decimal256(_, s) => {
            for v in a.as_primitive::<Decimal256Type>().iter() {
                match v {
                    None => b.append_null(),
                    Some(x) => {
                        let r = x
                            .to_i128()
                            .ok_or(DecError::Overflow)
                            .and_then(|x| decimal::rescale(x, *s, scale));
                        b.append_value(r.map_err(|e| fail(e, x.to_string()))?)
                    }
                }
            }
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let t = arrow::compute::cast(a, &DataType::Utf8)?;
            for v in t.as_string::<i32>().iter() {
                match v {
                    None => b.append_null(),
                    Some(x) => b.append_value(
                        decimal::round_text(x, scale).map_err(|e| fail(e, x.to_string()))?,
                    ),
                }
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
        "sd_round"
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
            let out = to_decimal(&a, 2, "round").unwrap();
            let out = out.as_primitive::<arrow::datatypes::Decimal128Type>();
            assert_eq!(
                (out.value(0), out.is_null(1), out.value(2)),
                (268, true, -13)
            );
        }
        let bad: ArrayRef = Arc::new(StringArray::from(vec!["n/a"]));
        assert_eq!(
            to_decimal(&bad, 2, "round").unwrap_err().strip_backtrace(),
            "External error: round: `n/a` is not a number"
        );
    }
}
