//! The values a report shows: masked where the spec says so, and cut when long.
//!
//! Reports are pasted into tickets and mailed to business owners, so the values of
//! personal columns (`[reports] mask`, an entity's `mask`) are masked before anything is
//! rendered: [`Masker::outcome`] runs once on the verification's [`Outcome`], and every
//! human-facing output (report.json, .md, .html, junit.xml, the console, `history`, the
//! delta's listed keys) is made from what it leaves. The same pass cuts values longer
//! than [`SHOWN_CHARS`] characters, so one 4 MB text does not make each report 17 MB.
//! The diff Parquet files keep real, whole values unless `[reports] mask_diffs` is set
//! ([`Masker::diff_files`]).
//!
//! A diff file this masks says so in its metadata ([`MASKED_KEY`]), so the delta never
//! masks what it reads from one a second time, and never matches its keys against those
//! of an unmasked one.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use sha2::{Digest, Sha256};

use super::{EntityReport, Outcome, Row};
use crate::error::{Error, Result};
use crate::normalize::text::{cut, cut_pair, SHOWN_CHARS};
use crate::spec::{MaskKind, MaskPlan, MASK_KEY_VAR};

/// The shortest `hash` key accepted, in bytes: a shorter one could be guessed.
pub const MIN_KEY_BYTES: usize = 16;

/// The Parquet metadata key that marks a diff file whose values are masked.
pub const MASKED_KEY: &str = "snapdiff.masked";

/// Hex digits of the keyed hash a `hash` mask shows (64 bits: no two of a billion
/// values are likely to share one).
const HASH_HEX: usize = 16;

/// Masks and cuts the values of a report.
#[derive(Clone, Default)]
pub struct Masker {
    plan: MaskPlan,
    /// The `hash` key.
    key: Option<Vec<u8>>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Masker").field("plan", &self.plan).finish()
    }
}

impl Masker {
    /// A masker of `plan`; `key` is needed when the plan uses `hash`.
    pub fn new(plan: MaskPlan, key: Option<String>) -> Result<Masker> {
        if plan.kinds().any(|k| k == MaskKind::Hash) {
            let Some(key) = &key else {
                return Err(Error::spec(
                    "a column is masked with `hash`, which needs a secret key, and none is set",
                )
                .with_hint(format!(
                    "set {MASK_KEY_VAR} (at least {MIN_KEY_BYTES} characters, the same every night so that masks match), or `[reports] mask_key = \"${{VAR}}\"`"
                )));
            };
            if key.len() < MIN_KEY_BYTES {
                return Err(Error::spec(format!(
                    "the `hash` mask key is {} bytes long: it needs at least {MIN_KEY_BYTES}, or a dictionary of likely keys could reverse the masks",
                    key.len()
                ))
                .with_hint(format!(
                    "set {MASK_KEY_VAR} to a longer secret, for example the output of `openssl rand -hex 32`"
                )));
            }
        }
        Ok(Masker {
            plan,
            key: key.map(String::into_bytes),
        })
    }

    /// Whether any column is masked.
    pub fn masks(&self) -> bool {
        !self.plan.is_empty()
    }

    /// Whether the diff Parquet files are masked too.
    pub fn masks_diffs(&self) -> bool {
        self.plan.diffs && self.masks()
    }

    /// The plan (for the warnings about columns an entity's `mask` names and it lacks).
    pub fn plan(&self) -> &MaskPlan {
        &self.plan
    }

    /// `v` as a report shows it under `kind`: masked, then cut.
    pub fn show(&self, kind: MaskKind, v: Option<&str>) -> Option<String> {
        v.map(|v| cut(&self.mask(kind, v)).into_owned())
    }

    /// `v` masked under `kind` (whole).
    pub fn mask(&self, kind: MaskKind, v: &str) -> String {
        match kind {
            MaskKind::None => v.to_string(),
            MaskKind::Hash => {
                let key = self.key.as_deref().unwrap_or_default();
                let mac = hmac_sha256(key, v.as_bytes());
                format!("hash:{}", &hex::encode(mac)[..HASH_HEX])
            }
            MaskKind::Redact => format!("[redacted: {} characters]", v.chars().count()),
            MaskKind::Partial => partial(v),
        }
    }

    /// Two values that differ (a changed cell, a statistic of each side) as a report
    /// shows them: masked, then two long ones cut to the window where they differ.
    fn pair(&self, kind: MaskKind, legacy: &mut Option<String>, target: &mut Option<String>) {
        let mask = |v: &Option<String>| v.as_deref().map(|v| self.mask(kind, v));
        (*legacy, *target) = match (mask(legacy), mask(target)) {
            (Some(l), Some(t)) => {
                let (l, t) = cut_pair(&l, &t);
                (Some(l), Some(t))
            }
            (l, t) => (
                l.map(|v| cut(&v).into_owned()),
                t.map(|v| cut(&v).into_owned()),
            ),
        };
    }

    /// Every value of `row`, a row of `entity`, as a report shows it.
    pub fn row(&self, entity: &str, row: &mut Row) {
        // The checks' own columns (`__side`) are never masked.
        for (c, v) in row.iter_mut().filter(|(c, _)| !c.starts_with("__")) {
            *v = self.show(self.plan.of(entity, c), v.as_deref());
        }
    }

    /// The sample rows of a diff of entity `entity`, masked and cut.
    pub fn diff(&self, entity: &str, d: &mut super::Diff) {
        let rows = d
            .missing_rows
            .iter_mut()
            .chain(d.extra_rows.iter_mut())
            .chain(d.duplicates.iter_mut().map(|k| &mut k.key))
            .chain(d.null_key_rows.iter_mut().map(|(_, r)| r));
        for r in rows {
            self.row(entity, r);
        }
        for c in &mut d.changed_rows {
            self.row(entity, &mut c.key);
            for cell in &mut c.cells {
                let k = self.plan.of(entity, &cell.column);
                self.pair(k, &mut cell.legacy, &mut cell.target);
            }
        }
    }

    /// Every value an entity's report shows, masked and cut (see [`Masker::outcome`]).
    pub fn entity(&self, e: &mut EntityReport) {
        {
            let name = e.name.clone();
            let kind = |c: &str| self.plan.of(&name, c);
            if let Some(d) = &mut e.diff {
                self.diff(&name, d);
            }
            if let Some(inv) = &mut e.invalid {
                for i in &mut inv.rows {
                    self.row(&name, &mut i.key);
                    i.value = self.show(kind(&i.column), i.value.as_deref());
                }
            }
            if let Some(p) = &mut e.partitions {
                // A partition is named by its expression's value: masked as the
                // strongest of the masked columns the expression names.
                let k = self.plan.of_expression(&name);
                for v in p.differing.iter_mut() {
                    *v = self.mask(k, v);
                    *v = cut(v).into_owned();
                }
                for r in &mut p.rows {
                    r.partition = self.show(k, r.partition.as_deref());
                }
            }
            for a in &mut e.aggregate_differences {
                // The other statistics (counts, sums) are not values of the column.
                let k = if matches!(a.statistic.as_str(), "min" | "max") {
                    kind(&a.column)
                } else {
                    MaskKind::None
                };
                self.pair(k, &mut a.legacy, &mut a.target);
            }
        }
    }

    /// Every value of the outcome as a report shows it: the sample rows, keys, invalid
    /// values and the aggregate check's minimum and maximum of each entity, and the rows
    /// of the invariants (masked by column name: an invariant's columns may come from
    /// any entity).
    pub fn outcome(&self, o: &mut Outcome) {
        for e in &mut o.entities {
            self.entity(e);
        }
        for i in &mut o.invariants {
            for r in &mut i.rows {
                for (c, v) in r.iter_mut() {
                    *v = self.show(self.plan.of_any(c), v.as_deref());
                }
            }
        }
    }

    /// With `[reports] mask_diffs`: the masked columns of every diff file of `entity`
    /// under `dir` (`diffs/<entity>`) rewritten masked, as text; a changed row's
    /// `legacy__<column>` and `target__<column>` by `<column>`'s mask, an invalid value's
    /// `__value` by its `__column`'s. Each file is written aside and renamed over.
    pub fn diff_files(&self, entity: &str, dir: &Path) -> Result<()> {
        if !self.masks_diffs() || !dir.is_dir() {
            return Ok(());
        }
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
        for f in entries {
            let path = f.map_err(|e| Error::io("list", dir, e))?.path();
            if path.extension().is_some_and(|x| x == "parquet") {
                self.diff_file(entity, &path)?;
            }
        }
        Ok(())
    }

    fn diff_file(&self, entity: &str, path: &Path) -> Result<()> {
        let batches = crate::engine::diff_files::read_all(path)?;
        let Some(first) = batches.first() else {
            return Ok(());
        };
        let schema = first.schema();
        // Per column: its mask, or `None` for `__value` (masked by each row's column).
        let kinds: Vec<Option<MaskKind>> = schema
            .fields()
            .iter()
            .map(|f| {
                let n = f.name();
                if n == "__value" {
                    return None;
                }
                let column = n
                    .strip_prefix("legacy__")
                    .or_else(|| n.strip_prefix("target__"))
                    .unwrap_or(n);
                Some(if n.starts_with("__") {
                    MaskKind::None
                } else {
                    self.plan.of(entity, column)
                })
            })
            .collect();
        // Written again even when no column of it is masked, to carry the mark.
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .zip(&kinds)
            .map(|(f, k)| match k {
                Some(MaskKind::None) => f.as_ref().clone(),
                _ => Field::new(f.name(), DataType::Utf8, true),
            })
            .collect();
        let mut metadata = schema.metadata().clone();
        metadata.insert(MASKED_KEY.into(), "true".into());
        let out_schema = Arc::new(Schema::new_with_metadata(fields, metadata));
        let mut out = Vec::with_capacity(batches.len());
        for b in &batches {
            let columns = b.column_by_name("__column").map(|c| texts(c.as_ref()));
            let mut cols: Vec<ArrayRef> = Vec::with_capacity(b.num_columns());
            for (i, k) in kinds.iter().enumerate() {
                let a = b.column(i);
                if *k == Some(MaskKind::None) {
                    cols.push(a.clone());
                    continue;
                }
                let values = texts(a.as_ref());
                let masked: StringArray = values
                    .iter()
                    .enumerate()
                    .map(|(r, v)| {
                        let kind = k.unwrap_or_else(|| {
                            let c = columns.as_ref().and_then(|c| c[r].as_deref());
                            c.map_or(MaskKind::None, |c| self.plan.of(entity, c))
                        });
                        v.as_deref().map(|v| self.mask(kind, v))
                    })
                    .collect();
                cols.push(Arc::new(masked));
            }
            out.push(
                RecordBatch::try_new(out_schema.clone(), cols)
                    .map_err(|e| Error::io_other("mask", path, &e))?,
            );
        }
        crate::engine::diff_files::write_all(path, out_schema, &out)
    }
}

/// Each value of `a` as text (`None` for NULL).
fn texts(a: &dyn Array) -> Vec<Option<String>> {
    if let Some(s) = a.as_string_opt::<i32>() {
        return s.iter().map(|v| v.map(str::to_string)).collect();
    }
    let t = crate::normalize::text::Texts::new(a);
    (0..a.len()).map(|r| t.get(r)).collect()
}

/// A `partial` mask: an e-mail address keeps the first character of its local part and
/// its domain (`a***@example.com`); other text of at least 6 characters keeps its first
/// and last two (`J***th`); shorter text is `***`, and empty text stays empty.
fn partial(v: &str) -> String {
    if v.is_empty() {
        return String::new();
    }
    if let Some((local, domain)) = v.rsplit_once('@') {
        if let Some(first) = local.chars().next() {
            return format!("{first}***@{domain}");
        }
    }
    let chars: Vec<char> = v.chars().collect();
    if chars.len() < 6 {
        return "***".to_string();
    }
    let end: String = chars[chars.len() - 2..].iter().collect();
    format!("{}***{end}", chars[0])
}

/// HMAC-SHA-256 (RFC 2104) of `msg` under `key`.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

const _: () = assert!(SHOWN_CHARS > HASH_HEX + 5);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn masker(kinds: &[(&str, MaskKind)]) -> Masker {
        let own = BTreeMap::from([(
            "e".to_string(),
            kinds.iter().map(|(c, k)| (c.to_string(), *k)).collect(),
        )]);
        let plan = MaskPlan::new(&BTreeMap::new(), own, false).unwrap();
        Masker::new(plan, Some("0123456789abcdef-secret".into())).unwrap()
    }

    #[test]
    fn hmac_is_rfc_4231() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn each_kind_masks_as_documented_and_alike_every_time() {
        let m = masker(&[]);
        let h = m.mask(MaskKind::Hash, "ada@example.com");
        assert_eq!(
            h,
            format!(
                "hash:{}",
                &hex::encode(hmac_sha256(b"0123456789abcdef-secret", b"ada@example.com"))[..16]
            )
        );
        assert_eq!(m.mask(MaskKind::Hash, "ada@example.com"), h);
        assert_ne!(m.mask(MaskKind::Hash, "bob@example.com"), h);
        assert_eq!(
            m.mask(MaskKind::Redact, "ada@example.com"),
            "[redacted: 15 characters]"
        );
        assert_eq!(
            m.mask(MaskKind::Partial, "ada@example.com"),
            "a***@example.com"
        );
        assert_eq!(m.mask(MaskKind::Partial, "Lovelace"), "L***ce");
        assert_eq!(m.mask(MaskKind::Partial, "Ada"), "***");
        assert_eq!(m.mask(MaskKind::Partial, ""), "");
        assert_eq!(m.mask(MaskKind::None, "ada"), "ada");
        // A partial mask's output masks to itself.
        let once = m.mask(MaskKind::Partial, "ada@example.com");
        assert_eq!(m.mask(MaskKind::Partial, &once), once);
        // NULL stays NULL.
        assert_eq!(m.show(MaskKind::Redact, None), None);
    }

    #[test]
    fn a_hash_needs_a_long_enough_key() {
        let plan = || {
            let p = BTreeMap::from([("*email*".to_string(), MaskKind::Hash)]);
            MaskPlan::new(&p, BTreeMap::new(), false).unwrap()
        };
        let e = Masker::new(plan(), None).unwrap_err();
        assert!(e.to_string().contains("needs a secret key"), "{e}");
        assert!(e.hint.unwrap().contains("SNAPDIFF_MASK_KEY"));
        let e = Masker::new(plan(), Some("short".into())).unwrap_err();
        assert!(e.to_string().contains("5 bytes long"), "{e}");
        // Without `hash`, no key is needed.
        let p = BTreeMap::from([("*email*".to_string(), MaskKind::Redact)]);
        let plan = MaskPlan::new(&p, BTreeMap::new(), false).unwrap();
        assert!(Masker::new(plan, None).is_ok());
    }

    #[test]
    fn long_values_are_cut_after_masking() {
        let m = masker(&[("note", MaskKind::None), ("secret", MaskKind::Redact)]);
        let long = "x".repeat(5000);
        let mut row: Row = vec![
            ("note".into(), Some(long.clone())),
            ("secret".into(), Some(long)),
            ("id".into(), None),
        ];
        m.row("e", &mut row);
        assert_eq!(
            row[0].1.as_deref(),
            Some(format!("{}…(5,000 characters in all)", "x".repeat(SHOWN_CHARS)).as_str())
        );
        assert_eq!(row[1].1.as_deref(), Some("[redacted: 5000 characters]"));
        assert_eq!(row[2].1, None);
    }
}
