//! The normalisation rules a spec can give a column, and the SQL they become.
//!
//! ```toml
//! [entity.normalize]
//! email = ["trim", "lower", "empty_as_null"]           # shared by both sides
//! score = { round = 2 }
//! amount = { tolerance = { abs = 0.01 } }               # compared within 0.01 (diff only)
//! submitted_at = { legacy = { parse = "%Y-%m-%d %H:%M:%S", timezone = "Europe/Berlin" }, precision = "s" }
//! state = { legacy = { map = { A = "active", D = "deleted" } } }
//! ```
//!
//! A side's rules are the shared ones plus its own (its own win where both set a value).
//! They apply in one fixed order, whatever order the spec writes them in: `trim`,
//! `nfc`, `lower`/`upper`, `empty_as_null`, `map`, `parse`, `timezone`, `precision`,
//! `date`, `bool`, `json`, `numeric`, `round`.

use std::collections::BTreeMap;

use super::error::OnInvalid;
use super::local_to_utc::{Ambiguous, Nonexistent};

/// Letter case folding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Lower,
    Upper,
}

/// Timestamp precision after normalisation (truncation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Seconds,
    Millis,
    Micros,
}

/// Local wall time in a zone, read as UTC instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub zone: String,
    pub ambiguous: Ambiguous,
    pub nonexistent: Nonexistent,
}

/// The rules of one column on one side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    pub trim: bool,
    /// Unicode Normalization Form C (`sd_nfc`).
    pub nfc: bool,
    pub case: Option<Case>,
    pub empty_as_null: bool,
    pub map: Option<BTreeMap<String, String>>,
    pub parse: Vec<String>,
    pub timezone: Option<Zone>,
    pub precision: Option<Precision>,
    /// The calendar date (`sd_date`).
    pub date: bool,
    pub boolean: bool,
    pub json: bool,
    pub numeric: bool,
    pub round: Option<u32>,
}

/// Values compared within a tolerance (in the row diff; they are left out of row hashes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub abs: Option<f64>,
    pub rel: Option<f64>,
}

/// A column's rules on both sides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnRules {
    pub legacy: Rules,
    pub target: Rules,
    pub tolerance: Option<Tolerance>,
}

impl Zone {
    /// Wall-clock times in the IANA zone `zone`; a time the clocks repeat reads as the
    /// earlier one, a time they skip as the one before the gap.
    pub fn new(zone: &str) -> Result<Zone, String> {
        if zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!(
                "`{zone}` is not an IANA time zone (for example Europe/Berlin, America/New_York)"
            ));
        }
        Ok(Zone {
            zone: zone.to_string(),
            ambiguous: Ambiguous::Earlier,
            nonexistent: Nonexistent::Before,
        })
    }
}

/// The largest number of decimals `round` takes.
pub const MAX_ROUND: u32 = 30;

/// `round = n`: `n` decimal places, from 0 to [`MAX_ROUND`].
pub fn round_places(n: i64) -> Result<u32, String> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_ROUND)
        .ok_or_else(|| format!("`round` takes a number of decimals from 0 to {MAX_ROUND}"))
}

impl ColumnRules {
    /// The same rules on both sides, compared exactly.
    pub fn both(rules: Rules) -> ColumnRules {
        ColumnRules {
            legacy: rules.clone(),
            target: rules,
            tolerance: None,
        }
    }

    /// `self` with `other`'s settings laid over it, on each side.
    pub fn merged(&self, other: &ColumnRules) -> ColumnRules {
        ColumnRules {
            legacy: self.legacy.merged(&other.legacy),
            target: self.target.merged(&other.target),
            tolerance: other.tolerance.or(self.tolerance),
        }
    }
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        *self == Rules::default()
    }

    /// `self` with `other`'s settings laid over it.
    fn merged(&self, other: &Rules) -> Rules {
        Rules {
            trim: self.trim || other.trim,
            nfc: self.nfc || other.nfc,
            case: other.case.or(self.case),
            empty_as_null: self.empty_as_null || other.empty_as_null,
            map: other.map.clone().or_else(|| self.map.clone()),
            parse: if other.parse.is_empty() {
                self.parse.clone()
            } else {
                other.parse.clone()
            },
            timezone: other.timezone.clone().or_else(|| self.timezone.clone()),
            precision: other.precision.or(self.precision),
            date: self.date || other.date,
            boolean: self.boolean || other.boolean,
            json: self.json || other.json,
            numeric: self.numeric || other.numeric,
            round: other.round.or(self.round),
        }
    }

    /// The SQL expression that applies these rules to `expr`, in the fixed order; a
    /// value a rule cannot read is an error.
    pub fn apply(&self, expr: &str) -> String {
        self.apply_with(expr, OnInvalid::Error)
    }

    /// Whether a rule may find a value it cannot read (`parse`, `timezone`, `date`,
    /// `bool`, `json`, `numeric`, `round`); the others read every value of their type.
    pub fn fallible(&self) -> bool {
        !self.parse.is_empty()
            || self.timezone.is_some()
            || self.date
            || self.boolean
            || self.json
            || self.numeric
            || self.round.is_some()
    }

    /// The rules that read every value (`trim`, `nfc`, case, `empty_as_null`, `map`)
    /// applied to `expr`: the value the fallible ones are given.
    pub fn apply_infallible(&self, expr: &str) -> String {
        Rules {
            trim: self.trim,
            nfc: self.nfc,
            case: self.case,
            empty_as_null: self.empty_as_null,
            map: self.map.clone(),
            ..Rules::default()
        }
        .apply(expr)
    }

    /// [`Rules::apply`]; with [`OnInvalid::Null`], a value a rule cannot read becomes
    /// NULL (the `sd_try_*` functions).
    pub fn apply_with(&self, expr: &str, on_invalid: OnInvalid) -> String {
        let f = |strict: &'static str| match on_invalid {
            OnInvalid::Error => strict.to_string(),
            OnInvalid::Null => strict.replacen("sd_", "sd_try_", 1),
        };
        let mut e = expr.to_string();
        if self.trim {
            e = format!("sd_trim({e})");
        }
        if self.nfc {
            e = format!("sd_nfc({e})");
        }
        match self.case {
            Some(Case::Lower) => e = format!("lower({e})"),
            Some(Case::Upper) => e = format!("upper({e})"),
            None => {}
        }
        if self.empty_as_null {
            e = format!("NULLIF({e}, '')");
        }
        if let Some(map) = &self.map {
            let pairs: String = map
                .iter()
                .map(|(k, v)| format!(", {}, {}", lit(k), lit(v)))
                .collect();
            e = format!("sd_map({e}{pairs})");
        }
        if !self.parse.is_empty() {
            let fmts: Vec<String> = self.parse.iter().map(|f| lit(f)).collect();
            e = format!("{}({e}, {})", f("sd_parse_timestamp"), fmts.join(", "));
        }
        if let Some(z) = &self.timezone {
            let amb = match z.ambiguous {
                Ambiguous::Earlier => "earlier",
                Ambiguous::Later => "later",
                Ambiguous::Error => "error",
            };
            let non = match z.nonexistent {
                Nonexistent::Before => "before",
                Nonexistent::After => "after",
                Nonexistent::Error => "error",
            };
            e = format!(
                "{}({e}, {}, '{amb}', '{non}')",
                f("sd_local_to_utc"),
                lit(&z.zone)
            );
        }
        match self.precision {
            // Floored in the value's own unit (truncate.rs says why not date_trunc).
            Some(Precision::Seconds) => e = format!("sd_trunc({e}, 's')"),
            Some(Precision::Millis) => e = format!("sd_trunc({e}, 'ms')"),
            Some(Precision::Micros) => e = format!("sd_trunc({e}, 'us')"),
            None => {}
        }
        if self.date {
            e = format!("{}({e})", f("sd_date"));
        }
        if self.boolean {
            e = format!("{}({e})", f("sd_bool"));
        }
        if self.json {
            e = format!("{}({e})", f("sd_json"));
        }
        if self.numeric {
            e = format!("{}({e})", f("sd_numeric"));
        }
        if let Some(n) = self.round {
            e = format!("{}({e}, {n})", f("sd_round"));
        }
        e
    }

    /// A short description for plans and reports: `trim, lower, round=2`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.trim {
            parts.push("trim".to_string());
        }
        if self.nfc {
            parts.push("nfc".to_string());
        }
        match self.case {
            Some(Case::Lower) => parts.push("lower".into()),
            Some(Case::Upper) => parts.push("upper".into()),
            None => {}
        }
        if self.empty_as_null {
            parts.push("empty_as_null".into());
        }
        if let Some(m) = &self.map {
            parts.push(format!("map({} values)", m.len()));
        }
        if !self.parse.is_empty() {
            parts.push(format!("parse {}", self.parse.join(" | ")));
        }
        if let Some(z) = &self.timezone {
            parts.push(
                format!(
                    "timezone {} (ambiguous {:?}, nonexistent {:?})",
                    z.zone, z.ambiguous, z.nonexistent
                )
                .to_lowercase(),
            );
        }
        if let Some(p) = self.precision {
            parts.push(format!(
                "precision {}",
                match p {
                    Precision::Seconds => "s",
                    Precision::Millis => "ms",
                    Precision::Micros => "us",
                }
            ));
        }
        if self.date {
            parts.push("date".into());
        }
        if self.boolean {
            parts.push("bool".into());
        }
        if self.json {
            parts.push("json".into());
        }
        if self.numeric {
            parts.push("numeric".into());
        }
        if let Some(n) = self.round {
            parts.push(format!("round={n}"));
        }
        parts.join(", ")
    }
}

/// A SQL string literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The rule names that take no value.
pub const FLAG_RULES: [&str; 9] = [
    "trim",
    "nfc",
    "lower",
    "upper",
    "empty_as_null",
    "date",
    "bool",
    "json",
    "numeric",
];
/// Every key a rule table may hold.
pub const RULE_KEYS: [&str; 18] = [
    "trim",
    "nfc",
    "lower",
    "upper",
    "empty_as_null",
    "date",
    "bool",
    "json",
    "numeric",
    "round",
    "parse",
    "timezone",
    "ambiguous",
    "nonexistent",
    "precision",
    "map",
    "tolerance",
    "legacy",
];

/// Parse the rules of one column from its TOML value.
pub fn parse_column(v: &toml::Value) -> Result<ColumnRules, String> {
    let mut out = ColumnRules::default();
    let shared = parse_side(v, true, &mut out.tolerance)?;
    let (mut legacy, mut target) = (Rules::default(), Rules::default());
    if let toml::Value::Table(t) = v {
        if let Some(l) = t.get("legacy") {
            legacy = parse_side(l, false, &mut None).map_err(|e| format!("legacy: {e}"))?;
        }
        if let Some(x) = t.get("target") {
            target = parse_side(x, false, &mut None).map_err(|e| format!("target: {e}"))?;
        }
    }
    out.legacy = shared.merged(&legacy);
    out.target = shared.merged(&target);
    for (side, r) in [("legacy", &out.legacy), ("target", &out.target)] {
        check_parse(r).map_err(|e| format!("{side}: {e}"))?;
    }
    Ok(out)
}

/// Formats with an offset read instants, the others wall-clock times: they cannot be
/// mixed, and a `timezone` applies only to the latter.
fn check_parse(r: &Rules) -> Result<(), String> {
    use super::parse_timestamp::{reads_offset, reads_zone_name};
    if let Some(f) = r.parse.iter().find(|f| reads_zone_name(f)) {
        return Err(format!(
            "`parse` format `{f}` reads a zone name (%Z), which carries no offset chrono can \
             use; read a numeric offset with %z, or leave the name out and set `timezone`"
        ));
    }
    let with_offset = r.parse.iter().filter(|f| reads_offset(f)).count();
    if with_offset > 0 && with_offset < r.parse.len() {
        return Err(format!(
            "`parse` formats {} mix formats with a UTC offset (%z) and without; give each \
             kind of text its own column rule or one kind of format",
            r.parse.join(" | ")
        ));
    }
    if with_offset > 0 && r.timezone.is_some() {
        return Err(
            "`parse` formats with a UTC offset (%z) give UTC times; `timezone` does not apply to them"
                .into(),
        );
    }
    Ok(())
}

fn parse_side(
    v: &toml::Value,
    top: bool,
    tolerance: &mut Option<Tolerance>,
) -> Result<Rules, String> {
    let mut r = Rules::default();
    match v {
        toml::Value::String(name) => flag(&mut r, name)?,
        toml::Value::Array(items) => {
            for item in items {
                match item.as_str() {
                    Some(name) => flag(&mut r, name)?,
                    None => return Err(format!("a list of rules holds names, not {item}")),
                }
            }
        }
        toml::Value::Table(t) => {
            let mut zone: Option<String> = None;
            let mut ambiguous = Ambiguous::Earlier;
            let mut nonexistent = Nonexistent::Before;
            let mut ambiguous_set = false;
            for (k, val) in t {
                match k.as_str() {
                    "legacy" | "target" if top => {}
                    "tolerance" if top => *tolerance = Some(parse_tolerance(val)?),
                    "tolerance" | "legacy" | "target" => {
                        return Err(format!(
                            "`{k}` belongs at the column's top level, not inside legacy or target"
                        ))
                    }
                    name if FLAG_RULES.contains(&name) => match val.as_bool() {
                        Some(true) => flag(&mut r, name)?,
                        Some(false) => {}
                        None => return Err(format!("`{name}` takes true or false")),
                    },
                    "round" => r.round = Some(round_places(val.as_integer().unwrap_or(-1))?),
                    "parse" => {
                        r.parse = match val {
                            toml::Value::String(s) => vec![s.clone()],
                            toml::Value::Array(a) => a
                                .iter()
                                .map(|x| {
                                    x.as_str()
                                        .map(str::to_string)
                                        .ok_or("`parse` takes formats as text")
                                })
                                .collect::<Result<_, _>>()?,
                            _ => return Err(
                                "`parse` takes a format (\"%Y-%m-%d %H:%M:%S\") or a list of them"
                                    .into(),
                            ),
                        };
                        if r.parse.is_empty() {
                            return Err("`parse` needs at least one format".into());
                        }
                    }
                    "timezone" => {
                        let z = val
                            .as_str()
                            .ok_or("`timezone` takes an IANA zone name, like \"Europe/Berlin\"")?;
                        zone = Some(Zone::new(z)?.zone);
                    }
                    "ambiguous" => {
                        ambiguous = val
                            .as_str()
                            .and_then(Ambiguous::parse)
                            .ok_or("`ambiguous` is \"earlier\", \"later\" or \"error\"")?;
                        ambiguous_set = true;
                    }
                    "nonexistent" => {
                        nonexistent = val
                            .as_str()
                            .and_then(Nonexistent::parse)
                            .ok_or("`nonexistent` is \"before\", \"after\" or \"error\"")?;
                        ambiguous_set = true;
                    }
                    "precision" => {
                        r.precision = Some(match val.as_str() {
                            Some("s") => Precision::Seconds,
                            Some("ms") => Precision::Millis,
                            Some("us") => Precision::Micros,
                            _ => return Err("`precision` is \"s\", \"ms\" or \"us\"".into()),
                        })
                    }
                    "map" => {
                        let m = val
                            .as_table()
                            .ok_or("`map` takes a table of values: { A = \"active\" }")?;
                        let mut out = BTreeMap::new();
                        for (from, to) in m {
                            let to = match to {
                                toml::Value::String(s) => s.clone(),
                                toml::Value::Integer(i) => i.to_string(),
                                toml::Value::Boolean(b) => b.to_string(),
                                _ => return Err(format!("`map` value for `{from}` must be text")),
                            };
                            out.insert(from.clone(), to);
                        }
                        // An empty map would become `CASE x ELSE x END`, which is not SQL.
                        if out.is_empty() {
                            return Err("`map` needs at least one value: { A = \"active\" }".into());
                        }
                        r.map = Some(out);
                    }
                    other => {
                        let mut keys: Vec<String> =
                            RULE_KEYS.iter().map(|k| k.to_string()).collect();
                        keys.push("target".into());
                        let hint = crate::suggest::nearest(other, &keys)
                            .map(|n| format!("; did you mean `{n}`?"))
                            .unwrap_or_else(|| format!("; rules are {}", keys.join(", ")));
                        return Err(format!("unknown rule `{other}`{hint}"));
                    }
                }
            }
            match zone {
                Some(zone) => {
                    r.timezone = Some(Zone {
                        zone,
                        ambiguous,
                        nonexistent,
                    })
                }
                None if ambiguous_set => {
                    return Err("`ambiguous` and `nonexistent` go with `timezone`".into())
                }
                None => {}
            }
        }
        other => {
            return Err(format!(
                "rules are a name, a list of names or a table, not {other}"
            ))
        }
    }
    Ok(r)
}

fn flag(r: &mut Rules, name: &str) -> Result<(), String> {
    match name {
        "trim" => r.trim = true,
        "nfc" => r.nfc = true,
        "lower" | "upper" => {
            let c = if name == "lower" {
                Case::Lower
            } else {
                Case::Upper
            };
            if r.case.is_some_and(|x| x != c) {
                return Err("`lower` and `upper` cannot both apply".into());
            }
            r.case = Some(c);
        }
        "empty_as_null" => r.empty_as_null = true,
        "date" => r.date = true,
        "bool" => r.boolean = true,
        "json" => r.json = true,
        "numeric" => r.numeric = true,
        other => {
            let names: Vec<String> = FLAG_RULES.iter().map(|k| k.to_string()).collect();
            let hint = match crate::suggest::nearest(other, &names) {
                Some(n) => format!("; did you mean `{n}`?"),
                None if RULE_KEYS.contains(&other) => {
                    format!("; `{other}` takes a value: write {other} = ...")
                }
                None => format!("; rules without a value are {}", names.join(", ")),
            };
            return Err(format!("unknown rule `{other}`{hint}"));
        }
    }
    Ok(())
}

fn parse_tolerance(v: &toml::Value) -> Result<Tolerance, String> {
    let bad = || "`tolerance` takes { abs = 0.01 } and/or { rel = 0.001 }".to_string();
    let t = v.as_table().ok_or_else(bad)?;
    let num = |k: &str| -> Result<Option<f64>, String> {
        match t.get(k) {
            None => Ok(None),
            Some(toml::Value::Float(f)) if *f >= 0.0 => Ok(Some(*f)),
            Some(toml::Value::Integer(i)) if *i >= 0 => Ok(Some(*i as f64)),
            Some(_) => Err(format!("`tolerance.{k}` takes a number of at least 0")),
        }
    };
    for k in t.keys() {
        if k != "abs" && k != "rel" {
            return Err(bad());
        }
    }
    let tol = Tolerance {
        abs: num("abs")?,
        rel: num("rel")?,
    };
    if tol.abs.is_none() && tol.rel.is_none() {
        return Err(bad());
    }
    Ok(tol)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ColumnRules, String> {
        let v: toml::Value =
            toml::from_str::<toml::Table>(&format!("x = {s}")).unwrap()["x"].clone();
        parse_column(&v)
    }

    #[test]
    fn shared_and_side_rules_merge_in_a_fixed_order() {
        let r = parse(r#"{ legacy = { parse = "%Y-%m-%d %H:%M:%S", timezone = "Europe/Berlin" }, precision = "s" }"#).unwrap();
        assert_eq!(
            r.legacy.apply("\"at\""),
            "sd_trunc(sd_local_to_utc(sd_parse_timestamp(\"at\", '%Y-%m-%d %H:%M:%S'), 'Europe/Berlin', 'earlier', 'before'), 's')"
        );
        assert_eq!(r.target.apply("\"at\""), "sd_trunc(\"at\", 's')");
        let r = parse(r#"["empty_as_null", "lower", "trim"]"#).unwrap();
        assert_eq!(r.legacy.apply("e"), "NULLIF(lower(sd_trim(e)), '')");
        let r = parse(r#"{ legacy = { map = { A = "active", "D'x" = "deleted" } } }"#).unwrap();
        assert_eq!(
            r.legacy.apply("s"),
            "sd_map(s, 'A', 'active', 'D''x', 'deleted')"
        );
        let r = parse("{ round = 2, tolerance = { abs = 0.01 } }").unwrap();
        assert_eq!(
            (r.legacy.round, r.tolerance.unwrap().abs),
            (Some(2), Some(0.01))
        );
    }

    #[test]
    fn mistakes_are_named_with_a_suggestion() {
        assert_eq!(
            parse(r#"["trimm"]"#).unwrap_err(),
            "unknown rule `trimm`; did you mean `trim`?"
        );
        assert_eq!(
            parse(r#"{ rnd = 2 }"#).unwrap_err(),
            "unknown rule `rnd`; did you mean `round`?"
        );
        assert_eq!(
            parse(r#"["round"]"#).unwrap_err(),
            "unknown rule `round`; `round` takes a value: write round = ..."
        );
        assert!(parse(r#"{ timezone = "Mars/Olympus" }"#)
            .unwrap_err()
            .contains("not an IANA time zone"));
        assert_eq!(
            parse(r#"{ ambiguous = "later" }"#).unwrap_err(),
            "`ambiguous` and `nonexistent` go with `timezone`"
        );
        assert_eq!(
            parse(r#"["lower", "upper"]"#).unwrap_err(),
            "`lower` and `upper` cannot both apply"
        );
        assert_eq!(
            parse(r#"{ legacy = { tolerance = { abs = 1 } } }"#).unwrap_err(),
            "legacy: `tolerance` belongs at the column's top level, not inside legacy or target"
        );
        assert_eq!(
            parse(r#"{ parse = "%Y-%m-%d %H:%M %Z" }"#).unwrap_err(),
            "legacy: `parse` format `%Y-%m-%d %H:%M %Z` reads a zone name (%Z), which carries \
             no offset chrono can use; read a numeric offset with %z, or leave the name out and \
             set `timezone`"
        );
        assert_eq!(
            parse(r#"{ target = { parse = ["%+", "%Y-%m-%d"] } }"#).unwrap_err(),
            "target: `parse` formats %+ | %Y-%m-%d mix formats with a UTC offset (%z) and \
             without; give each kind of text its own column rule or one kind of format"
        );
        assert_eq!(
            parse(r#"{ parse = "%Y-%m-%d %H:%M%z", timezone = "Europe/Berlin" }"#).unwrap_err(),
            "legacy: `parse` formats with a UTC offset (%z) give UTC times; `timezone` does not \
             apply to them"
        );
        assert!(parse(r#"{ parse = "%Y-%m-%d %H:%M%z" }"#).is_ok());
    }

    /// Found by the fuzz harness (fuzz/, target `rules`): `map = {}` was accepted and
    /// became `CASE CAST(x AS VARCHAR) ELSE CAST(x AS VARCHAR) END`, which does not parse.
    #[test]
    fn an_empty_map_is_refused() {
        for rules in [
            "{ map = {} }",
            "{ legacy = { map = {} } }",
            "{ target = { map = { } } }",
        ] {
            assert!(
                parse(rules)
                    .unwrap_err()
                    .contains("`map` needs at least one value"),
                "{rules}"
            );
        }
        let r = parse("{ map = { A = 1 } }").unwrap();
        assert!(crate::spec::parse_expr(&r.legacy.apply("s")).is_ok());
    }

    #[test]
    fn fallible_rules_have_a_lenient_form_and_an_infallible_prefix() {
        let r = parse(r#"{ legacy = { trim = true, empty_as_null = true, parse = "%d.%m.%Y", timezone = "Europe/Berlin" } }"#)
            .unwrap()
            .legacy;
        assert!(r.fallible());
        assert_eq!(r.apply_infallible("\"at\""), "NULLIF(sd_trim(\"at\"), '')");
        assert_eq!(
            r.apply_with("\"at\"", OnInvalid::Null),
            "sd_try_local_to_utc(sd_try_parse_timestamp(NULLIF(sd_trim(\"at\"), ''), '%d.%m.%Y'), 'Europe/Berlin', 'earlier', 'before')"
        );
        assert!(!parse(r#"["trim", "lower"]"#).unwrap().legacy.fallible());
    }
}
