//! `sd_map(x, from, to[, from, to...])`: enum values mapped, the `map` rule
//! (`map = { A = "active", D = "deleted" }`). The value is read as text (a number as
//! `CAST(x AS VARCHAR)` writes it); a value with a mapping becomes its mapped text, any
//! other is kept as its text, and NULL stays NULL. The same as `CASE CAST(x AS VARCHAR)
//! WHEN from THEN to ... ELSE CAST(x AS VARCHAR) END`, in one pass over the values with
//! no copy of those it keeps beyond the result's own.
//!
//! Text read from Parquet comes as views (`Utf8View`): then nothing is copied at all.
//! The result is views too, those of kept values the input's own (over the input's
//! buffers), those of mapped values made once per mapping (inline up to 12 bytes, else
//! over one small buffer of the mapped texts).

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, AsArray, StringViewArray};
use arrow::buffer::Buffer;
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
        Ok(match args[0] {
            DataType::Utf8View => DataType::Utf8View,
            _ => DataType::Utf8,
        })
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
        if args.arg_fields[0].data_type() == &DataType::Utf8View {
            let a = args.args[0].to_array(args.number_rows)?;
            let views = map_views(a.as_string_view(), &pairs);
            return Ok(ColumnarValue::Array(Arc::new(views)));
        }
        // The first mapping of a value counts, as the first matching WHEN does.
        let find = |v: &str| pairs.iter().find(|(from, _)| *from == v).map(|(_, to)| *to);
        map_text(&args.args[0], args.number_rows, |v, b| {
            b.append_value(find(v).unwrap_or(v))
        })
    }
}

/// [`Map`] over views: a kept value's view is copied as it is, a mapped value's is the
/// view made once for its mapping. A value of at most 12 bytes is its view (length and
/// bytes, zero-padded), so it is found by comparing views alone; a longer one by its
/// length and 4-byte prefix first, then its bytes.
fn map_views(a: &StringViewArray, pairs: &[(&str, &str)]) -> StringViewArray {
    use arrow::array::builder::make_view;
    // Mapped texts longer than 12 bytes live in one buffer after the input's.
    let block = a.data_buffers().len() as u32;
    let mut long = Vec::new();
    let mapped: Vec<(u128, u128)> = pairs
        .iter()
        .map(|(from, to)| {
            let offset = long.len() as u32;
            if to.len() > 12 {
                long.extend_from_slice(to.as_bytes());
            }
            // A `from` view is only compared: its block and offset are never read.
            (
                make_view(from.as_bytes(), 0, 0),
                make_view(to.as_bytes(), block, offset),
            )
        })
        .collect();
    // The low 64 bits of a view: its length, then its first 4 bytes.
    const HEAD: u128 = u64::MAX as u128;
    let views: Vec<u128> = a
        .views()
        .iter()
        .enumerate()
        .map(|(i, &view)| {
            // The first mapping of a value counts, as the first matching WHEN does. A
            // NULL's view is replaced or kept alike: the nulls say it is NULL.
            let hit = if view as u32 <= 12 {
                mapped.iter().position(|(from, _)| *from == view)
            } else {
                // A NULL's view may point anywhere: only a valid one is read.
                mapped.iter().zip(pairs).position(|((from, _), (text, _))| {
                    (from & HEAD) == (view & HEAD) && a.is_valid(i) && a.value(i) == *text
                })
            };
            hit.map_or(view, |p| mapped[p].1)
        })
        .collect();
    let mut buffers = a.data_buffers().to_vec();
    if !long.is_empty() {
        buffers.push(Buffer::from_vec(long));
    }
    // SAFETY: every view is the input's own (valid over the input's buffers, which are
    // kept in their places) or made by `make_view` from a `&str` over the buffer of
    // mapped texts, pushed last at index `block`; the nulls are the input's.
    unsafe { StringViewArray::new_unchecked(views.into(), buffers, a.nulls().cloned()) }
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

    /// Views in, views out: kept values (short and long) are the input's, mapped ones
    /// short (inline) and long (in the buffer of mapped texts), NULL stays NULL, the
    /// first mapping of a value counts; a slice of the input maps as its own values.
    #[test]
    fn views_map_without_copying_what_they_keep() {
        use arrow::array::StringViewArray;
        let long_kept = "a value longer than twelve bytes, kept";
        let input = StringViewArray::from(vec![
            Some("A"),
            Some("D"),
            None,
            Some(long_kept),
            Some("X"),
            Some("L"),
            Some("a long value to map: more than 12 bytes"),
            // Its length and first 4 bytes are those of the one above.
            Some("a long value to map: more than 12 byteS"),
        ]);
        let f = Map::default();
        assert_eq!(
            f.return_type(&[DataType::Utf8View, DataType::Utf8, DataType::Utf8])
                .unwrap(),
            DataType::Utf8View
        );
        let pairs = [
            "A",
            "active",
            "L",
            "a mapped text longer than twelve bytes",
            "A",
            "not this one",
            "a long value to map: more than 12 bytes",
            "short",
        ];
        let values = |a: &ArrayRef| -> Vec<Option<String>> {
            let s = a.as_string_view();
            (0..s.len())
                .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
                .collect()
        };
        let out = invoke(&f, Arc::new(input.clone()), &pairs);
        assert_eq!(out.data_type(), &DataType::Utf8View);
        assert_eq!(
            values(&out),
            [
                Some("active".into()),
                Some("D".into()),
                None,
                Some(long_kept.into()),
                Some("X".into()),
                Some("a mapped text longer than twelve bytes".into()),
                Some("short".into()),
                Some("a long value to map: more than 12 byteS".into()),
            ]
        );
        let sliced = invoke(&f, Arc::new(input.slice(3, 4)), &pairs);
        assert_eq!(
            values(&sliced),
            [
                Some(long_kept.into()),
                Some("X".into()),
                Some("a mapped text longer than twelve bytes".into()),
                Some("short".into()),
            ]
        );
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
