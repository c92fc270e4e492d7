//! `sd_json(text)`: JSON in one canonical form, so that documents equal in content
//! compare equal: object keys sorted, no insignificant white space, and numbers equal in
//! value written alike (`1`, `1.0` and `1e0` are all `1`; `0.10` is `0.1`). Array order
//! is kept: it is significant. Text that is not JSON is an error that shows it.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

use super::text_arg;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Json {
    signature: Signature,
}

impl Default for Json {
    fn default() -> Self {
        Json {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// Numbers equal in value, written alike: integral values within ±2^53 as integers,
/// others in shortest round-trip form.
fn canonical_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                Value::Number(n)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                    Value::Number((f as i64).into())
                } else {
                    serde_json::Number::from_f64(f)
                        .map(Value::Number)
                        .unwrap_or(Value::Null)
                }
            }
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical_numbers).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, canonical_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The canonical text of a JSON document, or `None` if it is not JSON.
pub fn canonical(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    // serde_json's map is ordered by key: serialising sorts every object.
    serde_json::to_string(&canonical_numbers(v)).ok()
}

impl ScalarUDFImpl for Json {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "sd_json"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if matches!(
            args[0],
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) || args[0].is_null()
        {
            Ok(DataType::Utf8)
        } else {
            exec_err!("json applies to text, not {}", args[0])
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = text_arg(&args.args[0], args.number_rows)?;
        let mut b = StringBuilder::with_capacity(a.len(), 0);
        for v in a.as_string::<i32>().iter() {
            match v {
                None => b.append_null(),
                Some(t) => match canonical(t) {
                    Some(c) => b.append_value(c),
                    None => return exec_err!("json: `{t}` is not JSON"),
                },
            }
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish()) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_documents_have_one_text() {
        assert_eq!(
            canonical(r#"{"b": 1.0, "a": [3, {"z": 1, "y": 0.10}]}"#).unwrap(),
            r#"{"a":[3,{"y":0.1,"z":1}],"b":1}"#
        );
        assert_eq!(canonical("1e0").unwrap(), "1");
        assert_eq!(canonical("[2, 1]").unwrap(), "[2,1]");
        assert_eq!(
            canonical("12345678901234567890").unwrap(),
            "12345678901234567890"
        );
        assert_eq!(canonical("{nope"), None);
    }
}
