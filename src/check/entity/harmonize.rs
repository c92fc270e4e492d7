//! How each column is brought to one type on both sides: exact casts only, or a schema
//! finding that says which rule to add.

use arrow::datatypes::{DataType, TimeUnit};

use crate::normalize::rules::lit;

/// How a column is brought to one type on both sides.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Harmony {
    /// Both kept as they are.
    Keep,
    /// Both cast, exactly, to this type.
    Cast(DataType),
    /// Floats: both as Float64 (a Float32 through its shortest text), with -0.0 read
    /// as 0.0 and every NaN as one.
    Float,
    /// Both compared as exact decimals at scale 10 (`sd_numeric`).
    Numeric,
    Incomparable(String),
}

pub(crate) fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

pub(crate) fn is_number(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(_, _))
}

/// The one type a column takes on both sides, where no value can change.
pub(crate) fn harmonize(l: &DataType, r: &DataType) -> Harmony {
    use DataType::*;
    // Timestamps and times at microseconds, as the row hash (v1) encodes them: a finer
    // unit would let the diff see differences the digests cannot.
    let ts = |tz: &Option<std::sync::Arc<str>>| {
        Timestamp(TimeUnit::Microsecond, tz.as_ref().map(|_| "UTC".into()))
    };
    match (l, r) {
        // Same kinds, canonical representations: instants in UTC.
        (Timestamp(_, a), Timestamp(_, b)) if a.is_some() == b.is_some() => Harmony::Cast(ts(a)),
        (Timestamp(_, None), Timestamp(_, Some(_))) => {
            Harmony::Incomparable("legacy holds wall-clock times and target instants: give legacy a `timezone` rule".into())
        }
        (Timestamp(_, Some(_)), Timestamp(_, None)) => {
            Harmony::Incomparable("legacy holds instants and target wall-clock times: give target a `timezone` rule".into())
        }
        (Time32(_) | Time64(_), Time32(_) | Time64(_)) => Harmony::Cast(Time64(TimeUnit::Microsecond)),
        (Date32 | Date64, Date32 | Date64) => Harmony::Cast(Date32),
        (Float32 | Float64, Float32 | Float64) => Harmony::Float,
        (a, b) if a == b => Harmony::Keep,
        (Null, other) | (other, Null) => Harmony::Cast(other.clone()),
        (a, b) if is_text(a) && is_text(b) => Harmony::Cast(Utf8),
        (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => Harmony::Cast(Binary),
        // Numbers: exact where a common type exists, else exact decimals at scale 10.
        (a, b) if a.is_integer() && b.is_integer() => {
            if *a == UInt64 || *b == UInt64 {
                Harmony::Cast(Decimal128(38, 0))
            } else {
                Harmony::Cast(Int64)
            }
        }
        (Decimal128(_, s1), Decimal128(_, s2)) => Harmony::Cast(Decimal128(38, *s1.max(s2))),
        (Decimal128(_, s), i) | (i, Decimal128(_, s)) if i.is_integer() => Harmony::Cast(Decimal128(38, *s)),
        (a, b) if is_number(a) && is_number(b) => Harmony::Numeric,
        (Boolean, _) | (_, Boolean) => {
            Harmony::Incomparable(format!("legacy {l} and target {r} differ: give both sides the `bool` rule"))
        }
        (a, b) if is_number(a) && is_text(b) || is_text(a) && is_number(b) => Harmony::Incomparable(format!(
            "legacy {l} and target {r} differ: give both sides the `numeric` rule to compare them as numbers"
        )),
        _ => Harmony::Incomparable(format!(
            "legacy {} and target {} cannot be compared: normalise them to one type",
            crate::snapshot::manifest::type_name(l),
            crate::snapshot::manifest::type_name(r)
        )),
    }
}

/// `expr` (of type `from`) brought to the column's one type.
pub(crate) fn wrap(expr: &str, h: &Harmony, from: &DataType) -> String {
    match h {
        Harmony::Keep | Harmony::Incomparable(_) => expr.to_string(),
        Harmony::Cast(t) => format!("arrow_cast({expr}, {})", lit(&t.to_string())),
        Harmony::Float => {
            // A Float32 through its shortest text, so 0.1f32 becomes 0.1, not
            // 0.10000000149011612 (against a Float64 0.1 it must be equal).
            let v = if *from == DataType::Float32 {
                format!("arrow_cast(arrow_cast({expr}, 'Utf8'), 'Float64')")
            } else {
                format!("arrow_cast({expr}, 'Float64')")
            };
            // DataFusion compares floats by total order (-0.0 = 0 is false): test abs().
            format!("CASE WHEN isnan({v}) THEN arrow_cast('NaN', 'Float64') WHEN abs({v}) = 0 THEN arrow_cast(0, 'Float64') ELSE {v} END")
        }
        Harmony::Numeric => format!("sd_numeric({expr})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_harmonize_exactly_or_say_how_to_fix_them() {
        use DataType::*;
        assert_eq!(harmonize(&Utf8, &Utf8View), Harmony::Cast(Utf8));
        assert_eq!(harmonize(&Int64, &Int32), Harmony::Cast(Int64));
        assert_eq!(harmonize(&Int64, &UInt64), Harmony::Cast(Decimal128(38, 0)));
        assert_eq!(
            harmonize(&Decimal128(36, 18), &Decimal128(38, 12)),
            Harmony::Cast(Decimal128(38, 18))
        );
        assert_eq!(
            harmonize(&Int64, &Decimal128(5, 2)),
            Harmony::Cast(Decimal128(38, 2))
        );
        assert_eq!(harmonize(&Float64, &Decimal128(5, 2)), Harmony::Numeric);
        assert_eq!(harmonize(&Float32, &Float64), Harmony::Float);
        assert_eq!(harmonize(&Float16, &Float64), Harmony::Numeric);
        assert_eq!(harmonize(&Float64, &Float64), Harmony::Float);
        assert_eq!(
            harmonize(
                &Timestamp(TimeUnit::Nanosecond, None),
                &Timestamp(TimeUnit::Second, None)
            ),
            Harmony::Cast(Timestamp(TimeUnit::Microsecond, None))
        );
        assert_eq!(
            harmonize(
                &Timestamp(TimeUnit::Second, Some("+02:00".into())),
                &Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            ),
            Harmony::Cast(Timestamp(TimeUnit::Microsecond, Some("UTC".into())))
        );
        assert_eq!(
            harmonize(&Time32(TimeUnit::Second), &Time64(TimeUnit::Nanosecond)),
            Harmony::Cast(Time64(TimeUnit::Microsecond))
        );
        assert!(matches!(
            harmonize(&Timestamp(TimeUnit::Microsecond, None), &Timestamp(TimeUnit::Microsecond, Some("UTC".into()))),
            Harmony::Incomparable(w) if w.contains("give legacy a `timezone` rule")
        ));
        assert!(
            matches!(harmonize(&Int64, &Boolean), Harmony::Incomparable(w) if w.contains("`bool` rule"))
        );
        assert!(
            matches!(harmonize(&Utf8, &Float64), Harmony::Incomparable(w) if w.contains("`numeric` rule"))
        );
    }
}
