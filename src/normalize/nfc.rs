//! `sd_nfc(text)`: text in Unicode Normalization Form C, so that `e` followed by a
//! combining acute accent (U+0065 U+0301) and `é` (U+00E9) are the same text. A system
//! that wrote decomposed text (macOS file names, some input methods) and one that wrote
//! composed text then compare equal; without the rule they differ, code point by code
//! point.

use std::any::Any;

use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use super::{map_text, text_result};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Nfc {
    signature: Signature,
}

impl Default for Nfc {
    fn default() -> Self {
        Nfc {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// `s` in NFC; text already in NFC (nearly all of it) is returned as it is.
pub fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    // ASCII text is in every normal form.
    if s.is_ascii() {
        return std::borrow::Cow::Borrowed(s);
    }
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => std::borrow::Cow::Borrowed(s),
        _ => std::borrow::Cow::Owned(s.nfc().collect()),
    }
}

impl ScalarUDFImpl for Nfc {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "sd_nfc"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        text_result(&args[0], "nfc")
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_text(&args.args[0], args.number_rows, |v, b| {
            b.append_value(nfc(v))
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
    fn composes_and_leaves_composed_text_alone() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("Cafe\u{301}"),
            Some("Café"),
            None,
            Some("Å"),
        ]));
        let out = call(&Nfc::default(), vec![a]);
        let s = out.as_string::<i32>();
        assert_eq!(s.value(0), "Café");
        assert_eq!(s.value(0), s.value(1));
        assert!(s.is_null(2));
        // U+212B ANGSTROM SIGN is U+00C5 in NFC.
        assert_eq!(s.value(3), "\u{c5}");
        assert!(matches!(nfc("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
