//! `sd_json(text)`: JSON in one canonical form, so that documents equal in content
//! compare equal: object keys sorted, no insignificant white space, and numbers equal in
//! value written alike (`1`, `1.0` and `1e0` are all `1`; `0.10` is `0.1`). Array order
//! is kept: it is significant. Text that is not JSON is an error that shows it.

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use super::error::{rule_err, OnInvalid, RuleError};
use arrow::array::{ArrayRef, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::each_text;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Json {
    signature: Signature,
    on_invalid: OnInvalid,
}

impl Default for Json {
    fn default() -> Self {
        Json {
            signature: Signature::any(1, Volatility::Immutable),
            on_invalid: OnInvalid::Error,
        }
    }
}

impl Json {
    /// `sd_try_json`: NULL for a value it cannot read.
    pub fn lenient() -> Self {
        Json {
            on_invalid: OnInvalid::Null,
            ..Self::default()
        }
    }
}

/// The canonical text of a JSON document, or `None` if it is not JSON.
///
/// A small parser of its own, because a JSON number is exact text: parsing into `f64`
/// (as `serde_json::Value` does for non-integers) would make `0.30000000000000001` and
/// `0.3` one number, and an integer beyond 2^64 a float.
pub fn canonical(text: &str) -> Option<String> {
    canonical_or_why(text).ok()
}

/// The canonical text of a JSON document, or why there is none: `Err(true)` when it
/// nests deeper than [`MAX_DEPTH`], `Err(false)` when it is not JSON.
fn canonical_or_why(text: &str) -> std::result::Result<String, bool> {
    let mut out = String::with_capacity(text.len());
    canonical_into(text, &mut out, &mut Scratch::default()).map(|()| out)
}

/// [`canonical_or_why`] into `out`, which is cleared first, with `scratch` for the
/// parser's working space (one of each for many values: no allocation per value).
fn canonical_into(
    text: &str,
    out: &mut String,
    scratch: &mut Scratch,
) -> std::result::Result<(), bool> {
    out.clear();
    // What a value that was not JSON left behind.
    scratch.members.clear();
    scratch.keys.clear();
    let mut p = Parser {
        text,
        s: text.as_bytes(),
        i: 0,
        depth: 0,
        too_deep: false,
        scratch,
    };
    let done = p.value(out).is_some() && {
        p.ws();
        p.i == p.s.len()
    };
    if done {
        Ok(())
    } else {
        Err(p.too_deep)
    }
}

/// A value as an error shows it, quoted: whole when short, else its first 60 characters
/// and its size (a document of megabytes must not become an error of megabytes).
fn excerpt(text: &str) -> String {
    const SHOWN: usize = 60;
    match text.char_indices().nth(SHOWN) {
        None => format!("`{text}`"),
        Some((cut, _)) => format!("`{}…` ({} bytes)", &text[..cut], text.len()),
    }
}

/// serde_json's limit on nesting, kept so that a deep document is an error, not a crash.
const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
    depth: usize,
    /// The document nests deeper than [`MAX_DEPTH`].
    too_deep: bool,
    scratch: &'a mut Scratch,
}

/// The parser's working space, kept from one value to the next.
#[derive(Default)]
struct Scratch {
    /// The members of the objects being read, the innermost object's last.
    members: Vec<Member>,
    /// The decoded keys that had escapes (the others are read where they stand).
    keys: String,
    /// An object's members as written, while they are put in order.
    written: String,
}

/// One member of an object: its decoded key (a range of the document, or of
/// [`Scratch::keys`] when `escaped`) and where `"key":value` is in the output.
struct Member {
    escaped: bool,
    key: std::ops::Range<usize>,
    text: std::ops::Range<usize>,
}

impl Member {
    /// The decoded key's bytes, from the document `text` or the escaped `keys`. UTF-8
    /// bytes sort as their characters do, and no character boundary is checked.
    #[inline]
    fn key_in<'k>(&self, text: &'k [u8], keys: &'k [u8]) -> &'k [u8] {
        if self.escaped {
            &keys[self.key.clone()]
        } else {
            &text[self.key.clone()]
        }
    }
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        let hit = self.s.get(self.i) == Some(&c);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn literal(&mut self, word: &str, out: &mut String) -> Option<()> {
        self.s[self.i..].starts_with(word.as_bytes()).then(|| {
            self.i += word.len();
            out.push_str(word);
        })
    }

    fn value(&mut self, out: &mut String) -> Option<()> {
        self.ws();
        match *self.s.get(self.i)? {
            b'{' => self.object(out),
            b'[' => self.array(out),
            b'"' => {
                let text = self.string()?;
                push_decoded(out, &text)
            }
            b't' => self.literal("true", out),
            b'f' => self.literal("false", out),
            b'n' => self.literal("null", out),
            _ => self.number(out),
        }
    }

    fn nest(&mut self) -> Option<()> {
        self.i += 1;
        self.depth += 1;
        self.too_deep |= self.depth > MAX_DEPTH;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// An object, its members written as they come (`"key":value`), then put in order
    /// of their keys where they were not already.
    fn object(&mut self, out: &mut String) -> Option<()> {
        self.nest()?;
        let open = out.len();
        out.push('{');
        // This object's members are those from `base` on.
        let base = self.scratch.members.len();
        if !self.eat(b'}') {
            loop {
                self.ws();
                if self.s.get(self.i) != Some(&b'"') {
                    return None;
                }
                let quote = self.i;
                let key = self.string()?;
                if self.scratch.members.len() > base {
                    out.push(',');
                }
                let start = out.len();
                push_decoded(out, &key)?;
                let (escaped, key) = match key {
                    Cow::Borrowed(_) => (false, quote + 1..self.i - 1),
                    Cow::Owned(k) => {
                        let keys = &mut self.scratch.keys;
                        keys.push_str(&k);
                        (true, keys.len() - k.len()..keys.len())
                    }
                };
                if !self.eat(b':') {
                    return None;
                }
                out.push(':');
                self.value(out)?;
                self.scratch.members.push(Member {
                    escaped,
                    key,
                    text: start..out.len(),
                });
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
            }
        }
        self.depth -= 1;
        let Scratch {
            members,
            keys,
            written,
        } = &mut *self.scratch;
        let (text, keys) = (self.s, keys.as_bytes());
        let key = |m: &Member| m.key_in(text, keys);
        let these = &mut members[base..];
        if these.windows(2).any(|w| key(&w[0]) >= key(&w[1])) {
            // Sorted by key; of a repeated key the last value counts, as in most
            // readers: reversed, then sorted stably, the last comes first.
            written.clear();
            written.push_str(&out[open..]);
            these.reverse();
            these.sort_by(|a, b| key(a).cmp(key(b)));
            out.truncate(open + 1);
            let mut previous: Option<&[u8]> = None;
            for m in these.iter() {
                if previous == Some(key(m)) {
                    continue;
                }
                if previous.is_some() {
                    out.push(',');
                }
                previous = Some(key(m));
                out.push_str(&written[m.text.start - open..m.text.end - open]);
            }
        }
        members.truncate(base);
        out.push('}');
        Some(())
    }

    fn array(&mut self, out: &mut String) -> Option<()> {
        self.nest()?;
        out.push('[');
        if !self.eat(b']') {
            loop {
                self.value(out)?;
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
                out.push(',');
            }
        }
        self.depth -= 1;
        out.push(']');
        Some(())
    }

    /// A string token, decoded: borrowed as it stands when it has no escape and no
    /// control character (then it needs none when written), else owned, with its escapes
    /// resolved (validated by serde_json).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        let body = start + 1;
        let stop = self.s[body..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if self.s[body + stop] == b'"' {
            self.i = body + stop + 1;
            // Both ends are ASCII bytes of the text: whole characters.
            return Some(Cow::Borrowed(&self.text[body..body + stop]));
        }
        let mut j = body + stop;
        loop {
            match *self.s.get(j)? {
                b'"' => break,
                b'\\' => j += 2,
                _ => j += 1,
            }
        }
        self.i = j + 1;
        serde_json::from_slice::<String>(&self.s[start..self.i])
            .ok()
            .map(Cow::Owned)
    }

    /// A number token in canonical form (see [`canonical_number`]).
    fn number(&mut self, out: &mut String) -> Option<()> {
        let start = self.i;
        while matches!(
            self.s.get(self.i),
            Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        ) {
            self.i += 1;
        }
        // Both ends are ASCII bytes of the text (or its end): whole characters.
        let token = &self.text[start..self.i];
        // An integer without leading zeros (and not `-0`) is its own canonical form.
        let digits = token.strip_prefix('-').unwrap_or(token);
        let canonical_integer = !digits.is_empty()
            && digits.bytes().all(|c| c.is_ascii_digit())
            && (digits == "0" && digits.len() == token.len() || !digits.starts_with('0'));
        if canonical_integer {
            out.push_str(token);
        } else {
            out.push_str(&canonical_number(token)?);
        }
        Some(())
    }
}

/// A string as [`Parser::string`] decoded it, written as serde_json writes it: a
/// borrowed one has nothing to escape.
#[allow(clippy::ptr_arg)] // Whether it is borrowed says whether it needs escaping.
fn push_decoded(out: &mut String, text: &Cow<'_, str>) -> Option<()> {
    match text {
        Cow::Borrowed(plain) => {
            out.push('"');
            out.push_str(plain);
            out.push('"');
            Some(())
        }
        Cow::Owned(decoded) => push_string(out, decoded),
    }
}

/// `text` as a JSON string, as serde_json writes it: quoted, and only `"`, `\` and
/// control characters escaped.
fn push_string(out: &mut String, text: &str) -> Option<()> {
    if text.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(text).ok()?);
    }
    Some(())
}

/// A JSON number written so that numbers equal in value have one text, exactly (no
/// rounding): no sign on zero, no leading or trailing zeros, and plain notation (`1500`,
/// `0.015`) unless that would need more than 21 zeros, then `1.5e+30` style.
fn canonical_number(token: &str) -> Option<String> {
    let b = token.as_bytes();
    let (neg, rest) = match b.first()? {
        b'-' => (true, &token[1..]),
        _ => (false, token),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (mantissa, None),
    };
    // JSON's grammar: an integer part without leading zeros, a non-empty fraction and
    // exponent when present.
    let digits_only = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    if !digits_only(int) || (int.len() > 1 && int.starts_with('0')) {
        return None;
    }
    if frac.is_some_and(|f| !digits_only(f)) {
        return None;
    }
    let exp: i64 = match exp {
        None => 0,
        Some(e) => {
            let d = e.strip_prefix(['+', '-']).unwrap_or(e);
            if !digits_only(d) {
                return None;
            }
            // An exponent beyond ±2^61 is out of any reader's range: not canonicalised.
            let mag: i64 = d.parse().ok().filter(|m| *m < i64::MAX / 4)?;
            if e.starts_with('-') {
                -mag
            } else {
                mag
            }
        }
    };
    // value = 0.DIGITS × 10^point, DIGITS without leading or trailing zeros.
    let all: String = int.chars().chain(frac.unwrap_or("").chars()).collect();
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0');
    if digits.is_empty() {
        return Some("0".into());
    }
    let point = int.len() as i64 - lead as i64 + exp;
    let sign = if neg { "-" } else { "" };
    let n = digits.len() as i64;
    Some(if point >= n && point - n <= 21 {
        // An integer: digits then zeros.
        format!("{sign}{digits}{}", "0".repeat((point - n) as usize))
    } else if point > 0 && point < n {
        format!(
            "{sign}{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    } else if (-21..=0).contains(&point) {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else {
        let (first, more) = digits.split_at(1);
        let e = point - 1;
        let dot = if more.is_empty() { "" } else { "." };
        format!(
            "{sign}{first}{dot}{more}e{}{e}",
            if e >= 0 { "+" } else { "" }
        )
    })
}

impl ScalarUDFImpl for Json {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.on_invalid.name("sd_json", "sd_try_json")
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
            rule_err!("json applies to text, not {}", args[0])
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let mut b = StringBuilder::with_capacity(args.number_rows, 0);
        // One buffer for every value's canonical text, one working space.
        let mut text = String::new();
        let mut scratch = Scratch::default();
        each_text(&args.args[0], args.number_rows, |v| {
            match v {
                None => b.append_null(),
                Some(t) => match canonical_into(t, &mut text, &mut scratch) {
                    Ok(()) => b.append_value(&text),
                    Err(deep) => {
                        let why = if deep {
                            format!(
                                "json: {} is nested deeper than {MAX_DEPTH} levels",
                                excerpt(t)
                            )
                        } else {
                            format!("json: {} is not JSON", excerpt(t))
                        };
                        self.on_invalid
                            .value(|| b.append_null(), RuleError::error(why))?
                    }
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

    #[test]
    fn numbers_are_exact() {
        let c = |t: &str| canonical(t).unwrap();
        // Distinct values stay distinct, however close.
        assert_eq!(c("0.30000000000000001"), "0.30000000000000001");
        assert_ne!(c("0.30000000000000001"), c("0.3"));
        assert_eq!(
            c("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
        assert_eq!(c("1e21"), "1000000000000000000000");
        assert_eq!(c("1e22"), "1e+22");
        assert_eq!(c("1.5e22"), "15000000000000000000000");
        assert_eq!(c("1e-22"), "0.0000000000000000000001");
        assert_eq!(c("1e-23"), "1e-23");
        assert_eq!(
            c("1.2345678901234567890123456789e29"),
            c("123456789012345678901234567890")
        );
        // Equal values are written alike.
        assert_eq!(c("-0"), "0");
        assert_eq!(c("0.0e5"), "0");
        assert_eq!(c("1500"), "1500");
        assert_eq!(c("1.5e3"), "1500");
        assert_eq!(c("15e2"), "1500");
        assert_eq!(c("0.015"), "0.015");
        assert_eq!(c("1.5E-2"), "0.015");
        assert_eq!(c("-2.50"), "-2.5");
        assert_eq!(c("1e-30"), "1e-30");
        assert_eq!(c("10e-31"), "1e-30");
        assert_eq!(c("1e999999999999"), c("10e999999999998"));
        assert_eq!(canonical("1e99999999999999999999"), None);
        // Not JSON numbers.
        for bad in ["01", "1.", ".5", "+1", "1e", "--1", "1.2.3", "0x10", "NaN"] {
            assert_eq!(canonical(bad), None, "{bad}");
        }
    }

    /// One working space for many values, as the rule uses it: what a value that was
    /// not JSON left half read (members, escaped keys) does not reach the next one.
    #[test]
    fn the_working_space_carries_nothing_from_one_value_to_the_next() {
        let (mut out, mut scratch) = (String::new(), Scratch::default());
        let mut c = |t: &str| {
            canonical_into(t, &mut out, &mut scratch)
                .ok()
                .map(|()| out.clone())
        };
        assert_eq!(c(r#"{"z":1,"\u0079":{"b":2,"a":[1,{"q":0,"p":1"#), None);
        assert_eq!(
            c(r#"{"b":2,"\u0061":{"d":1,"c":0}}"#).as_deref(),
            Some(r#"{"a":{"c":0,"d":1},"b":2}"#)
        );
        assert_eq!(c(r#"{"y":1,"x":2}"#).as_deref(), Some(r#"{"x":2,"y":1}"#));
    }

    #[test]
    fn structure() {
        let c = |t: &str| canonical(t).unwrap();
        assert_eq!(
            c(r#" { "a" : "x\u00e9\n" , "b":[ ], "c":{ } } "#),
            r#"{"a":"xé\n","b":[],"c":{}}"#
        );
        assert_eq!(c(r#"{"a":1,"a":2}"#), r#"{"a":2}"#);
        // Members are put in order wherever they were not, nested ones too, and keys
        // compare as decoded (`\u0062` is `b`).
        assert_eq!(
            c(r#"{"b":{"d":1,"c":[2,{"y":1,"x":-0}]},"a":"q\"z","\u0062b":null}"#),
            r#"{"a":"q\"z","b":{"c":[2,{"x":0,"y":1}],"d":1},"bb":null}"#
        );
        assert_eq!(c(r#"{"a":{"b":1,"b":2},"a":3}"#), r#"{"a":3}"#);
        assert_eq!(c("[true,false,null]"), "[true,false,null]");
        assert_eq!(canonical("[1,]"), None);
        assert_eq!(canonical("[1] x"), None);
        assert_eq!(canonical(r#"{"a"}"#), None);
        assert_eq!(canonical(r#""unterminated"#), None);
        assert_eq!(canonical("tru"), None);
        assert_eq!(canonical(&"[".repeat(200)), None);
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert_eq!(canonical_or_why(&deep), Err(true));
        assert_eq!(canonical_or_why("[1,]"), Err(false));
        assert_eq!(excerpt("oops"), "`oops`");
        assert_eq!(
            excerpt(&"é".repeat(100)),
            format!("`{}…` (200 bytes)", "é".repeat(60))
        );
        assert!(canonical(&format!("{}{}", "[".repeat(100), "]".repeat(100))).is_some());
    }
}
