//! `sd_row_hash(c1, c2, ...)`: the stable, versioned hash of a row's values, computed
//! from their canonical values, never from Arrow's in-memory layout, so equal values hash
//! alike whatever their physical type (Int32 or Int64, Utf8 or Utf8View, any timestamp
//! unit) and whichever file or batch they come from.
//!
//! Version [`ROW_HASH_VERSION`] = 2. Each value gets a 64-bit hash by its kind, then the
//! row's values are folded in order: `h = ROW_SEED`, for each value `v`:
//! `h = mix(h ^ v, STEP)`, and finally `h = mix(h ^ n, FINAL)` for `n` values, where
//! `mix(a, b)` is the 128-bit product of `a` and `b` folded to 64 bits (high xor low).
//!
//! | value | its hash |
//! |---|---|
//! | NULL | the constant `NULL` |
//! | integer (any width, signed or not) | `mix(lo ^ INT, hi ^ HIGH)` of its value as i128 |
//! | decimal | `mix(lo ^ DEC ^ scale·STEP, hi ^ HIGH)` of its unscaled i128; a 256-bit decimal beyond i128, xxh3-64 of its 32 little-endian bytes seeded with `DEC ^ scale·STEP` |
//! | float | `mix(bits ^ FLOAT, HIGH)` of its f64 bits; -0.0 is 0.0, every NaN one NaN |
//! | text | xxh3-64 of its UTF-8 bytes, seeded with `TEXT` |
//! | binary | xxh3-64 of its bytes, seeded with `BIN` |
//! | boolean | `mix(0 or 1 ^ BOOL, HIGH)` |
//! | date | `mix(days since 1970-01-01 ^ DATE, HIGH)` |
//! | timestamp | `mix(microseconds since the epoch (UTC for zoned ones) ^ TS, HIGH)` |
//! | time of day | `mix(microseconds since midnight ^ TIME, HIGH)` |
//! | list | xxh3-64, seeded with `LIST`, of the version-1 encoding: `01 'l'`, the u64 count, then each element (`00` for NULL; `01`, a kind tag and the value's bytes) |
//!
//! The constants are below. Each kind has its own seed, so the integer 1 and the text
//! "1" do not collide by construction; the schema check makes both sides' kinds match
//! after normalisation before any hash is compared. Values are hashed column by column
//! (one loop per column, of the column's own type), which is what makes the digest of a
//! table about as fast as reading it. Version 1 (xxh3 over the concatenated byte
//! encoding of a row) gave the same guarantees at twice the cost.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt64Array};
use arrow::datatypes::*;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The version of the encoding above; it goes into every report.
pub const ROW_HASH_VERSION: u32 = 2;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowHash {
    signature: Signature,
}

impl Default for RowHash {
    fn default() -> Self {
        RowHash {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

/// Whether values of type `t` can be hashed.
pub fn hashable(t: &DataType) -> bool {
    match t {
        DataType::List(f) | DataType::LargeList(f) => hashable(f.data_type()),
        t => {
            t.is_integer()
                || t.is_floating()
                || t.is_null()
                || matches!(
                    t,
                    DataType::Decimal128(_, _)
                        | DataType::Decimal256(_, _)
                        | DataType::Utf8
                        | DataType::LargeUtf8
                        | DataType::Utf8View
                        | DataType::Binary
                        | DataType::LargeBinary
                        | DataType::BinaryView
                        | DataType::Boolean
                        | DataType::Date32
                        | DataType::Date64
                        | DataType::Timestamp(_, _)
                        | DataType::Time32(_)
                        | DataType::Time64(_)
                )
        }
    }
}

/// One column, cast once per batch to the representation its kind is encoded from.
enum Enc {
    Null,
    Int(ArrayRef),
    UInt(ArrayRef),
    Dec(ArrayRef, i8),
    Dec256(ArrayRef, i8),
    Float(ArrayRef),
    Str(ArrayRef),
    /// Text as views (`Utf8View`), read in place.
    StrView(ArrayRef),
    Bin(ArrayRef),
    BinView(ArrayRef),
    Bool(ArrayRef),
    Date(ArrayRef),
    Ts(ArrayRef),
    Time(ArrayRef),
    List(ArrayRef, Box<Enc>),
}

impl Enc {
    fn new(a: &ArrayRef) -> Result<Enc> {
        let cast = |t: DataType| arrow::compute::cast(a, &t);
        Ok(match a.data_type() {
            DataType::Null => Enc::Null,
            t if t.is_signed_integer() => Enc::Int(cast(DataType::Int64)?),
            t if t.is_unsigned_integer() => Enc::UInt(cast(DataType::UInt64)?),
            t if t.is_floating() => Enc::Float(cast(DataType::Float64)?),
            DataType::Decimal128(_, s) => Enc::Dec(a.clone(), *s),
            DataType::Decimal256(_, s) => Enc::Dec256(a.clone(), *s),
            DataType::Utf8View => Enc::StrView(a.clone()),
            DataType::BinaryView => Enc::BinView(a.clone()),
            DataType::Utf8 | DataType::LargeUtf8 => Enc::Str(cast(DataType::Utf8)?),
            DataType::Binary | DataType::LargeBinary => Enc::Bin(cast(DataType::Binary)?),
            DataType::Boolean => Enc::Bool(a.clone()),
            DataType::Date32 | DataType::Date64 => Enc::Date(cast(DataType::Date32)?),
            DataType::Timestamp(_, tz) => Enc::Ts(cast(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?),
            DataType::Time32(_) | DataType::Time64(_) => Enc::Time(cast(DataType::Time64(TimeUnit::Microsecond))?),
            DataType::List(_) | DataType::LargeList(_) => {
                let l = cast(DataType::List(Arc::new(Field::new(
                    "item",
                    match a.data_type() {
                        DataType::List(f) | DataType::LargeList(f) => f.data_type().clone(),
                        _ => unreachable!(),
                    },
                    true,
                ))))?;
                let values = l.as_list::<i32>().values().clone();
                let inner = Enc::new(&values)?;
                Enc::List(l, Box::new(inner))
            }
            other => {
                return exec_err!("values of type {other} cannot be hashed; normalise the column (for example cast it to text)")
            }
        })
    }

    fn array(&self) -> Option<&ArrayRef> {
        match self {
            Enc::Null => None,
            Enc::Int(a)
            | Enc::UInt(a)
            | Enc::Dec(a, _)
            | Enc::Dec256(a, _)
            | Enc::Float(a)
            | Enc::Str(a)
            | Enc::StrView(a)
            | Enc::Bin(a)
            | Enc::BinView(a) => Some(a),
            Enc::Bool(a) | Enc::Date(a) | Enc::Ts(a) | Enc::Time(a) | Enc::List(a, _) => Some(a),
        }
    }

    /// Append the encoding of value `i` to `buf`.
    fn encode(&self, i: usize, buf: &mut Vec<u8>) {
        match self.array() {
            None => {
                buf.push(0);
                return;
            }
            Some(a) if a.is_null(i) => {
                buf.push(0);
                return;
            }
            _ => buf.push(1),
        }
        match self {
            Enc::Null => unreachable!("handled above"),
            Enc::Int(a) => {
                buf.push(b'i');
                buf.extend_from_slice(
                    &(a.as_primitive::<Int64Type>().value(i) as i128).to_le_bytes(),
                );
            }
            Enc::UInt(a) => {
                buf.push(b'i');
                buf.extend_from_slice(
                    &(a.as_primitive::<UInt64Type>().value(i) as i128).to_le_bytes(),
                );
            }
            Enc::Dec(a, s) => {
                buf.push(b'd');
                buf.push(*s as u8);
                buf.extend_from_slice(&a.as_primitive::<Decimal128Type>().value(i).to_le_bytes());
            }
            Enc::Dec256(a, s) => {
                buf.push(b'D');
                buf.push(*s as u8);
                buf.extend_from_slice(&a.as_primitive::<Decimal256Type>().value(i).to_le_bytes());
            }
            Enc::Float(a) => {
                let mut f = a.as_primitive::<Float64Type>().value(i);
                if f == 0.0 {
                    f = 0.0;
                }
                let bits = if f.is_nan() {
                    f64::NAN.to_bits()
                } else {
                    f.to_bits()
                };
                buf.push(b'f');
                buf.extend_from_slice(&bits.to_le_bytes());
            }
            Enc::Str(a) => {
                let v = a.as_string::<i32>().value(i).as_bytes();
                buf.push(b's');
                buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
                buf.extend_from_slice(v);
            }
            Enc::StrView(a) => {
                let v = a.as_string_view().value(i).as_bytes();
                buf.push(b's');
                buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
                buf.extend_from_slice(v);
            }
            Enc::BinView(a) => {
                let v = a.as_binary_view().value(i);
                buf.push(b'x');
                buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
                buf.extend_from_slice(v);
            }
            Enc::Bin(a) => {
                let v = a.as_binary::<i32>().value(i);
                buf.push(b'x');
                buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
                buf.extend_from_slice(v);
            }
            Enc::Bool(a) => {
                buf.push(b'b');
                buf.push(a.as_boolean().value(i) as u8);
            }
            Enc::Date(a) => {
                buf.push(b'D');
                buf.extend_from_slice(&a.as_primitive::<Date32Type>().value(i).to_le_bytes());
            }
            Enc::Ts(a) => {
                buf.push(b't');
                buf.extend_from_slice(
                    &a.as_primitive::<TimestampMicrosecondType>()
                        .value(i)
                        .to_le_bytes(),
                );
            }
            Enc::Time(a) => {
                buf.push(b'T');
                buf.extend_from_slice(
                    &a.as_primitive::<Time64MicrosecondType>()
                        .value(i)
                        .to_le_bytes(),
                );
            }
            Enc::List(a, inner) => {
                let offsets = a.as_list::<i32>().value_offsets();
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                buf.push(b'l');
                buf.extend_from_slice(&((end - start) as u64).to_le_bytes());
                for j in start..end {
                    inner.encode(j, buf);
                }
            }
        }
    }
}

/// The row hashes of `columns` (all of one length), column by column: each column's
/// values are hashed and folded into their rows' states in a loop of the column's own
/// type, with no per-row dispatch or buffer.
pub fn hash_rows(columns: &[ArrayRef], rows: usize) -> Result<UInt64Array> {
    let encs: Vec<Enc> = columns.iter().map(Enc::new).collect::<Result<_>>()?;
    let mut state = vec![ROW_SEED; rows];
    for e in &encs {
        e.fold_into(&mut state);
    }
    let n = encs.len() as u64;
    for h in state.iter_mut() {
        *h = mix(*h ^ n, FINAL);
    }
    Ok(UInt64Array::from(state))
}

// The constants of the version-2 hash (digits of pi and e, odd).
const ROW_SEED: u64 = 0x243F_6A88_85A3_08D3;
const STEP: u64 = 0x1319_8A2E_0370_7345;
const FINAL: u64 = 0xA409_3822_299F_31D1;
const HIGH: u64 = 0x082E_FA98_EC4E_6C89;
const NULL: u64 = 0x4528_21E6_38D0_1377;
const INT: u64 = 0xBE54_66CF_34E9_0C6D;
const DEC: u64 = 0xC0AC_29B7_C97C_50DD;
const FLOAT: u64 = 0x3F84_D5B5_B547_0917;
const TEXT: u64 = 0x9216_D5D9_8979_FB1B;
const BIN: u64 = 0xD131_0BA6_98DF_B5AD;
const BOOL: u64 = 0x2FFD_72DB_D01A_DFB7;
const DATE: u64 = 0xB8E1_AFED_6A26_7E97;
const TS: u64 = 0x6A0B_3A7D_A6B1_2C43;
const TIME: u64 = 0x4B7A_70E9_B5B3_2945;
const LIST: u64 = 0xBA7C_9045_F12C_7F99;

/// The 128-bit product of `a` and `b`, folded to 64 bits.
#[inline(always)]
fn mix(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The hash of a 128-bit payload of one kind.
#[inline(always)]
fn value128(kind: u64, v: i128) -> u64 {
    mix((v as u64) ^ kind, ((v >> 64) as u64) ^ HIGH)
}

/// The hash of a 64-bit payload of one kind.
#[inline(always)]
fn value64(kind: u64, v: u64) -> u64 {
    mix(v ^ kind, HIGH)
}

/// The hashes of the values last seen in one view array, by their view. Within an array,
/// equal views are equal values: a short value lies whole in its view, and a longer one
/// is named by buffer, offset and length (values decoded from a Parquet dictionary page
/// share the dictionary's bytes, so a repeated value has one view). Low-cardinality text
/// (flags, modes, statuses) is then hashed once a batch instead of once a row. A column
/// whose values rarely repeat turns the cache off after a few hundred misses.
struct ViewCache {
    keys: Box<[u128; VIEW_CACHE]>,
    hashes: Box<[u64; VIEW_CACHE]>,
    hits: u32,
    misses: u32,
    off: bool,
}

const VIEW_CACHE: usize = 256;

impl ViewCache {
    fn new() -> ViewCache {
        ViewCache {
            // No view has the length u32::MAX (lengths are at most i32::MAX).
            keys: Box::new([u128::MAX; VIEW_CACHE]),
            hashes: Box::new([0; VIEW_CACHE]),
            hits: 0,
            misses: 0,
            off: false,
        }
    }

    #[inline(always)]
    fn get(&mut self, view: u128, hash: impl FnOnce() -> u64) -> u64 {
        if self.off {
            return hash();
        }
        let x = (view as u64) ^ ((view >> 64) as u64).rotate_left(29);
        let i = (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize;
        if self.keys[i] == view {
            self.hits += 1;
            return self.hashes[i];
        }
        let h = hash();
        self.keys[i] = view;
        self.hashes[i] = h;
        self.misses += 1;
        if self.misses == 512 && self.hits < 512 {
            self.off = true;
        }
        h
    }
}

impl Enc {
    /// Fold every value of this column into its row's state.
    fn fold_into(&self, state: &mut [u64]) {
        let Some(a) = self.array() else {
            state.iter_mut().for_each(|h| *h = mix(*h ^ NULL, STEP));
            return;
        };
        let nulls = a.logical_nulls();
        // `f(i)`: value i's hash; NULLs hash to NULL.
        fn fold(
            state: &mut [u64],
            nulls: &Option<arrow::buffer::NullBuffer>,
            mut f: impl FnMut(usize) -> u64,
        ) {
            match nulls {
                None => {
                    for (i, h) in state.iter_mut().enumerate() {
                        *h = mix(*h ^ f(i), STEP);
                    }
                }
                Some(n) => {
                    for (i, h) in state.iter_mut().enumerate() {
                        let v = if n.is_valid(i) { f(i) } else { NULL };
                        *h = mix(*h ^ v, STEP);
                    }
                }
            }
        }
        match self {
            Enc::Null => unreachable!("handled above"),
            Enc::Int(a) => {
                let v = a.as_primitive::<Int64Type>().values();
                fold(state, &nulls, |i| value128(INT, v[i] as i128))
            }
            Enc::UInt(a) => {
                let v = a.as_primitive::<UInt64Type>().values();
                fold(state, &nulls, |i| value128(INT, v[i] as i128))
            }
            Enc::Dec(a, s) => {
                let v = a.as_primitive::<Decimal128Type>().values();
                let kind = DEC ^ (*s as u8 as u64).wrapping_mul(STEP);
                fold(state, &nulls, |i| value128(kind, v[i]))
            }
            Enc::Dec256(a, s) => {
                // A value that fits 128 bits hashes as the same decimal of 128 bits.
                let v = a.as_primitive::<Decimal256Type>().values();
                let kind = DEC ^ (*s as u8 as u64).wrapping_mul(STEP);
                fold(state, &nulls, |i| match v[i].to_i128() {
                    Some(x) => value128(kind, x),
                    None => xxh3_64_with_seed(&v[i].to_le_bytes(), kind),
                })
            }
            Enc::Float(a) => {
                let v = a.as_primitive::<Float64Type>().values();
                fold(state, &nulls, |i| {
                    let f = v[i];
                    let bits = if f.is_nan() {
                        f64::NAN.to_bits()
                    } else if f == 0.0 {
                        0
                    } else {
                        f.to_bits()
                    };
                    value64(FLOAT, bits)
                })
            }
            Enc::Str(a) => {
                let a = a.as_string::<i32>();
                fold(state, &nulls, |i| {
                    xxh3_64_with_seed(a.value(i).as_bytes(), TEXT)
                })
            }
            Enc::StrView(a) => {
                let a = a.as_string_view();
                let mut cache = ViewCache::new();
                fold(state, &nulls, |i| {
                    cache.get(a.views()[i], || {
                        xxh3_64_with_seed(a.value(i).as_bytes(), TEXT)
                    })
                })
            }
            Enc::Bin(a) => {
                let a = a.as_binary::<i32>();
                fold(state, &nulls, |i| xxh3_64_with_seed(a.value(i), BIN))
            }
            Enc::BinView(a) => {
                let a = a.as_binary_view();
                let mut cache = ViewCache::new();
                fold(state, &nulls, |i| {
                    cache.get(a.views()[i], || xxh3_64_with_seed(a.value(i), BIN))
                })
            }
            Enc::Bool(a) => {
                let a = a.as_boolean();
                fold(state, &nulls, |i| value64(BOOL, a.value(i) as u64))
            }
            Enc::Date(a) => {
                let v = a.as_primitive::<Date32Type>().values();
                fold(state, &nulls, |i| value64(DATE, v[i] as i64 as u64))
            }
            Enc::Ts(a) => {
                let v = a.as_primitive::<TimestampMicrosecondType>().values();
                fold(state, &nulls, |i| value64(TS, v[i] as u64))
            }
            Enc::Time(a) => {
                let v = a.as_primitive::<Time64MicrosecondType>().values();
                fold(state, &nulls, |i| value64(TIME, v[i] as u64))
            }
            Enc::List(..) => {
                // A list: its canonical bytes (the table above), hashed as one value.
                fold(state, &nulls, |i| {
                    let mut b = Vec::new();
                    self.encode(i, &mut b);
                    xxh3_64_with_seed(&b, LIST)
                })
            }
        }
    }
}

impl ScalarUDFImpl for RowHash {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "sd_row_hash"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        for t in args {
            if !hashable(t) {
                return exec_err!("values of type {t} cannot be hashed; normalise the column (for example cast it to text)");
            }
        }
        Ok(DataType::UInt64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let columns = ColumnarValue::values_to_arrays(&args.args)?;
        let n = columns.first().map(|c| c.len()).unwrap_or(args.number_rows);
        Ok(ColumnarValue::Array(
            Arc::new(hash_rows(&columns, n)?) as ArrayRef
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int32Array, Int64Array, StringArray, StringViewArray};

    fn h(cols: Vec<ArrayRef>) -> Vec<u64> {
        let n = cols[0].len();
        hash_rows(&cols, n).unwrap().values().to_vec()
    }

    #[test]
    fn equal_values_hash_alike_whatever_their_layout() {
        let a = h(vec![
            Arc::new(Int32Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["x", "y"])),
        ]);
        let b = h(vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringViewArray::from(vec!["x", "y"])),
        ]);
        assert_eq!(a, b);
        // -0.0 and 0.0, and every NaN, hash alike.
        let z = h(vec![Arc::new(Float64Array::from(vec![0.0, f64::NAN]))]);
        let w = h(vec![Arc::new(Float64Array::from(vec![-0.0, -f64::NAN]))]);
        assert_eq!(z, w);
    }

    #[test]
    fn wide_decimals_hash_as_decimals() {
        use arrow::array::{Decimal128Array, Decimal256Array};
        let narrow: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(12345), None, Some(-1)])
                .with_precision_and_scale(38, 2)
                .unwrap(),
        );
        let wide = |v: Vec<Option<i256>>| -> ArrayRef {
            Arc::new(
                Decimal256Array::from(v)
                    .with_precision_and_scale(76, 2)
                    .unwrap(),
            )
        };
        // A value that fits 128 bits hashes as the same decimal of 128 bits.
        let same = wide(vec![
            Some(i256::from_i128(12345)),
            None,
            Some(i256::from_i128(-1)),
        ]);
        assert_eq!(h(vec![narrow]), h(vec![same]));
        // Beyond 128 bits: values that differ in any digit hash apart.
        let big = i256::from_i128(i128::MAX).wrapping_mul(i256::from_i128(1000));
        let a = h(vec![wide(vec![
            Some(big),
            Some(big.wrapping_add(i256::ONE)),
        ])]);
        assert_ne!(a[0], a[1]);
        assert_eq!(a[0], h(vec![wide(vec![Some(big)])])[0]);
    }

    #[test]
    fn repeated_views_hash_as_their_values() {
        use arrow::array::{BinaryArray, BinaryViewArray, StringViewBuilder};
        // Short and long values, repeated (long ones deduplicated into one place, as a
        // Parquet dictionary page gives them) and not, with NULLs; then values that do
        // not repeat, past the point where the cache turns itself off.
        let word = |i: usize| match i % 7 {
            0 => "R".to_string(),
            1 => "TAKE BACK RETURN".to_string(),
            2 => String::new(),
            3 => "DELIVER IN PERSON".to_string(),
            4 => format!("long and unique value number {i}"),
            5 => format!("u{i}"),
            _ => "MAIL".to_string(),
        };
        let values: Vec<Option<String>> = (0..3000)
            .map(|i| (i % 11 != 10).then(|| word(i)))
            .chain((0..2000).map(|i| Some(format!("no repeat {i} of a long text"))))
            .collect();
        let mut b = StringViewBuilder::new().with_deduplicate_strings();
        for v in &values {
            b.append_option(v.as_deref());
        }
        let view: ArrayRef = Arc::new(b.finish());
        let plain: ArrayRef = Arc::new(StringArray::from(values.clone()));
        assert_eq!(h(vec![view]), h(vec![plain]));
        let bytes: Vec<Option<&[u8]>> = values
            .iter()
            .map(|v| v.as_deref().map(str::as_bytes))
            .collect();
        let bin_view: ArrayRef = Arc::new(BinaryViewArray::from(bytes.clone()));
        let bin: ArrayRef = Arc::new(BinaryArray::from(bytes));
        assert_eq!(h(vec![bin_view]), h(vec![bin]));
    }

    #[test]
    fn kinds_nulls_and_boundaries_do_not_collide() {
        let int = h(vec![Arc::new(Int64Array::from(vec![1]))]);
        let text = h(vec![Arc::new(StringArray::from(vec!["1"]))]);
        assert_ne!(int, text);
        let null = h(vec![Arc::new(StringArray::from(vec![None::<&str>]))]);
        let empty = h(vec![Arc::new(StringArray::from(vec![""]))]);
        assert_ne!(null, empty);
        // ("ab", "c") and ("a", "bc") differ: lengths are encoded.
        let x = h(vec![
            Arc::new(StringArray::from(vec!["ab"])),
            Arc::new(StringArray::from(vec!["c"])),
        ]);
        let y = h(vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(StringArray::from(vec!["bc"])),
        ]);
        assert_ne!(x, y);
    }

    #[test]
    fn a_row_hashes_alike_in_any_batch_or_slice() {
        use arrow::array::{BinaryArray, BooleanArray, Date32Array, Decimal128Array, NullArray};
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![
                Some(1),
                None,
                Some(-3),
                Some(i32::MAX),
            ])),
            Arc::new(StringArray::from(vec![
                Some(""),
                Some("é"),
                None,
                Some("abc"),
            ])),
            Arc::new(Float64Array::from(vec![
                Some(-0.0),
                Some(f64::NAN),
                None,
                Some(1.5),
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(12345), None, Some(-1), Some(0)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
            Arc::new(Date32Array::from(vec![
                Some(0),
                Some(19000),
                None,
                Some(-5),
            ])),
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00"[..]),
                None,
                Some(&b""[..]),
                Some(&b"zz"[..]),
            ])),
            Arc::new(NullArray::new(4)),
            Arc::new(StringViewArray::from(vec![
                Some("a long text that is not inlined in its view"),
                None,
                Some("short"),
                Some(""),
            ])),
        ];
        let whole = h(cols.clone());
        for (r, want) in whole.iter().enumerate() {
            let one: Vec<ArrayRef> = cols.iter().map(|c| c.slice(r, 1)).collect();
            assert_eq!(h(one), vec![*want], "row {r}");
        }
        let distinct: std::collections::BTreeSet<u64> = whole.iter().copied().collect();
        assert_eq!(distinct.len(), 4);
    }

    #[test]
    fn integers_hash_by_value_and_lists_by_elements() {
        use arrow::array::{ListArray, UInt64Array as U64};
        use arrow::datatypes::Int32Type;
        let signed = h(vec![Arc::new(Int64Array::from(vec![5, -1]))]);
        let unsigned = h(vec![Arc::new(U64::from(vec![5, u64::MAX]))]);
        assert_eq!(signed[0], unsigned[0]);
        assert_ne!(signed[1], unsigned[1], "-1 is not 2^64-1");
        let list = |v: Vec<Option<Vec<Option<i32>>>>| -> ArrayRef {
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(v))
        };
        let a = h(vec![list(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![]),
            None,
        ])]);
        let b = h(vec![list(vec![
            Some(vec![Some(2), Some(1)]),
            Some(vec![]),
            None,
        ])]);
        assert_ne!(a[0], b[0], "element order counts");
        assert_eq!(a[1..], b[1..]);
        assert_ne!(a[1], a[2], "an empty list is not NULL");
    }

    #[test]
    fn the_hash_is_stable() {
        // Pinned: a change here is a new hash version (ROW_HASH_VERSION).
        let v = h(vec![
            Arc::new(Int64Array::from(vec![42])),
            Arc::new(StringArray::from(vec!["snapdiff"])),
        ]);
        assert_eq!(v, vec![PINNED]);
    }
    const PINNED: u64 = 7_439_464_546_567_744_223;
}
