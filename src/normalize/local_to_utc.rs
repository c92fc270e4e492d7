//! `sd_local_to_utc(ts, zone, ambiguous, nonexistent)`: a wall-clock timestamp read as
//! local time in the IANA zone `zone`, as a UTC instant.
//!
//! Around daylight-saving changes a local time can be ambiguous (it happened twice: the
//! hour clocks go back) or non-existent (it never happened: the hour clocks skip). What to
//! do is a setting, because migration code differs: PostgreSQL reads an ambiguous time as
//! the later (standard-time) instant, Python's `zoneinfo` (fold=0) as the earlier one;
//! both read a non-existent time with the offset in force before the change.
//!
//! - `ambiguous`: `earlier` (default), `later` or `error`;
//! - `nonexistent`: `before` (default: the offset before the change), `after` or `error`.

use std::any::Any;
use std::sync::Arc;

use super::error::{rule_err, OnInvalid, RuleError};
use arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LocalToUtc {
    signature: Signature,
    on_invalid: OnInvalid,
}

impl Default for LocalToUtc {
    fn default() -> Self {
        LocalToUtc {
            signature: Signature::any(4, Volatility::Immutable),
            on_invalid: OnInvalid::Error,
        }
    }
}

impl LocalToUtc {
    /// `sd_try_local_to_utc`: NULL for a value it cannot read.
    pub fn lenient() -> Self {
        LocalToUtc {
            on_invalid: OnInvalid::Null,
            ..Self::default()
        }
    }
}

/// What to do with a local time that happened twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ambiguous {
    Earlier,
    Later,
    Error,
}

/// What to do with a local time that never happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nonexistent {
    Before,
    After,
    Error,
}

impl Ambiguous {
    pub fn parse(s: &str) -> Option<Ambiguous> {
        match s {
            "earlier" => Some(Ambiguous::Earlier),
            "later" => Some(Ambiguous::Later),
            "error" => Some(Ambiguous::Error),
            _ => None,
        }
    }
}

impl Nonexistent {
    pub fn parse(s: &str) -> Option<Nonexistent> {
        match s {
            "before" => Some(Nonexistent::Before),
            "after" => Some(Nonexistent::After),
            "error" => Some(Nonexistent::Error),
            _ => None,
        }
    }
}

/// The UTC instant of local time `t` in `tz`, or why there is none.
pub fn to_utc(
    t: NaiveDateTime,
    tz: Tz,
    ambiguous: Ambiguous,
    nonexistent: Nonexistent,
) -> Result<DateTime<chrono::Utc>, String> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(d) => Ok(d.to_utc()),
        LocalResult::Ambiguous(early, late) => match ambiguous {
            Ambiguous::Earlier => Ok(early.to_utc()),
            Ambiguous::Later => Ok(late.to_utc()),
            Ambiguous::Error => Err(format!("`{t}` happened twice in {tz} (clocks went back)")),
        },
        LocalResult::None => {
            // Within a day of the first or last instant chrono holds, the UTC instant may
            // be out of its range: an error, not a gap (and not an overflow panic).
            let out_of_range =
                || format!("`{t}` in {tz} is outside the years chrono can place in a zone");
            if !matches!(tz.offset_from_local_datetime(&t), LocalResult::None) {
                return Err(out_of_range());
            }
            // Transitions are months apart: a day either side is safely before or after.
            let near = match nonexistent {
                Nonexistent::Before => t.checked_sub_signed(Duration::days(1)),
                Nonexistent::After => t.checked_add_signed(Duration::days(1)),
                Nonexistent::Error => {
                    return Err(format!("`{t}` never happened in {tz} (clocks skipped it)"))
                }
            };
            let secs = near
                .map(|utc| tz.offset_from_utc_datetime(&utc).fix().local_minus_utc() as i64)
                .ok_or_else(out_of_range)?;
            t.checked_sub_signed(Duration::seconds(secs))
                .map(|u| u.and_utc())
                .ok_or_else(out_of_range)
        }
    }
}

fn literal<'a>(v: &'a ColumnarValue, what: &str) -> Result<&'a str> {
    match v {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s))) => Ok(s),
        _ => rule_err!("timezone: {what} must be a text literal"),
    }
}

impl ScalarUDFImpl for LocalToUtc {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.on_invalid
            .name("sd_local_to_utc", "sd_try_local_to_utc")
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::Timestamp(_, None) | DataType::Null => Ok(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into()),
            )),
            DataType::Timestamp(_, Some(tz)) => {
                rule_err!("timezone applies to wall-clock timestamps; this one is already an instant (zone {tz})")
            }
            other => rule_err!("timezone applies to timestamps, not {other}: parse the text first"),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = literal(&args.args[1], "the zone")?;
        let tz: Tz = match zone.parse() {
            Ok(tz) => tz,
            Err(_) => {
                return rule_err!(
                    "timezone: `{zone}` is not an IANA time zone (e.g. Europe/Berlin)"
                )
            }
        };
        let amb = literal(&args.args[2], "ambiguous")?;
        let Some(amb) = Ambiguous::parse(amb) else {
            return rule_err!("timezone: ambiguous is earlier, later or error, not `{amb}`");
        };
        let non = literal(&args.args[3], "nonexistent")?;
        let Some(non) = Nonexistent::parse(non) else {
            return rule_err!("timezone: nonexistent is before, after or error, not `{non}`");
        };
        let a = args.args[0].to_array(args.number_rows)?;
        let a = arrow::compute::cast(&a, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let mut b = TimestampMicrosecondBuilder::with_capacity(a.len());
        for v in a.as_primitive::<TimestampMicrosecondType>().iter() {
            match v {
                None => b.append_null(),
                Some(us) => {
                    let Some(t) = DateTime::from_timestamp_micros(us) else {
                        return rule_err!(
                            "timezone: {us} µs from 1970 is outside the years chrono can place in a zone"
                        );
                    };
                    let t = t.naive_utc();
                    match to_utc(t, tz, amb, non) {
                        Ok(u) => b.append_value(u.timestamp_micros()),
                        Err(why) => self.on_invalid.value(
                            || b.append_null(),
                            RuleError::error(format!("timezone: {why}; set ambiguous/nonexistent to earlier/later or before/after")),
                        )?,
                    }
                }
            }
        }
        Ok(ColumnarValue::Array(
            Arc::new(b.finish().with_timezone("UTC")) as ArrayRef,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn dst_overlaps_and_gaps_follow_the_settings() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let utc = |d: DateTime<chrono::Utc>| d.format("%Y-%m-%d %H:%M:%S").to_string();
        let (e, n) = (Ambiguous::Earlier, Nonexistent::Before);
        assert_eq!(
            utc(to_utc(t("2024-07-01 12:00:00"), berlin, e, n).unwrap()),
            "2024-07-01 10:00:00"
        );
        // 2024-10-27 02:30 happened twice: at +02:00 (CEST) and then at +01:00 (CET).
        assert_eq!(
            utc(to_utc(t("2024-10-27 02:30:00"), berlin, Ambiguous::Earlier, n).unwrap()),
            "2024-10-27 00:30:00"
        );
        assert_eq!(
            utc(to_utc(t("2024-10-27 02:30:00"), berlin, Ambiguous::Later, n).unwrap()),
            "2024-10-27 01:30:00"
        );
        assert!(to_utc(t("2024-10-27 02:30:00"), berlin, Ambiguous::Error, n).is_err());
        // 2024-03-31 02:30 never happened: clocks went from 02:00 +01:00 to 03:00 +02:00.
        assert_eq!(
            utc(to_utc(t("2024-03-31 02:30:00"), berlin, e, Nonexistent::Before).unwrap()),
            "2024-03-31 01:30:00"
        );
        assert_eq!(
            utc(to_utc(t("2024-03-31 02:30:00"), berlin, e, Nonexistent::After).unwrap()),
            "2024-03-31 00:30:00"
        );
        assert!(to_utc(t("2024-03-31 02:30:00"), berlin, e, Nonexistent::Error).is_err());
    }

    /// Found by the fuzz harness (fuzz/, target `local_to_utc`): a wall time within a day
    /// of the last (first) instant chrono holds, in a zone behind (ahead of) UTC, has no
    /// UTC instant chrono can hold, and `to_utc` panicked on the overflow. The UDF reads
    /// such times from any microsecond timestamp of year ±262142.
    #[test]
    fn wall_times_at_the_ends_of_chrono_range_are_errors() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let last = DateTime::<chrono::Utc>::MAX_UTC.naive_utc() - Duration::hours(1);
        let first = DateTime::<chrono::Utc>::MIN_UTC.naive_utc() + Duration::hours(1);
        for amb in [Ambiguous::Earlier, Ambiguous::Later, Ambiguous::Error] {
            for non in [Nonexistent::Before, Nonexistent::After, Nonexistent::Error] {
                let e = to_utc(last, ny, amb, non).unwrap_err();
                assert!(e.contains("outside the years chrono can place"), "{e}");
                assert!(to_utc(first, tokyo, amb, non).is_err());
                // The other way round the instant exists (in local mean time, then).
                assert!(to_utc(first, ny, amb, non).unwrap().naive_utc() > first);
                assert!(to_utc(last, tokyo, amb, non).unwrap().naive_utc() < last);
            }
        }
    }
}
