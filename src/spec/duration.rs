//! Durations as a spec or a flag writes them: `90s`, `10m`, `2h`, `1d`, `1h30m`.

use chrono::TimeDelta;

/// `text` as a duration: one or more parts of a whole number and a unit (`s`, `m`, `h`,
/// `d`), added up. The error says what was wrong and shows the forms that work.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let bad = |why: &str| {
        format!("`{text}` is not a duration ({why}): write a number and a unit, s, m, h or d, as in 90s, 10m, 2h or 1h30m")
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total = TimeDelta::zero();
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.is_empty() {
            return Err(bad(&format!("`{c}` comes without a number before it")));
        }
        let n: i64 = digits.parse().map_err(|_| bad("a number is too large"))?;
        let part = match c {
            's' => TimeDelta::try_seconds(n),
            'm' => TimeDelta::try_minutes(n),
            'h' => TimeDelta::try_hours(n),
            'd' => TimeDelta::try_days(n),
            _ => return Err(bad(&format!("`{c}` is not a unit"))),
        };
        total = part
            .and_then(|p| total.checked_add(&p))
            .ok_or_else(|| bad("it is too long"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad(&format!("`{digits}` has no unit")));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_add_up_their_parts() {
        for (text, seconds) in [
            ("90s", 90),
            ("10m", 600),
            ("2h", 7200),
            ("1d", 86_400),
            ("1h30m", 5400),
            ("0s", 0),
        ] {
            assert_eq!(
                parse_duration(text).unwrap().num_seconds(),
                seconds,
                "{text}"
            );
        }
        for (text, why) in [
            ("10", "`10` has no unit"),
            ("m", "`m` comes without a number before it"),
            ("5y", "`y` is not a unit"),
            ("", "it is empty"),
        ] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
