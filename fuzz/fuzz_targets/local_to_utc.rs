//! `local_to_utc::to_utc` (and the zone/setting names `sd_local_to_utc` reads): a
//! wall-clock timestamp in an IANA zone as a UTC instant, with the ambiguous and
//! non-existent settings.
//!
//! Input: 8 bytes of microseconds since 1970 (little endian, as the UDF's column holds
//! them), 2 bytes choosing a zone, 1 byte the ambiguous and 1 the nonexistent setting;
//! any rest is also read as a zone name and setting names, as a spec gives them.
//! Properties: no panic for any timestamp the UDF can be given.
#![no_main]

use chrono::DateTime;
use chrono_tz::{Tz, TZ_VARIANTS};
use libfuzzer_sys::fuzz_target;
use snapdiff::normalize::local_to_utc::{to_utc, Ambiguous, Nonexistent};

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let us = i64::from_le_bytes(data[..8].try_into().unwrap());
    let tz = TZ_VARIANTS[u16::from_le_bytes([data[8], data[9]]) as usize % TZ_VARIANTS.len()];
    let amb = [Ambiguous::Earlier, Ambiguous::Later, Ambiguous::Error][data[10] as usize % 3];
    let non = [Nonexistent::Before, Nonexistent::After, Nonexistent::Error][data[11] as usize % 3];
    if let Ok(rest) = std::str::from_utf8(&data[12..]) {
        let mut words = rest.split(',');
        let _ = words.next().map(|z| z.parse::<Tz>());
        let _ = words.next().map(Ambiguous::parse);
        let _ = words.next().map(Nonexistent::parse);
    }
    // As sd_local_to_utc does: microseconds chrono cannot place are an error before this.
    let Some(t) = DateTime::from_timestamp_micros(us) else {
        return;
    };
    let t = t.naive_utc();
    if let Ok(u) = to_utc(t, tz, amb, non) {
        // Zone offsets are within a day: the instant is near the wall time.
        let d = (u.naive_utc() - t).num_seconds().abs();
        assert!(d <= 86_400, "{t} in {tz} became {u}");
    }
});
