//! How each column is brought to one type on both sides: exact casts only, or a schema
//! finding that says which rule to add.

use arrow::datatypes::{DataType, TimeUnit};

use crate::normalize::rules::lit;
use crate::snapshot::Side;

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
    t.is_integer()
        || t.is_floating()
        || matches!(t, DataType::Decimal128(_, _) | DataType::Decimal256(_, _))
}

pub(crate) fn is_date_or_timestamp(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

pub(crate) fn is_binary(t: &DataType) -> bool {
    use DataType::*;
    matches!(t, Binary | LargeBinary | BinaryView | FixedSizeBinary(_))
}

/// A type in the words of the people who know the sources, not Arrow's.
pub(crate) fn type_words(t: &DataType) -> String {
    use DataType::*;
    match t {
        Null => "nothing but NULL".into(),
        t if is_text(t) => "text".into(),
        t if is_binary(t) => "binary".into(),
        Boolean => "booleans".into(),
        t if t.is_signed_integer() => "integers".into(),
        t if t.is_unsigned_integer() => "unsigned integers".into(),
        t if t.is_floating() => "floating-point numbers".into(),
        Decimal128(p, s) | Decimal256(p, s) => {
            format!("decimals ({p} digits, {s} after the point)")
        }
        Date32 | Date64 => "dates".into(),
        Time32(_) | Time64(_) => "times of day".into(),
        Timestamp(_, None) => "wall-clock timestamps (no time zone)".into(),
        Timestamp(_, Some(_)) => "instants (timestamps with a time zone)".into(),
        Duration(_) | Interval(_) => "durations".into(),
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) | FixedSizeList(f, _) => {
            format!("lists of {}", type_words(f.data_type()))
        }
        Struct(_) => "records (structs)".into(),
        Map(_, _) => "maps".into(),
        Dictionary(_, v) => type_words(v),
        other => other.to_string().to_lowercase(),
    }
}

/// What to add to the side whose column is text (`text_side`) so that it compares with
/// the other side's dates or timestamps (`other`), with a format guessed from its first
/// value.
fn parse_advice(text_side: Side, other: &DataType, first: Option<&str>) -> String {
    use crate::normalize::parse_timestamp::{
        guess_date_format, guess_timestamp_format, reads_offset,
    };
    let other_side = match text_side {
        Side::Legacy => Side::Target,
        Side::Target => Side::Legacy,
    };
    let holds = format!(
        "{text_side} holds text and {other_side} {}",
        type_words(other)
    );
    let shown = first.map(|v| {
        let cut: String = v.chars().take(60).collect();
        if cut.len() < v.len() {
            format!("{cut}…")
        } else {
            cut
        }
    });
    let first_value = match &shown {
        Some(v) => format!("; first value: {v}"),
        None => " (the format its values are written in)".into(),
    };
    let date = matches!(other, DataType::Date32 | DataType::Date64);
    let guess = first.and_then(|v| {
        if date {
            guess_date_format(v)
        } else {
            guess_timestamp_format(v)
        }
    });
    let rules = match (date, guess) {
        (true, Some("%Y-%m-%d")) => "date = true".to_string(),
        (true, Some(f)) => format!("parse = \"{f}\", date = true"),
        (true, None) => "parse = \"<its format>\", date = true".to_string(),
        (false, f) => {
            let f = f.unwrap_or("<its format>");
            let zoned = matches!(other, DataType::Timestamp(_, Some(_)));
            if zoned && !reads_offset(f) {
                format!("parse = \"{f}\", timezone = \"<the zone its times were written in>\"")
            } else {
                format!("parse = \"{f}\"")
            }
        }
    };
    format!("{holds}: add {rules} to {text_side}{first_value}")
}

/// The one type a column takes on both sides, where no value can change. `first_text`
/// is the first value of a side whose column is text, when the other side's is not: a
/// format to parse it with is guessed from it.
pub(crate) fn harmonize(l: &DataType, r: &DataType, first_text: Option<&str>) -> Harmony {
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
        (a, b) if is_text(a) && is_date_or_timestamp(b) => {
            Harmony::Incomparable(parse_advice(Side::Legacy, b, first_text))
        }
        (a, b) if is_date_or_timestamp(a) && is_text(b) => {
            Harmony::Incomparable(parse_advice(Side::Target, a, first_text))
        }
        // Fixed-width bytes, which the row hash does not read, as plain binary.
        (FixedSizeBinary(_), b) | (b, FixedSizeBinary(_)) if is_binary(b) => Harmony::Cast(Binary),
        // Wide decimals at the larger scale; with a 128-bit decimal or an integer, too.
        (Decimal256(_, s1), Decimal256(_, s2)) => Harmony::Cast(Decimal256(76, *s1.max(s2))),
        (Decimal256(_, s1), Decimal128(_, s2)) | (Decimal128(_, s2), Decimal256(_, s1)) => {
            Harmony::Cast(Decimal256(76, *s1.max(s2)))
        }
        (Decimal256(_, s), i) | (i, Decimal256(_, s)) if i.is_integer() => {
            Harmony::Cast(Decimal256(76, *s))
        }
        (a, b) if a == b => Harmony::Keep,
        // Bytes of different representations as plain binary.
        (a, b) if is_binary(a) && is_binary(b) => Harmony::Cast(Binary),
        (Null, other) | (other, Null) => Harmony::Cast(other.clone()),
        (a, b) if is_text(a) && is_text(b) => Harmony::Cast(Utf8),
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
        (Boolean, _) | (_, Boolean) => Harmony::Incomparable(format!(
            "legacy holds {} and target {}: give both sides the `bool` rule",
            type_words(l),
            type_words(r)
        )),
        (a, b) if is_number(a) && is_text(b) || is_text(a) && is_number(b) => Harmony::Incomparable(format!(
            "legacy holds {} and target {}: give both sides the `numeric` rule to compare them as numbers",
            type_words(l),
            type_words(r)
        )),
        _ => Harmony::Incomparable(format!(
            "legacy holds {} and target {}, which cannot be compared: normalise them to one kind \
             (docs/spec.md lists the rules)",
            type_words(l),
            type_words(r)
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

    fn h(l: &DataType, r: &DataType) -> Harmony {
        harmonize(l, r, None)
    }

    #[test]
    fn text_against_dates_and_timestamps_says_which_rule_with_a_guessed_format() {
        use DataType::*;
        let advice = |l: &DataType, r: &DataType, first: Option<&str>| match harmonize(l, r, first)
        {
            Harmony::Incomparable(w) => w,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            advice(&Utf8View, &Timestamp(TimeUnit::Microsecond, None), Some("2009-01-01 00:00:00")),
            "legacy holds text and target wall-clock timestamps (no time zone): add parse = \"%Y-%m-%d %H:%M:%S\" to legacy; first value: 2009-01-01 00:00:00"
        );
        assert_eq!(
            advice(&Timestamp(TimeUnit::Second, Some("UTC".into())), &LargeUtf8, Some("2009-01-01T10:00:00")),
            "target holds text and legacy instants (timestamps with a time zone): add parse = \"%Y-%m-%dT%H:%M:%S\", timezone = \"<the zone its times were written in>\" to target; first value: 2009-01-01T10:00:00"
        );
        assert_eq!(
            advice(&Utf8, &Date32, Some("2024-03-31")),
            "legacy holds text and target dates: add date = true to legacy; first value: 2024-03-31"
        );
        assert_eq!(
            advice(&Utf8, &Date32, Some("31/03/2024")),
            "legacy holds text and target dates: add parse = \"%d/%m/%Y\", date = true to legacy; first value: 31/03/2024"
        );
        assert_eq!(
            advice(&Utf8, &Date64, None),
            "legacy holds text and target dates: add parse = \"<its format>\", date = true to legacy (the format its values are written in)"
        );
        // No Arrow type names in what a user reads.
        assert_eq!(
            advice(&Int64, &Boolean, None),
            "legacy holds integers and target booleans: give both sides the `bool` rule"
        );
        assert_eq!(
            advice(&Utf8View, &Time64(TimeUnit::Microsecond), None),
            "legacy holds text and target times of day, which cannot be compared: normalise them to one kind (docs/spec.md lists the rules)"
        );
    }

    #[test]
    fn types_harmonize_exactly_or_say_how_to_fix_them() {
        use DataType::*;
        assert_eq!(h(&Utf8, &Utf8View), Harmony::Cast(Utf8));
        assert_eq!(h(&Int64, &Int32), Harmony::Cast(Int64));
        assert_eq!(h(&Int64, &UInt64), Harmony::Cast(Decimal128(38, 0)));
        assert_eq!(
            h(&Decimal128(36, 18), &Decimal128(38, 12)),
            Harmony::Cast(Decimal128(38, 18))
        );
        assert_eq!(
            h(&Int64, &Decimal128(5, 2)),
            Harmony::Cast(Decimal128(38, 2))
        );
        assert_eq!(h(&Float64, &Decimal128(5, 2)), Harmony::Numeric);
        assert_eq!(h(&Float32, &Float64), Harmony::Float);
        assert_eq!(h(&Float16, &Float64), Harmony::Numeric);
        assert_eq!(h(&Float64, &Float64), Harmony::Float);
        assert_eq!(
            h(
                &Timestamp(TimeUnit::Nanosecond, None),
                &Timestamp(TimeUnit::Second, None)
            ),
            Harmony::Cast(Timestamp(TimeUnit::Microsecond, None))
        );
        assert_eq!(
            h(
                &Timestamp(TimeUnit::Second, Some("+02:00".into())),
                &Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            ),
            Harmony::Cast(Timestamp(TimeUnit::Microsecond, Some("UTC".into())))
        );
        assert_eq!(
            h(&Time32(TimeUnit::Second), &Time64(TimeUnit::Nanosecond)),
            Harmony::Cast(Time64(TimeUnit::Microsecond))
        );
        assert!(matches!(
            h(&Timestamp(TimeUnit::Microsecond, None), &Timestamp(TimeUnit::Microsecond, Some("UTC".into()))),
            Harmony::Incomparable(w) if w.contains("give legacy a `timezone` rule")
        ));
        assert!(
            matches!(h(&Int64, &Boolean), Harmony::Incomparable(w) if w.contains("`bool` rule"))
        );
        assert!(
            matches!(h(&Utf8, &Float64), Harmony::Incomparable(w) if w.contains("`numeric` rule"))
        );
    }
}
