//! Normalisation: the allowed differences between legacy and target, taken away before
//! anything is hashed or compared.
//!
//! Every rule is a DataFusion scalar function (one file each, implementing
//! `ScalarUDFImpl`) or a plain SQL expression, and [`functions`] lists them all so a
//! session registers them in one call. The rules a spec can name, and the SQL each
//! becomes, are in [`rules`]. The row hash and the digest aggregate live here too: they
//! are what the checks compare once values are normalised.

pub mod boolean;
pub mod canonical_json;
pub mod date;
pub mod decimal;
pub mod error;
pub mod local_to_utc;
pub mod map;
pub mod nfc;
pub mod numeric;
pub mod parse_timestamp;
pub mod round;
pub mod row_hash;
pub mod rules;
pub mod text;
pub mod trim;
pub mod truncate;
pub mod wrapping_sum;

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{AggregateUDF, ColumnarValue, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use error::{OnInvalid, RuleError};
pub use row_hash::ROW_HASH_VERSION;

/// Every snapdiff scalar function.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(trim::Trim::default())),
        Arc::new(ScalarUDF::new_from_impl(round::Round::default())),
        Arc::new(ScalarUDF::new_from_impl(numeric::Numeric::default())),
        Arc::new(ScalarUDF::new_from_impl(
            parse_timestamp::ParseTimestamp::default(),
        )),
        Arc::new(ScalarUDF::new_from_impl(local_to_utc::LocalToUtc::default())),
        Arc::new(ScalarUDF::new_from_impl(boolean::Bool::default())),
        Arc::new(ScalarUDF::new_from_impl(canonical_json::Json::default())),
        Arc::new(ScalarUDF::new_from_impl(row_hash::RowHash::default())),
        Arc::new(ScalarUDF::new_from_impl(text::Text::default())),
        Arc::new(ScalarUDF::new_from_impl(truncate::Truncate::default())),
        Arc::new(ScalarUDF::new_from_impl(date::Date::default())),
        Arc::new(ScalarUDF::new_from_impl(nfc::Nfc::default())),
        Arc::new(ScalarUDF::new_from_impl(map::Map::default())),
        // The lenient forms the entity views use: NULL for a value the rule cannot
        // read, which the views count as an invalid finding.
        Arc::new(ScalarUDF::new_from_impl(
            parse_timestamp::ParseTimestamp::lenient(),
        )),
        Arc::new(ScalarUDF::new_from_impl(local_to_utc::LocalToUtc::lenient())),
        Arc::new(ScalarUDF::new_from_impl(date::Date::lenient())),
        Arc::new(ScalarUDF::new_from_impl(boolean::Bool::lenient())),
        Arc::new(ScalarUDF::new_from_impl(canonical_json::Json::lenient())),
        Arc::new(ScalarUDF::new_from_impl(numeric::Numeric::lenient())),
        Arc::new(ScalarUDF::new_from_impl(round::Round::lenient())),
    ]
}

/// Every snapdiff aggregate function.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(AggregateUDF::new_from_impl(
        wrapping_sum::WrappingSum::default(),
    ))]
}

/// Register every snapdiff function in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    for f in functions() {
        ctx.register_udf(f.as_ref().clone());
    }
    for f in aggregate_functions() {
        ctx.register_udaf(f.as_ref().clone());
    }
}

/// `Utf8`, the type of a text-to-text rule, when `arg` is text (or NULL); else the
/// error of `what` (`nfc`) applied to another type.
fn text_result(arg: &DataType, what: &str) -> Result<DataType> {
    match arg {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
            Ok(DataType::Utf8)
        }
        other => error::rule_err!("{what} applies to text, not {other}"),
    }
}

/// A text-to-text rule over every value of a text argument, as a `Utf8` array: `f`
/// appends a value's result to the builder; NULL stays NULL.
fn map_text<F>(v: &ColumnarValue, rows: usize, mut f: F) -> Result<ColumnarValue>
where
    F: FnMut(&str, &mut arrow::array::StringBuilder),
{
    let mut b = arrow::array::StringBuilder::with_capacity(rows, 16 * rows);
    each_text(v, rows, |s| {
        match s {
            Some(s) => f(s, &mut b),
            None => b.append_null(),
        }
        Ok(())
    })?;
    Ok(ColumnarValue::Array(std::sync::Arc::new(b.finish())))
}

/// Call `f` on every value of a text argument (NULL as `None`), in order, whatever the
/// text's representation, without copying it first. Any other type (a number, a
/// NULL-typed column) is read as the text `CAST(x AS VARCHAR)` writes.
fn each_text(
    v: &ColumnarValue,
    rows: usize,
    mut f: impl FnMut(Option<&str>) -> Result<()>,
) -> Result<()> {
    use arrow::array::AsArray;
    let a = v.to_array(rows)?;
    match a.data_type() {
        DataType::Utf8View => a.as_string_view().iter().try_for_each(&mut f),
        DataType::Utf8 => a.as_string::<i32>().iter().try_for_each(&mut f),
        DataType::LargeUtf8 => a.as_string::<i64>().iter().try_for_each(&mut f),
        _ => arrow::compute::cast(&a, &DataType::Utf8)?
            .as_string::<i32>()
            .iter()
            .try_for_each(&mut f),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow::array::ArrayRef;
    use arrow::datatypes::Field;
    use datafusion::logical_expr::{ScalarFunctionArgs, ScalarUDFImpl};

    /// Call a scalar function on arrays.
    pub fn call(f: &dyn ScalarUDFImpl, args: Vec<ArrayRef>) -> ArrayRef {
        try_call(f, args).unwrap()
    }

    /// [`call`], with the function's error.
    pub fn try_call(
        f: &dyn ScalarUDFImpl,
        args: Vec<ArrayRef>,
    ) -> datafusion::common::Result<ArrayRef> {
        let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
        let rows = args[0].len();
        let ret = f.return_type(&types)?;
        let out = f.invoke_with_args(ScalarFunctionArgs {
            arg_fields: types
                .iter()
                .map(|t| Arc::new(Field::new("a", t.clone(), true)))
                .collect(),
            args: args.into_iter().map(ColumnarValue::Array).collect(),
            number_rows: rows,
            return_field: Arc::new(Field::new("r", ret, true)),
            config_options: Arc::new(Default::default()),
        })?;
        out.to_array(rows)
    }

    #[test]
    fn every_function_registers_under_its_name() {
        let ctx = SessionContext::new();
        register_all(&ctx);
        let names: Vec<String> = functions().iter().map(|f| f.name().to_string()).collect();
        let state = ctx.state();
        for n in &names {
            assert!(state.scalar_functions().contains_key(n), "{n}");
        }
        assert!(state.aggregate_functions().contains_key("sd_wrapping_sum"));
    }

    /// Functions that are not rules a spec names: the checks' own.
    const NOT_RULES: [&str; 2] = ["sd_row_hash", "sd_text"];

    #[test]
    fn every_rule_function_has_its_row_in_docs_spec_md() {
        let spec = include_str!("../../docs/spec.md");
        let start = spec
            .find("### Normalisation rules")
            .expect("the rules section");
        let rows: Vec<&str> = spec[start..]
            .lines()
            .skip_while(|l| !l.starts_with("| rule |"))
            .take_while(|l| l.starts_with('|'))
            .collect();
        for f in functions() {
            let name = f.name();
            if NOT_RULES.contains(&name) {
                continue;
            }
            assert!(
                rows.iter().any(|r| r.contains(&format!("`{name}`"))),
                "{name} has no row in the rules table of docs/spec.md"
            );
        }
    }
}
