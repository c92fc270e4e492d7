//! `sd_numeric(x)`: any number (integer, float, decimal, numeric text) as an exact
//! `Decimal128(38, 10)`, so that a legacy REAL, a target NUMERIC and a CSV's text compare
//! as numbers. Values with more than 10 decimals are rounded half away from zero.

use std::any::Any;

use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::error::OnInvalid;
use super::round::to_decimal;

/// The scale every numeric comparison is made at.
pub const NUMERIC_SCALE: u32 = 10;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Numeric {
    signature: Signature,
    on_invalid: OnInvalid,
}

impl Default for Numeric {
    fn default() -> Self {
        Numeric {
            signature: Signature::any(1, Volatility::Immutable),
            on_invalid: OnInvalid::Error,
        }
    }
}

impl Numeric {
    /// `sd_try_numeric`: NULL for a value it cannot read.
    pub fn lenient() -> Self {
        Numeric {
            on_invalid: OnInvalid::Null,
            ..Self::default()
        }
    }
}

impl ScalarUDFImpl for Numeric {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.on_invalid.name("sd_numeric", "sd_try_numeric")
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(38, NUMERIC_SCALE as i8))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = args.args[0].to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(to_decimal(
            &a,
            NUMERIC_SCALE,
            "numeric",
            self.on_invalid,
        )?))
    }
}
