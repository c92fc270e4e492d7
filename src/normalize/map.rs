//! `sd_map(x, from, to[, from, to...])`: enum values mapped, the `map` rule
//! (`map = { A = "active", D = "deleted" }`). The value is read as text (a number as
//! `CAST(x AS VARCHAR)` writes it); a value with a mapping becomes its mapped text, any
//! other is kept as its text, and NULL stays NULL. The same as `CASE CAST(x AS VARCHAR)
//! WHEN from THEN to ... ELSE CAST(x AS VARCHAR) END`, in one pass over the values with
//! no copy of those it keeps beyond the result's own.

use std::any::Any;

use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::error::rule_err;
use super::map_text;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Map {
    signature: Signature,
}

impl Default for Map {
    fn default() -> Self {
        Map {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Map {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "sd_map"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.len() < 3 || args.len().is_multiple_of(2) {
            return rule_err!("sd_map (map) takes the value and pairs of texts: from, to");
        }
        if args[0].is_nested() {
            return rule_err!("map applies to text and numbers, not {}", args[0]);
        }
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for pair in args.args[1..].chunks(2) {
            match pair {
                [ColumnarValue::Scalar(ScalarValue::Utf8(Some(from))), ColumnarValue::Scalar(ScalarValue::Utf8(Some(to)))] => {
                    pairs.push((from, to))
                }
                _ => return rule_err!("map: the values mapped from and to must be text literals"),
            }
        }
        // The first mapping of a value counts, as the first matching WHEN does.
        let find = |v: &str| pairs.iter().find(|(from, _)| *from == v).map(|(_, to)| *to);
        map_text(&args.args[0], args.number_rows, |v, b| {
            b.append_value(find(v).unwrap_or(v))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn mapped_values_change_and_the_rest_are_kept_as_text() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("A"),
            Some("D"),
            Some("X"),
            None,
            Some("a"),
        ]));
        let f = Map::default();
        let r = f.return_type(&vec![DataType::Utf8; 5]).unwrap();
        assert_eq!(r, DataType::Utf8);
        let out = invoke(&f, text, &["A", "active", "D", "deleted"]);
        let s = out.as_string::<i32>();
        assert_eq!(
            (0..5)
                .map(|i| s.is_valid(i).then(|| s.value(i)))
                .collect::<Vec<_>>(),
            [Some("active"), Some("deleted"), Some("X"), None, Some("a")]
        );
        // Numbers are read as their text.
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let out = invoke(&f, ints, &["1", "one"]);
        let s = out.as_string::<i32>();
        assert_eq!((s.value(0), s.value(1)), ("one", "2"));
    }

    /// Call `f` on `values` with the `pairs` as literal scalars.
    fn invoke(f: &Map, values: ArrayRef, pairs: &[&str]) -> ArrayRef {
        use arrow::datatypes::Field;
        let rows = values.len();
        let mut args = vec![ColumnarValue::Array(values.clone())];
        args.extend(
            pairs
                .iter()
                .map(|p| ColumnarValue::Scalar(ScalarValue::Utf8(Some(p.to_string())))),
        );
        let fields = std::iter::once(values.data_type().clone())
            .chain(pairs.iter().map(|_| DataType::Utf8))
            .map(|t| Arc::new(Field::new("a", t, true)))
            .collect();
        f.invoke_with_args(ScalarFunctionArgs {
            arg_fields: fields,
            args,
            number_rows: rows,
            return_field: Arc::new(Field::new("r", DataType::Utf8, true)),
            config_options: Arc::new(Default::default()),
        })
        .unwrap()
        .to_array(rows)
        .unwrap()
    }
}
