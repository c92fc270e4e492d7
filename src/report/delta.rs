//! What changed since the previous report of the same spec: findings that are new and
//! findings that were fixed. Keyed findings (missing, extra, changed rows, duplicate
//! keys) are matched by key, from both reports' `diffs/` Parquet files; the others
//! (schema findings, aggregate differences, failing invariants, NULL keys) by what they
//! say. `snapdiff history` reads the deltas stored in each report.

use std::collections::BTreeSet;
use std::path::Path;

use arrow::array::AsArray;

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use super::mask::{Masker, MASKED_KEY};
use super::{key_text, Report, Status};
use crate::engine::diff_files::DiffKind;
use crate::engine::templates::ident;
use crate::error::{Error, Result};
use crate::spec::MaskKind;

/// How many new and fixed findings of each group a report lists by name (the counts are
/// always whole).
pub const LISTED: usize = 20;

/// What changed since the previous report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Delta {
    /// The previous report of the same spec.
    pub previous_report: String,
    pub previous_created_at: DateTime<Utc>,
    /// Findings in this report and not in the previous one.
    pub new: u64,
    /// Findings in the previous report and not in this one.
    pub fixed: u64,
    /// One group per check name and kind of finding that changed.
    pub groups: Vec<DeltaGroup>,
}

/// New and fixed findings of one kind in one entity, query check or invariant.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeltaGroup {
    /// The entity, query check or invariant.
    pub name: String,
    /// missing, extra, changed, duplicates, null_keys, schema, aggregate or invariant.
    pub kind: String,
    /// Whether the findings were matched one by one (by key, or by what they say);
    /// `false` when a diff file was not there to compare, so only counts moved.
    pub by_key: bool,
    pub new: u64,
    pub fixed: u64,
    /// The first new and fixed findings (`id=5`, or the finding's text), at most [`LISTED`].
    pub new_items: Vec<String>,
    pub fixed_items: Vec<String>,
}

/// The delta of `current` (whose diff files are under `current_dir/diffs`) against
/// `previous` (under `previous_dir/diffs`). The keys it lists are shown as `masker`
/// shows the entity's values (the diff files hold real ones unless `mask_diffs` masked
/// them; a masked file's keys match only a masked file's).
pub async fn compute(
    current: &Report,
    current_dir: &Path,
    previous: &Report,
    previous_dir: &Path,
    masker: &Masker,
) -> Result<Delta> {
    let mut groups = Vec::new();
    for e in &current.outcome.entities {
        let prev = previous.outcome.entities.iter().find(|p| p.name == e.name);
        // An entity that could not be verified, in either report, has no findings to
        // compare: nothing of it is new or fixed.
        if e.status == Status::Error || prev.is_some_and(|p| p.status == Status::Error) {
            continue;
        }
        // Keyed findings, by key.
        for kind in DiffKind::KEYED {
            let count = |r: &super::EntityReport| {
                r.diff.as_ref().map_or(0, |d| match kind {
                    DiffKind::Missing => d.missing,
                    DiffKind::Extra => d.extra,
                    DiffKind::Changed => d.changed,
                    DiffKind::Duplicates => d.duplicate_keys_legacy + d.duplicate_keys_target,
                    // Counted below: no key matches them.
                    DiffKind::NullKeys | DiffKind::Invalid => 0,
                })
            };
            let (cur_n, prev_n) = (count(e), prev.map_or(0, count));
            if cur_n == 0 && prev_n == 0 {
                continue;
            }
            let file = format!("{}/{}", e.name, kind.file_name());
            let (cur_f, prev_f) = (
                current_dir.join("diffs").join(&file),
                previous_dir.join("diffs").join(&file),
            );
            let mut g = DeltaGroup {
                name: e.name.clone(),
                kind: kind.to_string(),
                ..Default::default()
            };
            // By key when both files are there (or the previous report had none of
            // this kind) and the key did not change; otherwise, or when a file cannot
            // be read, by count: the delta never stops a report.
            let same_key = prev.is_none_or(|p| p.key == e.key);
            let is_file = |p: &Path| crate::storage::is_file(p).unwrap_or(false);
            let prev_file = is_file(&prev_f).then_some(prev_f.as_path());
            // Masked keys match only masked keys, and only hashed ones stay one to one
            // (two keys can share a partial mask).
            let masked = |p: &Path| crate::engine::diff_files::is_masked(p, MASKED_KEY);
            let cur_masked = is_file(&cur_f) && masked(&cur_f);
            let prev_masked = prev_file.is_some_and(masked);
            let one_to_one = !cur_masked
                || e.key.iter().all(|k| {
                    matches!(
                        masker.plan().of(&e.name, k),
                        MaskKind::None | MaskKind::Hash
                    )
                });
            let comparable = same_key
                && is_file(&cur_f)
                && (prev_file.is_some() || prev_n == 0)
                && (prev_file.is_none() || cur_masked == prev_masked)
                && one_to_one;
            let matched = if comparable {
                let key: Vec<String> = if kind == DiffKind::Duplicates {
                    std::iter::once("__side".to_string())
                        .chain(e.key.iter().cloned())
                        .collect()
                } else {
                    e.key.clone()
                };
                // What a masked file holds is masked already.
                let show = |masked: bool| {
                    move |r: &mut super::Row| {
                        if !masked {
                            masker.row(&e.name, r)
                        }
                    }
                };
                by_key(&cur_f, prev_file, &key, show(cur_masked), show(prev_masked))
                    .await
                    .ok()
            } else {
                None
            };
            match matched {
                Some(m) => {
                    g.by_key = true;
                    (g.new, g.fixed, g.new_items, g.fixed_items) = m;
                }
                None => {
                    g.new = cur_n.saturating_sub(prev_n);
                    g.fixed = prev_n.saturating_sub(cur_n);
                }
            }
            groups.push(g);
        }
        // NULL keys and invalid values: counted (a NULL key has no key to match by).
        let nulls = |r: &super::EntityReport| {
            r.diff
                .as_ref()
                .map_or(0, |d| d.null_keys_legacy + d.null_keys_target)
        };
        let invalid = |r: &super::EntityReport| r.invalid.as_ref().map_or(0, |i| i.total);
        for (kind, count) in [
            (
                DiffKind::NullKeys,
                &nulls as &dyn Fn(&super::EntityReport) -> u64,
            ),
            (DiffKind::Invalid, &invalid),
        ] {
            let (cur_n, prev_n) = (count(e), prev.map_or(0, count));
            if cur_n != prev_n {
                groups.push(DeltaGroup {
                    name: e.name.clone(),
                    kind: kind.to_string(),
                    by_key: false,
                    new: cur_n.saturating_sub(prev_n),
                    fixed: prev_n.saturating_sub(cur_n),
                    ..Default::default()
                });
            }
        }
        // Schema findings and aggregate differences, by what they say.
        let texts = |r: Option<&super::EntityReport>, kind: &str| -> BTreeSet<String> {
            r.map(|r| match kind {
                "schema" => r.schema_findings.iter().cloned().collect(),
                _ => r
                    .aggregate_differences
                    .iter()
                    .map(|a| {
                        format!(
                            "{} {}: legacy {} target {}",
                            a.column,
                            a.statistic,
                            a.legacy.as_deref().unwrap_or("NULL"),
                            a.target.as_deref().unwrap_or("NULL")
                        )
                    })
                    .collect(),
            })
            .unwrap_or_default()
        };
        for kind in ["schema", "aggregate"] {
            groups.extend(by_text(
                &e.name,
                kind,
                &texts(Some(e), kind),
                &texts(prev, kind),
            ));
        }
    }
    // Entities that are gone: their findings count as fixed.
    for p in &previous.outcome.entities {
        if current.outcome.entities.iter().all(|e| e.name != p.name) && p.findings() > 0 {
            groups.push(DeltaGroup {
                name: p.name.clone(),
                kind: "entity".into(),
                by_key: false,
                new: 0,
                fixed: p.findings(),
                new_items: Vec::new(),
                fixed_items: vec![format!("{} is no longer verified", p.name)],
            });
        }
    }
    // Invariants: a failing invariant is a finding.
    let failing = |r: &Report| -> BTreeSet<String> {
        r.outcome
            .invariants
            .iter()
            .filter(|i| i.status == Status::Fail)
            .map(|i| i.name.clone())
            .collect()
    };
    let errored = |r: &Report| -> BTreeSet<String> {
        r.outcome
            .invariants
            .iter()
            .filter(|i| i.status == Status::Error)
            .map(|i| i.name.clone())
            .collect()
    };
    let unknown: BTreeSet<String> = errored(current)
        .union(&errored(previous))
        .cloned()
        .collect();
    let (cur_inv, prev_inv) = (failing(current), failing(previous));
    for name in cur_inv.union(&prev_inv).filter(|n| !unknown.contains(*n)) {
        let (c, p) = (cur_inv.contains(name), prev_inv.contains(name));
        if c != p {
            groups.push(DeltaGroup {
                name: name.clone(),
                kind: "invariant".into(),
                by_key: true,
                new: c as u64,
                fixed: p as u64,
                new_items: if c { vec![name.clone()] } else { Vec::new() },
                fixed_items: if p { vec![name.clone()] } else { Vec::new() },
            });
        }
    }
    groups.retain(|g| g.new > 0 || g.fixed > 0);
    Ok(Delta {
        previous_report: previous.id.clone(),
        previous_created_at: previous.created_at,
        new: groups.iter().map(|g| g.new).sum(),
        fixed: groups.iter().map(|g| g.fixed).sum(),
        groups,
    })
}

/// New and fixed findings matched by their text.
fn by_text(
    name: &str,
    kind: &str,
    cur: &BTreeSet<String>,
    prev: &BTreeSet<String>,
) -> Option<DeltaGroup> {
    let new: Vec<&String> = cur.difference(prev).collect();
    let fixed: Vec<&String> = prev.difference(cur).collect();
    if new.is_empty() && fixed.is_empty() {
        return None;
    }
    Some(DeltaGroup {
        name: name.into(),
        kind: kind.into(),
        by_key: true,
        new: new.len() as u64,
        fixed: fixed.len() as u64,
        new_items: new.into_iter().take(LISTED).cloned().collect(),
        fixed_items: fixed.into_iter().take(LISTED).cloned().collect(),
    })
}

/// New and fixed keys between two diff files: (new, fixed, the first new, the first
/// fixed). Without a key (a query check compared as multisets) a row is its own
/// identity. Keys are compared as text, so a key whose type changed between runs still
/// matches its value; the comparison runs in DataFusion (an anti-join), so a diff of
/// millions of rows is counted without holding its keys.
async fn by_key(
    current: &Path,
    previous: Option<&Path>,
    key: &[String],
    show_new: impl Fn(&mut super::Row),
    show_fixed: impl Fn(&mut super::Row),
) -> Result<(u64, u64, Vec<String>, Vec<String>)> {
    let ctx = SessionContext::new();
    let fail = |file: &Path| {
        let file = file.to_path_buf();
        move |e: datafusion::error::DataFusionError| {
            Error::snapshot(format!("cannot compare diff files: {e}")).with_file(&file)
        }
    };
    let read = crate::engine::diff_files::read;
    let cur = read(&ctx, current).await?;
    let whole_row: Vec<String> = cur
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !n.starts_with("__"))
        .collect();
    let key = if key.is_empty() { &whole_row[..] } else { key };
    let cols = key
        .iter()
        .map(|k| format!("CAST({q} AS VARCHAR) AS {q}", q = ident(k)))
        .collect::<Vec<_>>()
        .join(", ");
    let order = (1..=key.len())
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    ctx.register_table("cur", cur.into_view())
        .map_err(fail(current))?;
    let prev_sql = match previous {
        Some(p) => {
            let df = read(&ctx, p).await?;
            ctx.register_table("prev", df.into_view())
                .map_err(fail(p))?;
            format!("SELECT {cols} FROM prev")
        }
        None => format!("SELECT {cols} FROM cur WHERE false"),
    };
    let cur_sql = format!("SELECT {cols} FROM cur");
    let mut out = Vec::new();
    let shows: [&dyn Fn(&mut super::Row); 2] = [&show_new, &show_fixed];
    for ((this, other), show) in [(&cur_sql, &prev_sql), (&prev_sql, &cur_sql)]
        .into_iter()
        .zip(shows)
    {
        let only = format!("{this} EXCEPT {other}");
        let ctx = &ctx;
        let q = |sql: String| async move { ctx.sql(&sql).await?.collect().await };
        let n = q(format!("SELECT count(*) FROM ({only}) AS d"))
            .await
            .map_err(fail(current))?;
        let n = n
            .first()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                b.column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .value(0)
            })
            .unwrap_or(0) as u64;
        let listed = q(format!(
            "SELECT * FROM ({only}) AS d ORDER BY {order} LIMIT {LISTED}"
        ))
        .await
        .map_err(fail(current))?;
        let mut listed = crate::engine::rows::rows(&listed, false);
        listed.iter_mut().for_each(show);
        let items = listed
            .iter()
            .map(|r| match r.first() {
                // The side of a duplicate key reads as `legacy: id=5`.
                Some((c, Some(side))) if c == "__side" => {
                    format!("{side}: {}", key_text(&r[1..].to_vec()))
                }
                _ => key_text(r),
            })
            .collect::<Vec<_>>();
        out.push((n, items));
    }
    let (fixed, fixed_items) = out.pop().expect("two directions");
    let (new, new_items) = out.pop().expect("two directions");
    Ok((new, fixed, new_items, fixed_items))
}
