//! `sd_trim(text)`: text without leading and trailing white space, in Unicode's sense
//! (spaces, tabs, newlines, no-break spaces). SQL's `trim`/`btrim` remove only spaces.

use std::any::Any;

use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{map_text, text_result};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Trim {
    signature: Signature,
}

impl Default for Trim {
    fn default() -> Self {
        Trim {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Trim {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "sd_trim"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        text_result(&args[0], "sd_trim (trim)")
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_text(&args.args[0], args.number_rows, |v, b| {
            b.append_value(v.trim())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::tests::call;
    use arrow::array::{Array, ArrayRef, AsArray, StringArray};
    use std::sync::Arc;

    #[test]
    fn trims_unicode_white_space() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some(" \t a b\u{a0}\n"),
            None,
            Some(""),
        ]));
        let out = call(&Trim::default(), vec![a]);
        let s = out.as_string::<i32>();
        assert_eq!((s.value(0), s.is_null(1), s.value(2)), ("a b", true, ""));
    }
}
