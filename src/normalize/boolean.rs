//! `sd_bool(x)`: the many spellings of a boolean as one: `1`/`0`, `t`/`f`,
//! `true`/`false`, `y`/`n`, `yes`/`no` (any case, surrounding white space ignored), the
//! integers 1 and 0, and booleans themselves. Anything else is an error that shows it.

use std::any::Any;
use std::sync::Arc;

use super::each_text;
use super::error::{rule_err, OnInvalid, RuleError};
use arrow::array::{Array, ArrayRef, BooleanBuilder};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Bool {
    signature: Signature,
    on_invalid: OnInvalid,
}

impl Default for Bool {
    fn default() -> Self {
        Bool {
            signature: Signature::any(1, Volatility::Immutable),
            on_invalid: OnInvalid::Error,
        }
    }
}

impl Bool {
    /// `sd_try_bool`: NULL for a value it cannot read.
    pub fn lenient() -> Self {
        Bool {
            on_invalid: OnInvalid::Null,
            ..Self::default()
        }
    }
}

/// A spelling of a boolean, or `None`.
pub fn parse(text: &str) -> Option<bool> {
    const TRUE: [&str; 5] = ["1", "t", "true", "y", "yes"];
    const FALSE: [&str; 5] = ["0", "f", "false", "n", "no"];
    let t = text.trim();
    let is = |words: [&str; 5]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
    if is(TRUE) {
        Some(true)
    } else if is(FALSE) {
        Some(false)
    } else {
        None
    }
}

impl ScalarUDFImpl for Bool {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.on_invalid.name("sd_bool", "sd_try_bool")
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args[0].is_integer()
            || args[0].is_null()
            || matches!(args[0], DataType::Boolean)
            || matches!(
                args[0],
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        {
            Ok(DataType::Boolean)
        } else {
            rule_err!(
                "bool applies to booleans, integers and text, not {}",
                args[0]
            )
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = args.args[0].to_array(args.number_rows)?;
        if a.data_type() == &DataType::Boolean {
            return Ok(ColumnarValue::Array(a));
        }
        // Integers are read as their text (1 and 0).
        let mut b = BooleanBuilder::with_capacity(args.number_rows);
        each_text(&ColumnarValue::Array(a), args.number_rows, |v| {
            match v {
                None => b.append_null(),
                Some(s) => match parse(s) {
                    Some(x) => b.append_value(x),
                    None => self.on_invalid.value(
                        || b.append_null(),
                        RuleError::error(format!(
                            "bool: `{s}` is not a boolean (1/0, t/f, true/false, y/n, yes/no)"
                        )),
                    )?,
                },
            }
            Ok(())
        })?;
        Ok(ColumnarValue::Array(Arc::new(b.finish()) as ArrayRef))
    }
}
