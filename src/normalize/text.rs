//! `sd_text(x)`: any value as the text a report shows, never failing.
//!
//! Arrow displays dates and times through chrono, which stops at the years -262143 and
//! 262142; PostgreSQL dates reach 5874897 AD. `CAST(x AS VARCHAR)` of such a value is an
//! error that would stop a whole verification over one far-future date, so reports
//! render values through [`value_text`]: Arrow's text where it has one, else the stored
//! number and its unit (`109000000 days since 1970-01-01`).

use std::any::Any;
use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `row` of `a` as text (`None` for NULL).
pub fn value_text(a: &dyn Array, row: usize) -> Option<String> {
    Texts::new(a).get(row)
}

/// The values of one array as text, through one formatter for all its rows.
pub struct Texts<'a> {
    a: &'a dyn Array,
    formatter: Option<ArrayFormatter<'a>>,
}

impl<'a> Texts<'a> {
    pub fn new(a: &'a dyn Array) -> Self {
        // Errors as errors (by default Arrow writes "ERROR: ..." into the text).
        let opts = FormatOptions::default().with_display_error(false);
        Texts {
            a,
            formatter: ArrayFormatter::try_new(a, &opts).ok(),
        }
    }

    /// `row` as text (`None` for NULL); bytes as [`binary_text`].
    pub fn get(&self, row: usize) -> Option<String> {
        if self.a.is_null(row) {
            return None;
        }
        if let Some(b) = bytes(self.a, row) {
            return Some(binary_text(b));
        }
        if let Some(f) = &self.formatter {
            let mut out = String::new();
            if write!(out, "{}", f.value(row)).is_ok() {
                return Some(out);
            }
        }
        Some(raw_text(self.a, row))
    }
}

/// Two byte strings as a report shows them: as [`binary_text`] when they are equal or
/// differ within the first 16 bytes, else each from 8 bytes before the first difference
/// (`0x(+141 bytes)…ababababababababab (150 bytes)` against
/// `0x(+141 bytes)…ababababababababff (150 bytes)`), so the difference shows.
pub fn binary_pair(a: &[u8], b: &[u8]) -> (String, String) {
    let at = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if at < SHOWN_BYTES || a == b {
        return (binary_text(a), binary_text(b));
    }
    let from = at - 8;
    let window = |v: &[u8]| {
        let to = v.len().min(from + SHOWN_BYTES);
        let more = if to < v.len() { "…" } else { "" };
        format!(
            "0x(+{} bytes)…{}{more} ({} bytes)",
            thousands(from as u64),
            hex::encode(&v[from.min(to)..to]),
            thousands(v.len() as u64)
        )
    };
    (window(a), window(b))
}

/// `row` of a binary array (of any binary type), else `None`.
pub fn bytes(a: &dyn Array, row: usize) -> Option<&[u8]> {
    use arrow::array::AsArray;
    match a.data_type() {
        DataType::Binary => Some(a.as_binary::<i32>().value(row)),
        DataType::LargeBinary => Some(a.as_binary::<i64>().value(row)),
        DataType::BinaryView => Some(a.as_binary_view().value(row)),
        DataType::FixedSizeBinary(_) => Some(a.as_fixed_size_binary().value(row)),
        _ => None,
    }
}

/// A value Arrow cannot display: its stored number and unit.
fn raw_text(a: &dyn Array, row: usize) -> String {
    let unit = match a.data_type() {
        DataType::Date32 => "days since 1970-01-01",
        DataType::Date64 => "milliseconds since 1970-01-01",
        DataType::Timestamp(u, _) | DataType::Time32(u) | DataType::Time64(u) => match u {
            TimeUnit::Second => "seconds since 1970-01-01",
            TimeUnit::Millisecond => "milliseconds since 1970-01-01",
            TimeUnit::Microsecond => "microseconds since 1970-01-01",
            TimeUnit::Nanosecond => "nanoseconds since 1970-01-01",
        },
        _ => "",
    };
    let one = a.slice(row, 1);
    match arrow::compute::cast(&one, &DataType::Int64) {
        Ok(n) if !unit.is_empty() && n.is_valid(0) => {
            let n = n.as_any().downcast_ref::<arrow::array::Int64Array>();
            match n {
                Some(n) => format!("{} {unit}", n.value(0)),
                None => format!("(a {} value)", a.data_type()),
            }
        }
        _ => format!("(a {} value that has no text)", a.data_type()),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Text {
    signature: Signature,
}

impl Default for Text {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Text {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "sd_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a: ArrayRef = args.args[0].to_array(args.number_rows)?;
        let mut b = StringBuilder::with_capacity(a.len(), a.len() * 8);
        let texts = Texts::new(a.as_ref());
        for row in 0..a.len() {
            b.append_option(texts.get(row));
        }
        let out: ArrayRef = Arc::new(b.finish());
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Int64Array, TimestampMicrosecondArray};

    #[test]
    fn values_beyond_chrono_show_their_number_and_unit() {
        let d = Date32Array::from(vec![Some(1), None, Some(109_000_000)]);
        assert_eq!(value_text(&d, 0).as_deref(), Some("1970-01-02"));
        assert_eq!(value_text(&d, 1), None);
        assert_eq!(
            value_text(&d, 2).as_deref(),
            Some("109000000 days since 1970-01-01")
        );
        let t = TimestampMicrosecondArray::from(vec![i64::MAX, -1]).with_timezone("UTC");
        assert_eq!(
            value_text(&t, 0).as_deref(),
            Some("9223372036854775807 microseconds since 1970-01-01")
        );
        assert_eq!(
            value_text(&t, 1).as_deref(),
            Some("1969-12-31T23:59:59.999999Z")
        );
        let n = Int64Array::from(vec![-5]);
        assert_eq!(value_text(&n, 0).as_deref(), Some("-5"));
    }
}

/// How a value is shown to a person so that no difference is invisible: NULL as `NULL`,
/// and text that is empty, has white space at either end, or holds a character one
/// cannot see (tabs, line breaks, no-break and zero-width spaces, control characters)
/// in double quotes with those characters escaped (`"Edinburgh "`, `"a\nb"`,
/// `"\u{a0}x"`, `""`). Inside quotes, `"` and `\` are escaped too; so is the text
/// `NULL`, quoted, against the NULL value. Any other text is shown as it is.
pub fn visible(v: Option<&str>) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let Some(s) = v else {
        return Cow::Borrowed("NULL");
    };
    if !needs_quotes(s) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(format!("\"{}\"", escape_invisible(s)))
}

/// Whether [`visible`] shows text `s` quoted: it is empty, `NULL`, has white space at
/// either end, or holds a character one cannot see.
pub fn needs_quotes(s: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(char::is_whitespace);
    s.is_empty()
        || s == "NULL"
        || edge(s.chars().next())
        || edge(s.chars().last())
        || s.chars().any(hidden)
        || !nfc_already(s)
}

/// Whether `s` is in Unicode NFC: text that is not (`e` and a combining accent) looks
/// the same as text that is, so [`visible`] escapes its combining marks.
fn nfc_already(s: &str) -> bool {
    super::nfc::nfc(s) == s
}

/// `s` with double quotes, backslashes, tabs, line breaks and the characters one cannot
/// see escaped, as [`visible`] writes text between its quotes.
pub fn escape_invisible(s: &str) -> String {
    let marks = !nfc_already(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if marks && unicode_normalization::char::is_combining_mark(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
            continue;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A character that shows as nothing, or as a plain space though it is not one.
fn hidden(c: char) -> bool {
    (c.is_whitespace() && c != ' ')
        || c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{ad}' | '\u{34f}'
        )
}

/// The longest value a report shows whole, in characters; the diff files always hold
/// values whole.
pub const SHOWN_CHARS: usize = 200;

/// How many characters a cut pair of differing values keeps before their first
/// difference.
pub const AROUND: usize = 40;

/// How many bytes of a binary value a report shows.
const SHOWN_BYTES: usize = 16;

/// `n` with thousands separators (`4,194,304`), as the human reports print counts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `s` as a report shows it: whole up to [`SHOWN_CHARS`], else its start and its whole
/// length (`…(4,194,304 characters in all)`), so that a long text or a blob does not
/// bury the report. The report layer cuts each value once (`report::mask`).
pub fn cut(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(SHOWN_CHARS) {
        None => std::borrow::Cow::Borrowed(s),
        Some((at, _)) => {
            let all = SHOWN_CHARS + s[at..].chars().count();
            std::borrow::Cow::Owned(format!(
                "{}…({} characters in all)",
                &s[..at],
                thousands(all as u64)
            ))
        }
    }
}

/// Two values as a report shows them: each whole up to [`SHOWN_CHARS`] (or cut from
/// the start when they are equal), else two that differ cut to the same window, from [`AROUND`] characters before their first difference
/// (`(+2,999,960 characters)…` says how many were left out before it) to
/// [`SHOWN_CHARS`] characters on, and the whole length after it.
pub fn cut_pair(a: &str, b: &str) -> (String, String) {
    let long = |s: &str| s.chars().nth(SHOWN_CHARS).is_some();
    if (!long(a) && !long(b)) || a == b {
        return (cut(a).into_owned(), cut(b).into_owned());
    }
    let start = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let from = start.saturating_sub(AROUND);
    let window = |s: &str| {
        let all = s.chars().count();
        let mut out = String::new();
        if from > 0 {
            out.push_str(&format!("(+{} characters)…", thousands(from as u64)));
        }
        out.extend(s.chars().skip(from).take(SHOWN_CHARS));
        if from + SHOWN_CHARS < all {
            out.push_str(&format!("…({} characters in all)", thousands(all as u64)));
        }
        out
    };
    (window(a), window(b))
}

/// Bytes as a report shows them: `0x` and the hex of the first 16, and the size
/// (`0x89504e470d0a1a0a0000000d49484452… (2,048 bytes)`).
pub fn binary_text(b: &[u8]) -> String {
    let head = hex::encode(&b[..b.len().min(SHOWN_BYTES)]);
    let more = if b.len() > SHOWN_BYTES { "…" } else { "" };
    let unit = if b.len() == 1 { "byte" } else { "bytes" };
    format!("0x{head}{more} ({} {unit})", thousands(b.len() as u64))
}

#[cfg(test)]
mod visible_tests {
    use super::visible;

    #[test]
    fn invisible_differences_are_shown() {
        for (v, shown) in [
            (None, "NULL"),
            (Some("NULL"), "\"NULL\""),
            (Some(""), "\"\""),
            (Some(" "), "\" \""),
            (Some("Edinburgh "), "\"Edinburgh \""),
            (Some("Edinburgh"), "Edinburgh"),
            (Some("a b"), "a b"),
            (Some("a\nb"), "\"a\\nb\""),
            (Some("a\tb"), "\"a\\tb\""),
            (Some("\u{a0}x"), "\"\\u{a0}x\""),
            (Some("x\u{200b}y"), "\"x\\u{200b}y\""),
            (Some("say \"hi\""), "say \"hi\""),
            (Some("a\\b\n"), "\"a\\\\b\\n\""),
            (Some("Café"), "Café"),
            (Some("Cafe\u{301}"), "\"Cafe\\u{301}\""),
        ] {
            assert_eq!(visible(v), shown, "{v:?}");
        }
    }

    #[test]
    fn long_values_are_cut_with_their_whole_length() {
        assert_eq!(super::cut("short"), "short");
        let long = "ab".repeat(150);
        let once = super::cut(&long);
        assert_eq!(
            once,
            format!("{}…(300 characters in all)", "ab".repeat(100))
        );
        // Multi-byte characters are counted as characters.
        let wide = "é".repeat(201);
        assert_eq!(
            super::cut(&wide),
            format!("{}…(201 characters in all)", "é".repeat(200))
        );
    }

    #[test]
    fn counts_have_thousands_separators() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (4_999_768, "4,999,768"),
        ] {
            assert_eq!(super::thousands(n), s);
        }
    }

    #[test]
    fn a_long_pair_is_cut_around_its_first_difference() {
        let a = format!("{}X{}", "a".repeat(3000), "b".repeat(1000));
        let b = format!("{}Y{}", "a".repeat(3000), "b".repeat(1000));
        let (ca, cb) = super::cut_pair(&a, &b);
        let window = |c: char| {
            format!(
                "(+2,960 characters)…{}{c}{}…(4,001 characters in all)",
                "a".repeat(40),
                "b".repeat(159)
            )
        };
        assert_eq!(ca, window('X'));
        assert_eq!(cb, window('Y'));
        let (x, y) = super::cut_pair(&a, &a);
        assert_eq!((x.as_str(), &y), (super::cut(&a).as_ref(), &x));
        // Short values stay whole; one long value of a pair cuts both from the start.
        assert_eq!(super::cut_pair("x", "y"), ("x".into(), "y".into()));
        let (l, s) = super::cut_pair(&"z".repeat(300), "z");
        assert_eq!(l, format!("{}…(300 characters in all)", "z".repeat(200)));
        assert_eq!(s, "z");
    }

    #[test]
    fn binary_shows_a_hex_prefix_and_its_size() {
        assert_eq!(super::binary_text(&[1]), "0x01 (1 byte)");
        assert_eq!(super::binary_text(&[]), "0x (0 bytes)");
        assert_eq!(
            super::binary_text(&[0xab; 2048]),
            format!("0x{}… (2,048 bytes)", "ab".repeat(16))
        );
        let a = vec![0xab; 150];
        let mut b = a.clone();
        b[149] = 0xff;
        assert_eq!(
            super::binary_pair(&a, &b),
            (
                format!("0x(+141 bytes)…{} (150 bytes)", "ab".repeat(9)),
                format!("0x(+141 bytes)…{}ff (150 bytes)", "ab".repeat(8))
            )
        );
        assert_eq!(super::binary_pair(&a, &a).0, super::binary_text(&a));
        assert_eq!(
            super::binary_pair(&[1, 2], &[1, 3]),
            ("0x0102 (2 bytes)".into(), "0x0103 (2 bytes)".into())
        );
    }
}
