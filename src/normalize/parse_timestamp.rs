//! `sd_parse_timestamp(text, format[, format...])`: wall-clock text parsed with chrono's
//! strftime formats, tried in order, into a microsecond timestamp without a zone. A
//! format with no time of day (`%d.%m.%Y`) gives midnight. Text matching no format is an
//! error that shows the value; NULL stays NULL (apply `empty_as_null` first for '').

use std::any::Any;
use std::sync::Arc;

use super::error::{rule_err, OnInvalid, RuleError};
use arrow::array::{ArrayRef, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{NaiveDate, NaiveDateTime};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::each_text;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ParseTimestamp {
    signature: Signature,
    on_invalid: OnInvalid,
}

impl Default for ParseTimestamp {
    fn default() -> Self {
        ParseTimestamp {
            signature: Signature::variadic_any(Volatility::Immutable),
            on_invalid: OnInvalid::Error,
        }
    }
}

impl ParseTimestamp {
    /// `sd_try_parse_timestamp`: NULL for a value it cannot read.
    pub fn lenient() -> Self {
        ParseTimestamp {
            on_invalid: OnInvalid::Null,
            ..Self::default()
        }
    }
}

/// The conversion specifiers of a strftime format, each as the text after its `%`
/// (`%%`, a literal percent sign, is none).
fn specifiers(format: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = format;
    while let Some(i) = rest.find('%') {
        let after = &rest[i + 1..];
        match after.strip_prefix('%') {
            Some(literal) => rest = literal,
            None => {
                out.push(after);
                rest = after;
            }
        }
    }
    out
}

/// Whether a format reads a UTC offset (`%z`, `%:z`, `%#z`, ... or `%+`): its values are
/// then instants, brought to UTC, and no `timezone` applies to them.
pub fn reads_offset(format: &str) -> bool {
    specifiers(format)
        .iter()
        .any(|s| s.starts_with('+') || s.trim_start_matches([':', '#']).starts_with('z'))
}

/// Whether a format reads a zone name (`%Z`), which chrono skips without reading an offset.
pub fn reads_zone_name(format: &str) -> bool {
    specifiers(format).iter().any(|s| s.starts_with('Z'))
}

/// A format compiled once, before any value is read: chrono's items (not the format
/// text parsed again for every value), whether it reads an offset, and, for a layout
/// of fixed-width numbers and literal characters only, that layout.
struct Format {
    /// `None` for a format chrono cannot read, which then matches nothing.
    items: Option<Vec<Item<'static>>>,
    offset: bool,
    fixed: Option<Fixed>,
}

/// Formats compiled once ([`Format`]), tried in order.
pub(crate) struct Formats(Vec<Format>);

impl Formats {
    pub(crate) fn new(formats: &[String]) -> Self {
        Formats(
            formats
                .iter()
                .map(|f| {
                    let offset = reads_offset(f);
                    Format {
                        items: StrftimeItems::new(f).parse_to_owned().ok(),
                        offset,
                        fixed: if offset { None } else { Fixed::compile(f) },
                    }
                })
                .collect(),
        )
    }

    /// `text` read with the first format that matches it whole.
    pub(crate) fn parse(&self, text: &str) -> Option<NaiveDateTime> {
        let t = text.trim();
        self.0.iter().find_map(|f| {
            // What the fixed layout reads, chrono reads alike; anything else (another
            // width, white space, a date that does not exist) is chrono's to decide.
            if let Some(dt) = f.fixed.as_ref().and_then(|x| x.parse(t)) {
                return Some(dt);
            }
            let mut parsed = Parsed::new();
            chrono::format::parse(&mut parsed, t, f.items.as_ref()?.iter()).ok()?;
            if f.offset {
                return parsed.to_datetime().ok().map(|d| d.naive_utc());
            }
            parsed.to_naive_datetime_with_offset(0).ok().or_else(|| {
                parsed
                    .to_naive_date()
                    .ok()
                    .map(|d| d.and_time(chrono::NaiveTime::MIN))
            })
        })
    }
}

/// A format made only of `%Y`, `%m`, `%d`, `%H`, `%M`, `%S` and literal characters other
/// than white space, read by position: `%Y-%m-%d %H:%M:%S` reads `2024-03-31 02:30:00` as
/// 19 bytes, 4 digits of year, `-`, 2 digits of month, and so on.
struct Fixed {
    len: usize,
    /// Each field's byte offset: year, month, day, hour, minute, second.
    at: [Option<usize>; 6],
    literals: Vec<(usize, u8)>,
}

impl Fixed {
    /// The layout of `format`, when it has one: a date (`%Y`, `%m`, `%d`, each once),
    /// with hours and minutes, and then seconds, or no time at all.
    fn compile(format: &str) -> Option<Fixed> {
        let mut fx = Fixed {
            len: 0,
            at: [None; 6],
            literals: Vec::new(),
        };
        let mut bytes = format.bytes();
        while let Some(b) = bytes.next() {
            if b != b'%' {
                if b.is_ascii_whitespace() || !b.is_ascii() {
                    // chrono reads a space in a format as any white space.
                    if b != b' ' {
                        return None;
                    }
                }
                fx.literals.push((fx.len, b));
                fx.len += 1;
                continue;
            }
            let (field, width) = match bytes.next()? {
                b'Y' => (0, 4),
                b'm' => (1, 2),
                b'd' => (2, 2),
                b'H' => (3, 2),
                b'M' => (4, 2),
                b'S' => (5, 2),
                _ => return None,
            };
            if fx.at[field].replace(fx.len).is_some() {
                return None;
            }
            fx.len += width;
        }
        let has = |i: usize| fx.at[i].is_some();
        let date = has(0) && has(1) && has(2);
        let time = matches!(
            (has(3), has(4), has(5)),
            (false, false, false) | (true, true, _)
        );
        (date && time).then_some(fx)
    }

    /// `text` read by the layout; `None` when it does not fit it exactly (chrono then
    /// decides).
    fn parse(&self, text: &str) -> Option<NaiveDateTime> {
        let b = text.as_bytes();
        if b.len() != self.len || self.literals.iter().any(|&(i, c)| b[i] != c) {
            return None;
        }
        let num = |field: usize, width: usize| -> Option<u32> {
            let Some(at) = self.at[field] else {
                return Some(0);
            };
            b[at..at + width].iter().try_fold(0u32, |n, d| {
                d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
            })
        };
        let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(1, 2)?, num(2, 2)?)?;
        // A second of 60 (a leap second) is left to chrono.
        date.and_hms_opt(num(3, 2)?, num(4, 2)?, num(5, 2)?)
    }
}

/// `text` read with the first of `formats` that matches it whole. A format with an
/// offset gives the UTC time.
pub fn parse(text: &str, formats: &[String]) -> Option<NaiveDateTime> {
    Formats::new(formats).parse(text)
}

/// Common ways of writing a timestamp as text, the plainest first: what
/// [`guess_timestamp_format`] tries.
const COMMON_TIMESTAMPS: [&str; 14] = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S%:z",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
];

/// Common ways of writing a date as text: what [`guess_date_format`] tries.
const COMMON_DATES: [&str; 7] = [
    "%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y%m%d",
];

/// The first common format that reads `text` whole as a timestamp (or, failing that, a
/// date): a guess to offer in a hint, from one value (`01/02/2024` reads as 1 February).
pub fn guess_timestamp_format(text: &str) -> Option<&'static str> {
    COMMON_TIMESTAMPS
        .into_iter()
        .chain(COMMON_DATES)
        .find(|f| parse(text, &[f.to_string()]).is_some())
}

/// The first common format that reads `text` whole as a date (or, failing that, a
/// timestamp), as [`guess_timestamp_format`].
pub fn guess_date_format(text: &str) -> Option<&'static str> {
    COMMON_DATES
        .into_iter()
        .chain(COMMON_TIMESTAMPS)
        .find(|f| parse(text, &[f.to_string()]).is_some())
}

impl ScalarUDFImpl for ParseTimestamp {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.on_invalid
            .name("sd_parse_timestamp", "sd_try_parse_timestamp")
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.len() < 2 {
            return rule_err!("sd_parse_timestamp (parse) takes the text and at least one format");
        }
        match args[0] {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
                Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
            }
            ref other => {
                rule_err!("parse applies to text, not {other}: the column is already typed")
            }
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let mut formats = Vec::new();
        for f in &args.args[1..] {
            match f {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(s))) => formats.push(s.clone()),
                _ => return rule_err!("parse formats must be text literals"),
            }
        }
        let prepared = Formats::new(&formats);
        let mut b = TimestampMicrosecondBuilder::with_capacity(args.number_rows);
        each_text(&args.args[0], args.number_rows, |v| {
            match v {
                None => b.append_null(),
                Some(t) => match prepared.parse(t) {
                    Some(dt) => b.append_value(dt.and_utc().timestamp_micros()),
                    None => self.on_invalid.value(
                        || b.append_null(),
                        RuleError::error(format!(
                            "parse: `{t}` matches none of the formats {}",
                            formats.join(", ")
                        )),
                    )?,
                },
            }
            Ok(())
        })?;
        Ok(ColumnarValue::Array(Arc::new(b.finish()) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_tried_in_order() {
        let f = vec!["%Y-%m-%d %H:%M:%S".to_string(), "%d.%m.%Y".to_string()];
        assert_eq!(
            parse("2024-03-31 02:30:00", &f).unwrap().to_string(),
            "2024-03-31 02:30:00"
        );
        assert_eq!(
            parse(" 31.03.2024 ", &f).unwrap().to_string(),
            "2024-03-31 00:00:00"
        );
        assert_eq!(parse("2024/03/31", &f), None);
    }

    #[test]
    fn common_formats_are_guessed_from_a_value() {
        assert_eq!(
            guess_timestamp_format("2009-01-01 00:00:00"),
            Some("%Y-%m-%d %H:%M:%S")
        );
        assert_eq!(
            guess_timestamp_format("2009-01-01T00:00:00.250"),
            Some("%Y-%m-%dT%H:%M:%S%.f")
        );
        assert_eq!(
            guess_timestamp_format("2009-01-01T00:00:00+02:00"),
            Some("%Y-%m-%dT%H:%M:%S%:z")
        );
        assert_eq!(guess_timestamp_format("31.03.2024"), Some("%d.%m.%Y"));
        assert_eq!(guess_date_format("2024-03-31"), Some("%Y-%m-%d"));
        assert_eq!(guess_date_format("31/03/2024"), Some("%d/%m/%Y"));
        assert_eq!(guess_date_format("03/31/2024"), Some("%m/%d/%Y"));
        assert_eq!(
            guess_date_format("2024-03-31 10:00:00"),
            Some("%Y-%m-%d %H:%M:%S")
        );
        assert_eq!(guess_timestamp_format("next Tuesday"), None);
    }

    #[test]
    fn fixed_layouts_read_what_chrono_reads() {
        let f = "%Y-%m-%d %H:%M:%S";
        assert!(Fixed::compile(f).is_some() && Fixed::compile("%d.%m.%Y").is_some());
        for none in [
            "%Y-%m-%d %H",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m",
            "%Y %Y-%m-%d",
            "%d\t%m %Y",
        ] {
            assert!(Fixed::compile(none).is_none(), "{none}");
        }
        // Each value read by the layout (where it fits) and by chrono alone agree.
        let chrono_only = |t: &str, f: &str| {
            NaiveDateTime::parse_from_str(t, f).ok().or_else(|| {
                NaiveDate::parse_from_str(t, f)
                    .ok()
                    .map(|d| d.and_time(chrono::NaiveTime::MIN))
            })
        };
        for (t, f) in [
            ("2024-03-31 02:30:00", f),
            ("2024-02-29 23:59:59", f),
            ("2023-02-29 10:00:00", f),
            ("2024-03-31 24:00:00", f),
            ("2016-12-31 23:59:60", f),
            ("2024-3-31 02:30:00", f),
            ("2024-03-31  02:30:00", f),
            ("2024-03-31\t02:30:00", f),
            ("2024-03-31 02:30", "%Y-%m-%d %H:%M"),
            ("31.03.2024", "%d.%m.%Y"),
            ("31.13.2024", "%d.%m.%Y"),
            ("+2024-03-31 02:30:00", f),
            ("2024-03-31 0a:30:00", f),
        ] {
            assert_eq!(parse(t, &[f.to_string()]), chrono_only(t, f), "{t} as {f}");
        }
        assert_eq!(
            Fixed::compile(f).unwrap().parse("2024-03-31 02:30:00"),
            chrono_only("2024-03-31 02:30:00", f)
        );
        assert_eq!(
            Fixed::compile(f).unwrap().parse("2016-12-31 23:59:60"),
            None
        );
    }

    #[test]
    fn offsets_give_utc() {
        let f = vec!["%Y-%m-%dT%H:%M:%S%:z".to_string()];
        assert_eq!(
            parse("2024-03-31T02:30:00+02:00", &f).unwrap().to_string(),
            "2024-03-31 00:30:00"
        );
        let plus = vec!["%+".to_string()];
        assert_eq!(
            parse("2024-03-31T02:30:00.5-01:00", &plus)
                .unwrap()
                .to_string(),
            "2024-03-31 03:30:00.500"
        );
        assert!(reads_offset("%Y %z") && reads_offset("%#z") && reads_offset("%::z"));
        assert!(!reads_offset("%Y-%m-%d %%z") && !reads_offset("%Y %Z"));
        assert!(reads_zone_name("%H %Z") && !reads_zone_name("%%Z"));
    }
}
